package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/mutate"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

// milvusDefaulter serves MutateMilvusPath.
type milvusDefaulter struct{}

var _ admission.Handler = &milvusDefaulter{}

func (h *milvusDefaulter) Handle(ctx context.Context, req admission.Request) admission.Response {
	if !judged(req) {
		return admission.Allowed("")
	}
	obj, err := decodeRaw(req, milvus.MilvusKind, &milvus.Milvus{})
	if err != nil {
		return badRequest(ctx, err)
	}
	ops, err := mutate.Milvus(obj)
	if err != nil {
		return badRequest(ctx, err)
	}
	return patched(ops)
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
	change := validate.MilvusChange{Old: old, New: cur, User: req.UserInfo.Username}
	// Only an operator identity can pass through, so only it needs the upgrades.
	if old != nil && h.policy.IsOperator(change.User) {
		if change.Upgrades, err = h.lookup.UpgradesFor(ctx, cur.Namespace, cur.Name); err != nil {
			return lookupFailed(ctx, err)
		}
	}
	d := validate.Decide(validate.Milvus(change, h.policy), h.policy)
	return decided(ctx, milvus.MilvusKind.GroupKind(), objectName(req, cur.GenerateName), d)
}
