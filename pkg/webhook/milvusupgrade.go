package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/mutate"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

// upgradeDefaulter serves MutateMilvusUpgradePath.
type upgradeDefaulter struct {
	policy *policy.Policy
	lookup Lookup
}

var _ admission.Handler = &upgradeDefaulter{}

func (h *upgradeDefaulter) Handle(ctx context.Context, req admission.Request) admission.Response {
	if !judged(req) {
		return admission.Allowed("")
	}
	view := &milvus.MilvusUpgrade{}
	obj, err := decodeRaw(req, milvus.MilvusUpgradeKind, view)
	if err != nil {
		return badRequest(ctx, err)
	}
	if view.Namespace == "" {
		view.Namespace = req.Namespace
	}
	target, err := targetOf(ctx, h.lookup, view)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	ops, err := mutate.MilvusUpgrade(obj, req.Namespace, target, h.policy)
	if err != nil {
		return badRequest(ctx, err)
	}
	return patched(ops)
}

// upgradeValidator serves ValidateMilvusUpgradePath.
type upgradeValidator struct {
	policy *policy.Policy
	lookup Lookup
}

var _ admission.Handler = &upgradeValidator{}

func (h *upgradeValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if !judged(req) {
		return admission.Allowed("")
	}
	cur, old, err := decodeUpdate[milvus.MilvusUpgrade](req, milvus.MilvusUpgradeKind)
	if err != nil {
		return badRequest(ctx, err)
	}
	if cur.Namespace == "" {
		cur.Namespace = req.Namespace
	}
	target, err := targetOf(ctx, h.lookup, cur)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	vs := validate.MilvusUpgrade(validate.UpgradeChange{Old: old, New: cur, Target: target}, h.policy)
	d := validate.Decide(vs, h.policy)
	return decided(ctx, milvus.MilvusUpgradeKind.GroupKind(), objectName(req, cur.GenerateName), d)
}

// targetOf looks up the Milvus an upgrade names. Only the upgrade's own
// namespace is read: one naming another is denied (MU-UP-NS), and its
// defaults must not leak what another namespace runs.
func targetOf(ctx context.Context, lookup Lookup, u *milvus.MilvusUpgrade) (*milvus.Milvus, error) {
	if u.Spec.Milvus.Name == "" || u.TargetNamespace() != u.Namespace {
		return nil, nil
	}
	return lookup.Milvus(ctx, u.Namespace, u.Spec.Milvus.Name)
}
