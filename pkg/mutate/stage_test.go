package mutate

import (
	"encoding/json"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// The escaped JSON pointers of the stage annotations.
const (
	ptrStagedAt           = "/metadata/annotations/milvus-admission.io~1staged-at"
	ptrStageTargetImage   = "/metadata/annotations/milvus-admission.io~1stage-target-image"
	ptrStageTargetVersion = "/metadata/annotations/milvus-admission.io~1stage-target-version"
)

// stageAt2516 is the stage of 2.5.4 → 2.6.3 at 2.5.16, with the versions when set.
func stageAt2516(version, requestedVersion string) *migration.Stage {
	return &migration.Stage{
		Rule: policy.Mu26, Waypoint: milvus.MustVersion("v2.5.16"), Target: milvus.MustVersion("v2.6.3"),
		Image: "10.20.12.8:5000/milvusdb/milvus:v2.5.16", Version: version,
		RequestedImage: "10.20.12.8:5000/milvusdb/milvus:v2.6.3", RequestedVersion: requestedVersion,
	}
}

func TestStage(t *testing.T) {
	tests := []struct {
		name  string
		obj   string
		stage *migration.Stage
		want  string
		ops   []jsonpatch.Operation
	}{
		{name: "only the image and the annotations change; unknown fields, other annotations and the status stay",
			stage: stageAt2516("", ""),
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus",
				"metadata":{"name":"my-release","namespace":"default","annotations":{"argocd.argoproj.io/tracking-id":"app:milvus.io/Milvus:default/my-release"}},
				"spec":{"mode":"cluster","futureField":{"x":[1,2]},
					"components":{"image":"10.20.12.8:5000/milvusdb/milvus:v2.6.3","imageUpdateMode":"rollingUpgrade","enableRollingUpdate":false,"mixCoord":{"replicas":0}},
					"dependencies":{"msgStreamType":"pulsar","pulsar":{"inCluster":{"values":{"a":null}}}}},
				"status":{"currentVersion":"v2.5.4","status":"Healthy","conditions":[{"type":"MilvusReady","status":"True"}]}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus",
				"metadata":{"name":"my-release","namespace":"default","annotations":{
					"argocd.argoproj.io/tracking-id":"app:milvus.io/Milvus:default/my-release",
					"milvus-admission.io/staged-at":"v2.5.16",
					"milvus-admission.io/stage-target-image":"10.20.12.8:5000/milvusdb/milvus:v2.6.3"}},
				"spec":{"mode":"cluster","futureField":{"x":[1,2]},
					"components":{"image":"10.20.12.8:5000/milvusdb/milvus:v2.5.16","imageUpdateMode":"rollingUpgrade","enableRollingUpdate":false,"mixCoord":{"replicas":0}},
					"dependencies":{"msgStreamType":"pulsar","pulsar":{"inCluster":{"values":{"a":null}}}}},
				"status":{"currentVersion":"v2.5.4","status":"Healthy","conditions":[{"type":"MilvusReady","status":"True"}]}}`,
			ops: []jsonpatch.Operation{
				add("/spec/components/image", "10.20.12.8:5000/milvusdb/milvus:v2.5.16"),
				add(ptrStagedAt, "v2.5.16"),
				add(ptrStageTargetImage, "10.20.12.8:5000/milvusdb/milvus:v2.6.3"),
			}},
		{name: "no annotations yet; a version pin moves with the image",
			stage: stageAt2516("v2.5.16", "v2.6.3"),
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release"},
				"spec":{"components":{"image":"10.20.12.8:5000/milvusdb/milvus:v2.6.3","version":"v2.6.3"}}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{
					"milvus-admission.io/staged-at":"v2.5.16",
					"milvus-admission.io/stage-target-image":"10.20.12.8:5000/milvusdb/milvus:v2.6.3",
					"milvus-admission.io/stage-target-version":"v2.6.3"}},
				"spec":{"components":{"image":"10.20.12.8:5000/milvusdb/milvus:v2.5.16","version":"v2.5.16"}}}`,
			ops: []jsonpatch.Operation{
				add("/spec/components/image", "10.20.12.8:5000/milvusdb/milvus:v2.5.16"),
				add("/spec/components/version", "v2.5.16"),
				add("/metadata/annotations", map[string]any{}),
				add(ptrStagedAt, "v2.5.16"),
				add(ptrStageTargetImage, "10.20.12.8:5000/milvusdb/milvus:v2.6.3"),
				add(ptrStageTargetVersion, "v2.6.3"),
			}},
		{name: "a stale target version of an earlier stage removed; the hold's intent is not the stage's",
			stage: stageAt2516("", ""),
			obj: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{
					"milvus-admission.io/stage-target-version":"v2.6.1",
					"milvus-admission.io/requested-image":"x"}},
				"spec":{"components":{"image":"10.20.12.8:5000/milvusdb/milvus:v2.6.3"}}}`,
			want: `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","annotations":{
					"milvus-admission.io/requested-image":"x",
					"milvus-admission.io/staged-at":"v2.5.16",
					"milvus-admission.io/stage-target-image":"10.20.12.8:5000/milvusdb/milvus:v2.6.3"}},
				"spec":{"components":{"image":"10.20.12.8:5000/milvusdb/milvus:v2.5.16"}}}`,
			ops: []jsonpatch.Operation{
				add("/spec/components/image", "10.20.12.8:5000/milvusdb/milvus:v2.5.16"),
				add(ptrStagedAt, "v2.5.16"),
				add(ptrStageTargetImage, "10.20.12.8:5000/milvusdb/milvus:v2.6.3"),
				remove(ptrStageTargetVersion),
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := Stage(object(t, tc.obj), tc.stage)
			require.NoError(t, err)
			assert.Equal(t, tc.ops, ops)
			out := apply(t, []byte(tc.obj), ops)
			assert.JSONEq(t, tc.want, string(out))

			// Staging what is already staged (a re-sync) changes nothing.
			again, err := Stage(object(t, string(out)), tc.stage)
			require.NoError(t, err)
			assert.Empty(t, again)

			// Unstage takes back the annotations, and only them.
			ops, err = Unstage(object(t, string(out)))
			require.NoError(t, err)
			for _, op := range ops {
				assert.Equal(t, "remove", op.Operation)
				assert.Contains(t, []string{ptrStagedAt, ptrStageTargetImage, ptrStageTargetVersion}, op.Path)
			}
			var unstaged map[string]any
			require.NoError(t, json.Unmarshal(apply(t, out, ops), &unstaged))
			ann, _ := unstaged["metadata"].(map[string]any)["annotations"].(map[string]any)
			for _, k := range migration.StageAnnotations {
				assert.NotContains(t, ann, k)
			}
			assert.Equal(t, object(t, string(out))["spec"], unstaged["spec"], "the spec stays at the waypoint")
		})
	}
	t.Run("annotations that are not an object are an error", func(t *testing.T) {
		_, err := Stage(object(t, `{"metadata":{"annotations":"oops"},"spec":{"components":{"image":"x:v2.6.3"}}}`), stageAt2516("", ""))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "metadata.annotations")
	})
}
