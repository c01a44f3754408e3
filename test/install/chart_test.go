package install

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
)

const (
	chartDir = "charts/milvus-admission"
	// helmRelease and helmNamespace are not the base's names, so that every
	// name the chart derives from them (the Services, the Certificates and
	// their DNS names, the webhook configurations' clientConfig and
	// inject-ca-from, the ServiceAccount and the RBAC bound to it) is
	// installed as templated, not as the kustomize base spells it.
	helmRelease   = "ma"
	helmNamespace = "milvus-admission-helm"
)

// installChart installs the chart as docs/install.md does with helm install:
// the namespace first, with the base's Pod Security label, then the chart's
// objects for the default values, rendered by Helm's engine (renderChart) and
// created in the order helm install creates them. A post-render step, as
// `helm install --post-renderer` runs one, adds localhost to the serving
// Certificate's DNS names (what the overlay does for the kustomize base).
func installChart(t *testing.T, c *cluster.Cluster) []unstructured.Unstructured {
	mustKubectl(t, c, nil, "create", "namespace", helmNamespace)
	mustKubectl(t, c, nil, "label", "namespace", helmNamespace,
		"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest")

	objs := renderChart(t)
	for _, o := range objs {
		key := o.GetKind() + "/" + o.GetName()
		assert.True(t, strings.HasPrefix(o.GetName(), helmRelease+"-"), "%s: named after the release", key)
		if o.GetNamespace() != "" {
			assert.Equal(t, helmNamespace, o.GetNamespace(), "%s: in the release namespace", key)
		}
	}
	serving := servingCertificate(t, objs, only[appsv1.Deployment](t, objs, "Deployment")) // shares its map with objs
	dnsNames, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
	require.NoError(t, unstructured.SetNestedStringSlice(serving.Object, append(dnsNames, "localhost"), "spec", "dnsNames"))

	var manifest bytes.Buffer
	for _, o := range objs {
		doc, err := yaml.Marshal(o.Object)
		require.NoError(t, err)
		manifest.WriteString("---\n")
		manifest.Write(doc)
	}
	out := mustKubectl(t, c, manifest.Bytes(), "apply", "--server-side", "-f", "-")
	t.Logf("kubectl apply --server-side (the chart as release %s in %s):\n%s", helmRelease, helmNamespace, out)
	return objs
}

// renderChart renders the chart for its default values as release
// helmRelease in helmNamespace with Helm's loader, value coalescing, schema
// validation and strict template engine (as charts/chart_test.go does), and
// sorts the objects as helm install does (releaseutil.InstallOrder).
func renderChart(t *testing.T) []unstructured.Unstructured {
	t.Helper()
	ch, err := loader.Load(filepath.Join(repoRoot, chartDir))
	require.NoError(t, err)
	vals, err := chartutil.ToRenderValues(ch, nil, chartutil.ReleaseOptions{
		Name: helmRelease, Namespace: helmNamespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	require.NoError(t, err)
	files, err := engine.Engine{Strict: true}.Render(ch, vals)
	require.NoError(t, err)
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") { // printed by helm install, not applied
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	require.NoError(t, err)
	require.Empty(t, hooks, "the chart has hooks: installing them here needs their phases")
	var objs []unstructured.Unstructured
	for _, m := range manifests {
		var u unstructured.Unstructured
		require.NoError(t, yaml.Unmarshal([]byte(m.Content), &u.Object), m.Name)
		require.NotEmpty(t, u.Object, "%s: a document that is no object:\n%s", m.Name, m.Content)
		objs = append(objs, u)
	}
	require.NotEmpty(t, objs)
	return objs
}
