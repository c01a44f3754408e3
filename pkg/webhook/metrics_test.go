package webhook

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// Each decision is counted under its rule, so a denial is not just an HTTP 200.
func TestDecisionsAreCounted(t *testing.T) {
	count := func(kind, decision, rule string) float64 {
		return testutil.ToFloat64(Decisions.WithLabelValues(kind, "UPDATE", decision, rule))
	}
	migrated := &fakeLookup{upgrades: []milvus.MilvusUpgrade{plannedUpgrade("by-hand", "NewVersionStarting")}}
	tests := []struct {
		name, path, decision, rule string
		lookup                     *fakeLookup
		review                     review
	}{
		{"a denial", ValidateMilvusPath, DecisionDenied, "MU-META", &fakeLookup{}, milvusUpdate(image214, image2423, "alice")},
		{"a warning", ValidateMilvusPath, DecisionWarned, "MU-ROLLING", &fakeLookup{}, milvusUpdate("milvusdb/milvus:v2.2.0", image2423, "alice")},
		{"a hold", MutateMilvusPath, DecisionHeld, "MU-META", &fakeLookup{}, milvusUpdate(image214, image2423, "alice")},
		{"the hand-off by an unlisted identity", ValidateMilvusPath, DecisionWarned, "MU-UP-IDENTITY", migrated, milvusUpdate(image214, image2216, "system:serviceaccount:ops:op")},
		{"a plain allow", ValidateMilvusPath, DecisionAllowed, "", &fakeLookup{}, milvusUpdate("milvusdb/milvus:v2.4.22", image2423, "alice")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := count("Milvus", tc.decision, tc.rule)
			post(t, server(t, tc.lookup), tc.path, tc.review)
			assert.Equal(t, before+1, count("Milvus", tc.decision, tc.rule))
		})
	}
}

// A namespace's override turns a denial into a warning there only, and every
// such exception is counted.
func TestNamespaceExemption(t *testing.T) {
	p, err := policy.Parse([]byte("namespaces:\n  staging:\n    rules: {MU-META: warn}\n"))
	require.NoError(t, err)
	srv := serverWith(t, &fakeLookup{}, p)
	exempted := func() float64 { return testutil.ToFloat64(Exemptions.WithLabelValues("staging", "MU-META")) }
	before := exempted()

	inStaging := milvusUpdate(image214, image2423, "alice")
	inStaging.namespace = "staging"
	r := post(t, srv, ValidateMilvusPath, inStaging)
	assert.True(t, r.Allowed, "%v", r.Result)
	require.Len(t, r.Warnings, 1)
	assert.Contains(t, r.Warnings[0], "[MU-META]")
	assert.Equal(t, before+1, exempted())

	r = post(t, srv, ValidateMilvusPath, milvusUpdate(image214, image2423, "alice"))
	assert.False(t, r.Allowed, "denied in every other namespace")
	assert.Equal(t, before+1, exempted())
}
