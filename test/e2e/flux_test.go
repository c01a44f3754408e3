package e2e

import (
	"context"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/milvus-admission/milvus-admission/internal/e2etest"
	"github.com/milvus-admission/milvus-admission/internal/shared"
)

// fluxManager is Flux's apply engine, against this suite's cluster.
func fluxManager() *ssa.ResourceManager { return e2etest.FluxManager(env.Client) }

var readObjects = e2etest.ReadObjects

// After one apply, Flux's dry-run diff of the same manifests finds no drift:
// the defaults we inject never cause a perpetual out-of-sync.
func TestFluxNoDriftAfterApply(t *testing.T) {
	docs, err := shared.Samples()
	require.NoError(t, err)
	rm := fluxManager()
	ctx := context.Background()
	for _, doc := range docs {
		t.Run(doc.File+"/"+doc.Kind, func(t *testing.T) {
			ns := newNamespace(t)
			objs := readObjects(t, ns, doc.JSON)
			if doc.Kind == "MilvusUpgrade" {
				// Its Milvus must exist and run the source version.
				objs = append(readObjects(t, ns, milvusManifest{name: "my-release", image: repo + "v2.1.4"}.yaml()), objs...)
				for _, o := range objs {
					if o.GetKind() == "MilvusUpgrade" {
						require.NoError(t, unstructured.SetNestedField(o.Object, ns, "spec", "milvus", "namespace"))
					}
				}
			}
			cs, err := rm.ApplyAll(ctx, objs, ssa.DefaultApplyOptions())
			require.NoError(t, err)
			for _, e := range cs.Entries {
				assert.Equal(t, ssa.CreatedAction, e.Action, e.Subject)
			}
			for _, o := range objs {
				entry, _, _, err := rm.Diff(ctx, o, ssa.DefaultDiffOptions())
				require.NoError(t, err)
				assert.Equal(t, ssa.UnchangedAction, entry.Action, "%s drifts after apply", entry.Subject)
			}
			cs, err = rm.ApplyAll(ctx, objs, ssa.DefaultApplyOptions())
			require.NoError(t, err)
			for _, e := range cs.Entries {
				assert.Equal(t, ssa.UnchangedAction, e.Action, "second sync of %s", e.Subject)
			}
		})
	}
}

// The seed's procedures through Flux: its dry-run diff and its apply.
func TestFluxSeedProcedures(t *testing.T) {
	ns := newNamespace(t)
	rm := fluxManager()
	ctx := context.Background()
	apply := func(m milvusManifest) error {
		_, err := rm.ApplyAll(ctx, readObjects(t, ns, m.yaml()), ssa.DefaultApplyOptions())
		return err
	}
	rolling := milvusManifest{name: "rolling", image: repo + "v2.2.3", cluster: true, rollingUpdate: true}
	legacy := milvusManifest{name: "legacy", image: repo + "v2.1.4", cluster: true}
	require.NoError(t, apply(rolling))
	require.NoError(t, apply(legacy))

	t.Run("rolling upgrade 2.2.3 to 2.4.23: diff shows the change, apply succeeds", func(t *testing.T) {
		rolling.image = repo + "v2.4.23"
		entry, _, _, err := rm.Diff(ctx, readObjects(t, ns, rolling.yaml())[0], ssa.DefaultDiffOptions())
		require.NoError(t, err)
		assert.Equal(t, ssa.ConfiguredAction, entry.Action)
		require.NoError(t, apply(rolling))
		assert.Equal(t, repo+"v2.4.23", storedImage(t, ns, "rolling"))
	})
	t.Run("2.1.4 to 2.4.23: held, so the sync leaves no drift behind", func(t *testing.T) {
		legacy.image = repo + "v2.4.23"
		require.NoError(t, apply(legacy))
		assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, "legacy"))
		entry, _, _, err := rm.Diff(ctx, readObjects(t, ns, legacy.yaml())[0], ssa.DefaultDiffOptions())
		require.NoError(t, err)
		assert.Equal(t, ssa.UnchangedAction, entry.Action, "the held change does not show as drift on every interval")
	})
}
