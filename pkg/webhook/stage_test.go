package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

const (
	image254  = "milvusdb/milvus:v2.5.4"
	image2516 = "milvusdb/milvus:v2.5.16"
	image263  = "milvusdb/milvus:v2.6.3"
	// stagedWarning is what kubectl prints for the stage of 2.5.4 → 2.6.3.
	stagedWarning = "[MU-26] spec.components.image: staged at v2.5.16; v2.6.3 follows once v2.5.16 runs healthy"
)

// stagePolicy stages MU-26 everywhere but in the namespace "strict".
func stagePolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte("rules: {MU-26: stage}\nnamespaces:\n  strict:\n    rules: {MU-26: deny}\n"))
	require.NoError(t, err)
	return p
}

// stagedIntent is what the stage of 2.5.4 → 2.6.3 records.
func stagedIntent() map[string]string {
	return map[string]string{migration.AnnotationStagedAt: "v2.5.16", migration.AnnotationStageTargetImage: image263}
}

// clusterJSON is my-release as a 2.5 cluster ready for 2.6 (mixCoord,
// pulsar), with image, annotations (none when nil) and the status the
// operator reports (none when nil).
func clusterJSON(t *testing.T, image string, annotations map[string]string, status map[string]any) string {
	t.Helper()
	meta := map[string]any{"name": "my-release", "namespace": "default"}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	obj := map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus", "metadata": meta,
		"spec": map[string]any{"mode": "cluster", "futureField": map[string]any{"kept": true},
			"dependencies": map[string]any{"msgStreamType": "pulsar"},
			"components":   map[string]any{"image": image, "imageUpdateMode": "rollingUpgrade", "mixCoord": map[string]any{"replicas": 1}}},
	}
	if status != nil {
		obj["status"] = status
	}
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	return string(raw)
}

// reported is the status the operator writes once version runs, in health.
func reported(image, health string) map[string]any {
	return map[string]any{"currentImage": image, "status": health}
}

// gitSync is git's manifest (2.6.3) applied over the stored object: as kubectl's
// client-side apply sends it, the stored annotations carried along.
func gitSync(t *testing.T, stored string) review {
	t.Helper()
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(stored), &obj))
	comps := obj["spec"].(map[string]any)["components"].(map[string]any)
	comps["image"] = image263
	delete(obj, "status") // the API server ignores it on the main resource
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	return review{op: admissionv1.Update, kind: "Milvus", resource: "milvuses", user: "alice", old: stored, object: string(raw)}
}

// withStatus is stored with the operator's status.
func withStatus(t *testing.T, stored string, status map[string]any) string {
	t.Helper()
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(stored), &obj))
	obj["status"] = status
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	return string(raw)
}

// 2.5.4 → 2.6.3 in one manifest, with MU-26: stage, as the API server runs
// the two webhooks: staged at 2.5.16, staged again on every sync until the
// operator reports 2.5.16 healthy, then 2.6.3 with the stage cleared.
func TestStageConverges(t *testing.T) {
	srv := serverWith(t, &fakeLookup{}, stagePolicy(t))
	stored := clusterJSON(t, image254, nil, reported(image254, "Healthy"))
	staged := func() float64 {
		return testutil.ToFloat64(Decisions.WithLabelValues("Milvus", "UPDATE", DecisionStaged, "MU-26"))
	}

	// The first sync: staged at the waypoint.
	before := staged()
	rv := gitSync(t, stored)
	mutated, validated := admit(t, srv, MutateMilvusPath, ValidateMilvusPath, rv)
	assert.Equal(t, []map[string]any{
		{"op": "add", "path": "/spec/components/image", "value": image2516},
		{"op": "add", "path": "/metadata/annotations", "value": map[string]any{}},
		{"op": "add", "path": "/metadata/annotations/milvus-admission.io~1staged-at", "value": "v2.5.16"},
		{"op": "add", "path": "/metadata/annotations/milvus-admission.io~1stage-target-image", "value": image263},
	}, patchOf(t, mutated), "only the image and the stage annotations")
	assert.Equal(t, []string{stagedWarning}, mutated.Warnings)
	assert.Equal(t, "MU-26", mutated.AuditAnnotations[AuditRules])
	assert.Equal(t, before+1, staged(), "counted as staged")
	assert.True(t, validated.Allowed, "the staged object is legal: %v", validated.Result)
	m := applyPatch(t, rv.object, mutated)
	assert.Equal(t, image2516, m.Spec.Components.Image)
	assert.Equal(t, stagedIntent(), m.Annotations)
	stored = withStatus(t, string(patchedJSON(t, rv.object, mutated)), reported(image254, "Healthy"))

	// Re-syncs before the operator reports the waypoint healthy: staged
	// again, the stored object unchanged.
	for name, status := range map[string]map[string]any{
		"still updating (status names 2.5.4)": reported(image254, "Healthy"),
		"2.5.16 reported, not healthy now":    reported(image2516, "Unhealthy"),
		"2.5.16 reported, pending":            reported(image2516, "Pending"),
	} {
		t.Run("re-sync: "+name, func(t *testing.T) {
			rv := gitSync(t, withStatus(t, stored, status))
			mutated, validated := admit(t, srv, MutateMilvusPath, ValidateMilvusPath, rv)
			assert.Equal(t, []map[string]any{{"op": "add", "path": "/spec/components/image", "value": image2516}}, patchOf(t, mutated))
			assert.Equal(t, []string{stagedWarning}, mutated.Warnings)
			assert.True(t, validated.Allowed, "%v", validated.Result)
			assert.JSONEq(t, stripStatus(t, stored), stripStatus(t, string(patchedJSON(t, rv.object, mutated))), "nothing changes")
		})
	}
	t.Run("re-sync by a server-side apply that drops the annotations: they come back", func(t *testing.T) {
		rv := gitSync(t, stored)
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(rv.object), &obj))
		delete(obj["metadata"].(map[string]any), "annotations")
		raw, err := json.Marshal(obj)
		require.NoError(t, err)
		rv.object = string(raw)
		mutated, validated := admit(t, srv, MutateMilvusPath, ValidateMilvusPath, rv)
		assert.True(t, validated.Allowed, "%v", validated.Result)
		assert.Equal(t, stagedIntent(), applyPatch(t, rv.object, mutated).Annotations)
	})

	// The operator reports 2.5.16 running healthy: the same manifest moves on.
	t.Run("once 2.5.16 runs healthy", func(t *testing.T) {
		rv := gitSync(t, withStatus(t, stored, reported(image2516, "Healthy")))
		mutated, validated := admit(t, srv, MutateMilvusPath, ValidateMilvusPath, rv)
		assert.Equal(t, []map[string]any{
			{"op": "remove", "path": "/metadata/annotations/milvus-admission.io~1staged-at"},
			{"op": "remove", "path": "/metadata/annotations/milvus-admission.io~1stage-target-image"},
		}, patchOf(t, mutated), "the stage is cleared in the same patch")
		assert.Empty(t, mutated.Warnings)
		assert.True(t, validated.Allowed, "%v", validated.Result)
		m := applyPatch(t, rv.object, mutated)
		assert.Equal(t, image263, m.Spec.Components.Image)
		assert.Empty(t, m.Annotations)
	})
	t.Run("a label while staged keeps the stage", func(t *testing.T) {
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(stored), &obj))
		obj["metadata"].(map[string]any)["labels"] = map[string]any{"team": "search"}
		raw, err := json.Marshal(obj)
		require.NoError(t, err)
		mutated, validated := admit(t, srv, MutateMilvusPath, ValidateMilvusPath,
			review{op: admissionv1.Update, kind: "Milvus", resource: "milvuses", user: "alice", old: stored, object: string(raw)})
		assert.Nil(t, patchOf(t, mutated))
		assert.True(t, validated.Allowed, "%v", validated.Result)
	})
}

// stripStatus is obj without its status, as a spec and metadata comparison.
func stripStatus(t *testing.T, obj string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(obj), &m))
	delete(m, "status")
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	return string(raw)
}

// Where the namespace's policy does not stage, MU-26 denies as ever; stage
// is counted as an exemption where only the namespace stages.
func TestStageOnlyWherePolicyStages(t *testing.T) {
	srv := serverWith(t, &fakeLookup{}, stagePolicy(t))
	rv := gitSync(t, clusterJSON(t, image254, nil, reported(image254, "Healthy")))
	rv.namespace = "strict"
	mutated, validated := admit(t, srv, MutateMilvusPath, ValidateMilvusPath, rv)
	assert.Nil(t, patchOf(t, mutated), "not staged")
	assert.Empty(t, mutated.Warnings)
	assert.False(t, validated.Allowed)
	require.NotNil(t, validated.Result)
	assert.Equal(t, int32(http.StatusUnprocessableEntity), validated.Result.Code)
	require.Len(t, validated.Result.Details.Causes, 1)
	assert.Equal(t, "spec.components.image", validated.Result.Details.Causes[0].Field)
	assert.Contains(t, validated.Result.Details.Causes[0].Message, "[MU-26]")

	t.Run("the validating webhook alone (no stage made): stage acts as deny", func(t *testing.T) {
		r := post(t, srv, ValidateMilvusPath, gitSync(t, clusterJSON(t, image254, nil, nil)))
		assert.False(t, r.Allowed)
		assert.Equal(t, map[string]string{AuditDecision: "denied", AuditRules: "MU-26,MU-26-OPERATOR"}, r.AuditAnnotations)
	})
	t.Run("a namespace that stages where the cluster denies: an exemption", func(t *testing.T) {
		p, err := policy.Parse([]byte("namespaces:\n  canary:\n    rules: {MU-26: stage}\n"))
		require.NoError(t, err)
		exempted := func() float64 { return testutil.ToFloat64(Exemptions.WithLabelValues("canary", "MU-26")) }
		before := exempted()
		rv := gitSync(t, clusterJSON(t, image254, nil, nil))
		rv.namespace = "canary"
		mutated, validated := admit(t, serverWith(t, &fakeLookup{}, p), MutateMilvusPath, ValidateMilvusPath, rv)
		assert.Equal(t, []string{stagedWarning}, mutated.Warnings)
		assert.True(t, validated.Allowed, "%v", validated.Result)
		assert.Equal(t, before+1, exempted())
	})
	t.Run("a tenant writing the stage annotations itself", func(t *testing.T) {
		rv := review{op: admissionv1.Update, kind: "Milvus", resource: "milvuses", user: "alice",
			old: clusterJSON(t, image2516, nil, nil), object: clusterJSON(t, image2516, stagedIntent(), nil)}
		r := post(t, srv, ValidateMilvusPath, rv)
		assert.False(t, r.Allowed)
		assert.Equal(t, map[string]string{AuditDecision: "denied", AuditRules: "MU-INTENT"}, r.AuditAnnotations)
	})
}

// A dry-run (Argo CD's server-side diff, Flux's every interval) gets the
// very answer the real request gets: the webhook writes nothing either way.
func TestStageDryRunSameAnswer(t *testing.T) {
	handlers := Handlers(stagePolicy(t), &fakeLookup{})
	rv := gitSync(t, clusterJSON(t, image254, nil, reported(image254, "Healthy")))
	answer := func(path string, dryRun bool) admission.Response {
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "uid-1", Name: "my-release", Namespace: "default", Operation: admissionv1.Update,
			Kind:      metav1.GroupVersionKind{Group: "milvus.io", Version: "v1beta1", Kind: "Milvus"},
			UserInfo:  authenticationv1.UserInfo{Username: "alice"},
			Object:    runtime.RawExtension{Raw: []byte(rv.object)},
			OldObject: runtime.RawExtension{Raw: []byte(rv.old)},
			DryRun:    ptr.To(dryRun),
		}}
		return handlers[path].Handle(context.Background(), req)
	}
	wet, dry := answer(MutateMilvusPath, false), answer(MutateMilvusPath, true)
	require.True(t, dry.Allowed)
	assert.Equal(t, wet.Patches, dry.Patches)
	assert.Equal(t, wet.Warnings, dry.Warnings)
	assert.Equal(t, []string{stagedWarning}, dry.Warnings)
	assert.Equal(t, wet.AuditAnnotations, dry.AuditAnnotations)
	assert.NotEmpty(t, dry.Patches)
}
