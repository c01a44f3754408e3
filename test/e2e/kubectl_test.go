package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// applyMode is one way Argo CD, a pipeline or a person applies manifests.
type applyMode struct {
	name string
	args []string
	// dryRun: the change is sent as a server-side dry-run; nothing is stored.
	dryRun bool
}

var applyModes = []applyMode{
	{name: "client-side apply", args: []string{"apply", "-f", "-"}},
	{name: "server-side apply", args: []string{"apply", "--server-side", "-f", "-"}},
	{name: "server dry-run", args: []string{"apply", "--dry-run=server", "-f", "-"}, dryRun: true},
}

// The three procedures of the seed document through kubectl, as a user sees them.
func TestKubectlSeedProcedures(t *testing.T) {
	for _, mode := range applyModes {
		t.Run(mode.name, func(t *testing.T) {
			ns := newNamespace(t)
			create := func(m milvusManifest) {
				createArgs := mode.args
				if mode.dryRun {
					createArgs = applyModes[0].args
				}
				kubectl(t, m.yaml(), append([]string{"-n", ns}, createArgs...)...)
			}
			change := func(m milvusManifest) (string, string, error) {
				return tryKubectl(m.yaml(), append([]string{"-n", ns}, mode.args...)...)
			}
			expectImage := func(name, applied, before string) {
				want := applied
				if mode.dryRun {
					want = before
				}
				assert.Equal(t, want, storedImage(t, ns, name))
			}

			t.Run("rolling upgrade 2.2.3 to 2.4.23 is allowed without warnings", func(t *testing.T) {
				m := milvusManifest{name: "rolling", image: repo + "v2.2.3", cluster: true, rollingUpdate: true}
				create(m)
				m.image = repo + "v2.4.23"
				_, stderr, err := change(m)
				require.NoError(t, err, stderr)
				assert.NotContains(t, stderr, "Warning")
				expectImage("rolling", repo+"v2.4.23", repo+"v2.2.3")
			})
			t.Run("image change from 2.2.0 is allowed and kubectl prints the downtime warning", func(t *testing.T) {
				m := milvusManifest{name: "from-220", image: repo + "v2.2.0", cluster: true}
				create(m)
				m.image = repo + "v2.4.23"
				_, stderr, err := change(m)
				require.NoError(t, err, stderr)
				assert.Contains(t, stderr, "Warning: [MU-ROLLING] spec.components.image: from v2.2.0 the coordinators restart: expect downtime")
				expectImage("from-220", repo+"v2.4.23", repo+"v2.2.0")
			})
			t.Run("2.1.4 to 2.4.23 is held for a metadata migration and kubectl says so", func(t *testing.T) {
				m := milvusManifest{name: "from-214", image: repo + "v2.1.4", cluster: true}
				create(m)
				m.image = repo + "v2.4.23"
				_, stderr, err := change(m)
				require.NoError(t, err, stderr)
				assert.Contains(t, stderr, "Warning: [MU-META] spec.components.image: held; MilvusUpgrade from-214-migrate-v2-2-16 migrates to v2.2.16 first")
				assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, "from-214"), "the image is held")
			})
		})
	}
}

// A MilvusUpgrade straight to 2.4.23 (the seed's own example) would fail in
// the migration tool; the webhook says so before the operator stops the cluster.
func TestKubectlMilvusUpgrade(t *testing.T) {
	ns := newNamespace(t)
	kubectl(t, milvusManifest{name: "my-release", image: "harbor.example.com:8443/milvusdb/milvus:v2.1.4"}.yaml(), "-n", ns, "apply", "-f", "-")

	_, stderr, err := tryKubectl(webhooktest.UpgradeManifest("straight", "my-release", "v2.1.4", "v2.4.23"), "-n", ns, "apply", "-f", "-")
	require.Error(t, err)
	assert.Contains(t, stderr, `spec.targetVersion: Invalid value: "v2.4.23": [MU-META-RANGE] the migration tool only migrates to 2.2.x: set targetVersion to v2.2.16`)

	kubectl(t, webhooktest.UpgradeManifest("to-2216", "my-release", "v2.1.4", "v2.2.16"), "-n", ns, "apply", "-f", "-")
	spec := at(getJSON(t, ns, "milvusupgrade", "to-2216"), "spec")
	assert.Equal(t, map[string]any{
		"milvus":           map[string]any{"name": "my-release", "namespace": ns},
		"sourceVersion":    "v2.1.4",
		"targetVersion":    "v2.2.16",
		"targetImage":      "harbor.example.com:8443/milvusdb/milvus:v2.2.16",
		"toolImage":        "milvusdb/meta-migration:v2.2.0",
		"operation":        "upgrade",
		"maxRetry":         float64(3),
		"rollbackIfFailed": true,
	}, spec, "defaults injected, the private registry kept")

	// MU-UP-NS: a tenant may not aim an upgrade at another namespace's Milvus.
	crossNS := append(webhooktest.UpgradeManifest("cross-ns", "my-release", "v2.1.4", "v2.2.16"), []byte("  # aimed elsewhere\n")...)
	crossNS = []byte(strings.Replace(string(crossNS), "    name: my-release\n", "    name: my-release\n    namespace: default\n", 1))
	_, stderr, err = tryKubectl(crossNS, "-n", ns, "apply", "-f", "-")
	require.Error(t, err)
	assert.Contains(t, stderr, `spec.milvus.namespace: Forbidden: [MU-UP-NS] a MilvusUpgrade may only act on a Milvus in its own namespace "`+ns+`"; create it in namespace "default" instead`)
}
