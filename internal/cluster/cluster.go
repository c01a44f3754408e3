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
	"math/big"
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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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
	// Log also receives the webhook's output, which always goes to WebhookLog.
	Log io.Writer
	// WebhookArgs are extra flags for the webhook process, e.g.
	// --policy FILE.
	WebhookArgs []string
	// WebhookEnv is extra NAME=value environment for the webhook process
	// (only: not for the build, nor for etcd or kube-apiserver), on top of
	// the harness's own and the shipped one (ShippedEnv).
	WebhookEnv []string
	// Metrics serves the webhook's metrics endpoint on a free port of
	// 127.0.0.1 (Cluster.MetricsURL), as it ships: HTTPS behind
	// TokenReview and SubjectAccessReview, which the webhook asks the API
	// server for with its admin kubeconfig. Off by default.
	Metrics bool
}

// Cluster is a running control plane; after Start, with the webhook running
// and registered.
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
	// MetricsURL is the webhook's metrics endpoint
	// (https://127.0.0.1:<port>/metrics) when Options.Metrics is set.
	MetricsURL string

	// ClientCAFile and AdmissionConfigFile are set when the API server
	// presents a client certificate to webhooks
	// (ControlPlaneOptions.WebhookClientAuth): the CA that signed it, for
	// the webhook's --client-ca-file, and the AdmissionConfiguration given
	// to the API server.
	ClientCAFile, AdmissionConfigFile string
	// WebhookClientCert and WebhookClientKey are the API server's client
	// certificate and key for webhooks (set with ClientCAFile).
	WebhookClientCert, WebhookClientKey string

	kubeBin    string
	env        *envtest.Environment
	webhookEnv []string // Options.WebhookEnv
	ca         *testCA  // signs the webhook's serving certificate (Start, StartHA)
	webhook    *process // the webhook StartWebhookProcess started
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
	c, err = StartControlPlane(ControlPlaneOptions{KubeBin: o.KubeBin})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()
	certDir := filepath.Join(c.Dir, "certs")
	if c.ca, err = newTestCA(); err != nil {
		return c, err
	}
	if _, err := c.ca.issue(certDir); err != nil {
		return c, err
	}
	bin, err := c.BuildWebhook(ctx)
	if err != nil {
		return c, err
	}
	c.webhookEnv = o.WebhookEnv
	// The webhook runs as a user would run it, with its own kubeconfig,
	// certificate directory and flags.
	metricsAddr, metricsErr := "0", error(nil)
	port, err := c.StartWebhookProcess(ctx, bin, func(port, probePort int) []string {
		if o.Metrics {
			// Picked anew on every attempt, like the other two ports: one
			// taken before the webhook binds it makes it start again.
			var metricsPort int
			metricsPort, metricsErr = FreePort()
			metricsAddr = fmt.Sprintf("127.0.0.1:%d", metricsPort)
		}
		return append([]string{
			"--kubeconfig", c.Kubeconfig,
			"--cert-dir", certDir,
			"--port", fmt.Sprint(port),
			"--metrics-bind-address", metricsAddr,
			"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probePort),
			"--leader-election-namespace", "default", // out of cluster there is no pod namespace
		}, o.WebhookArgs...)
	}, o.Log)
	if err = errors.Join(err, metricsErr); err != nil {
		return c, err
	}
	c.WebhookURL = fmt.Sprintf("https://127.0.0.1:%d", port)
	if o.Metrics {
		c.MetricsURL = "https://" + metricsAddr + "/metrics"
	}
	if err := c.registerWebhooks(ctx, c.ca.pem); err != nil {
		return c, err
	}
	return c, c.waitForAdmission(ctx, c.LogTail)
}

// ControlPlaneOptions configure StartControlPlane.
type ControlPlaneOptions struct {
	// KubeBin as in Options.
	KubeBin string
	// CRDDirs are installed besides the Milvus Operator's CRDs.
	CRDDirs []string
	// WebhookClientAuth, when set, is the host:port of the webhooks' URL:
	// the API server then presents a client certificate, signed by a CA of
	// its own, to webhooks there (an AdmissionConfiguration whose
	// WebhookAdmissionConfiguration kubeconfig names that host). See
	// Cluster.ClientCAFile.
	WebhookClientAuth string
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
	dir, err := os.MkdirTemp("", "milvus-admission-")
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
	if o.WebhookClientAuth != "" {
		if err := c.writeWebhookClientAuth(o.WebhookClientAuth); err != nil {
			return c, err
		}
		c.env.ControlPlane.GetAPIServer().Configure().Set("admission-control-config-file", c.AdmissionConfigFile)
	}
	if c.Config, err = c.env.Start(); err != nil {
		return c, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", o.KubeBin, err)
	}
	if c.Client, err = client.New(c.Config, client.Options{}); err != nil {
		return c, err
	}
	admin, err := c.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
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

// webhookStartAttempts bounds the restarts on a port taken between picking
// it and the webhook binding it.
const webhookStartAttempts = 5

// StartWebhookProcess runs bin with exactly the flags args returns for a
// webhook port and a health-probe port on 127.0.0.1 (no flags of the
// harness's own), its output in WebhookLog (and log, if not nil), waits until
// readyz answers 200 and returns the webhook port. The ports are free when
// picked, but another process can bind one before the webhook does: the
// webhook then exits with "address already in use" and is started again on
// new ports. Stop ends it.
func (c *Cluster) StartWebhookProcess(ctx context.Context, bin string, args func(port, probePort int) []string, log io.Writer) (int, error) {
	p, port, _, err := startProcess(ctx, bin, args, c.webhookEnv, c.WebhookLog, log)
	if err != nil {
		return 0, err
	}
	c.webhook = p
	return port, nil
}

// process is a running webhook process.
type process struct {
	cmd  *exec.Cmd
	log  string        // its log file
	done chan struct{} // closed once it has exited
	err  error         // how it exited, once done is closed
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the exit, then kills it. It
// reports whether the process exited within grace.
func (p *process) stop(sig os.Signal, grace time.Duration) bool {
	if p.exited() {
		return true
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// startProcess is StartWebhookProcess for any log file; it also returns the
// probe port.
func startProcess(ctx context.Context, bin string, args func(port, probePort int) []string, env []string, logPath string, log io.Writer) (p *process, port, probePort int, err error) {
	for attempt := 1; ; attempt++ {
		if port, err = FreePort(); err != nil {
			return nil, 0, 0, err
		}
		if probePort, err = FreePort(); err != nil {
			return nil, 0, 0, err
		}
		p, err = startWebhookOnce(ctx, bin, args(port, probePort), env, logPath, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort), log)
		if err == nil {
			return p, port, probePort, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == webhookStartAttempts {
			return nil, 0, 0, err
		}
		if log != nil {
			fmt.Fprintf(log, "cluster: %v; starting the webhook again on other ports\n", err)
		}
	}
}

// errPortTaken is a webhook start that failed because a port it was given
// was bound by someone else first.
var errPortTaken = errors.New("a port picked for the webhook was taken before it bound it")

// startWebhookOnce is one attempt of startProcess. On error nothing is left
// running.
func startWebhookOnce(ctx context.Context, bin string, args, extraEnv []string, logPath, readyz string, log io.Writer) (*process, error) {
	cmd := exec.Command(bin, args...)
	env, err := ProcessEnv(extraEnv...)
	if err != nil {
		return nil, err
	}
	cmd.Env = env
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	var out io.Writer = logFile
	if log != nil {
		out = io.MultiWriter(logFile, log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting the webhook: %w", err)
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()

	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, errExited
		}
		return probe(ctx, readyz), nil
	})
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, errExited):
		data, _ := os.ReadFile(logPath)
		if bytes.Contains(data, []byte("address already in use")) {
			return nil, fmt.Errorf("%w (%v):\n%s", errPortTaken, p.err, logTail(logPath, 5))
		}
		return nil, fmt.Errorf("the webhook exited during start (%v):\n%s", p.err, logTail(logPath, 40))
	}
	_ = p.cmd.Process.Kill() // not ready: nothing is left running
	<-p.done
	if wait.Interrupted(err) && ctx.Err() == nil {
		return nil, fmt.Errorf("the webhook was not ready within 60s:\n%s", logTail(logPath, 40))
	}
	return nil, fmt.Errorf("waiting for the webhook to be ready: %w", err)
}

// probeClient asks health endpoints, each on a new connection.
var probeClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// probe reports whether url answers 200.
func probe(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false // not listening (yet, or any more)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// errExited ends the readiness poll when the webhook process is gone.
var errExited = errors.New("the webhook exited")

// RotateServingCert replaces the webhook's tls.crt and tls.key with a new
// key and certificate from the same CA, as cert-manager renewing the Secret
// would, and returns the new certificate's serial number.
func (c *Cluster) RotateServingCert() (*big.Int, error) {
	return c.ca.issue(filepath.Join(c.Dir, "certs"))
}

// ServingCA is the PEM of the CA that signed the webhook's serving
// certificate (the caBundle registered), nil for a control plane alone.
func (c *Cluster) ServingCA() []byte {
	if c.ca == nil {
		return nil
	}
	return c.ca.pem
}

// registerWebhooks creates the configurations of manifests/webhooks.yaml
// unchanged but for clientConfig: a URL on this machine and our CA.
func (c *Cluster) registerWebhooks(ctx context.Context, caPEM []byte) error {
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "manifests", "webhooks.yaml"))
	if err != nil {
		return err
	}
	docs, err := shared.YAMLDocuments(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("manifests/webhooks.yaml: %w", err)
	}
	decoder := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer()
	for _, doc := range docs {
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
func (c *Cluster) waitForAdmission(ctx context.Context, logTail func(n int) string) error {
	probe := []byte(`{"apiVersion":"milvus.io/v1beta1","kind":"MilvusUpgrade","metadata":{"name":"admission-probe","namespace":"default"},
		"spec":{"milvus":{"name":"probe"},"sourceVersion":"v2.1.4","targetVersion":"v2.2.16"}}`)
	var out string
	var err error
	if waitErr := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		out, _, err = c.Kubectl(ctx, probe, "create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.toolImage}")
		return err == nil && strings.TrimSpace(out) != "", nil
	}); waitErr != nil {
		return fmt.Errorf("the API server did not call the webhook within 30s (last: %q, %v):\n%s", out, err, logTail(20))
	}
	return nil
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
	return logTail(c.WebhookLog, n)
}

// logTail is LogTail of the log file at path.
func logTail(path string, n int) string {
	data, _ := os.ReadFile(path)
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
	if c.webhook != nil {
		c.webhook.stop(os.Interrupt, 10*time.Second)
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

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago; see
// StartWebhookProcess for what happens when it no longer is.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
