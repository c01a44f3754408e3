package webhook

import (
	"context"
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// benchRequest builds an admission request the way the webhook receives it.
func benchRequest(op admissionv1.Operation, object, old string) admission.Request {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, Name: "my-release", Namespace: "default",
		UserInfo: authenticationv1.UserInfo{Username: "alice"},
		Object:   runtime.RawExtension{Raw: []byte(object)},
	}}
	if old != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(old)}
	}
	return req
}

func benchHandle(b *testing.B, path string, req admission.Request, wantAllowed bool) {
	target := &milvus.Milvus{}
	target.Name, target.Namespace = "my-release", "default"
	target.Spec.Components.Image = "milvusdb/milvus:v2.1.4"
	h := Handlers(policy.Default(), &fakeLookup{milvuses: map[string]*milvus.Milvus{"default/my-release": target}})[path]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if resp := h.Handle(ctx, req); resp.Allowed != wantAllowed {
			b.Fatalf("allowed = %v: %v", resp.Allowed, resp.Result)
		}
	}
}

func BenchmarkValidateMilvusDenied(b *testing.B) {
	benchHandle(b, ValidateMilvusPath, benchRequest(admissionv1.Update,
		fmt.Sprintf(milvusOld, "milvusdb/milvus:v2.4.23"), fmt.Sprintf(milvusOld, "milvusdb/milvus:v2.1.4")), false)
}

func BenchmarkValidateMilvusAllowed(b *testing.B) {
	benchHandle(b, ValidateMilvusPath, benchRequest(admissionv1.Update,
		fmt.Sprintf(milvusOld, "milvusdb/milvus:v2.4.23"), fmt.Sprintf(milvusOld, "milvusdb/milvus:v2.4.22")), true)
}

func BenchmarkMutateMilvus(b *testing.B) {
	benchHandle(b, MutateMilvusPath, benchRequest(admissionv1.Create,
		`{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"my-release"},"spec":{"mode":"cluster"}}`, ""), true)
}

func BenchmarkMutateMilvusUpgrade(b *testing.B) {
	benchHandle(b, MutateMilvusUpgradePath, benchRequest(admissionv1.Create, fmt.Sprintf(upgradeNew, "v2.2.16"), ""), true)
}

func BenchmarkValidateMilvusUpgrade(b *testing.B) {
	benchHandle(b, ValidateMilvusUpgradePath, benchRequest(admissionv1.Create, fmt.Sprintf(upgradeNew, "v2.2.16"), ""), true)
}
