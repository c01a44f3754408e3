package webhook

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

func TestCacheLookup(t *testing.T) {
	m := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus",
		"metadata": map[string]any{"name": "my-release", "namespace": "default"},
		"spec":     map[string]any{"components": map[string]any{"image": "milvusdb/milvus:v2.1.4", "unknownField": true}},
		"status":   map[string]any{"currentVersion": "v2.1.4"},
	}}
	upgrade := func(name, ns, targetName, targetNS string) *unstructured.Unstructured {
		ref := map[string]any{"name": targetName}
		if targetNS != "" {
			ref["namespace"] = targetNS
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "milvus.io/v1beta1", "kind": "MilvusUpgrade",
			"metadata": map[string]any{"name": name, "namespace": ns},
			"spec":     map[string]any{"milvus": ref, "targetImage": "milvusdb/milvus:v2.2.16", "maxRetry": int64(3)},
		}}
	}
	objects := []client.Object{m,
		upgrade("mine", "default", "my-release", ""),
		upgrade("mine-explicit", "default", "my-release", "default"),
		upgrade("other-milvus", "default", "another", ""),
		upgrade("other-namespace", "tenant-b", "my-release", ""),
		upgrade("naming-default-from-elsewhere", "tenant-b", "my-release", "default"),
	}
	// With the index, as the webhook's cache has it, and without, as the
	// controller's tests read a plain client: the same answers.
	for name, c := range map[string]client.Client{
		"indexed": fake.NewClientBuilder().WithScheme(cacheScheme).WithObjects(objects...).
			WithIndex(&milvus.MilvusUpgrade{}, UpgradeTargetField, UpgradeTarget).Build(),
		"not indexed": fake.NewClientBuilder().WithScheme(cacheScheme).WithObjects(objects...).Build(),
	} {
		t.Run(name, func(t *testing.T) {
			l := CacheLookup{Reader: c}
			ctx := context.Background()
			list := &milvus.MilvusUpgradeList{}
			indexErr := c.List(ctx, list, client.MatchingFields{UpgradeTargetField: "default/my-release"})
			assert.Equal(t, name == "indexed", indexErr == nil, "the index answers (%v)", indexErr)

			got, err := l.Milvus(ctx, "default", "my-release")
			require.NoError(t, err)
			require.NotNil(t, got)
			assert.Equal(t, "milvusdb/milvus:v2.1.4", got.Spec.Components.Image)
			assert.Equal(t, "v2.1.4", got.Status.CurrentVersion)

			missing, err := l.Milvus(ctx, "default", "nope")
			require.NoError(t, err)
			assert.Nil(t, missing, "a missing Milvus is nil, not an error")

			ups, err := l.UpgradesFor(ctx, "default", "my-release")
			require.NoError(t, err)
			var names []string
			for _, u := range ups {
				names = append(names, u.Name)
				assert.Equal(t, "milvusdb/milvus:v2.2.16", u.Spec.TargetImage)
			}
			assert.ElementsMatch(t, []string{"mine", "mine-explicit"}, names)

			none, err := l.UpgradesFor(ctx, "default", "nope")
			require.NoError(t, err)
			assert.Empty(t, none)
		})
	}
}

func TestUpgradeTarget(t *testing.T) {
	up := func(ref milvus.ObjectReference) client.Object {
		u := &milvus.MilvusUpgrade{Spec: milvus.MilvusUpgradeSpec{Milvus: ref}}
		u.Namespace, u.Name = "tenant-a", "u"
		return u
	}
	assert.Equal(t, []string{"tenant-a/db"}, UpgradeTarget(up(milvus.ObjectReference{Name: "db"})))
	assert.Equal(t, []string{"tenant-b/db"}, UpgradeTarget(up(milvus.ObjectReference{Name: "db", Namespace: "tenant-b"})))
	assert.Empty(t, UpgradeTarget(up(milvus.ObjectReference{})))
	assert.Empty(t, UpgradeTarget(&milvus.Milvus{}), "not a MilvusUpgrade")
}
