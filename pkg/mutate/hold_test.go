package mutate

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// The escaped JSON pointers of the intent annotations: "/" in a key is "~1".
const (
	ptrRequestedImage   = "/metadata/annotations/milvus-admission.io~1requested-image"
	ptrRequestedVersion = "/metadata/annotations/milvus-admission.io~1requested-version"
	ptrPlannedUpgrade   = "/metadata/annotations/milvus-admission.io~1planned-upgrade"
	ptrMigrationTarget  = "/metadata/annotations/milvus-admission.io~1migration-target"
)

func remove(path string) jsonpatch.Operation {
	return jsonpatch.NewOperation("remove", path, nil)
}

// holdPlan is the plan for 2.1.4 → 2.4.23, with the versions when set.
func holdPlan(heldVersion, requestedVersion string) *migration.Plan {
	return &migration.Plan{
		HeldImage: "milvusdb/milvus:v2.1.4", HeldVersion: heldVersion,
		RequestedImage: "milvusdb/milvus:v2.4.23", RequestedVersion: requestedVersion,
		Target:      milvus.MustVersion("v2.2.16"),
		UpgradeName: "my-release-migrate-v2-2-16",
	}
}

func TestHold(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		plan *migration.Plan
		want string
		ops  []jsonpatch.Operation // nil: not checked op by op
	}{
		{name: "no annotations yet: image held, annotations created, everything else untouched",
			plan: holdPlan("", ""),
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus",
				"metadata":{"name":"my-release","namespace":"default","labels":{"app.kubernetes.io/instance":"my-release"}},
				"spec":{"mode":"cluster","futureField":{"x":[1,2]},
					"components":{"image":"milvusdb/milvus:v2.4.23","imageUpdateMode":"rollingUpgrade","proxy":{"replicas":2,"image":""}},
					"dependencies":{"etcd":{"inCluster":{"deletionPolicy":"Retain"}}}},
				"status":{"currentVersion":"v2.1.4"}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus",
				"metadata":{"name":"my-release","namespace":"default","labels":{"app.kubernetes.io/instance":"my-release"},
					"annotations":{
						"milvus-admission.io/requested-image":"milvusdb/milvus:v2.4.23",
						"milvus-admission.io/planned-upgrade":"my-release-migrate-v2-2-16",
						"milvus-admission.io/migration-target":"v2.2.16"}},
				"spec":{"mode":"cluster","futureField":{"x":[1,2]},
					"components":{"image":"milvusdb/milvus:v2.1.4","imageUpdateMode":"rollingUpgrade","proxy":{"replicas":2,"image":""}},
					"dependencies":{"etcd":{"inCluster":{"deletionPolicy":"Retain"}}}},
				"status":{"currentVersion":"v2.1.4"}}`,
			ops: []jsonpatch.Operation{
				add("/spec/components/image", "milvusdb/milvus:v2.1.4"),
				add("/metadata/annotations", map[string]any{}),
				add(ptrRequestedImage, "milvusdb/milvus:v2.4.23"),
				add(ptrPlannedUpgrade, "my-release-migrate-v2-2-16"),
				add(ptrMigrationTarget, "v2.2.16"),
			}},
		{name: "annotations present: others kept, a stale requested-version of an earlier plan removed",
			plan: holdPlan("", ""),
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus",
				"metadata":{"name":"my-release","annotations":{
					"argocd.argoproj.io/tracking-id":"app:milvus.io/Milvus:default/my-release",
					"milvus-admission.io/requested-version":"2.3.0"}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.4.23"}}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus",
				"metadata":{"name":"my-release","annotations":{
					"argocd.argoproj.io/tracking-id":"app:milvus.io/Milvus:default/my-release",
					"milvus-admission.io/requested-image":"milvusdb/milvus:v2.4.23",
					"milvus-admission.io/planned-upgrade":"my-release-migrate-v2-2-16",
					"milvus-admission.io/migration-target":"v2.2.16"}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.1.4"}}}`,
			ops: []jsonpatch.Operation{
				add("/spec/components/image", "milvusdb/milvus:v2.1.4"),
				add(ptrRequestedImage, "milvusdb/milvus:v2.4.23"),
				remove(ptrRequestedVersion),
				add(ptrPlannedUpgrade, "my-release-migrate-v2-2-16"),
				add(ptrMigrationTarget, "v2.2.16"),
			}},
		{name: "version field restored and recorded",
			plan: holdPlan("2.1.4", "2.4.23"),
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.4.23","version":"2.4.23"}}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{
					"milvus-admission.io/requested-image":"milvusdb/milvus:v2.4.23",
					"milvus-admission.io/requested-version":"2.4.23",
					"milvus-admission.io/planned-upgrade":"my-release-migrate-v2-2-16",
					"milvus-admission.io/migration-target":"v2.2.16"}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.1.4","version":"2.1.4"}}}`},
		{name: "version field removed when the old object had none",
			plan: holdPlan("", "2.4.23"),
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release"},
				"spec":{"components":{"image":"milvusdb/milvus:v2.4.23","version":"2.4.23","dataNode":{"replicas":1}}}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{
					"milvus-admission.io/requested-image":"milvusdb/milvus:v2.4.23",
					"milvus-admission.io/requested-version":"2.4.23",
					"milvus-admission.io/planned-upgrade":"my-release-migrate-v2-2-16",
					"milvus-admission.io/migration-target":"v2.2.16"}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.1.4","dataNode":{"replicas":1}}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := Hold(object(t, tc.obj), tc.plan)
			require.NoError(t, err)
			if tc.ops != nil {
				assert.Equal(t, tc.ops, ops)
			}
			out := apply(t, []byte(tc.obj), ops)
			assert.JSONEq(t, tc.want, string(out))

			// Holding what is already held changes nothing.
			again, err := Hold(object(t, string(out)), tc.plan)
			require.NoError(t, err)
			assert.Empty(t, again)
		})
	}
	t.Run("annotations that are not an object are an error", func(t *testing.T) {
		_, err := Hold(object(t, `{"metadata":{"annotations":"oops"},"spec":{"components":{"image":"x:v2.4.23"}}}`), holdPlan("", ""))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "metadata.annotations")
	})
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want string
		ops  []jsonpatch.Operation
	}{
		{name: "all four intent annotations removed, others and the spec untouched",
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{
					"argocd.argoproj.io/tracking-id":"app:milvus.io/Milvus:default/my-release",
					"milvus-admission.io/requested-image":"milvusdb/milvus:v2.4.23",
					"milvus-admission.io/requested-version":"2.4.23",
					"milvus-admission.io/planned-upgrade":"my-release-migrate-v2-2-16",
					"milvus-admission.io/migration-target":"v2.2.16",
					"milvus-admission.io/other":"kept"}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.1.4"},"futureField":true}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{
					"argocd.argoproj.io/tracking-id":"app:milvus.io/Milvus:default/my-release",
					"milvus-admission.io/other":"kept"}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.1.4"},"futureField":true}}`,
			ops: []jsonpatch.Operation{remove(ptrRequestedImage), remove(ptrRequestedVersion), remove(ptrPlannedUpgrade), remove(ptrMigrationTarget)}},
		{name: "three of them (no requested version): three removes, annotations left empty",
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{
					"milvus-admission.io/requested-image":"milvusdb/milvus:v2.4.23",
					"milvus-admission.io/planned-upgrade":"my-release-migrate-v2-2-16",
					"milvus-admission.io/migration-target":"v2.2.16"}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.1.4"}}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{}},
				"spec":{"components":{"image":"milvusdb/milvus:v2.1.4"}}}`,
			ops: []jsonpatch.Operation{remove(ptrRequestedImage), remove(ptrPlannedUpgrade), remove(ptrMigrationTarget)}},
		{name: "no intent annotations: no ops",
			obj:  `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{"a/b":"c"}},"spec":{}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{"a/b":"c"}},"spec":{}}`},
		{name: "no annotations at all: no ops",
			obj:  `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release"}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := Cancel(object(t, tc.obj))
			require.NoError(t, err)
			assert.Equal(t, tc.ops, ops)
			for _, op := range ops {
				assert.Equal(t, "remove", op.Operation)
			}
			assert.JSONEq(t, tc.want, string(apply(t, []byte(tc.obj), ops)))
		})
	}
	t.Run("the remove ops are valid JSON patch for the API server", func(t *testing.T) {
		ops, err := Cancel(object(t, `{"metadata":{"annotations":{"milvus-admission.io/planned-upgrade":"x"}}}`))
		require.NoError(t, err)
		raw, err := json.Marshal(ops)
		require.NoError(t, err)
		var decoded []map[string]any
		require.NoError(t, json.Unmarshal(raw, &decoded))
		require.Len(t, decoded, 1)
		assert.Equal(t, "remove", decoded[0]["op"])
		assert.Equal(t, ptrPlannedUpgrade, decoded[0]["path"])
	})
}
