// Command webhook serves the milvus-admission admission webhooks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/milvus-admission/milvus-admission/pkg/controller"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/webhook"
)

// options are the command-line settings.
type options struct {
	certDir     string
	port        int
	metricsAddr string
	probeAddr   string
	kubeconfig  string
	policyFile  string
	leaderElect bool
	leaderNS    string
	zap         zap.Options
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Directory holding tls.crt and tls.key; they are reloaded when they change.")
	fs.IntVar(&o.port, "port", crwebhook.DefaultPort, "Port the webhook server listens on.")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", `Address of the Prometheus metrics endpoint; "0" turns it off.`)
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig; default: $KUBECONFIG, ~/.kube/config, then in-cluster.")
	fs.StringVar(&o.policyFile, "policy", "", "Policy YAML read on top of the built-in default (see docs/policy.md).")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Elect one replica to run the migration controller; every replica serves the webhook.")
	fs.StringVar(&o.leaderNS, "leader-election-namespace", "", "Namespace of the leader-election Lease; default: the pod's own namespace.")
	o.zap.BindFlags(fs)
}

func main() {
	var o options
	// Our own flag set: controller-runtime registers --kubeconfig on the
	// global one, and we define it with the standard loading rules.
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	o.addFlags(fs)
	_ = fs.Parse(os.Args[1:]) // ExitOnError: exits on a bad flag
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		fmt.Fprintln(os.Stderr, "milvus-admission:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	pol, err := policy.Load(o.policyFile)
	if err != nil {
		return err
	}
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 runtime.NewScheme(), // both kinds are read as unstructured
		WebhookServer:          crwebhook.NewServer(crwebhook.Options{Port: o.port, CertDir: o.certDir}),
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		// The controller reads the same informers the webhook does.
		Client:                  client.Options{Cache: &client.CacheOptions{Unstructured: true}},
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
	for _, gvk := range []schema.GroupVersionKind{milvus.MilvusKind, milvus.MilvusUpgradeKind} {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if _, err := mgr.GetCache().GetInformer(ctx, u, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("watching %s (are the Milvus Operator CRDs installed?): %w", gvk.Kind, err)
		}
	}
	// GetWebhookServer also adds the server to the manager's runnables.
	srv := mgr.GetWebhookServer()
	webhook.Register(srv, pol, webhook.CacheLookup{Reader: mgr.GetCache()})

	migrations := &controller.Migration{Client: mgr.GetClient(), Policy: pol, Events: mgr.GetEventRecorder("milvus-admission")}
	if err := migrations.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the migration controller: %w", err)
	}

	var synced atomic.Bool
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			synced.Store(true)
		}
		return nil
	})); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook-serving", srv.StartedChecker()); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("cache-synced", func(*http.Request) error {
		if !synced.Load() {
			return errors.New("informer cache not synced yet")
		}
		return nil
	}); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting milvus-admission", "port", o.port, "certDir", o.certDir, "policy", o.policyFile)
	return mgr.Start(ctx)
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
