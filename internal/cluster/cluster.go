// Package cluster runs a real control plane for the end-to-end tests and the
// demo: etcd and kube-apiserver built from source (see hack/kube), the Milvus
// Operator's real CRDs, the webhook as a separate process built from
// cmd/webhook, and the webhook configurations that ship in manifests/ — only
// their clientConfig is pointed at the local process.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/milvus-admission/milvus-admission/internal/shared"
)

// KubeVersion is the Kubernetes release hack/kube builds.
const KubeVersion = "v1.37.2"

// Options configure Start.
type Options struct {
	// KubeBin holds etcd, kube-apiserver and kubectl. Default: $KUBEBUILDER_ASSETS,
	// else bin/kube/<KubeVersion> in the repository.
	KubeBin string
	// Log receives the webhook's output. Default: a file in the work dir.
	Log io.Writer
	// WebhookArgs are extra flags for the webhook process.
	WebhookArgs []string
}

// Cluster is a running control plane with the webhook registered.
type Cluster struct {
	// Config is an admin (system:masters) client config.
	Config *rest.Config
	// Client is an admin client.
	Client client.Client
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Dir is the work directory; it is removed by Stop.
	Dir string
	// WebhookURL is the base URL the webhook serves on.
	WebhookURL string
	// WebhookLog is the path of the webhook's log file.
	WebhookLog string

	kubeBin string
	env     *envtest.Environment
	webhook *exec.Cmd
	exited  chan error
}

// RepoRoot is the repository root (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// KubeBinDir is where the control-plane binaries are expected.
func KubeBinDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "kube", KubeVersion)
}

// Start brings everything up; on error nothing is left running.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.KubeBin == "" {
		o.KubeBin = KubeBinDir()
	}
	for _, bin := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(o.KubeBin, bin)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: build the control plane with `make kube-binaries` (about 13 minutes the first time)", bin, o.KubeBin)
		}
	}
	crdDir, err := shared.CRDDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "milvus-admission-e2e-")
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
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
	}
	if c.Config, err = c.env.Start(); err != nil {
		return c, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", o.KubeBin, err)
	}
	if c.Client, err = client.New(c.Config, client.Options{}); err != nil {
		return c, err
	}
	admin, err := c.env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return c, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return c, err
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return c, err
	}

	certDir := filepath.Join(dir, "certs")
	caPEM, err := writeServingCert(certDir)
	if err != nil {
		return c, err
	}
	if err := c.startWebhook(ctx, o, certDir, caPEM); err != nil {
		return c, err
	}
	if err := c.registerWebhooks(ctx, caPEM); err != nil {
		return c, err
	}
	return c, c.waitForAdmission(ctx)
}

// startWebhook builds cmd/webhook and runs it as a user would, with its own
// kubeconfig, certificate directory and flags.
func (c *Cluster) startWebhook(ctx context.Context, o Options, certDir string, caPEM []byte) error {
	bin := filepath.Join(c.Dir, "webhook")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/webhook")
	build.Dir = RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building cmd/webhook: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	probePort, err := freePort()
	if err != nil {
		return err
	}
	args := append([]string{
		"--kubeconfig", c.Kubeconfig,
		"--cert-dir", certDir,
		"--port", fmt.Sprint(port),
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probePort),
		"--leader-election-namespace", "default", // out of cluster there is no pod namespace
	}, o.WebhookArgs...)
	cmd := exec.Command(bin, args...)
	logFile, err := os.Create(c.WebhookLog)
	if err != nil {
		return err
	}
	var out io.Writer = logFile
	if o.Log != nil {
		out = io.MultiWriter(logFile, o.Log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the webhook: %w", err)
	}
	c.webhook = cmd
	c.exited = make(chan error, 1)
	go func() { c.exited <- cmd.Wait(); logFile.Close() }()
	c.WebhookURL = fmt.Sprintf("https://127.0.0.1:%d", port)

	// Ready means serving TLS and the informer cache synced.
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
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

// registerWebhooks creates the configurations of manifests/webhooks.yaml
// unchanged but for clientConfig: a URL on this machine and our CA.
func (c *Cluster) registerWebhooks(ctx context.Context, caPEM []byte) error {
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "manifests", "webhooks.yaml"))
	if err != nil {
		return err
	}
	decoder := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer()
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return fmt.Errorf("manifests/webhooks.yaml: %w", err)
		}
		switch cfg := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			for i := range cfg.Webhooks {
				cfg.Webhooks[i].ClientConfig = c.clientConfig(cfg.Webhooks[i].ClientConfig, caPEM)
			}
			cfg.Annotations = nil
			err = c.Client.Create(ctx, cfg)
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			for i := range cfg.Webhooks {
				cfg.Webhooks[i].ClientConfig = c.clientConfig(cfg.Webhooks[i].ClientConfig, caPEM)
			}
			cfg.Annotations = nil
			err = c.Client.Create(ctx, cfg)
		default:
			err = fmt.Errorf("manifests/webhooks.yaml: unexpected %T", obj)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) clientConfig(shipped admissionregistrationv1.WebhookClientConfig, caPEM []byte) admissionregistrationv1.WebhookClientConfig {
	url := c.WebhookURL
	if shipped.Service != nil && shipped.Service.Path != nil {
		url += *shipped.Service.Path
	}
	return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM}
}

// waitForAdmission waits until the API server calls the webhook: it
// registers configurations asynchronously. A dry-run MilvusUpgrade gets a
// toolImage only from us.
func (c *Cluster) waitForAdmission(ctx context.Context) error {
	probe := []byte(`{"apiVersion":"milvus.io/v1beta1","kind":"MilvusUpgrade","metadata":{"name":"admission-probe","namespace":"default"},
		"spec":{"milvus":{"name":"probe"},"sourceVersion":"v2.1.4","targetVersion":"v2.2.16"}}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, err := c.Kubectl(ctx, probe, "create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.toolImage}")
		if err == nil && strings.TrimSpace(out) != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API server did not call the webhook within 30s (last: %q, %v):\n%s", out, err, c.LogTail(20))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Kubectl runs the kubectl built with the control plane against the cluster
// as admin. stdin may be nil.
func (c *Cluster) Kubectl(ctx context.Context, stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.kubeBin, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// LogTail is the last n lines of the webhook's log, leaving out the
// repetitive failed-probe lines.
func (c *Cluster) LogTail(n int) string {
	data, _ := os.ReadFile(c.WebhookLog)
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if !strings.Contains(l, "healthz check failed") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop ends the webhook and the control plane and removes the work dir.
func (c *Cluster) Stop() error {
	var errs []error
	if c.webhook != nil && c.webhook.Process != nil {
		_ = c.webhook.Process.Signal(os.Interrupt)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.webhook.Process.Kill()
			<-c.exited
		}
	}
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
