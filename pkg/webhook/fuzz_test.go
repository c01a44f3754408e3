package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"unicode/utf8"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// FuzzHandlers feeds what the API server sends — object, oldObject, user,
// operation, field manager — to all four handlers. None may panic; every
// denial is a 400, 422 or 500; every warning fits 120 characters; every
// patch applies to the object it was computed for.
func FuzzHandlers(f *testing.F) {
	const (
		m214   = `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","namespace":"default"},"spec":{"components":{"image":"milvusdb/milvus:v2.1.4"}},"status":{"currentVersion":"v2.1.4"}}`
		m2423  = `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release","namespace":"default","annotations":{"milvus-admission.io/planned-upgrade":"x"}},"spec":{"mode":"cluster","components":{"image":"milvusdb/milvus:v2.4.23","enableRollingUpdate":true,"proxy":{"image":"milvusdb/milvus:v2.1.4"}}}}`
		up     = `{"apiVersion":"milvus.io/v1beta1","kind":"MilvusUpgrade","metadata":{"name":"u","namespace":"default"},"spec":{"milvus":{"name":"my-release"},"sourceVersion":"v2.1.4","targetVersion":"v2.4.23","targetImage":"x/y:v2.2.1"},"status":{"state":"BackupMeta"}}`
		caller = "system:serviceaccount:milvus-operator:milvus-operator"
	)
	f.Add(m2423, m214, "alice", "UPDATE", "", uint8(0))
	f.Add(m214, "", caller, "CREATE", "flux", uint8(1))
	f.Add(up, up, "bob", "UPDATE", "kubectl", uint8(2))
	f.Add(up, "", "", "CREATE", "", uint8(3))
	f.Add(`{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","spec":{"components":[]}}`, `null`, "", "DELETE", "", uint8(0))

	upgrade := milvus.MilvusUpgrade{}
	upgrade.Name, upgrade.Namespace = "my-release-migrate-v2-2-16", "default"
	upgrade.Spec.Milvus.Name, upgrade.Spec.TargetImage = "my-release", "milvusdb/milvus:v2.2.16"
	upgrade.Status.State = "UpdateMetaFailed"
	target := &milvus.Milvus{}
	target.Name, target.Namespace = "my-release", "default"
	target.Spec.Components.Image = "registry:5000/milvusdb/milvus:v2.1.4"
	lookup := &fakeLookup{milvuses: map[string]*milvus.Milvus{"default/my-release": target}, upgrades: []milvus.MilvusUpgrade{upgrade}}
	handlers := Handlers(policy.Default(), lookup)
	paths := []string{MutateMilvusPath, ValidateMilvusPath, MutateMilvusUpgradePath, ValidateMilvusUpgradePath}

	f.Fuzz(func(t *testing.T, object, oldObject, user, operation, manager string, which uint8) {
		path := paths[int(which)%len(paths)]
		opts, _ := json.Marshal(metav1.UpdateOptions{FieldManager: manager})
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "fuzz", Name: "my-release", Namespace: "default",
			Operation: admissionv1.Operation(operation),
			UserInfo:  authenticationv1.UserInfo{Username: user},
			Object:    runtime.RawExtension{Raw: []byte(object)},
			OldObject: runtime.RawExtension{Raw: []byte(oldObject)},
			Options:   runtime.RawExtension{Raw: opts},
		}}
		resp := handlers[path].Handle(context.Background(), req)
		if !resp.Allowed {
			if resp.Result == nil {
				t.Fatalf("%s: denied without a status", path)
			}
			switch resp.Result.Code {
			case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusInternalServerError:
			default:
				t.Fatalf("%s: denied with code %d: %s", path, resp.Result.Code, resp.Result.Message)
			}
		}
		for _, w := range resp.Warnings {
			if n := utf8.RuneCountInString(w); n > 120 {
				t.Fatalf("%s: warning of %d characters: %q", path, n, w)
			}
		}
		if len(resp.Patches) == 0 {
			return
		}
		raw, err := json.Marshal(resp.Patches)
		if err != nil {
			t.Fatalf("%s: patch does not encode: %v", path, err)
		}
		patch, err := jsonpatchapply.DecodePatch(raw)
		if err != nil {
			t.Fatalf("%s: patch does not decode: %v", path, err)
		}
		out, err := patch.Apply([]byte(object))
		if err != nil {
			t.Fatalf("%s: patch %s does not apply to %s: %v", path, raw, object, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%s: patched object is not JSON", path)
		}
	})
}
