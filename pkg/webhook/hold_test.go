package webhook

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

const (
	holdOperator = "system:serviceaccount:milvus-operator:milvus-operator"
	holdPlanned  = "my-release-migrate-v2-2-16"
	image214     = "milvusdb/milvus:v2.1.4"
	image2216    = "milvusdb/milvus:v2.2.16"
	image2423    = "milvusdb/milvus:v2.4.23"
)

// heldIntent is what the hold of 2.1.4 → 2.4.23 records on the Milvus.
func heldIntent() map[string]string {
	return map[string]string{
		migration.AnnotationRequestedImage:  image2423,
		migration.AnnotationPlannedUpgrade:  holdPlanned,
		migration.AnnotationMigrationTarget: "v2.2.16",
	}
}

// milvusJSON is the Milvus my-release with image and annotations (none when nil).
func milvusJSON(t *testing.T, image string, annotations map[string]string) string {
	t.Helper()
	meta := map[string]any{"name": "my-release", "namespace": "default"}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	raw, err := json.Marshal(map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus", "metadata": meta,
		"spec": map[string]any{"components": map[string]any{"image": image, "imageUpdateMode": "rollingUpgrade"}},
	})
	require.NoError(t, err)
	return string(raw)
}

func milvusReview(t *testing.T, user, oldImage string, oldAnn map[string]string, image string, ann map[string]string) review {
	return review{op: admissionv1.Update, kind: "Milvus", resource: "milvuses", user: user,
		old: milvusJSON(t, oldImage, oldAnn), object: milvusJSON(t, image, ann)}
}

func plannedUpgrade(name, state string) milvus.MilvusUpgrade {
	u := milvus.MilvusUpgrade{}
	u.Name, u.Namespace = name, "default"
	u.Spec.Milvus.Name = "my-release"
	u.Spec.SourceVersion, u.Spec.TargetVersion, u.Spec.TargetImage = "v2.1.4", "v2.2.16", image2216
	u.Status.State = state
	return u
}

// patchedJSON is object with the response's patch applied, as the API server would.
func patchedJSON(t *testing.T, object string, r *admissionv1.AdmissionResponse) []byte {
	t.Helper()
	out := []byte(object)
	if r.Patch != nil {
		patch, err := jsonpatchapply.DecodePatch(r.Patch)
		require.NoError(t, err)
		out, err = patch.Apply(out)
		require.NoError(t, err)
	}
	return out
}

// applyPatch is patchedJSON decoded.
func applyPatch(t *testing.T, object string, r *admissionv1.AdmissionResponse) *milvus.Milvus {
	t.Helper()
	m := &milvus.Milvus{}
	require.NoError(t, milvus.Decode(patchedJSON(t, object, r), milvus.MilvusKind, m))
	return m
}

// admit runs a review through the mutating path, applies its patch, and runs
// the result through the validating path, as the API server does.
func admit(t *testing.T, srv *httptest.Server, mutatePath, validatePath string, rv review) (mutated, validated *admissionv1.AdmissionResponse) {
	t.Helper()
	mutated = post(t, srv, mutatePath, rv)
	require.True(t, mutated.Allowed, "%v", mutated.Result)
	rv.object = string(patchedJSON(t, rv.object, mutated))
	return mutated, post(t, srv, validatePath, rv)
}

func TestMutateMilvusHold(t *testing.T) {
	t.Run("2.1.4 to 2.4.23 by a user is held and the intent recorded", func(t *testing.T) {
		srv := server(t, &fakeLookup{})
		rv := milvusUpdate(image214, image2423, "alice")
		r := post(t, srv, MutateMilvusPath, rv)
		assert.True(t, r.Allowed, "%v", r.Result)
		assert.Equal(t, []map[string]any{
			{"op": "add", "path": "/spec/components/imageUpdateMode", "value": "rollingUpgrade"},
			{"op": "add", "path": "/spec/components/image", "value": image214},
			{"op": "add", "path": "/metadata/annotations", "value": map[string]any{}},
			{"op": "add", "path": "/metadata/annotations/milvus-admission.io~1requested-image", "value": image2423},
			{"op": "add", "path": "/metadata/annotations/milvus-admission.io~1planned-upgrade", "value": holdPlanned},
			{"op": "add", "path": "/metadata/annotations/milvus-admission.io~1migration-target", "value": "v2.2.16"},
		}, patchOf(t, r))
		m := applyPatch(t, rv.object, r)
		assert.Equal(t, image214, m.Spec.Components.Image)
		assert.Equal(t, heldIntent(), m.Annotations)

		require.Len(t, r.Warnings, 2, "the hold, then the whole path")
		assert.Contains(t, r.Warnings[0], "[MU-META]")
		assert.Contains(t, r.Warnings[0], holdPlanned)
		assert.Equal(t, "[MU-META] spec.components.image: path v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23", r.Warnings[1])
		for _, w := range r.Warnings {
			assert.LessOrEqual(t, len([]rune(w)), 120)
		}
		assert.Equal(t, "MU-META", r.AuditAnnotations[AuditRules])
		assert.Contains(t, r.AuditAnnotations[AuditDecision], "/spec/components/image")
	})
	for _, tc := range []struct {
		name     string
		upgrade  milvus.MilvusUpgrade
		rule     string
		mentions []string
	}{
		{name: "the planned upgrade failed", upgrade: plannedUpgrade(holdPlanned, "UpdateMetaFailed"), rule: "MU-META-FAILED",
			mentions: []string{"default/" + holdPlanned, "UpdateMetaFailed", "delete it to retry"}},
		{name: "another upgrade of this Milvus in progress", upgrade: plannedUpgrade("manual-upgrade", "UpdatingMeta"), rule: "MU-META-BUSY",
			mentions: []string{"default/manual-upgrade", "state UpdatingMeta"}},
	} {
		t.Run(tc.name+": not held, and the validator's 422 names it", func(t *testing.T) {
			srv := server(t, &fakeLookup{upgrades: []milvus.MilvusUpgrade{tc.upgrade}})
			mutated, validated := admit(t, srv, MutateMilvusPath, ValidateMilvusPath, milvusUpdate(image214, image2423, "alice"))
			assert.True(t, mutated.Allowed, "the defaulter never denies")
			assert.Equal(t, []map[string]any{{"op": "add", "path": "/spec/components/imageUpdateMode", "value": "rollingUpgrade"}},
				patchOf(t, mutated), "defaults only: nothing held")
			assert.Empty(t, mutated.Warnings)
			assert.False(t, validated.Allowed)
			require.NotNil(t, validated.Result)
			assert.Equal(t, int32(http.StatusUnprocessableEntity), validated.Result.Code)
			require.NotNil(t, validated.Result.Details)
			require.Len(t, validated.Result.Details.Causes, 2)
			for i, rule := range []string{"MU-META", tc.rule} {
				assert.Equal(t, "spec.components.image", validated.Result.Details.Causes[i].Field)
				assert.Contains(t, validated.Result.Details.Causes[i].Message, "["+rule+"]")
			}
			for _, m := range tc.mentions {
				assert.Contains(t, validated.Result.Details.Causes[1].Message, m)
			}
			assert.Equal(t, map[string]string{AuditDecision: "denied", AuditRules: "MU-META," + tc.rule}, validated.AuditAnnotations)
		})
	}
	t.Run("the operator writing the target image of an existing upgrade: no hold", func(t *testing.T) {
		srv := server(t, &fakeLookup{upgrades: []milvus.MilvusUpgrade{plannedUpgrade(holdPlanned, "UpdatingMeta")}})
		rv := milvusReview(t, holdOperator, image214, heldIntent(), image2216, heldIntent())
		r := post(t, srv, MutateMilvusPath, rv)
		assert.True(t, r.Allowed, "%v", r.Result)
		assert.Nil(t, patchOf(t, r), "nothing to default, nothing held, nothing cancelled")
		assert.Empty(t, r.Warnings)
		assert.NotContains(t, r.AuditAnnotations, AuditRules)
		m := applyPatch(t, rv.object, r)
		assert.Equal(t, image2216, m.Spec.Components.Image)
		assert.Equal(t, heldIntent(), m.Annotations, "the controller, not the webhook, clears the intent")
	})
	t.Run("a kubectl apply back on the held image with no upgrade created: intent cancelled", func(t *testing.T) {
		srv := server(t, &fakeLookup{})
		ann := heldIntent()
		ann[migration.AnnotationRequestedVersion] = "2.4.23"
		ann["argocd.argoproj.io/tracking-id"] = "app:milvus.io/Milvus:default/my-release"
		reverted := maps.Clone(ann)
		reverted["kubectl.kubernetes.io/last-applied-configuration"] = `{"spec":{"components":{"image":"` + image214 + `"}}}`
		rv := milvusReview(t, "alice", image214, ann, image214, reverted)
		r := post(t, srv, MutateMilvusPath, rv)
		assert.True(t, r.Allowed, "%v", r.Result)
		assert.Equal(t, []map[string]any{
			{"op": "remove", "path": "/metadata/annotations/milvus-admission.io~1requested-image"},
			{"op": "remove", "path": "/metadata/annotations/milvus-admission.io~1requested-version"},
			{"op": "remove", "path": "/metadata/annotations/milvus-admission.io~1planned-upgrade"},
			{"op": "remove", "path": "/metadata/annotations/milvus-admission.io~1migration-target"},
		}, patchOf(t, r))
		m := applyPatch(t, rv.object, r)
		assert.Equal(t, image214, m.Spec.Components.Image)
		assert.Equal(t, map[string]string{
			"argocd.argoproj.io/tracking-id":                   "app:milvus.io/Milvus:default/my-release",
			"kubectl.kubernetes.io/last-applied-configuration": reverted["kubectl.kubernetes.io/last-applied-configuration"],
		}, m.Annotations, "only the intent goes")
		require.Len(t, r.Warnings, 1)
		assert.Contains(t, r.Warnings[0], "[MU-META]")
		assert.Contains(t, r.Warnings[0], holdPlanned+" cancelled")
		assert.Equal(t, "MU-META", r.AuditAnnotations[AuditRules])
	})
	t.Run("a user keeping the held image once the upgrade started: nothing cancelled", func(t *testing.T) {
		srv := server(t, &fakeLookup{upgrades: []milvus.MilvusUpgrade{plannedUpgrade(holdPlanned, "BakupMeta")}})
		r := post(t, srv, MutateMilvusPath, milvusReview(t, "alice", image214, heldIntent(), image214, heldIntent()))
		assert.True(t, r.Allowed, "%v", r.Result)
		assert.Nil(t, patchOf(t, r))
		assert.Empty(t, r.Warnings)
	})
}

// Without the mutating webhook's hold (it did not run, or could not plan),
// generate acts as deny at validation.
func TestValidateMilvusGenerateDenies(t *testing.T) {
	srv := server(t, &fakeLookup{})
	r := post(t, srv, ValidateMilvusPath, milvusUpdate(image214, image2423, "alice"))
	assert.False(t, r.Allowed)
	require.NotNil(t, r.Result)
	assert.Equal(t, int32(http.StatusUnprocessableEntity), r.Result.Code)
	require.NotNil(t, r.Result.Details)
	require.Len(t, r.Result.Details.Causes, 1)
	assert.Equal(t, "spec.components.image", r.Result.Details.Causes[0].Field)
	assert.Contains(t, r.Result.Details.Causes[0].Message, "[MU-META]")
	assert.Equal(t, map[string]string{AuditDecision: "denied", AuditRules: "MU-META"}, r.AuditAnnotations)

	t.Run("the held object, as the mutating webhook leaves it, passes", func(t *testing.T) {
		r := post(t, srv, ValidateMilvusPath, milvusReview(t, "alice", image214, nil, image214, heldIntent()))
		assert.True(t, r.Allowed, "%v", r.Result)
	})
}

// A Milvus pinned by spec.components.version converges like one pinned by
// the tag: the operator writes only the target image, the defaulter moves the
// pin with it, and the next sync of the same manifest is a rolling upgrade.
func TestVersionPinConverges(t *testing.T) {
	pinned := func(image, version string, ann map[string]string) string {
		meta := map[string]any{"name": "my-release", "namespace": "default", "uid": "uid-1"}
		if ann != nil {
			meta["annotations"] = ann
		}
		raw, err := json.Marshal(map[string]any{"apiVersion": "milvus.io/v1beta1", "kind": "Milvus", "metadata": meta,
			"spec": map[string]any{"components": map[string]any{"image": image, "version": version, "imageUpdateMode": "rollingUpgrade"}}})
		require.NoError(t, err)
		return string(raw)
	}
	const custom214, custom2423 = "registry.internal/milvus:build-7a1", "registry.internal/milvus:build-9c3"
	ann := map[string]string{
		migration.AnnotationRequestedImage: custom2423, migration.AnnotationRequestedVersion: "v2.4.23",
		migration.AnnotationPlannedUpgrade: holdPlanned, migration.AnnotationMigrationTarget: "v2.2.16",
	}
	up := plannedUpgrade(holdPlanned, "NewVersionStarting")
	up.Spec.TargetImage = "registry.internal/milvus:v2.2.16"
	srv := server(t, &fakeLookup{upgrades: []milvus.MilvusUpgrade{up}})

	// The operator's hand-off: the image only, the pin left at 2.1.4.
	handOff := review{op: admissionv1.Update, kind: "Milvus", resource: "milvuses", user: holdOperator,
		old: pinned(custom214, "v2.1.4", ann), object: pinned(up.Spec.TargetImage, "v2.1.4", ann)}
	mutated, validated := admit(t, srv, MutateMilvusPath, ValidateMilvusPath, handOff)
	assert.Equal(t, []map[string]any{{"op": "add", "path": "/spec/components/version", "value": "v2.2.16"}}, patchOf(t, mutated))
	assert.True(t, validated.Allowed, "%v", validated.Result)
	stored := string(patchedJSON(t, handOff.object, mutated))

	// Succeeded, intent cleared by the controller; git syncs the same manifest.
	up.Status.State = "Succeeded"
	srv = server(t, &fakeLookup{upgrades: []milvus.MilvusUpgrade{up}})
	var storedObj map[string]any
	require.NoError(t, json.Unmarshal([]byte(stored), &storedObj))
	delete(storedObj["metadata"].(map[string]any), "annotations")
	cleared, err := json.Marshal(storedObj)
	require.NoError(t, err)
	sync := review{op: admissionv1.Update, kind: "Milvus", resource: "milvuses", user: "alice",
		old: string(cleared), object: pinned(custom2423, "v2.4.23", nil)}
	mutated, validated = admit(t, srv, MutateMilvusPath, ValidateMilvusPath, sync)
	assert.Nil(t, patchOf(t, mutated), "not held again")
	assert.True(t, validated.Allowed, "%v", validated.Result)
}
