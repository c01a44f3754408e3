package controller

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// The controller acts on the hold's intent only: a Milvus the webhook
// staged (policy action stage) gets no MilvusUpgrade, no Event, and keeps
// its stage annotations, which only the webhook clears.
func TestReconcileIgnoresStages(t *testing.T) {
	stage := map[string]string{
		migration.AnnotationStagedAt:         "v2.5.16",
		migration.AnnotationStageTargetImage: "registry.internal:5000/milvusdb/milvus:v2.6.3",
		argoTracking:                         "x",
	}
	f := newFixture(newMilvusObj("my-release", milvusUID, maps.Clone(stage)))
	var err error
	f.r.Policy, err = policy.Parse([]byte("rules: {MU-26: stage}\n"))
	require.NoError(t, err)
	f.reconcile(t, releaseKey)
	assert.Empty(t, f.drain(t))
	assert.Empty(t, f.upgrades(t))
	assert.Equal(t, stage, f.milvusAnnotations(t))
}
