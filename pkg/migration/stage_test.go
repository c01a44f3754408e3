package migration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

const (
	image2516 = "milvusdb/milvus:v2.5.16"
	image263  = "milvusdb/milvus:v2.6.3"
)

// stagedAt2516 is my-release staged at 2.5.16 on its way to 2.6.3.
func stagedAt2516() *milvus.Milvus {
	return withAnnotations(newMilvus(image2516, ""), map[string]string{AnnotationStagedAt: "v2.5.16", AnnotationStageTargetImage: image263})
}

func TestStageIntentOf(t *testing.T) {
	in, ok, err := StageIntentOf(stagedAt2516())
	require.True(t, ok)
	require.NoError(t, err)
	assert.Equal(t, "v2.5.16", in.Waypoint.String())
	assert.True(t, in.Asks(newMilvus(image263, "")))
	assert.False(t, in.Asks(newMilvus(image263, "v2.6.3")), "the version asked for is part of the target")

	_, ok, _ = StageIntentOf(newMilvus(image2516, ""))
	assert.False(t, ok)
	_, ok, _ = StageIntentOf(withAnnotations(newMilvus(image2516, ""), intentFor()))
	assert.False(t, ok, "the hold's intent is no stage")
	_, ok, err = StageIntentOf(withAnnotations(newMilvus(image2516, ""), map[string]string{AnnotationStagedAt: "latest"}))
	assert.True(t, ok)
	assert.ErrorContains(t, err, AnnotationStagedAt)

	_, held, err := IntentOf(stagedAt2516())
	assert.False(t, held, "a stage is not the hold's intent")
	assert.NoError(t, err)
}

func TestStageEnds(t *testing.T) {
	appliedWith := func(m *milvus.Milvus, image string) *milvus.Milvus {
		m.Annotations[lastApplied] = `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","spec":{"components":{"image":"` + image + `"}}}`
		return m
	}
	tests := []struct {
		name     string
		old, cur *milvus.Milvus
		applier  string
		ends     bool
	}{
		{name: "no stage", old: newMilvus(image2516, ""), cur: newMilvus(image263, "")},
		{name: "moved on to the target", old: stagedAt2516(), cur: withImage(stagedAt2516(), image263), ends: true},
		{name: "git asks for another image", old: stagedAt2516(), cur: withImage(stagedAt2516(), "milvusdb/milvus:v2.5.17"), ends: true},
		{name: "a label", old: stagedAt2516(), cur: withLabel(stagedAt2516())},
		{name: "kubectl apply of a manifest back on the waypoint", old: appliedWith(stagedAt2516(), image263),
			cur: appliedWith(stagedAt2516(), image2516), ends: true},
		{name: "kubectl apply of the same manifest again", old: appliedWith(stagedAt2516(), image263), cur: appliedWith(stagedAt2516(), image263)},
		{name: "server-side apply owning the image, on the waypoint", old: stagedAt2516(),
			cur: appliedBy(stagedAt2516(), "kustomize-controller", metav1.ManagedFieldsOperationApply), applier: "kustomize-controller", ends: true},
		{name: "an update by another manager", old: stagedAt2516(),
			cur: appliedBy(stagedAt2516(), "kustomize-controller", metav1.ManagedFieldsOperationApply), applier: "milvus-operator"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.ends, StageEnds(tc.old, tc.cur, tc.applier))
		})
	}
}

func withImage(m *milvus.Milvus, image string) *milvus.Milvus {
	m.Spec.Components.Image = image
	return m
}
