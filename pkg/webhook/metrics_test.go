package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
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

// The operator's hand-off writes are counted by whether the writer is listed
// in operatorIdentities; a user's denied write of the same image is not one.
func TestHandOffsAreCounted(t *testing.T) {
	count := func(identity string) float64 { return testutil.ToFloat64(HandOffs.WithLabelValues(identity)) }
	migrated := &fakeLookup{upgrades: []milvus.MilvusUpgrade{plannedUpgrade("by-hand", "NewVersionStarting")}}
	for _, tc := range []struct {
		name, user, identity string
		lookup               *fakeLookup
		counted              bool
	}{
		{"the listed operator", policy.Default().OperatorIdentities[0], "listed", migrated, true},
		{"an unlisted identity", "system:serviceaccount:ops:op", "unlisted", migrated, true},
		{"no upgrade hands over: a denied user write", "alice", "unlisted", &fakeLookup{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := count(tc.identity)
			post(t, server(t, tc.lookup), ValidateMilvusPath, milvusUpdate(image214, image2216, tc.user))
			want := before
			if tc.counted {
				want++
			}
			assert.Equal(t, want, count(tc.identity))
		})
	}
}

// milvus_admission_milvuses counts, from the cache, the Milvus held, staged
// or with a failed migration; an unreadable cache reports nothing.
func TestMilvusStates(t *testing.T) {
	milvusWith := func(name string, annotations map[string]string) *milvus.Milvus {
		m := &milvus.Milvus{}
		m.Namespace, m.Name, m.Annotations = "default", name, annotations
		return m
	}
	reader := fake.NewClientBuilder().WithScheme(cacheScheme).WithObjects(
		milvusWith("held", map[string]string{migration.AnnotationPlannedUpgrade: "held-migrate-v2-2-16"}),
		milvusWith("failed", map[string]string{migration.AnnotationPlannedUpgrade: "failed-migrate-v2-2-16", migration.AnnotationMigrationFailed: "failed-migrate-v2-2-16 RollbackedSucceeded"}),
		milvusWith("staged", map[string]string{migration.AnnotationStagedAt: "v2.5.16"}),
		milvusWith("plain", nil),
	).Build()
	want := `
# HELP milvus_admission_milvuses Milvus objects held for a metadata migration, staged at a gate's waypoint, or whose generated migration failed.
# TYPE milvus_admission_milvuses gauge
milvus_admission_milvuses{state="held"} 2
milvus_admission_milvuses{state="migration_failed"} 1
milvus_admission_milvuses{state="staged"} 1
`
	require.NoError(t, testutil.CollectAndCompare(newStateCollector(reader), strings.NewReader(want)))

	broken := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return errors.New("cache not synced")
		},
	}).Build()
	assert.Equal(t, 0, testutil.CollectAndCount(newStateCollector(broken)), "no zeros from a cache that cannot be read")
}
