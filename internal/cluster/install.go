package cluster

// Helpers for the install test (test/install): a control plane without the
// harness's own webhook, where the test installs manifests/ as a cluster
// admin would and runs the webhook under the identity the manifests ship.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/milvus-admission/milvus-admission/internal/shared"
)

// ControlPlaneOptions configure StartControlPlane.
type ControlPlaneOptions struct {
	// KubeBin as in Options.
	KubeBin string
	// CRDDirs are installed besides the Milvus Operator's CRDs.
	CRDDirs []string
}

// StartControlPlane starts etcd and kube-apiserver (RBAC on) with the Milvus
// Operator's CRDs and those of o.CRDDirs, and an admin kubeconfig — nothing
// else: no webhook, no webhook configurations. Stop tears it down; on error
// nothing is left running.
func StartControlPlane(o ControlPlaneOptions) (c *Cluster, err error) {
	if o.KubeBin == "" {
		o.KubeBin = KubeBinDir()
	}
	for _, bin := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(o.KubeBin, bin)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run `make kube-binaries` (builds the control plane from source, about 13 minutes the first time)", bin, o.KubeBin)
		}
	}
	crdDir, err := shared.CRDDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "milvus-admission-install-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, kubeBin: o.KubeBin, WebhookLog: filepath.Join(dir, "webhook.log")}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: o.KubeBin,
		CRDDirectoryPaths:     append([]string{crdDir}, o.CRDDirs...),
		ErrorIfCRDPathMissing: true,
	}
	if c.Config, err = c.env.Start(); err != nil {
		return c, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", o.KubeBin, err)
	}
	if c.Client, err = client.New(c.Config, client.Options{}); err != nil {
		return c, err
	}
	admin, err := c.env.AddUser(envtest.User{Name: "install-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return c, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return c, err
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	return c, os.WriteFile(c.Kubeconfig, kubeconfig, 0o600)
}

// ServiceAccountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount namespace/name with a token from the TokenRequest API
// (`kubectl create token`), as a pod's projected token would, and returns
// its path.
func (c *Cluster) ServiceAccountKubeconfig(ctx context.Context, namespace, name string) (string, error) {
	token, stderr, err := c.Kubectl(ctx, nil, "create", "token", name, "-n", namespace, "--duration=1h")
	if err != nil {
		return "", fmt.Errorf("kubectl create token %s -n %s: %v: %s", name, namespace, err, stderr)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: c.Config.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: strings.TrimSpace(token)}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: name, Namespace: namespace}
	cfg.CurrentContext = "sa"
	path := filepath.Join(c.Dir, fmt.Sprintf("kubeconfig-%s-%s", namespace, name))
	return path, clientcmd.WriteToFile(*cfg, path)
}

// BuildWebhook builds cmd/webhook into the work dir and returns its path.
func (c *Cluster) BuildWebhook(ctx context.Context) (string, error) {
	bin := filepath.Join(c.Dir, "webhook")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/webhook")
	build.Dir = RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cmd/webhook: %v\n%s", err, out)
	}
	return bin, nil
}

// StartWebhookProcess runs bin with exactly args (no flags of the harness's
// own), its output in WebhookLog (and log, if not nil), and waits until
// readyz answers 200. Stop ends it.
func (c *Cluster) StartWebhookProcess(bin string, args []string, readyz string, log io.Writer) error {
	cmd := exec.Command(bin, args...)
	logFile, err := os.Create(c.WebhookLog)
	if err != nil {
		return err
	}
	var out io.Writer = logFile
	if log != nil {
		out = io.MultiWriter(logFile, log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting the webhook: %w", err)
	}
	c.webhook = cmd
	c.exited = make(chan error, 1)
	go func() { c.exited <- cmd.Wait(); logFile.Close() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-c.exited:
			c.exited <- err
			return fmt.Errorf("the webhook exited during start (%v):\n%s", err, c.LogTail(40))
		default:
		}
		if resp, err := http.Get(readyz); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the webhook was not ready within 60s:\n%s", c.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// FreePort is a free TCP port on 127.0.0.1.
func FreePort() (int, error) { return freePort() }
