package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// benchRequest builds an admission request the way the webhook receives it.
func benchRequest(op admissionv1.Operation, object, old string) admission.Request {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "bench", Operation: op, Name: "my-release", Namespace: "default",
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

// productionReview is a Milvus UPDATE as the API server sends it for a
// production-sized object (webhooktest.UpdateReview), decoded from the
// AdmissionReview as controller-runtime decodes it.
func productionReview(b *testing.B, from, to string) admission.Request {
	b.Helper()
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(webhooktest.UpdateReview("tenant-a", "search", from, to, "alice"), &review); err != nil {
		b.Fatal(err)
	}
	return admission.Request{AdmissionRequest: *review.Request}
}

// BenchmarkProductionUpdate serves the review of hack/bench in memory: the
// handlers' share of a served request (hack/bench measures the rest).
func BenchmarkProductionUpdate(b *testing.B) {
	req := productionReview(b, "milvusdb/milvus:v2.4.22", "milvusdb/milvus:v2.4.23")
	for _, path := range []string{ValidateMilvusPath, MutateMilvusPath} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) { benchHandle(b, path, req, true) })
	}
	b.Run("decode-one-object", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m milvus.Milvus
			if err := decodeView(req.Object.Raw, milvus.MilvusKind, &m, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-one-object-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m milvus.Milvus
			if err := milvus.Decode(req.Object.Raw, milvus.MilvusKind, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// onlyRule is the default policy with every rule off but id.
func onlyRule(b *testing.B, id policy.RuleID) *policy.Policy {
	b.Helper()
	var doc strings.Builder
	doc.WriteString("rules:\n")
	for _, r := range policy.Rules {
		action := policy.Off
		if r == id {
			action = policy.Default().ActionFor(r)
		}
		fmt.Fprintf(&doc, "  %s: %s\n", r, action)
	}
	p, err := policy.Parse([]byte(doc.String()))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDecision is the decision alone, rules only (no decoding, no
// lookup, no response): validate.Decide over validate.Milvus or
// validate.MilvusUpgrade, for each rule on its own ("none" is what every
// decision pays before any rule runs), and for the default policy.
func BenchmarkDecision(b *testing.B) {
	view := func(from, to string) validate.MilvusChange {
		req := productionReview(b, from, to)
		old, cur := &milvus.Milvus{}, &milvus.Milvus{}
		if decodeView(req.OldObject.Raw, milvus.MilvusKind, old, nil) != nil || decodeView(req.Object.Raw, milvus.MilvusKind, cur, nil) != nil {
			b.Fatal("the review does not decode")
		}
		return validate.MilvusChange{Old: old, New: cur, User: "alice"}
	}
	changes := []struct {
		name   string
		change validate.MilvusChange
	}{
		{"allowed-2.4.22-2.4.23", view("milvusdb/milvus:v2.4.22", "milvusdb/milvus:v2.4.23")},
		{"denied-2.1.4-2.4.23", view("milvusdb/milvus:v2.1.4", "milvusdb/milvus:v2.4.23")},
	}
	target := changes[1].change.Old
	upgrade := &milvus.MilvusUpgrade{}
	upgrade.Name, upgrade.Namespace = "search-migrate", "tenant-a"
	upgrade.Spec = milvus.MilvusUpgradeSpec{Milvus: milvus.ObjectReference{Name: "search"}, SourceVersion: "v2.1.4",
		TargetVersion: "v2.2.16", TargetImage: "milvusdb/milvus:v2.2.16", ToolImage: "milvusdb/meta-migration:v2.2.0"}

	run := func(b *testing.B, p *policy.Policy) {
		for _, c := range changes {
			b.Run(c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					validate.Decide(validate.Milvus(c.change, p), p)
				}
			})
		}
		b.Run("upgrade-2.1.4-2.2.16", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				validate.Decide(validate.MilvusUpgrade(validate.UpgradeChange{New: upgrade, Target: target}, p), p)
			}
		})
	}
	b.Run("default-policy", func(b *testing.B) { run(b, policy.Default()) })
	b.Run("none", func(b *testing.B) { run(b, onlyRule(b, "")) })
	for _, id := range policy.Rules {
		b.Run(string(id), func(b *testing.B) { run(b, onlyRule(b, id)) })
	}
}

// BenchmarkReviewReading serves the review of hack/bench to a no-op
// handler in memory, read by controller-runtime and by reviewReader: the
// part of a served request that is reading the review.
func BenchmarkReviewReading(b *testing.B) {
	// Past its first 30 s a process without a logger gets a warning and a
	// stack trace on the first log line, which the benchmarks would print.
	logf.SetLogger(logr.Discard())
	body := webhooktest.UpdateReview("tenant-a", "search", "milvusdb/milvus:v2.4.22", "milvusdb/milvus:v2.4.23", "alice")
	hook := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	for name, h := range map[string]http.Handler{
		"controller-runtime": hook,
		"own":                reviewReader{hook: hook, fallbacks: ReviewFallbacks.WithLabelValues("/bench")},
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/bench", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Body.String())
				}
			}
		})
	}
}
