// Package webhook adapts the rules of pkg/validate and the defaults of
// pkg/mutate to admission requests. The adapters only decode, look up what
// the informer cache knows, and encode the answer; they decide nothing.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/mutate"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

// The paths the webhook serves. Manifests and outside tools rely on them.
const (
	MutateMilvusPath          = "/mutate-milvus-io-v1beta1-milvus"
	ValidateMilvusPath        = "/validate-milvus-io-v1beta1-milvus"
	MutateMilvusUpgradePath   = "/mutate-milvus-io-v1beta1-milvusupgrade"
	ValidateMilvusUpgradePath = "/validate-milvus-io-v1beta1-milvusupgrade"
)

// Audit annotation keys; the API server prefixes them with the webhook name.
const (
	AuditDecision = "decision"
	AuditRules    = "rules"
)

// Register serves the four admission paths on srv.
func Register(srv crwebhook.Server, p *policy.Policy, lookup Lookup) {
	for path, h := range Handlers(p, lookup) {
		srv.Register(path, &admission.Webhook{Handler: h})
	}
}

// Handlers maps each admission path to its handler.
func Handlers(p *policy.Policy, lookup Lookup) map[string]admission.Handler {
	h := &handlers{policy: p, lookup: lookup}
	return map[string]admission.Handler{
		MutateMilvusPath:          handle(milvus.MilvusKind, h.mutateMilvus),
		ValidateMilvusPath:        handle(milvus.MilvusKind, h.validateMilvus),
		MutateMilvusUpgradePath:   handle(milvus.MilvusUpgradeKind, h.mutateMilvusUpgrade),
		ValidateMilvusUpgradePath: handle(milvus.MilvusUpgradeKind, h.validateMilvusUpgrade),
	}
}

// serveFunc serves one decoded request of a kind: the new object and, on
// UPDATE, the old one (nil on CREATE).
type serveFunc[PT any] func(ctx context.Context, req admission.Request, cur, old PT) admission.Response

// handle is what every path does first: it lets through the operations the
// rules do not judge, decodes the objects of kind gvk (a 400 when they
// cannot be read) and hands them to serve.
func handle[T any, PT object[T]](gvk schema.GroupVersionKind, serve serveFunc[PT]) admission.HandlerFunc {
	return func(ctx context.Context, req admission.Request) admission.Response {
		if err := wellFormed(req); err != nil {
			return badRequest(ctx, err)
		}
		if !judged(req) {
			return admission.Allowed("")
		}
		cur, old, err := decode[T, PT](req, gvk)
		if err != nil {
			return badRequest(ctx, err)
		}
		return serve(ctx, req, cur, old)
	}
}

// handlers holds what every admission handler reads.
type handlers struct {
	policy *policy.Policy
	lookup Lookup
}

// wellFormed rejects what is not an admission request the API server could
// send: no uid (null, {}, a review without request) or an unknown operation.
// Answering those "allowed" would tell a caller nothing true.
func wellFormed(req admission.Request) error {
	if req.UID == "" {
		return errors.New("not an AdmissionReview request: request.uid is missing")
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return nil
	case "":
		return errors.New("request.operation is missing")
	default:
		return fmt.Errorf("request.operation %q is not CREATE, UPDATE, DELETE or CONNECT", req.Operation)
	}
}

// judged reports whether an operation is one the rules judge. The shipped
// configurations send only CREATE and UPDATE; anything else is let through.
func judged(req admission.Request) bool {
	return req.Operation == admissionv1.Create || req.Operation == admissionv1.Update
}

// object is a view type of pkg/milvus.
type object[T any] interface {
	*T
	GetNamespace() string
	SetNamespace(string)
}

// decode decodes the new object and, on UPDATE, the old one, into their view
// types, rejecting another kind. The new object gets the request's namespace
// when it has none (a CREATE may leave it to the API server).
func decode[T any, PT object[T]](req admission.Request, gvk schema.GroupVersionKind) (cur, old PT, err error) {
	var long longStrings
	cur = new(T)
	if err := decodeView(req.Object.Raw, gvk, cur, &long); err != nil {
		return nil, nil, err
	}
	if cur.GetNamespace() == "" {
		cur.SetNamespace(req.Namespace)
	}
	if req.Operation == admissionv1.Update {
		old = new(T)
		if err := decodeView(req.OldObject.Raw, gvk, old, &long); err != nil {
			return nil, nil, fmt.Errorf("old object: %w", err)
		}
	}
	return cur, old, nil
}

// decodeView reads one object into its view in a single pass: a Milvus with
// decodeMilvus (long as there), anything else with one encoding/json decode,
// whose apiVersion and kind are then checked. What that pass does not take
// (malformed input, another kind) is decoded again by milvus.Decode, so that
// the error is the one it has always been.
func decodeView(raw []byte, gvk schema.GroupVersionKind, out any, long *longStrings) error {
	var ok bool
	switch v := out.(type) {
	case *milvus.Milvus:
		ok = decodeMilvus(raw, v, long) && v.GroupVersionKind() == gvk
		if !ok {
			*v = milvus.Milvus{}
		}
	case *milvus.MilvusUpgrade:
		ok = json.Unmarshal(raw, v) == nil && v.GroupVersionKind() == gvk
		if !ok {
			*v = milvus.MilvusUpgrade{}
		}
	}
	if ok {
		return nil
	}
	return milvus.Decode(raw, gvk, out)
}

// raw is the new object for patching, decoded into a map only when an
// operation needs it (a missing default, the hold, the cancel): most
// requests need no patch and decode their object once, into view. view may
// be nil.
func raw(req admission.Request, view *milvus.Milvus) *mutate.Raw {
	return mutate.NewRaw(req.Object.Raw, view)
}

// badRequest answers a request we cannot read: a 400 naming what is wrong.
func badRequest(ctx context.Context, err error) admission.Response {
	logf.FromContext(ctx).Info("rejecting unreadable object", "error", err.Error())
	return admission.Errored(http.StatusBadRequest, err)
}

// lookupFailed answers when the cache cannot be read; with failurePolicy
// Fail the API server rejects the request rather than let it through unchecked.
func lookupFailed(ctx context.Context, err error) admission.Response {
	logf.FromContext(ctx).Error(err, "informer cache lookup failed")
	return admission.Errored(http.StatusInternalServerError, fmt.Errorf("milvus-admission cannot read its cache: %w", err))
}

// decided encodes a decision: a 422 listing every denied field, or an
// admission with warnings, and audit annotations naming the rules; it counts
// and logs it.
func decided(ctx context.Context, req admission.Request, gk schema.GroupKind, name string, d validate.Decision) admission.Response {
	var resp admission.Response
	decision, audit := DecisionAllowed, "allowed"
	switch {
	case !d.Allowed():
		decision, audit = DecisionDenied, "denied"
		status := apierrors.NewInvalid(gk, name, d.Errors).ErrStatus
		resp = admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
	case len(d.Warnings) > 0:
		decision, audit = DecisionWarned, "allowed with warnings"
		resp = admission.Allowed("")
	default:
		resp = admission.Allowed("")
	}
	resp.Warnings = d.Warnings
	resp.AuditAnnotations = auditAnnotations(audit, d.Rules)
	record(ctx, req, gk.Kind, name, decision, d.Rules)
	return resp
}

// patched encodes the defaults as a patch response.
func patched(ops []jsonpatch.Operation) admission.Response {
	paths := make([]string, len(ops))
	for i, op := range ops {
		paths[i] = op.Path
	}
	resp := admission.Patched("", ops...)
	decision := "no defaults needed"
	if len(ops) > 0 {
		decision = "defaulted " + strings.Join(paths, ",")
	}
	resp.AuditAnnotations = map[string]string{AuditDecision: decision}
	return resp
}

func auditAnnotations(decision string, rules []policy.RuleID) map[string]string {
	a := map[string]string{AuditDecision: decision}
	if len(rules) > 0 {
		a[AuditRules] = policy.Join(rules, ",")
	}
	return a
}

// objectName is the name to report in a 422; generateName when the API
// server has not chosen the name yet.
func objectName(req admission.Request, generateName string) string {
	if req.Name != "" {
		return req.Name
	}
	return generateName
}
