package webhook

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
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
	c := fake.NewClientBuilder().WithObjects(m,
		upgrade("mine", "default", "my-release", ""),
		upgrade("mine-explicit", "default", "my-release", "default"),
		upgrade("other-milvus", "default", "another", ""),
		upgrade("other-namespace", "tenant-b", "my-release", ""),
	).Build()
	l := CacheLookup{Reader: c}
	ctx := context.Background()

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
}
