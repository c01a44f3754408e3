package webhook

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// cachedMeta is what the cache keeps of metadata (cache.go).
func cachedMeta(m metav1.ObjectMeta, milvusObject bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		OwnerReferences: m.OwnerReferences, DeletionTimestamp: m.DeletionTimestamp}
	if !milvusObject {
		out.Labels = m.Labels
	}
	if milvusObject {
		for _, k := range migration.IntentAnnotations {
			if v, ok := m.Annotations[k]; ok {
				if out.Annotations == nil {
					out.Annotations = map[string]string{}
				}
				out.Annotations[k] = v
			}
		}
	}
	return out
}

func transformed(t *testing.T, transform toolscache.TransformFunc, obj map[string]any) *unstructured.Unstructured {
	t.Helper()
	// Through JSON, as the informer's objects come.
	data, err := json.Marshal(obj)
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(data))
	out, err := transform(u)
	require.NoError(t, err)
	again, err := transform(out)
	require.NoError(t, err)
	assert.Equal(t, out, again, "a transformed object transforms to itself")
	return out.(*unstructured.Unstructured)
}

// TestTransformKeepsWhatIsRead: the view of a cached Milvus or MilvusUpgrade
// is the view of the object as stored, but for the metadata the cache does
// not keep.
func TestTransformKeepsWhatIsRead(t *testing.T) {
	held := webhooktest.StoredMilvus("tenant-a", "search", "milvusdb/milvus:v2.1.4", 3)
	meta := held["metadata"].(map[string]any)
	meta["annotations"].(map[string]any)[migration.AnnotationPlannedUpgrade] = "search-migrate-v2-2-16"
	meta["annotations"].(map[string]any)[migration.AnnotationRequestedImage] = "milvusdb/milvus:v2.4.23"
	meta["ownerReferences"] = []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u-1"}}
	meta["deletionTimestamp"] = "2026-11-29T10:00:00Z"
	comps := held["spec"].(map[string]any)["components"].(map[string]any)
	comps["proxy"].(map[string]any)["image"] = "milvusdb/milvus:v2.1.3"
	comps["standalone"] = map[string]any{}
	comps["cdc"] = nil
	comps["version"] = "v2.1.4"
	bare := map[string]any{"apiVersion": "milvus.io/v1beta1", "kind": "Milvus", "metadata": map[string]any{"name": "b", "namespace": "n"}}

	for name, obj := range map[string]map[string]any{
		"production":  webhooktest.StoredMilvus("tenant-a", "search", "milvusdb/milvus:v2.4.22", 3),
		"held":        held,
		"bare":        bare,
		"no metadata": {"apiVersion": "milvus.io/v1beta1", "kind": "Milvus", "spec": map[string]any{"mode": "standalone"}},
	} {
		t.Run("Milvus "+name, func(t *testing.T) {
			var want, got milvus.Milvus
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &want))
			u := transformed(t, TransformMilvus, obj)
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got))
			want.ObjectMeta = cachedMeta(want.ObjectMeta, true)
			assert.Equal(t, want, got)
		})
	}

	upgrade := webhooktest.MilvusUpgrade("tenant-a", "search-migrate-v2-2-16", "search")
	up := upgrade["metadata"].(map[string]any)
	up["uid"], up["resourceVersion"] = "u-2", "42"
	up["labels"] = map[string]any{migration.LabelManagedBy: migration.ManagedBy}
	up["annotations"] = map[string]any{"note": "dropped"}
	up["ownerReferences"] = []any{map[string]any{"apiVersion": "milvus.io/v1beta1", "kind": "Milvus", "name": "search", "uid": "m-1", "controller": true}}
	up["managedFields"] = []any{map[string]any{"manager": "m", "operation": "Update"}}
	upgrade["status"] = map[string]any{"state": "Succeeded", "sourceImage": "milvusdb/milvus:v2.1.4", "conditions": []any{map[string]any{"type": "Done"}}}
	t.Run("MilvusUpgrade", func(t *testing.T) {
		var want, got milvus.MilvusUpgrade
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(upgrade, &want))
		u := transformed(t, TransformMilvusUpgrade, upgrade)
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got))
		want.ObjectMeta = cachedMeta(want.ObjectMeta, false)
		assert.Equal(t, want, got)
		// What the controller reads of it, generically.
		state, _, _ := unstructured.NestedString(u.Object, "status", "state")
		assert.Equal(t, "Succeeded", state)
		assert.Equal(t, map[string]string{migration.LabelManagedBy: migration.ManagedBy}, u.GetLabels())
		assert.Len(t, u.GetOwnerReferences(), 1)
	})

	t.Run("tombstones pass", func(t *testing.T) {
		tomb := toolscache.DeletedFinalStateUnknown{Key: "a/b"}
		for _, transform := range []toolscache.TransformFunc{TransformMilvus, TransformMilvusUpgrade} {
			out, err := transform(tomb)
			require.NoError(t, err)
			assert.Equal(t, tomb, out)
		}
	})
}

// TestTransformShrinks: what the cache keeps of a production Milvus.
func TestTransformShrinks(t *testing.T) {
	stored := webhooktest.StoredMilvus("tenant-a", "search", "milvusdb/milvus:v2.4.22", 3)
	before, err := json.Marshal(stored)
	require.NoError(t, err)
	u := transformed(t, TransformMilvus, stored)
	after, err := json.Marshal(u.Object)
	require.NoError(t, err)
	t.Logf("%d bytes of JSON stored, %d cached: %s", len(before), len(after), after)
	assert.Less(t, len(after), len(before)/10)
}
