// Package install installs what ships — the kustomize base in manifests/ and
// the Helm chart in charts/milvus-admission (as a release whose name and
// namespace are not the base's) — each on a real API server of its own with
// RBAC on, the way a cluster admin does, and checks that it works together: the
// cert-manager objects get a serving certificate from cert-manager's own
// controllers, its CA injector fills the webhook configurations' caBundle, and
// the webhook, running as the shipped ServiceAccount with only the shipped
// RBAC, becomes ready and answers the API server's admission requests over
// TLS with that certificate; a scraper bound to the shipped metrics-reader
// role reads its metrics over TLS with the same certificate, verified with
// the CA under the metrics Service's name.
package install

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/internal/e2etest"
	"github.com/milvus-admission/milvus-admission/internal/shared"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

var repoRoot = cluster.RepoRoot()

const (
	// overlay is the test-only overlay of manifests/: the serving
	// Certificate also names localhost (see its kustomization.yaml).
	overlay = "test/install/overlay"
	// checkNS is where the admission checks run: the shipped webhook
	// configurations skip kube-system and the webhook's own namespace.
	checkNS     = "install-check"
	repo        = "milvusdb/milvus:"
	waitTimeout = 60 * time.Second
	// metricsLabel marks the Service a ServiceMonitor selects.
	metricsLabel = "milvus-admission.io/metrics"
)

// localWebhookArgs turns the container args of the shipped Deployment into
// those of the webhook process here; this is the one place that knows how
// the two differ. Paths under a volume mount point into mounts (the files
// the kubelet would mount); a flag in the Deployment that is not overridden
// here is passed unchanged, so a flag added there is exercised here.
func localWebhookArgs(shipped []string, mounts func(string) string, port, probePort int, metricsAddr, kubeconfig, podNamespace string) []string {
	overrides := map[string]string{
		// Free local ports instead of the container's: the API server
		// calls https://localhost:<port>, the scraper 127.0.0.1.
		"--port":                      fmt.Sprint(port),
		"--metrics-bind-address":      metricsAddr,
		"--health-probe-bind-address": fmt.Sprintf("127.0.0.1:%d", probePort),
		// Out of a pod there is no in-cluster config and no pod namespace.
		"--kubeconfig":                kubeconfig,
		"--leader-election-namespace": podNamespace,
	}
	var args []string
	for _, arg := range shipped {
		name, value, hasValue := strings.Cut(arg, "=")
		if v, ok := overrides[name]; ok {
			args = append(args, name+"="+v)
			delete(overrides, name)
			continue
		}
		if hasValue {
			arg = name + "=" + mounts(value)
		}
		args = append(args, arg)
	}
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		args = append(args, name+"="+overrides[name])
	}
	return args
}

// source is one way a cluster admin installs what ships.
type source struct {
	// name names the subtest.
	name string
	// how says what install does, as the name of its subtest.
	how string
	// install applies what ships to the API server and returns the objects
	// it applied; the serving Certificate also names localhost, so that
	// the API server reaches the webhook process on this machine (there is
	// no Service network here) over TLS.
	install func(t *testing.T, c *cluster.Cluster) []unstructured.Unstructured
}

// sources are the kustomize base and the Helm chart. They share no control
// plane: each runs its own webhook process and migration controller, which
// would act on the other's objects.
var sources = []source{
	{
		name:    "kustomize",
		how:     "kubectl apply --server-side -k manifests/ succeeds as cluster admin",
		install: installKustomize,
	},
	{
		name:    "helm",
		how:     fmt.Sprintf("the chart rendered by Helm's engine as release %s in %s, applied with kubectl apply --server-side, succeeds as cluster admin", helmRelease, helmNamespace),
		install: installChart,
	},
}

// TestInstallFromManifestsWithCertManagerAndShippedRBAC runs the same checks
// on each source, in parallel.
func TestInstallFromManifestsWithCertManagerAndShippedRBAC(t *testing.T) {
	// client-go's and controller-runtime's loggers are global, and both
	// installs run cert-manager in this process: their messages go to one
	// file, shown when the test fails. Each cert-manager logs to its own.
	globalLogPath := filepath.Join(t.TempDir(), "klog.log")
	globalLogFile, err := os.Create(globalLogPath)
	require.NoError(t, err)
	globalLog := zap.New(zap.WriteTo(globalLogFile))
	klog.SetLogger(globalLog.WithName("klog"))
	ctrl.SetLogger(globalLog)
	t.Cleanup(func() { // after both subtests and their cert-managers ended
		if t.Failed() {
			if data, err := os.ReadFile(globalLogPath); err == nil {
				t.Logf("client-go and controller-runtime log (tail):\n%s", tail(string(data), 40))
			}
		}
		globalLogFile.Close()
	})
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel() // two control planes: each waits mostly on its own
			testInstall(t, src)
		})
	}
}

// testInstall installs src on a control plane of its own with cert-manager's
// controllers running, runs the webhook as the installed Deployment would,
// and checks that it works.
func testInstall(t *testing.T, src source) {
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	c, err := cluster.StartControlPlane(cluster.ControlPlaneOptions{CRDDirs: []string{certManagerCRDDir(t)}})
	require.NoError(t, err) // never a skip: a missing control plane says `make kube-binaries`
	// cert-manager logs into the work dir; the test's output shows the
	// tails of both logs when it fails.
	cmLogPath := filepath.Join(c.Dir, "cert-manager.log")
	cmLogFile, err := os.Create(cmLogPath)
	if err != nil {
		_ = c.Stop()
		t.Fatal(err)
	}
	var certManagerStopped <-chan struct{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("webhook log (tail):\n%s", c.LogTail(40))
			if data, err := os.ReadFile(cmLogPath); err == nil {
				t.Logf("cert-manager log (tail):\n%s", tail(string(data), 40))
			}
		}
		cancel() // cert-manager first, then the API server it talks to
		if certManagerStopped != nil {
			select {
			case <-certManagerStopped:
			case <-time.After(30 * time.Second):
				t.Errorf("cert-manager's controllers did not stop within 30s of their context ending")
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
		cmLogFile.Close()
	})

	// cert-manager, installed before milvus-admission as docs/install.md
	// requires: its CRDs came with the control plane, its controllers and CA
	// injector run here.
	certManagerStopped = startCertManager(ctx, t, c.Kubeconfig, c.Config, zap.New(zap.WriteTo(cmLogFile)))

	var objs []unstructured.Unstructured
	t.Run(src.how, func(t *testing.T) {
		objs = src.install(t, c)
	})
	if t.Failed() {
		return
	}
	deploy := only[appsv1.Deployment](t, objs, "Deployment")
	ns, sa := deploy.Namespace, deploy.Spec.Template.Spec.ServiceAccountName
	saUser := fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa)

	serving := servingCertificate(t, objs, deploy)
	var caPEM []byte
	t.Run("cert-manager issues the serving certificate from the shipped CA chain", func(t *testing.T) {
		secret := waitForIssued(ctx, t, c, serving)
		caPEM = secret.Data["ca.crt"]
		leaf := parseCert(t, secret.Data["tls.crt"])
		ca := parseCert(t, caPEM)
		assert.True(t, ca.IsCA, "ca.crt is a CA")

		// The CA is the one the CA Certificate's Secret holds: selfSigned
		// Issuer → CA Certificate → ca Issuer → serving Certificate.
		issuer := only[unstructured.Unstructured](t, objs, "Issuer", named(nested(serving, "spec", "issuerRef", "name")))
		caSecret := &corev1.Secret{}
		require.NoError(t, c.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: nested(issuer, "spec", "ca", "secretName")}, caSecret))
		assert.Equal(t, caPEM, caSecret.Data["tls.crt"], "the serving Secret's ca.crt is the CA Certificate")
		assert.Equal(t, ca.Subject, ca.Issuer, "the CA is self-signed")

		// The leaf is valid for TLS server auth under the webhook Service's
		// name (what clientConfig.service resolves to in a cluster), the
		// metrics Service's (what a ServiceMonitor verifies) and localhost.
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		for _, host := range []string{serviceHost(t, objs), metricsHost(t, objs), "localhost"} {
			_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			assert.NoError(t, err, "the serving certificate for %s", host)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("the CA injector puts that CA into every webhook's caBundle", func(t *testing.T) {
		eventually(t, "caBundle injected", func() error {
			for name, bundles := range caBundles(ctx, t, c.Client, objs) {
				for i, b := range bundles {
					if !bytes.Equal(b, caPEM) {
						return fmt.Errorf("%s webhook %d: caBundle %q", name, i, b)
					}
				}
			}
			return nil
		})
	})
	if t.Failed() {
		return
	}

	t.Run("kubectl auth can-i --list for the ServiceAccount is exactly the shipped RBAC", func(t *testing.T) {
		// Everything an authenticated identity of that namespace gets without
		// any binding (discovery, self-reviews) is the baseline.
		nobody := fmt.Sprintf("system:serviceaccount:%s:install-test-nobody", ns)
		for _, namespace := range []string{"", ns} {
			args := []string{"auth", "can-i", "--list"}
			if namespace != "" {
				args = append(args, "-n", namespace)
			}
			out := mustKubectl(t, c, nil, append(args, "--as="+saUser)...)
			base := mustKubectl(t, c, nil, append(args, "--as="+nobody)...)
			t.Logf("$ kubectl %s --as=%s\n%s", strings.Join(args, " "), saUser, out)
			got := subtract(parseCanI(t, out), parseCanI(t, base))
			assert.Equal(t, shippedGrants(t, objs, ns, sa, namespace), got, "kubectl %s", strings.Join(args, " "))
			for key := range got {
				assert.NotContains(t, key, "secrets", "no Secret access")
				assert.NotContains(t, key, "*", "no wildcards")
			}
		}
	})

	// The webhook as its pod would run it: the Deployment's args, the files
	// of its volumes (the cert-manager-issued Secret, the policy ConfigMap),
	// and a token of its ServiceAccount.
	var port int
	var metricsAddr string
	t.Run("the webhook becomes ready as the shipped ServiceAccount", func(t *testing.T) {
		saKubeconfig, err := c.ServiceAccountKubeconfig(ctx, ns, sa)
		require.NoError(t, err)
		whoami := mustKubectl(t, c, nil, "--kubeconfig", saKubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		require.Equal(t, saUser, whoami, "the kubeconfig authenticates as the ServiceAccount")

		container := deploy.Spec.Template.Spec.Containers[0]
		mounts := mountVolumes(ctx, t, c.Client, ns, deploy.Spec.Template.Spec, container, filepath.Join(c.Dir, "pod"))
		bin, err := c.BuildWebhook(ctx)
		require.NoError(t, err)
		// Ready = serving TLS and the informer cache synced: the list/watch
		// of the shipped ClusterRole suffice.
		port, err = c.StartWebhookProcess(ctx, bin, func(port, probePort int) []string {
			// Picked anew on each attempt, as the other two ports are.
			metricsAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
			args := localWebhookArgs(container.Args, mounts, port, probePort, metricsAddr, saKubeconfig, ns)
			t.Logf("webhook %s", strings.Join(args, " "))
			return args
		}, nil)
		require.NoError(t, err)
	})
	if t.Failed() {
		return
	}

	t.Run("the API server calls the webhook over TLS with the injected caBundle", func(t *testing.T) {
		// No Service network here: only clientConfig.service becomes a URL
		// on this machine, the injected caBundle stays.
		repointWebhooks(ctx, t, c.Client, objs, port)
		for name, bundles := range caBundles(ctx, t, c.Client, objs) {
			for i, b := range bundles {
				assert.Equal(t, string(caPEM), string(b), "%s webhook %d keeps the injected caBundle", name, i)
			}
		}
		mustKubectl(t, c, nil, "create", "namespace", checkNS)
		probe := webhooktest.UpgradeManifest("admission-probe", "probe", "v2.1.4", "v2.2.16")
		eventually(t, "the API server calls the webhook", func() error {
			out, stderr, err := c.Kubectl(ctx, probe, "-n", checkNS, "create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.toolImage}")
			if err != nil || strings.TrimSpace(out) == "" {
				return fmt.Errorf("%q %v %s", out, err, stderr)
			}
			return nil
		})
	})
	if t.Failed() {
		return
	}

	t.Run("admission with only the shipped RBAC", func(t *testing.T) {
		t.Run("a MilvusUpgrade 2.1.4 to 2.4.23 is denied with MU-META-RANGE", func(t *testing.T) {
			_, stderr, err := c.Kubectl(ctx, webhooktest.UpgradeManifest("too-far", "my-release", "v2.1.4", "v2.4.23"), "-n", checkNS, "create", "--dry-run=server", "-f", "-")
			require.Error(t, err)
			assert.Contains(t, stderr, `spec.targetVersion: Invalid value: "v2.4.23": [MU-META-RANGE]`)
		})
		t.Run("a MilvusUpgrade is defaulted", func(t *testing.T) {
			mustKubectl(t, c, milvusManifest("busy", "v2.1.4"), "-n", checkNS, "apply", "-f", "-")
			out := mustKubectl(t, c, webhooktest.UpgradeManifest("busy-upgrade", "busy", "v2.1.4", "v2.2.16"), "-n", checkNS, "create", "-f", "-", "-o", "json")
			spec := specOf(t, out)
			assert.NotEmpty(t, spec["toolImage"])
			assert.Equal(t, float64(3), spec["maxRetry"])
			assert.Equal(t, true, spec["rollbackIfFailed"])
			assert.Equal(t, repo+"v2.2.16", spec["targetImage"])
		})
		t.Run("a Milvus update 2.1.4 to 2.4.23 is denied with MU-META while another upgrade works on it", func(t *testing.T) {
			// The webhook sees busy-upgrade through its informer cache (the
			// list/watch of milvusupgrades at work) a moment after it is
			// stored; dry-runs, which store nothing, wait for that.
			attempts := 0
			eventually(t, "the dry-run is denied", func() error {
				attempts++
				_, stderr, err := c.Kubectl(ctx, milvusManifest("busy", "v2.4.23"), "-n", checkNS, "apply", "--dry-run=server", "-f", "-")
				if err == nil || !strings.Contains(stderr, "[MU-META]") {
					return fmt.Errorf("not denied with [MU-META]: %v %s", err, stderr)
				}
				return nil
			})
			t.Logf("denied after %d dry-run(s)", attempts)
			_, stderr, err := c.Kubectl(ctx, milvusManifest("busy", "v2.4.23"), "-n", checkNS, "apply", "-f", "-")
			require.Error(t, err)
			assert.Contains(t, stderr, `spec.components.image: Invalid value: "milvusdb/milvus:v2.4.23": [MU-META]`)
			assert.Equal(t, repo+"v2.1.4", storedImage(ctx, t, c.Client, "busy"))
			t.Logf("kubectl apply: %s", stderr)
		})
		t.Run("a Milvus update 2.1.4 to 2.4.23 is held and the controller plans the migration", func(t *testing.T) {
			mustKubectl(t, c, milvusManifest("held", "v2.1.4"), "-n", checkNS, "apply", "-f", "-")
			_, stderr, err := c.Kubectl(ctx, milvusManifest("held", "v2.4.23"), "-n", checkNS, "apply", "-f", "-")
			require.NoError(t, err, stderr)
			assert.Contains(t, stderr, "Warning: [MU-META] spec.components.image: held")
			assert.Equal(t, repo+"v2.1.4", storedImage(ctx, t, c.Client, "held"))
			// The leader-elected controller, as the ServiceAccount: a Lease in
			// its namespace, a MilvusUpgrade created, an Event recorded.
			var planned string
			eventually(t, "the controller creates the planned MilvusUpgrade", func() error {
				out, stderr, err := c.Kubectl(ctx, nil, "-n", checkNS, "get", "milvusupgrade", "held-migrate-v2-2-16", "-o", "json")
				if err != nil {
					return fmt.Errorf("%v: %s", err, stderr)
				}
				planned = out
				return nil
			})
			spec := specOf(t, planned)
			assert.Equal(t, "v2.2.16", spec["targetVersion"])
			assert.NotEmpty(t, spec["toolImage"], "defaulted by the webhook on the controller's create")
			eventually(t, "the MigrationPlanned event", func() error {
				if out, _, _ := c.Kubectl(ctx, nil, "-n", checkNS, "get", "events", "-o", "jsonpath={.items[*].reason}"); !strings.Contains(out, "MigrationPlanned") {
					return fmt.Errorf("event reasons: %q", out)
				}
				return nil
			})
			holder := mustKubectl(t, c, nil, "-n", ns, "get", "leases", "-o", "jsonpath={.items[*].spec.holderIdentity}")
			assert.NotEmpty(t, holder, "the webhook holds its leader-election Lease in %s", ns)
		})
	})

	// Prometheus as docs/install.md sets it up: a ServiceAccount bound to
	// the shipped metrics-reader ClusterRole, the CA from the serving
	// Secret's ca.crt, the metrics Service's name as the server name (the
	// ServiceMonitor's tlsConfig). The webhook reviews the token with the
	// shipped RBAC.
	t.Run("a scraper bound to the shipped metrics reader reads the metrics, verifying the serving certificate", func(t *testing.T) {
		reader := only[rbacv1.ClusterRole](t, objs, "ClusterRole", func(o unstructured.Unstructured) bool {
			return strings.HasSuffix(o.GetName(), "-metrics-reader")
		})
		mustKubectl(t, c, nil, "create", "namespace", "monitoring")
		mustKubectl(t, c, nil, "-n", "monitoring", "create", "serviceaccount", "prometheus")
		mustKubectl(t, c, nil, "-n", "monitoring", "create", "serviceaccount", "stranger")
		mustKubectl(t, c, nil, "create", "clusterrolebinding", "prometheus-milvus-admission-metrics", "--clusterrole", reader.Name, "--serviceaccount", "monitoring:prometheus")
		token := func(sa string) string {
			return strings.TrimSpace(mustKubectl(t, c, nil, "-n", "monitoring", "create", "token", sa, "--duration=1h"))
		}
		roots := x509.NewCertPool()
		require.True(t, roots.AppendCertsFromPEM(caPEM))
		scraper := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: metricsHost(t, objs), MinVersion: tls.VersionTLS12},
		}}
		get := func(token string) (int, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := scraper.Do(req)
			require.NoError(t, err, "TLS to the metrics endpoint, verified with the CA as %s", metricsHost(t, objs))
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, string(body)
		}
		prometheus := token("prometheus")
		var code int
		var body string
		// The RBAC authorizer sees a new binding a moment after it is stored.
		eventually(t, "the scrape is authorized", func() error {
			if code, body = get(prometheus); code != http.StatusOK {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		})
		assert.Contains(t, body, `milvus_admission_decisions_total{decision="denied",kind="MilvusUpgrade",operation="CREATE",rule="MU-META-RANGE"}`,
			"the denial above, counted")
		code, body = get(token("stranger"))
		assert.Equal(t, http.StatusForbidden, code, "a token not bound to the metrics reader: %s", body)
	})

	t.Run("the webhook log has no forbidden errors", func(t *testing.T) {
		data, err := os.ReadFile(c.WebhookLog)
		require.NoError(t, err)
		require.NotEmpty(t, data)
		var forbidden []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(strings.ToLower(line), "forbidden") {
				forbidden = append(forbidden, line)
			}
		}
		if len(forbidden) > 0 {
			t.Errorf("%d forbidden errors in the webhook's log: the shipped RBAC lacks what it uses; the last:\n%s", len(forbidden), tail(strings.Join(forbidden, "\n"), 5))
		}
	})
	t.Logf("install test took %s", time.Since(start).Round(time.Second))
}

// mustKubectl runs kubectl as cluster admin and returns its output.
func mustKubectl(t *testing.T, c *cluster.Cluster, stdin []byte, args ...string) string {
	t.Helper()
	out, stderr, err := c.Kubectl(t.Context(), stdin, args...)
	require.NoError(t, err, "kubectl %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out, stderr)
	return out
}

// installKustomize applies manifests/ as docs/install.md does, then the test
// overlay, which adds localhost to the serving Certificate's DNS names.
func installKustomize(t *testing.T, c *cluster.Cluster) []unstructured.Unstructured {
	out := mustKubectl(t, c, nil, "apply", "--server-side", "-k", filepath.Join(repoRoot, "manifests"))
	t.Logf("kubectl apply --server-side -k manifests/:\n%s", out)
	mustKubectl(t, c, nil, "apply", "--server-side", "-k", filepath.Join(repoRoot, overlay))
	return render(t, c, overlay)
}

// render is `kubectl kustomize dir` as unstructured objects.
func render(t *testing.T, c *cluster.Cluster, dir string) []unstructured.Unstructured {
	t.Helper()
	out, stderr, err := c.Kubectl(context.Background(), nil, "kustomize", filepath.Join(repoRoot, dir))
	require.NoError(t, err, stderr)
	docs, err := shared.YAMLDocuments(strings.NewReader(out))
	require.NoError(t, err)
	var objs []unstructured.Unstructured
	for _, doc := range docs {
		var u unstructured.Unstructured
		require.NoError(t, yaml.Unmarshal(doc, &u.Object))
		objs = append(objs, u)
	}
	return objs
}

// only is the one rendered object of kind (and matching filter), converted
// to T (unstructured.Unstructured for a custom kind).
func only[T any](t *testing.T, objs []unstructured.Unstructured, kind string, filters ...func(unstructured.Unstructured) bool) T {
	t.Helper()
	var found []unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && !slices.ContainsFunc(filters, func(f func(unstructured.Unstructured) bool) bool { return !f(o) }) {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "rendered %s objects", kind)
	var out T
	if u, ok := any(&out).(*unstructured.Unstructured); ok {
		*u = found[0]
		return out
	}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(found[0].Object, &out))
	return out
}

func ofKind[T any](t *testing.T, objs []unstructured.Unstructured, kind string) []T {
	t.Helper()
	var out []T
	for _, o := range objs {
		if o.GetKind() == kind {
			var v T
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &v))
			out = append(out, v)
		}
	}
	return out
}

func named(name string) func(unstructured.Unstructured) bool {
	return func(o unstructured.Unstructured) bool { return o.GetName() == name }
}

func nested(o unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(o.Object, path...)
	return s
}

// servingCertificate is the Certificate whose Secret the Deployment mounts.
func servingCertificate(t *testing.T, objs []unstructured.Unstructured, deploy appsv1.Deployment) unstructured.Unstructured {
	t.Helper()
	var secrets []string
	for _, v := range deploy.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secrets = append(secrets, v.Secret.SecretName)
		}
	}
	return only[unstructured.Unstructured](t, objs, "Certificate", func(o unstructured.Unstructured) bool {
		return slices.Contains(secrets, nested(o, "spec", "secretName"))
	})
}

// metricsHost is <service>.<namespace>.svc of the metrics Service.
func metricsHost(t *testing.T, objs []unstructured.Unstructured) string {
	t.Helper()
	svc := only[corev1.Service](t, objs, "Service", func(o unstructured.Unstructured) bool { return o.GetLabels()[metricsLabel] == "true" })
	return fmt.Sprintf("%s.%s.svc", svc.Name, svc.Namespace)
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := cluster.FreePort()
	require.NoError(t, err)
	return port
}

// serviceHost is <service>.<namespace>.svc of the webhooks' clientConfig:
// every webhook names the same Service, one that was installed, that selects
// the webhook's pods and forwards the port it is called on to the webhook's
// --port. (There is no Service network here: this is what a cluster's would
// route.)
func serviceHost(t *testing.T, objs []unstructured.Unstructured) string {
	t.Helper()
	var refs []admissionregistrationv1.ServiceReference
	for _, cc := range clientConfigs(t, objs) {
		require.NotNil(t, cc.Service, "a webhook without clientConfig.service")
		refs = append(refs, *cc.Service)
	}
	require.NotEmpty(t, refs)
	ref := refs[0]
	for _, r := range refs[1:] {
		require.Equal(t, ref.Namespace+"/"+ref.Name, r.Namespace+"/"+r.Name, "every webhook calls one Service")
	}
	var svc corev1.Service
	for _, s := range ofKind[corev1.Service](t, objs, "Service") {
		if s.Namespace == ref.Namespace && s.Name == ref.Name {
			svc = s
		}
	}
	require.NotEmpty(t, svc.Name, "the webhooks call the Service %s/%s, which was not installed", ref.Namespace, ref.Name)
	deploy := only[appsv1.Deployment](t, objs, "Deployment")
	pod := deploy.Spec.Template
	assert.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)), "Service %s selects the webhook's pods", svc.Name)
	port := int32(443)
	if ref.Port != nil {
		port = *ref.Port
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port })
	require.GreaterOrEqual(t, i, 0, "Service %s has the port %d the webhooks call", svc.Name, port)
	container := pod.Spec.Containers[0]
	target := svc.Spec.Ports[i].TargetPort
	if target.Type == intstr.String {
		j := slices.IndexFunc(container.Ports, func(p corev1.ContainerPort) bool { return p.Name == target.StrVal })
		require.GreaterOrEqual(t, j, 0, "Service %s: no container port %s", svc.Name, target.StrVal)
		target = intstr.FromInt32(container.Ports[j].ContainerPort)
	}
	assert.Contains(t, container.Args, fmt.Sprintf("--port=%d", target.IntVal), "Service %s port %d reaches the webhook", svc.Name, port)
	return fmt.Sprintf("%s.%s.svc", svc.Name, svc.Namespace)
}

// clientConfigs are the clientConfigs of every installed webhook.
func clientConfigs(t *testing.T, objs []unstructured.Unstructured) []admissionregistrationv1.WebhookClientConfig {
	t.Helper()
	var out []admissionregistrationv1.WebhookClientConfig
	for _, m := range ofKind[admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration") {
		for _, w := range m.Webhooks {
			out = append(out, w.ClientConfig)
		}
	}
	for _, v := range ofKind[admissionregistrationv1.ValidatingWebhookConfiguration](t, objs, "ValidatingWebhookConfiguration") {
		for _, w := range v.Webhooks {
			out = append(out, w.ClientConfig)
		}
	}
	return out
}

// waitForIssued waits until the Certificate is Ready for its current spec
// and its Secret holds a certificate for all its DNS names.
func waitForIssued(ctx context.Context, t *testing.T, c *cluster.Cluster, cert unstructured.Unstructured) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{}
	eventually(t, "certificate "+cert.GetName()+" issued", func() error {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(cert.GroupVersionKind())
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(&cert), got); err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		ready := false
		for _, cond := range conds {
			m, _ := cond.(map[string]any)
			if m["type"] == "Ready" && m["status"] == "True" && m["observedGeneration"] == got.GetGeneration() {
				ready = true
			}
		}
		if !ready {
			return fmt.Errorf("not Ready for generation %d: %v", got.GetGeneration(), conds)
		}
		key := types.NamespacedName{Namespace: cert.GetNamespace(), Name: nested(cert, "spec", "secretName")}
		if err := c.Client.Get(ctx, key, secret); err != nil {
			return err
		}
		block, _ := pem.Decode(secret.Data["tls.crt"])
		if block == nil {
			return fmt.Errorf("no certificate in %s", key)
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return err
		}
		want, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		for _, name := range want {
			if !slices.Contains(leaf.DNSNames, name) {
				return fmt.Errorf("%s: DNS names %v lack %s", key, leaf.DNSNames, name)
			}
		}
		return nil
	})
	return secret
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block, "a PEM certificate")
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

// caBundles reads each shipped webhook configuration's caBundles.
func caBundles(ctx context.Context, t *testing.T, cl client.Client, objs []unstructured.Unstructured) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, m := range ofKind[admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration") {
		got := &admissionregistrationv1.MutatingWebhookConfiguration{}
		require.NoError(t, cl.Get(ctx, client.ObjectKey{Name: m.Name}, got))
		for _, w := range got.Webhooks {
			out["mutating "+m.Name] = append(out["mutating "+m.Name], w.ClientConfig.CABundle)
		}
	}
	for _, v := range ofKind[admissionregistrationv1.ValidatingWebhookConfiguration](t, objs, "ValidatingWebhookConfiguration") {
		got := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		require.NoError(t, cl.Get(ctx, client.ObjectKey{Name: v.Name}, got))
		for _, w := range got.Webhooks {
			out["validating "+v.Name] = append(out["validating "+v.Name], w.ClientConfig.CABundle)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// repointWebhooks replaces clientConfig.service of every applied webhook by
// https://localhost:<port><path>, keeping the caBundle cert-manager injected.
func repointWebhooks(ctx context.Context, t *testing.T, cl client.Client, objs []unstructured.Unstructured, port int) {
	t.Helper()
	repoint := func(cc *admissionregistrationv1.WebhookClientConfig) {
		if cc.Service == nil {
			return
		}
		url := fmt.Sprintf("https://localhost:%d", port)
		if cc.Service.Path != nil {
			url += *cc.Service.Path
		}
		cc.Service, cc.URL = nil, &url
	}
	for _, m := range ofKind[admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration") {
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			got := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := cl.Get(ctx, client.ObjectKey{Name: m.Name}, got); err != nil {
				return err
			}
			for i := range got.Webhooks {
				repoint(&got.Webhooks[i].ClientConfig)
			}
			return cl.Update(ctx, got)
		}))
	}
	for _, v := range ofKind[admissionregistrationv1.ValidatingWebhookConfiguration](t, objs, "ValidatingWebhookConfiguration") {
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			got := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := cl.Get(ctx, client.ObjectKey{Name: v.Name}, got); err != nil {
				return err
			}
			for i := range got.Webhooks {
				repoint(&got.Webhooks[i].ClientConfig)
			}
			return cl.Update(ctx, got)
		}))
	}
}

// mountVolumes writes what the kubelet would mount into the container — its
// Secret and ConfigMap volumes as applied — under root, and returns the
// mapping of an in-container path to the local file.
func mountVolumes(ctx context.Context, t *testing.T, cl client.Client, ns string, pod corev1.PodSpec, container corev1.Container, root string) func(string) string {
	t.Helper()
	var mountPaths []string
	for _, vm := range container.VolumeMounts {
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		require.GreaterOrEqual(t, i, 0, "volume %s", vm.Name)
		vol := pod.Volumes[i]
		files := map[string][]byte{}
		var items []corev1.KeyToPath
		switch {
		case vol.Secret != nil:
			s := &corev1.Secret{}
			require.NoError(t, cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: vol.Secret.SecretName}, s))
			files, items = s.Data, vol.Secret.Items
		case vol.ConfigMap != nil:
			cm := &corev1.ConfigMap{}
			require.NoError(t, cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: vol.ConfigMap.Name}, cm))
			for k, v := range cm.Data {
				files[k] = []byte(v)
			}
			items = vol.ConfigMap.Items
		default:
			t.Fatalf("volume %s: only Secret and ConfigMap volumes are mounted here", vol.Name)
		}
		if items == nil {
			for k := range files {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		dir := filepath.Join(root, vm.MountPath)
		require.NoError(t, os.MkdirAll(dir, 0o700))
		for _, it := range items {
			data, ok := files[it.Key]
			require.True(t, ok, "volume %s has no key %s", vol.Name, it.Key)
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, it.Path)), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, it.Path), data, 0o600))
		}
		mountPaths = append(mountPaths, vm.MountPath)
	}
	return func(p string) string {
		for _, m := range mountPaths {
			if p == m || strings.HasPrefix(p, strings.TrimSuffix(m, "/")+"/") {
				return filepath.Join(root, p)
			}
		}
		return p
	}
}

// canILine is one row of `kubectl auth can-i --list`.
var canILine = regexp.MustCompile(`^(?:(\S+)\s+)?(\[[^\]]*\])\s+(\[[^\]]*\])\s+\[([^\]]*)\]$`)

// parseCanI maps "resource|nonResourceURLs|resourceNames" to its verbs.
func parseCanI(t *testing.T, out string) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.NotEmpty(t, lines)
	require.Contains(t, lines[0], "Resources")
	got := map[string][]string{}
	for _, l := range lines[1:] {
		m := canILine.FindStringSubmatch(strings.TrimSpace(l))
		require.NotNil(t, m, "can-i line %q", l)
		key := m[1] + "|" + m[2] + "|" + m[3]
		got[key] = sortedSet(append(got[key], strings.Fields(m[4])...))
	}
	return got
}

// subtract is what a grants beyond base.
func subtract(a, base map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, verbs := range a {
		var extra []string
		for _, v := range verbs {
			if !slices.Contains(base[k], v) {
				extra = append(extra, v)
			}
		}
		if len(extra) > 0 {
			out[k] = extra
		}
	}
	return out
}

// shippedGrants is what the rendered manifests grant the ServiceAccount in
// namespace ("" = cluster-wide only), keyed as parseCanI keys.
func shippedGrants(t *testing.T, objs []unstructured.Unstructured, saNS, sa, namespace string) map[string][]string {
	t.Helper()
	bound := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == saNS
		})
	}
	roles := map[string][]rbacv1.PolicyRule{}
	for _, r := range ofKind[rbacv1.ClusterRole](t, objs, "ClusterRole") {
		roles["ClusterRole/"+r.Name] = r.Rules
	}
	for _, r := range ofKind[rbacv1.Role](t, objs, "Role") {
		roles["Role/"+r.Namespace+"/"+r.Name] = r.Rules
	}
	var rules []rbacv1.PolicyRule
	for _, b := range ofKind[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding") {
		if bound(b.Subjects) {
			rules = append(rules, roles[b.RoleRef.Kind+"/"+b.RoleRef.Name]...)
		}
	}
	for _, b := range ofKind[rbacv1.RoleBinding](t, objs, "RoleBinding") {
		if b.Namespace != namespace || !bound(b.Subjects) {
			continue
		}
		ref := b.RoleRef.Kind + "/" + b.RoleRef.Name
		if b.RoleRef.Kind == "Role" {
			ref = "Role/" + b.Namespace + "/" + b.RoleRef.Name
		}
		rules = append(rules, roles[ref]...)
	}
	require.NotEmpty(t, rules, "the manifests bind no role to %s/%s", saNS, sa)
	out := map[string][]string{}
	for _, r := range rules {
		names := "[" + strings.Join(r.ResourceNames, " ") + "]"
		for _, u := range r.NonResourceURLs {
			key := "|[" + u + "]|[]"
			out[key] = sortedSet(append(out[key], r.Verbs...))
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if g != "" {
					res += "." + g
				}
				key := res + "|[]|" + names
				out[key] = sortedSet(append(out[key], r.Verbs...))
			}
		}
	}
	return out
}

func sortedSet(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

func milvusManifest(name, version string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: milvus.io/v1beta1
kind: Milvus
metadata:
  name: %s
spec:
  mode: cluster
  dependencies:
    msgStreamType: pulsar
  components:
    image: %s%s
    mixCoord:
      replicas: 1
`, name, repo, version))
}

func specOf(t *testing.T, js string) map[string]any {
	t.Helper()
	var obj struct {
		Spec map[string]any `json:"spec"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &obj))
	return obj.Spec
}

func storedImage(ctx context.Context, t *testing.T, cl client.Client, name string) string {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("milvus.io/v1beta1")
	u.SetKind("Milvus")
	require.NoError(t, cl.Get(ctx, types.NamespacedName{Namespace: checkNS, Name: name}, u))
	return nested(*u, "spec", "components", "image")
}

// eventually retries f until it returns nil or waitTimeout passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	e2etest.Eventually(t.Context(), t, waitTimeout, what, f, nil)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + " …"
		}
	}
	return strings.Join(lines, "\n")
}
