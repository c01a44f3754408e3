// Package charts_test renders the Helm chart in milvus-admission/ with Helm's
// own Go engine (the loader, value coalescing, schema validation and template
// engine that `helm install` and `helm template` use) and holds it to the
// kustomize base in ../manifests: with default values the chart yields the
// same objects, and the differences a value makes are the ones it promises.
package charts_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/shared"
)

const (
	chartDir    = "milvus-admission"
	releaseName = "milvus-admission"
	// The namespace the kustomize base installs into; the chart is rendered
	// into the same one, so namespace placement is compared, not ignored.
	releaseNamespace = "milvus-admission"
	excludedFlag     = "--excluded-namespaces="
	exemptLabel      = "milvus-admission.io/exempt"
)

// helmLabels are the only labels the chart adds to the kustomize base's, on
// every object's metadata.labels (never on selectors or the pod template),
// with the values a render of this chart gives them. The comparison checks
// each is there with this value, then ignores it.
func helmLabels(t *testing.T) map[string]string {
	t.Helper()
	var meta struct{ Version, AppVersion string }
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &meta))
	return map[string]string{
		"helm.sh/chart":                "milvus-admission-" + meta.Version,
		"app.kubernetes.io/managed-by": "Helm",
		"app.kubernetes.io/instance":   releaseName,
		"app.kubernetes.io/version":    meta.AppVersion,
	}
}

// obj is one rendered object, decoded from JSON (so that numbers and
// strings compare the same whichever tool wrote them).
type obj map[string]any

func (o obj) kind() string { return o["kind"].(string) }
func (o obj) meta() map[string]any {
	m, _ := o["metadata"].(map[string]any)
	return m
}
func (o obj) key() string {
	ns, _ := o.meta()["namespace"].(string)
	name, _ := o.meta()["name"].(string)
	return o.kind() + "/" + ns + "/" + name
}

func decodeAll(t *testing.T, name string, data []byte) []obj {
	t.Helper()
	docs, err := shared.YAMLDocuments(bytes.NewReader(data))
	require.NoError(t, err, name)
	var out []obj
	for _, doc := range docs {
		js, err := yaml.YAMLToJSON(doc)
		require.NoError(t, err, "%s:\n%s", name, doc)
		if string(js) == "null" { // only comments
			continue
		}
		var o obj
		require.NoError(t, json.Unmarshal(js, &o), name)
		out = append(out, o)
	}
	return out
}

// decode converts an object to a typed API object, strictly: a field the
// type does not know fails.
func decode[T any](t *testing.T, o obj) T {
	t.Helper()
	js, err := json.Marshal(o)
	require.NoError(t, err)
	var v T
	require.NoError(t, yaml.UnmarshalStrict(js, &v), o.key())
	return v
}

func kubectlPath() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return filepath.Join(dir, "kubectl")
	}
	return filepath.Join("..", "bin", "kube", "v1.37.2", "kubectl")
}

// kustomize renders a kustomization folder with kubectl, as
// manifests/manifests_test.go renders the base into install.yaml.
func kustomize(t *testing.T, dir string) []obj {
	t.Helper()
	kubectl := kubectlPath()
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl not found at %s (%v): run `make kube-binaries`, or point KUBEBUILDER_ASSETS at a folder holding kubectl", kubectl, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "kubectl kustomize %s: %s", dir, stderr.String())
	return decodeAll(t, "kustomize "+dir, stdout.Bytes())
}

var baseOnce = sync.OnceValues(func() ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectlPath(), "kustomize", filepath.Join("..", "manifests"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kubectl kustomize ../manifests: %v: %s (run `make kube-binaries`, or set KUBEBUILDER_ASSETS)", err, stderr.String())
	}
	return stdout.Bytes(), nil
})

// base is the kustomize base, rendered once.
func base(t *testing.T) []obj {
	t.Helper()
	out, err := baseOnce()
	require.NoError(t, err)
	return decodeAll(t, "kustomize ../manifests", out)
}

// render renders the chart as `helm template milvus-admission charts/milvus-admission
// --namespace milvus-admission --set ...` does: Helm's loader, its value
// coalescing and schema validation, and its template engine (strict: a
// template reading a value that does not exist fails).
func render(t *testing.T, values map[string]any) ([]obj, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Engine{Strict: true}.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []obj
	for _, name := range names {
		out = append(out, decodeAll(t, name, []byte(files[name]))...)
	}
	return out, nil
}

func mustRender(t *testing.T, values map[string]any) []obj {
	t.Helper()
	objs, err := render(t, values)
	require.NoError(t, err)
	return objs
}

// withoutHelmLabels checks that o carries every Helm label with its value
// and returns a copy without them (labels dropped if nothing is left).
func withoutHelmLabels(t *testing.T, o obj) obj {
	t.Helper()
	js, err := json.Marshal(o)
	require.NoError(t, err)
	var c obj
	require.NoError(t, json.Unmarshal(js, &c))
	lbls, _ := c.meta()["labels"].(map[string]any)
	for k, want := range helmLabels(t) {
		assert.Equal(t, want, lbls[k], "%s: Helm label %s", o.key(), k)
		delete(lbls, k)
	}
	if len(lbls) == 0 {
		delete(c.meta(), "labels")
	}
	return c
}

func byKey(objs []obj) map[string]obj {
	m := map[string]obj{}
	for _, o := range objs {
		m[o.key()] = o
	}
	return m
}

func keys(m map[string]obj) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// assertSameObjects holds the chart's objects to the kustomize output:
// the same set of objects, each equal field for field once the Helm labels
// are taken off. Nothing else is ignored.
func assertSameObjects(t *testing.T, want, got []obj) {
	t.Helper()
	w, g := byKey(want), byKey(got)
	require.Len(t, w, len(want), "kustomize output has no duplicate objects")
	require.Len(t, g, len(got), "chart output has no duplicate objects")
	assert.Equal(t, keys(w), keys(g), "the same objects, by kind, namespace and name")
	for k, wo := range w {
		if gobj, ok := g[k]; ok {
			if d := cmp.Diff(wo, withoutHelmLabels(t, gobj)); d != "" {
				t.Errorf("%s differs (-kustomize +chart):\n%s", k, d)
			}
		}
	}
}

// With default values the chart renders the kustomize base. The differences
// it is allowed, and the only ones:
//  1. Helm's labels (helmLabels) on every object's metadata.labels;
//  2. no Namespace object: Helm records a release in its namespace before it
//     creates anything, so `helm install` needs the namespace to exist and
//     namespace.create defaults to false. With namespace.create=true the
//     Namespace is rendered too, and is then the base's exactly.
func TestDefaultValuesRenderTheKustomizeBase(t *testing.T) {
	kust := base(t)
	var withoutNamespace []obj
	for _, o := range kust {
		if o.kind() != "Namespace" {
			withoutNamespace = append(withoutNamespace, o)
		}
	}
	require.Len(t, withoutNamespace, len(kust)-1, "the base has one Namespace")

	t.Run("defaults", func(t *testing.T) {
		assertSameObjects(t, withoutNamespace, mustRender(t, nil))
	})
	t.Run("namespace.create=true", func(t *testing.T) {
		assertSameObjects(t, kust, mustRender(t, map[string]any{"namespace": map[string]any{"create": true}}))
	})
}

// The policy ConfigMap's name hash is kustomize's: an overlay that replaces
// policy.yaml and the chart given the same policy render the same objects,
// and the Deployment follows the new name (so a policy change rolls the pods
// under either tool).
func TestPolicyValueMatchesAKustomizeOverlay(t *testing.T) {
	policy, err := os.ReadFile(filepath.Join("..", "manifests", "policy.yaml"))
	require.NoError(t, err)
	changed := string(policy) + "rules:\n  MU-ROLLING: deny\n"

	dir := t.TempDir()
	abs, err := filepath.Abs(filepath.Join("..", "manifests"))
	require.NoError(t, err)
	manifests, err := filepath.Rel(dir, abs) // kustomize takes no absolute resource paths
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(changed), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
configMapGenerator:
  - name: milvus-admission-policy
    namespace: milvus-admission
    behavior: replace
    files:
      - policy.yaml
`, manifests)), 0o644))
	overlay := kustomize(t, dir)

	got := mustRender(t, map[string]any{"policy": changed, "namespace": map[string]any{"create": true}})
	assertSameObjects(t, overlay, got)

	var defaultName, changedName string
	for _, o := range base(t) {
		if o.kind() == "ConfigMap" {
			defaultName = o.meta()["name"].(string)
		}
	}
	for _, o := range got {
		if o.kind() == "ConfigMap" {
			changedName = o.meta()["name"].(string)
		}
	}
	assert.NotEqual(t, defaultName, changedName, "a policy change renames the ConfigMap")
}

// selfSignedCA is a PEM CA certificate, as a user's own PKI would provide.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "my-webhook-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func only(t *testing.T, objs []obj, kind string) obj {
	t.Helper()
	var found []obj
	for _, o := range objs {
		if o.kind() == kind {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "exactly one %s", kind)
	return found[0]
}

func ofKind(objs []obj, kind string) []obj {
	var found []obj
	for _, o := range objs {
		if o.kind() == kind {
			found = append(found, o)
		}
	}
	return found
}

// allWebhooks returns the four webhooks of the two configurations, and the
// configurations' annotations.
func allWebhooks(t *testing.T, objs []obj) (hooks []admissionregistrationv1.MutatingWebhook, validating []admissionregistrationv1.ValidatingWebhook, annotations []map[string]string) {
	t.Helper()
	m := decode[admissionregistrationv1.MutatingWebhookConfiguration](t, only(t, objs, "MutatingWebhookConfiguration"))
	v := decode[admissionregistrationv1.ValidatingWebhookConfiguration](t, only(t, objs, "ValidatingWebhookConfiguration"))
	return m.Webhooks, v.Webhooks, []map[string]string{m.Annotations, v.Annotations}
}

// Non-default values: three replicas, failurePolicy Ignore, an extra excluded
// namespace, and a provided certificate instead of cert-manager. Each value
// lands where it must, and nothing of cert-manager is left.
func TestNonDefaultValues(t *testing.T) {
	ca := selfSignedCA(t)
	objs := mustRender(t, map[string]any{
		"replicas":           3,
		"failurePolicy":      "Ignore",
		"excludedNamespaces": []any{"kube-system", "sandbox"},
		"certManager":        map[string]any{"enabled": false},
		"tls": map[string]any{
			"secretName": "my-webhook-tls",
			"caBundle":   base64.StdEncoding.EncodeToString(ca),
		},
	})
	wantExcluded := []string{"kube-system", "sandbox", releaseNamespace}

	d := decode[appsv1.Deployment](t, only(t, objs, "Deployment"))
	require.NotNil(t, d.Spec.Replicas)
	assert.Equal(t, int32(3), *d.Spec.Replicas, "replicas")
	assert.Len(t, ofKind(objs, "PodDisruptionBudget"), 1, "a PodDisruptionBudget keeps one of the three")

	// The provided Secret is what the webhook serves from --cert-dir.
	var servingSecret string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "serving-cert" && v.Secret != nil {
			servingSecret = v.Secret.SecretName
		}
	}
	assert.Equal(t, "my-webhook-tls", servingSecret, "the serving-cert volume mounts the provided Secret")

	// --excluded-namespaces and every namespaceSelector list the same names.
	var flag string
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, excludedFlag); ok {
			flag = v
		}
	}
	assert.Equal(t, strings.Join(wantExcluded, ","), flag, "--excluded-namespaces: the value plus the release namespace")

	mutating, validating, annotations := allWebhooks(t, objs)
	type hook struct {
		name     string
		policy   *admissionregistrationv1.FailurePolicyType
		cc       admissionregistrationv1.WebhookClientConfig
		selector *metav1.LabelSelector
	}
	var hooks []hook
	for _, w := range mutating {
		hooks = append(hooks, hook{w.Name, w.FailurePolicy, w.ClientConfig, w.NamespaceSelector})
	}
	for _, w := range validating {
		hooks = append(hooks, hook{w.Name, w.FailurePolicy, w.ClientConfig, w.NamespaceSelector})
	}
	require.Len(t, hooks, 4)
	for _, h := range hooks {
		if assert.NotNil(t, h.policy, h.name) {
			assert.Equal(t, admissionregistrationv1.Ignore, *h.policy, "%s failurePolicy", h.name)
		}
		assert.Equal(t, ca, h.cc.CABundle, "%s: caBundle is the provided CA", h.name)
		block, _ := pem.Decode(h.cc.CABundle)
		if assert.NotNil(t, block, "%s: caBundle is PEM", h.name) {
			_, err := x509.ParseCertificate(block.Bytes)
			assert.NoError(t, err, "%s: caBundle holds a certificate", h.name)
		}
		if assert.NotNil(t, h.selector, h.name) {
			assert.Equal(t, []metav1.LabelSelectorRequirement{
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: wantExcluded},
				{Key: exemptLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"true"}},
			}, h.selector.MatchExpressions, "%s namespaceSelector", h.name)
			sel, err := metav1.LabelSelectorAsSelector(h.selector)
			require.NoError(t, err)
			assert.False(t, sel.Matches(labels.Set{"kubernetes.io/metadata.name": "sandbox"}), "%s skips sandbox", h.name)
			assert.True(t, sel.Matches(labels.Set{"kubernetes.io/metadata.name": "default"}), "%s gates default", h.name)
		}
	}
	for _, a := range annotations {
		assert.NotContains(t, a, "cert-manager.io/inject-ca-from", "no CA injection without cert-manager")
	}
	for _, o := range objs {
		apiVersion, _ := o["apiVersion"].(string)
		assert.False(t, strings.HasPrefix(apiVersion, "cert-manager.io/"), "%s: no cert-manager objects", o.key())
	}

	// Everything else is the default rendering.
	defaults := byKey(mustRender(t, nil))
	for _, o := range objs {
		switch o.kind() {
		case "Deployment", "PodDisruptionBudget", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			continue
		}
		want, ok := defaults[o.key()]
		if assert.True(t, ok, "%s is in the default rendering", o.key()) {
			assert.Empty(t, cmp.Diff(want, o), "%s differs from the default rendering (-default +these values)", o.key())
		}
	}
}

// The values the chart cannot serve are refused at render time, not at
// apply time: Helm's schema check, and `required` in the templates.
func TestInvalidValuesAreRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"failurePolicy":            {map[string]any{"failurePolicy": "Sometimes"}, "failurePolicy"},
		"zero replicas":            {map[string]any{"replicas": 0}, "replicas"},
		"unknown value":            {map[string]any{"replica": 3}, "replica"},
		"no caBundle":              {map[string]any{"certManager": map[string]any{"enabled": false}, "tls": map[string]any{"secretName": "s"}}, "tls.caBundle is required"},
		"no secretName":            {map[string]any{"certManager": map[string]any{"enabled": false}, "tls": map[string]any{"caBundle": "Zm9v"}}, "tls.secretName is required"},
		"ServiceMonitor alone":     {map[string]any{"metrics": map[string]any{"service": map[string]any{"enabled": false}, "serviceMonitor": map[string]any{"enabled": true}}}, "needs metrics.service.enabled"},
		"digest not sha256":        {map[string]any{"image": map[string]any{"repository": "r", "digest": "latest"}}, "digest"},
		"namespace not a DNS name": {map[string]any{"excludedNamespaces": []any{"Kube_System"}}, "excludedNamespaces"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(t, tc.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// One replica: no PodDisruptionBudget (minAvailable 1 would block every
// drain). A digest pins the image. The release namespace is excluded even
// when the list leaves it out, once.
func TestSmallerValues(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	objs := mustRender(t, map[string]any{
		"replicas":           1,
		"image":              map[string]any{"repository": "ghcr.io/example/milvus-admission", "tag": "v0.1.0", "digest": digest},
		"excludedNamespaces": []any{releaseNamespace, "kube-system"},
	})
	assert.Empty(t, ofKind(objs, "PodDisruptionBudget"))
	d := decode[appsv1.Deployment](t, only(t, objs, "Deployment"))
	assert.Equal(t, "ghcr.io/example/milvus-admission@"+digest, d.Spec.Template.Spec.Containers[0].Image)
	assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, excludedFlag+releaseNamespace+",kube-system")
}

// serviceMonitorEndpoint is the part of a monitoring.coreos.com/v1
// ServiceMonitor endpoint the chart renders (prometheus-operator is not a
// dependency); decoded strictly, so a field it does not list fails.
type serviceMonitorEndpoint struct {
	Port            string `json:"port"`
	Scheme          string `json:"scheme"`
	Interval        string `json:"interval"`
	BearerTokenFile string `json:"bearerTokenFile"`
	TLSConfig       struct {
		ServerName         string `json:"serverName"`
		InsecureSkipVerify *bool  `json:"insecureSkipVerify"`
		CA                 struct {
			Secret    *corev1.SecretKeySelector    `json:"secret"`
			ConfigMap *corev1.ConfigMapKeySelector `json:"configMap"`
		} `json:"ca"`
	} `json:"tlsConfig"`
}

// serviceMonitor decodes the one ServiceMonitor of objs.
func serviceMonitor(t *testing.T, objs []obj) (metav1.LabelSelector, []serviceMonitorEndpoint) {
	t.Helper()
	sm := only(t, objs, "ServiceMonitor")
	var spec struct {
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Selector  metav1.LabelSelector     `json:"selector"`
		Endpoints []serviceMonitorEndpoint `json:"endpoints"`
	}
	js, err := json.Marshal(sm["spec"])
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(js, &spec), "ServiceMonitor spec")
	assert.Equal(t, []string{releaseNamespace}, spec.NamespaceSelector.MatchNames)
	return spec.Selector, spec.Endpoints
}

// servingDNSNames are the dnsNames of the serving Certificate (the one whose
// Secret the Deployment mounts).
func servingDNSNames(t *testing.T, objs []obj, servingSecret string) []string {
	t.Helper()
	var names []string
	var found int
	for _, o := range ofKind(objs, "Certificate") {
		spec, _ := o["spec"].(map[string]any)
		if spec["secretName"] != servingSecret {
			continue
		}
		found++
		list, _ := spec["dnsNames"].([]any)
		for _, n := range list {
			names = append(names, n.(string))
		}
	}
	require.Equal(t, 1, found, "one Certificate writes %s", servingSecret)
	return names
}

// servingSecretOf is the Secret the Deployment mounts at --cert-dir.
func servingSecretOf(t *testing.T, d appsv1.Deployment) string {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "serving-cert" && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	t.Fatalf("the Deployment mounts no serving-cert Secret")
	return ""
}

// Metrics: on by default (as in the kustomize base), a Service that reaches
// the container's metrics port and that the serving certificate names, since
// the endpoint serves it; a ServiceMonitor that selects only that Service and
// verifies the certificate with the CA under that name; and the role a
// scraper needs. Turned off, the Service, the role and the DNS names go.
func TestMetricsServiceAndServiceMonitor(t *testing.T) {
	defaults := mustRender(t, nil)
	assert.Empty(t, ofKind(defaults, "ServiceMonitor"), "no ServiceMonitor by default")
	objs := mustRender(t, map[string]any{"metrics": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
	}})
	d := decode[appsv1.Deployment](t, only(t, objs, "Deployment"))
	var webhookSvc, metricsSvc corev1.Service
	for _, o := range ofKind(objs, "Service") {
		s := decode[corev1.Service](t, o)
		if strings.HasSuffix(s.Name, "-metrics") {
			metricsSvc = s
		} else {
			webhookSvc = s
		}
	}
	require.NotEmpty(t, metricsSvc.Name)
	require.Len(t, metricsSvc.Spec.Ports, 1)
	assert.True(t, labels.SelectorFromSet(metricsSvc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)), "selects the webhook pods")
	p := metricsSvc.Spec.Ports[0]
	var containerPort int32
	for _, cp := range d.Spec.Template.Spec.Containers[0].Ports {
		if cp.Name == p.TargetPort.StrVal {
			containerPort = cp.ContainerPort
		}
	}
	assert.Equal(t, int32(8443), containerPort, "the metrics Service targets the container's metrics port")
	assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "--metrics-bind-address=:8443")
	assert.Contains(t, byKey(defaults), "Service/"+releaseNamespace+"/"+metricsSvc.Name, "the metrics Service is on by default")

	servingSecret := servingSecretOf(t, d)
	metricsHost := metricsSvc.Name + "." + releaseNamespace + ".svc"
	assert.Equal(t, []string{
		webhookSvc.Name + "." + releaseNamespace + ".svc", webhookSvc.Name + "." + releaseNamespace + ".svc.cluster.local",
		metricsHost, metricsHost + ".cluster.local",
	}, servingDNSNames(t, objs, servingSecret), "the serving certificate names both Services")

	sel, endpoints := serviceMonitor(t, objs)
	selector, err := metav1.LabelSelectorAsSelector(&sel)
	require.NoError(t, err)
	assert.True(t, selector.Matches(labels.Set(metricsSvc.Labels)), "the ServiceMonitor selects the metrics Service")
	assert.False(t, selector.Matches(labels.Set(webhookSvc.Labels)), "and not the webhook Service")
	require.Len(t, endpoints, 1)
	ep := endpoints[0]
	assert.Equal(t, p.Name, ep.Port)
	assert.Equal(t, "https", ep.Scheme)
	assert.Equal(t, "30s", ep.Interval)
	tls := ep.TLSConfig
	assert.Nil(t, tls.InsecureSkipVerify, "the certificate is verified, not skipped")
	assert.Equal(t, metricsHost, tls.ServerName, "verified under the metrics Service's name, which the certificate carries")
	assert.Nil(t, tls.CA.ConfigMap)
	if assert.NotNil(t, tls.CA.Secret, "tlsConfig.ca.secret") {
		assert.Equal(t, corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: servingSecret}, Key: "ca.crt"}, *tls.CA.Secret,
			"the CA cert-manager writes beside the serving certificate")
	}
	assert.Equal(t, "prometheus", only(t, objs, "ServiceMonitor").meta()["labels"].(map[string]any)["release"])

	var reader bool
	for _, o := range ofKind(objs, "ClusterRole") {
		if strings.HasSuffix(o.meta()["name"].(string), "-metrics-reader") {
			reader = true
			rules, _ := json.Marshal(o["rules"])
			assert.JSONEq(t, `[{"nonResourceURLs":["/metrics"],"verbs":["get"]}]`, string(rules))
		}
	}
	assert.True(t, reader, "a metrics-reader ClusterRole")

	t.Run("a provided certificate: the CA from tls.caBundle", func(t *testing.T) {
		ca := selfSignedCA(t)
		objs := mustRender(t, map[string]any{
			"certManager": map[string]any{"enabled": false},
			"tls":         map[string]any{"secretName": "my-webhook-tls", "caBundle": base64.StdEncoding.EncodeToString(ca)},
			"metrics":     map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
		})
		_, endpoints := serviceMonitor(t, objs)
		require.Len(t, endpoints, 1)
		tls := endpoints[0].TLSConfig
		assert.Nil(t, tls.InsecureSkipVerify)
		assert.Equal(t, metricsHost, tls.ServerName)
		assert.Nil(t, tls.CA.Secret, "a Secret made by kubectl create secret tls has no ca.crt")
		require.NotNil(t, tls.CA.ConfigMap, "tlsConfig.ca.configMap")
		var data map[string]string
		for _, o := range ofKind(objs, "ConfigMap") {
			if o.meta()["name"] == tls.CA.ConfigMap.Name {
				data = decode[corev1.ConfigMap](t, o).Data
			}
		}
		assert.Equal(t, string(ca), data[tls.CA.ConfigMap.Key], "ConfigMap %s holds the CA of tls.caBundle", tls.CA.ConfigMap.Name)
	})

	t.Run("metrics.service.enabled=false", func(t *testing.T) {
		objs := mustRender(t, map[string]any{"metrics": map[string]any{"service": map[string]any{"enabled": false}}})
		services := ofKind(objs, "Service")
		require.Len(t, services, 1, "the webhook Service only")
		for _, o := range ofKind(objs, "ClusterRole") {
			assert.NotContains(t, o.meta()["name"], "-metrics-reader")
		}
		webhookSvc := services[0].meta()["name"].(string)
		assert.Equal(t, []string{webhookSvc + "." + releaseNamespace + ".svc", webhookSvc + "." + releaseNamespace + ".svc.cluster.local"},
			servingDNSNames(t, objs, servingSecretOf(t, decode[appsv1.Deployment](t, only(t, objs, "Deployment")))),
			"the certificate names no metrics Service")
	})
}

// Argo CD applies the chart's webhook configurations last too (the chart
// carries the base's sync waves, which the default comparison already holds
// equal); every object has a wave.
func TestChartObjectsHaveSyncWaves(t *testing.T) {
	objs := mustRender(t, map[string]any{
		"namespace": map[string]any{"create": true},
		"metrics":   map[string]any{"service": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true}},
	})
	webhookKinds := []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
	for _, o := range objs {
		ann, _ := o.meta()["annotations"].(map[string]any)
		wave, ok := ann["argocd.argoproj.io/sync-wave"].(string)
		if !assert.True(t, ok, "%s has a sync wave", o.key()) {
			continue
		}
		if slices.Contains(webhookKinds, o.kind()) {
			assert.Equal(t, "1", wave, o.key())
		} else {
			assert.Contains(t, []string{"-1", "0"}, wave, o.key())
		}
	}
}

// `helm lint` (as the release workflow runs it before packaging) finds
// nothing to warn about, with the defaults and without cert-manager.
func TestHelmLint(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": nil,
		"provided certificate": {
			"certManager": map[string]any{"enabled": false},
			"tls":         map[string]any{"secretName": "s", "caBundle": base64.StdEncoding.EncodeToString(selfSignedCA(t))},
		},
	} {
		t.Run(name, func(t *testing.T) {
			linter := lint.All(chartDir, values, releaseNamespace, false)
			for _, m := range linter.Messages {
				assert.Less(t, m.Severity, support.WarningSev, "%s", m)
			}
		})
	}
}
