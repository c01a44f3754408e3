package webhook

import (
	"context"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/mutate"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

// milvusDefaulter serves MutateMilvusPath: the defaults, and on an update
// that needs a metadata migration, the hold (pkg/migration).
type milvusDefaulter struct {
	policy *policy.Policy
	lookup Lookup
}

var _ admission.Handler = &milvusDefaulter{}

func (h *milvusDefaulter) Handle(ctx context.Context, req admission.Request) admission.Response {
	if !judged(req) {
		return admission.Allowed("")
	}
	cur := &milvus.Milvus{}
	obj, err := decodeRaw(req, milvus.MilvusKind, cur)
	if err != nil {
		return badRequest(ctx, err)
	}
	ops, err := mutate.Milvus(obj)
	if err != nil {
		return badRequest(ctx, err)
	}
	if req.Operation != admissionv1.Update {
		return patched(ops)
	}
	old := &milvus.Milvus{}
	if err := milvus.Decode(req.OldObject.Raw, milvus.MilvusKind, old); err != nil {
		return badRequest(ctx, fmt.Errorf("old object: %w", err))
	}
	if cur.Namespace == "" {
		cur.Namespace = req.Namespace
	}
	change, err := milvusChange(ctx, h.policy, h.lookup, req, old, cur)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	vs := validate.Milvus(change, h.policy)
	upgrades := change.Upgrades
	if !h.policy.IsOperator(change.User) {
		// A hold or a cancel depends on the upgrades of this Milvus.
		if upgrades, err = h.lookup.UpgradesFor(ctx, cur.Namespace, cur.Name); err != nil {
			return lookupFailed(ctx, err)
		}
	}
	out := migration.Decide(old, cur, vs, upgrades, h.policy.IsOperator(change.User), h.policy)
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

// milvusValidator serves ValidateMilvusPath.
type milvusValidator struct {
	policy *policy.Policy
	lookup Lookup
}

var _ admission.Handler = &milvusValidator{}

func (h *milvusValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if !judged(req) {
		return admission.Allowed("")
	}
	cur, old, err := decodeUpdate[milvus.Milvus](req, milvus.MilvusKind)
	if err != nil {
		return badRequest(ctx, err)
	}
	if cur.Namespace == "" {
		cur.Namespace = req.Namespace
	}
	change, err := milvusChange(ctx, h.policy, h.lookup, req, old, cur)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	d := validate.Decide(validate.Milvus(change, h.policy), h.policy)
	return decided(ctx, milvus.MilvusKind.GroupKind(), objectName(req, cur.GenerateName), d)
}

// milvusChange gathers what the Milvus rules judge. Only an operator identity
// can pass through, so only its updates need the upgrades from the cache.
func milvusChange(ctx context.Context, p *policy.Policy, lookup Lookup, req admission.Request, old, cur *milvus.Milvus) (validate.MilvusChange, error) {
	change := validate.MilvusChange{Old: old, New: cur, User: req.UserInfo.Username}
	if old == nil || !p.IsOperator(change.User) {
		return change, nil
	}
	var err error
	change.Upgrades, err = lookup.UpgradesFor(ctx, cur.Namespace, cur.Name)
	return change, err
}
