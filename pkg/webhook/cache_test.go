package webhook

import (
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// transformed is the view the cache holds of obj, which comes through
// JSON as the informer's objects come; transforming it again changes
// nothing.
func transformed(t *testing.T, obj map[string]any) client.Object {
	t.Helper()
	data, err := json.Marshal(obj)
	require.NoError(t, err)
	out, err := Cached(data)
	require.NoError(t, err)
	before := out.DeepCopyObject()
	transform := TransformMilvus
	if _, ok := out.(*milvus.MilvusUpgrade); ok {
		transform = TransformMilvusUpgrade
	}
	again, err := transform(out)
	require.NoError(t, err)
	assert.Equal(t, before, again, "a transformed object transforms to itself")
	return out
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
			var want milvus.Milvus
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &want))
			got := transformed(t, obj)
			want.ObjectMeta = cachedMeta(want.ObjectMeta, true)
			assert.Equal(t, &want, got)
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
		var want milvus.MilvusUpgrade
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(upgrade, &want))
		got := transformed(t, upgrade)
		want.ObjectMeta = cachedMeta(want.ObjectMeta, false)
		assert.Equal(t, &want, got)
	})

	t.Run("tombstones pass", func(t *testing.T) {
		tomb := toolscache.DeletedFinalStateUnknown{Key: "a/b"}
		for _, transform := range []toolscache.TransformFunc{TransformMilvus, TransformMilvusUpgrade} {
			out, err := transform(tomb)
			require.NoError(t, err)
			assert.Equal(t, tomb, out)
		}
	})

	t.Run("another kind", func(t *testing.T) {
		_, err := Cached([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`))
		assert.ErrorContains(t, err, "ConfigMap")
	})
}

// TestCacheShares: ten thousand Milvus hold one copy of what they have in
// common (the namespace, the API version, the image), and none of the
// object's own (its name).
func TestCacheShares(t *testing.T) {
	a := transformed(t, webhooktest.StoredMilvus("tenant-a", "one", "milvusdb/milvus:v2.4.22", 3)).(*milvus.Milvus)
	b := transformed(t, webhooktest.StoredMilvus("tenant-a", "two", "milvusdb/milvus:v2.4.22", 3)).(*milvus.Milvus)
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	assert.True(t, same(a.Namespace, b.Namespace), "namespace")
	assert.True(t, same(a.APIVersion, b.APIVersion), "apiVersion")
	assert.True(t, same(a.Spec.Components.Image, b.Spec.Components.Image), "image")
	assert.True(t, same(a.Status.CurrentVersion, b.Status.CurrentVersion), "status.currentVersion")
	assert.False(t, same(a.Name, b.Name), "the names differ")
	require.NotNil(t, a.Spec.Components.Proxy)
	assert.Same(t, a.Spec.Components.Proxy, b.Spec.Components.Proxy, "equal component blocks")

	upgrade := func(name string) *milvus.MilvusUpgrade {
		u := webhooktest.MilvusUpgrade("tenant-a", name, "search")
		u["metadata"].(map[string]any)["labels"] = map[string]any{migration.LabelManagedBy: migration.ManagedBy}
		return transformed(t, u).(*milvus.MilvusUpgrade)
	}
	x, y := upgrade("x"), upgrade("y")
	assert.Equal(t, reflect.ValueOf(x.Labels).Pointer(), reflect.ValueOf(y.Labels).Pointer(), "equal labels")
}

// TestTransformShrinks: what the cache keeps of a production Milvus.
func TestTransformShrinks(t *testing.T) {
	stored := webhooktest.StoredMilvus("tenant-a", "search", "milvusdb/milvus:v2.4.22", 3)
	before, err := json.Marshal(stored)
	require.NoError(t, err)
	after, err := json.Marshal(transformed(t, stored))
	require.NoError(t, err)
	t.Logf("%d bytes of JSON stored, %d cached: %s", len(before), len(after), after)
	assert.Less(t, len(after), len(before)/10)
}
