package webhook

import (
	"context"
	"encoding/json"

	"gomodules.xyz/jsonpatch/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/mutate"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

// mutateMilvus serves MutateMilvusPath: the defaults, and on an update that
// needs a metadata migration, the hold (pkg/migration).
func (h *handlers) mutateMilvus(ctx context.Context, req admission.Request) admission.Response {
	if !judged(req) {
		return admission.Allowed("")
	}
	cur, old, err := decode[milvus.Milvus](req, milvus.MilvusKind)
	if err != nil {
		return badRequest(ctx, err)
	}
	obj, err := raw(req)
	if err != nil {
		return badRequest(ctx, err)
	}
	ops, err := mutate.Milvus(obj)
	if err != nil {
		return badRequest(ctx, err)
	}
	if old == nil {
		return patched(ops)
	}
	// Pass-through, a hold and a cancel all depend on the upgrades of this Milvus.
	upgrades, err := h.lookup.UpgradesFor(ctx, cur.Namespace, cur.Name)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	change := validate.MilvusChange{Old: old, New: cur, User: req.UserInfo.Username, Upgrades: upgrades}
	out := migration.Decide(old, cur, validate.Milvus(change, h.policy), upgrades,
		migration.Request{ByOperator: h.policy.IsOperator(change.User), Applier: applier(req)}, h.policy)
	var more []jsonpatch.Operation
	switch {
	case out.Deny != nil:
		return decided(ctx, milvus.MilvusKind.GroupKind(), objectName(req, cur.GenerateName), validate.Decide([]validate.Violation{*out.Deny}, h.policy))
	case out.Hold != nil:
		more, err = mutate.Hold(obj, out.Hold)
	case out.Cancel:
		more, err = mutate.Cancel(obj)
	}
	if err != nil {
		return badRequest(ctx, err)
	}
	resp := patched(append(ops, more...))
	if out.Warning != nil {
		resp.Warnings = append(resp.Warnings, validate.Warning(*out.Warning))
		resp.AuditAnnotations[AuditRules] = string(out.Warning.Rule)
	}
	return resp
}

// validateMilvus serves ValidateMilvusPath.
func (h *handlers) validateMilvus(ctx context.Context, req admission.Request) admission.Response {
	if !judged(req) {
		return admission.Allowed("")
	}
	cur, old, err := decode[milvus.Milvus](req, milvus.MilvusKind)
	if err != nil {
		return badRequest(ctx, err)
	}
	change, err := h.milvusChange(ctx, req, old, cur)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	d := validate.Decide(validate.Milvus(change, h.policy), h.policy)
	return decided(ctx, milvus.MilvusKind.GroupKind(), objectName(req, cur.GenerateName), d)
}

// milvusChange gathers what the Milvus rules judge. Only an operator identity
// can pass through, so only its updates need the upgrades from the cache.
func (h *handlers) milvusChange(ctx context.Context, req admission.Request, old, cur *milvus.Milvus) (validate.MilvusChange, error) {
	change := validate.MilvusChange{Old: old, New: cur, User: req.UserInfo.Username}
	if old == nil || !h.policy.IsOperator(change.User) {
		return change, nil
	}
	var err error
	change.Upgrades, err = h.lookup.UpgradesFor(ctx, cur.Namespace, cur.Name)
	return change, err
}

// applier is the field manager the request names, else "". The API server
// passes a PATCH (server-side apply included) to admission as an update with
// UpdateOptions; Decide checks that the manager's managed fields say Apply.
func applier(req admission.Request) string {
	if len(req.Options.Raw) == 0 {
		return ""
	}
	var opts metav1.UpdateOptions
	if err := json.Unmarshal(req.Options.Raw, &opts); err != nil {
		return ""
	}
	return opts.FieldManager
}
