package install

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	"github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	"github.com/cert-manager/cert-manager/pkg/util"
	// The Issuer types the shipped manifests use: selfSigned and ca. Their
	// init functions register them with the issuers controller.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

const certManagerModule = "github.com/cert-manager/cert-manager"

// certManagerControllers are the cert-manager controllers that issue the
// shipped Certificates (manifests/certificates.yaml): Issuer readiness for the
// selfSigned and ca Issuers, the certificates pipeline (trigger → key manager
// → request manager → approver → issuer → issuing → readiness).
var certManagerControllers = []string{
	issuers.ControllerName,        // sets the Issuers Ready (pkg/issuer/selfsigned, pkg/issuer/ca)
	trigger.ControllerName,        // decides a Certificate needs issuing
	keymanager.ControllerName,     // creates the next private key
	requestmanager.ControllerName, // creates the CertificateRequest
	approver.ControllerName,       // approves it (no policy engine installed)
	crselfsigned.CRControllerName, // signs requests of the selfSigned Issuer
	crca.CRControllerName,         // signs requests of the ca Issuer
	issuing.ControllerName,        // writes the signed certificate into the Secret
	readiness.ControllerName,      // sets the Certificate Ready
}

// certManagerCRDDir is deploy/crds of the cert-manager module this
// repository requires (go.mod), from the module cache.
func certManagerCRDDir(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", certManagerModule)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", certManagerModule, err)
	}
	version, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if dir == "" {
		// Compiling this test downloaded the module; `go mod download` fetches it otherwise.
		t.Fatalf("the %s module (%s) is not in the module cache: run `go mod download %s`", certManagerModule, version, certManagerModule)
	}
	return filepath.Join(dir, "deploy", "crds")
}

// startCertManager runs cert-manager's controllers and its CA injector in
// this process against the API server, as the cert-manager Deployments do
// in a cluster (cmd/controller and cmd/cainjector of cert-manager wire them
// the same way). They log to log and stop when ctx ends; the returned
// channel is closed once all of them have.
func startCertManager(ctx context.Context, t *testing.T, kubeconfig string, cfg *rest.Config, log logr.Logger) <-chan struct{} {
	t.Helper()
	ctx = logr.NewContext(ctx, log)
	var running sync.WaitGroup

	// The controller: one context factory, every enabled controller built
	// from it, then the shared informers started.
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig: kubeconfig,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace: "cert-manager",
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		t.Fatalf("cert-manager controller context: %v", err)
	}
	for _, name := range certManagerControllers {
		constructor, ok := controllerpkg.Known()[name]
		if !ok {
			t.Fatalf("cert-manager has no controller %q", name)
		}
		c, err := constructor(factory)
		if err != nil {
			t.Fatalf("building the cert-manager controller %s: %v", name, err)
		}
		running.Go(func() {
			if err := c.Run(2, ctx); err != nil && ctx.Err() == nil {
				log.Error(err, "cert-manager controller stopped", "controller", name)
			}
		})
	}
	shared, err := factory.Build()
	if err != nil {
		t.Fatalf("cert-manager controller context: %v", err)
	}
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	running.Go(func() {
		<-ctx.Done()
		shared.SharedInformerFactory.Shutdown() // waits for the informers to stop
		shared.KubeSharedInformerFactory.Shutdown()
	})

	// The CA injector: a controller-runtime manager with the injectors for
	// webhook configurations, APIServices and CRDs, sourcing the CA from the
	// Certificate named in cert-manager.io/inject-ca-from.
	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiextv1.AddToScheme(scheme))
	utilruntime.Must(apiregv1.AddToScheme(scheme))
	// The user agent names the field manager of its caBundle writes.
	mgr, err := ctrl.NewManager(util.RestConfigWithUserAgent(cfg, "cainjector"), ctrl.Options{
		Scheme:  scheme,
		Logger:  log.WithName("cainjector"),
		Cache:   cache.Options{ReaderFailOnMissingInformer: true},
		Client:  client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Metrics: metricsserver.Options{BindAddress: "0"},
		// One CA injector per control plane, several in this process:
		// controller-runtime refuses a controller name used before in the
		// process (for its metrics, which are not served here).
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("cainjector manager: %v", err)
	}
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	}); err != nil {
		t.Fatalf("cainjector: %v", err)
	}
	running.Go(func() {
		if err := mgr.Start(ctx); err != nil {
			log.Error(err, "cainjector stopped")
		}
	})
	stopped := make(chan struct{})
	go func() { running.Wait(); close(stopped) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal(fmt.Errorf("the cainjector's cache did not sync"))
	}
	return stopped
}
