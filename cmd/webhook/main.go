// Command webhook serves the milvus-admission admission webhooks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/milvus-admission/milvus-admission/internal/metricsauth"
	"github.com/milvus-admission/milvus-admission/internal/version"
	"github.com/milvus-admission/milvus-admission/pkg/controller"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/webhook"
)

// options are the command-line settings.
type options struct {
	certDir            string
	clientCAFile       string
	port               int
	metricsAddr        string
	metricsInsecure    bool
	probeAddr          string
	kubeconfig         string
	policyFile         string
	leaderElect        bool
	leaderNS           string
	excludedNamespaces string
	shutdownDrain      time.Duration
	version            bool
	zap                zap.Options
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Directory holding tls.crt and tls.key; they are reloaded when they change.")
	fs.StringVar(&o.clientCAFile, "client-ca-file", "", "PEM bundle of the CA that signs the API server's client certificate; when set, only clients with such a certificate are answered (docs/install.md).")
	fs.IntVar(&o.port, "port", 9443, "Port the webhook server listens on.")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", `Address of the Prometheus metrics endpoint, HTTPS with Kubernetes authentication and authorization; "0" turns it off.`)
	fs.BoolVar(&o.metricsInsecure, "metrics-insecure", false, "Serve metrics over plain HTTP without authentication (local development only).")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig; default: $KUBECONFIG, ~/.kube/config, then in-cluster.")
	fs.StringVar(&o.policyFile, "policy", "", "Policy YAML read on top of the built-in default (see docs/policy.md).")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Elect one replica to run the migration controller; every replica serves the webhook.")
	fs.StringVar(&o.leaderNS, "leader-election-namespace", "", "Namespace of the leader-election Lease; default: the pod's own namespace.")
	fs.StringVar(&o.excludedNamespaces, "excluded-namespaces", "kube-system,milvus-admission", "Comma-separated namespaces the webhook configurations exclude; the controller acts on no intent found there.")
	fs.DurationVar(&o.shutdownDrain, "shutdown-drain", 10*time.Second, "After SIGTERM: how long to stay up, unready and closing keep-alive connections, so that endpoints move before the server stops.")
	fs.BoolVar(&o.version, "version", false, "Print the version and exit.")
	o.zap.BindFlags(fs)
}

func main() {
	var o options
	// Our own flag set: controller-runtime registers --kubeconfig on the
	// global one, and we define it with the standard loading rules.
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	o.addFlags(fs)
	_ = fs.Parse(os.Args[1:]) // ExitOnError: exits on a bad flag
	if o.version {
		fmt.Println(version.String())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	draining, stop := drainOnSignal(o.shutdownDrain)
	if err := run(stop, draining, o); err != nil {
		fmt.Fprintln(os.Stderr, "milvus-admission:", err)
		os.Exit(1)
	}
}

// drainOnSignal handles SIGTERM and SIGINT: the first closes draining at
// once and ends stop after drain; a second exits at once.
func drainOnSignal(drain time.Duration) (draining <-chan struct{}, stop context.Context) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	d := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-sig
		close(d)
		select {
		case <-time.After(drain):
		case <-sig:
			os.Exit(1)
		}
		cancel()
		<-sig
		os.Exit(1)
	}()
	return d, ctx
}

// run serves until stop ends. Once draining is closed the replica reports
// unready and asks keep-alive clients to reconnect elsewhere, while it still
// answers every request that reaches it.
func run(stop context.Context, draining <-chan struct{}, o options) error {
	pol, err := policy.Load(o.policyFile)
	if err != nil {
		return err
	}
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	// The cache holds both Milvus kinds as the views of pkg/milvus; the
	// controller writes through unstructured objects, which keep every field.
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{authorizationv1.AddToScheme, milvus.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	srv := webhook.NewServer(webhook.ServerOptions{Port: o.port, CertDir: o.certDir, ClientCAFile: o.clientCAFile})
	metrics := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: !o.metricsInsecure}
	if !o.metricsInsecure {
		metrics.FilterProvider = metricsauth.Filter
		// The webhook's own serving certificate, reloaded on renewal like the
		// webhook server's: its DNS names include the metrics Service's, so a
		// scraper verifies it with the same CA instead of skipping
		// verification. (controller-runtime would fall back to a self-signed
		// certificate if the files were missing, but then the webhook server
		// fails to start anyway.)
		metrics.CertDir, metrics.CertName, metrics.KeyName = o.certDir, "tls.crt", "tls.key"
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 scheme,
		WebhookServer:          srv,
		Metrics:                metrics,
		HealthProbeBindAddress: o.probeAddr,
		// The cache keeps of each object only what the handlers and the
		// controller read (pkg/webhook/cache.go): flat memory with the fleet.
		// The controller reads the same informers the webhook does.
		Cache:                   cache.Options{ByObject: webhook.CacheByObject(), DefaultTransform: cache.TransformStripManagedFields()},
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "milvus-admission",
		LeaderElectionNamespace: o.leaderNS,
		// A replica that stops hands over at once instead of after the lease expires.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	// Start the informers the handlers read, so the cache syncs them before
	// readiness; a missing CRD fails here with a clear message.
	for kind, obj := range map[string]client.Object{"Milvus": &milvus.Milvus{}, "MilvusUpgrade": &milvus.MilvusUpgrade{}} {
		if _, err := mgr.GetCache().GetInformer(stop, obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("watching %s (are the Milvus Operator CRDs installed?): %w", kind, err)
		}
	}
	// A Milvus UPDATE looks its upgrades up by this index, not by listing
	// its namespace.
	if err := webhook.IndexUpgrades(stop, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("indexing MilvusUpgrades by the Milvus they name: %w", err)
	}
	// GetWebhookServer also adds the server to the manager's runnables.
	webhook.Register(mgr.GetWebhookServer(), pol, webhook.CacheLookup{Reader: mgr.GetCache()})
	if err := webhook.RegisterMilvusStates(mgr.GetCache()); err != nil {
		return fmt.Errorf("registering milvus_admission_milvuses: %w", err)
	}

	migrations := &controller.Migration{Client: mgr.GetClient(), Policy: pol, Events: mgr.GetEventRecorder("milvus-admission"),
		ExcludedNamespaces: splitList(o.excludedNamespaces)}
	if err := migrations.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the migration controller: %w", err)
	}

	synced := &cacheSynced{cache: mgr.GetCache()}
	identities := &operatorIdentities{client: mgr.GetClient(), policy: pol}
	for _, r := range []manager.Runnable{synced, identities} {
		if err := mgr.Add(r); err != nil {
			return err
		}
	}
	var isDraining atomic.Bool
	go func() {
		<-draining
		isDraining.Store(true)
		srv.SetDraining()
		ctrl.Log.WithName("shutdown").Info("draining: unready, closing keep-alive connections", "for", o.shutdownDrain)
	}()
	checks := map[string]healthz.Checker{
		"webhook-serving": srv.StartedChecker(),
		"cache-synced":    synced.check,
		"not-draining": func(*http.Request) error {
			if isDraining.Load() {
				return errors.New("shutting down")
			}
			return nil
		},
	}
	for name, check := range checks {
		if err := mgr.AddReadyzCheck(name, check); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting milvus-admission", "version", version.Version, "port", o.port, "certDir", o.certDir, "policy", o.policyFile,
		"operatorIdentities", pol.OperatorIdentities, "clientCA", o.clientCAFile != "")
	return mgr.Start(stop)
}

// cacheSynced reports readiness once the informers the handlers read have
// synced. Every replica serves, so it runs without leadership.
type cacheSynced struct {
	cache  cache.Cache
	synced atomic.Bool
}

// Start implements manager.Runnable.
func (c *cacheSynced) Start(ctx context.Context) error {
	if c.cache.WaitForCacheSync(ctx) {
		c.synced.Store(true)
	}
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: readiness
// never depends on being the leader.
func (c *cacheSynced) NeedLeaderElection() bool { return false }

func (c *cacheSynced) check(*http.Request) error {
	if !c.synced.Load() {
		return errors.New("informer cache not synced yet")
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// restConfig follows the standard kubeconfig loading rules: --kubeconfig,
// then $KUBECONFIG, then ~/.kube/config, then the in-cluster config.
func restConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}
