package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/mutate"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

// mutateMilvusUpgrade serves MutateMilvusUpgradePath.
func (h *handlers) mutateMilvusUpgrade(ctx context.Context, req admission.Request, cur, old *milvus.MilvusUpgrade) admission.Response {
	obj := raw(req, nil)
	target, err := h.targetOf(ctx, cur)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	ops, err := mutate.MilvusUpgrade(obj, cur.Namespace, old, target, h.policy.For(req.Namespace))
	if err != nil {
		return badRequest(ctx, err)
	}
	return patched(ops)
}

// validateMilvusUpgrade serves ValidateMilvusUpgradePath.
func (h *handlers) validateMilvusUpgrade(ctx context.Context, req admission.Request, cur, old *milvus.MilvusUpgrade) admission.Response {
	target, err := h.targetOf(ctx, cur)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	change := validate.UpgradeChange{Old: old, New: cur, Target: target}
	if target != nil {
		// MU-UP-ONE and MU-UP-SRC read the other upgrades of that Milvus.
		if change.TargetUpgrades, err = h.lookup.UpgradesFor(ctx, target.Namespace, target.Name); err != nil {
			return lookupFailed(ctx, err)
		}
	}
	pol := h.policy.For(req.Namespace)
	d := validate.Decide(validate.MilvusUpgrade(change, pol), pol)
	h.exempted(ctx, req, d.Rules)
	return decided(ctx, req, milvus.MilvusUpgradeKind.GroupKind(), objectName(req, cur.GenerateName), d)
}

// targetOf looks up the Milvus an upgrade names. Only the upgrade's own
// namespace is read: one naming another is denied (MU-UP-NS), and its
// defaults must not leak what another namespace runs.
func (h *handlers) targetOf(ctx context.Context, u *milvus.MilvusUpgrade) (*milvus.Milvus, error) {
	if u.Spec.Milvus.Name == "" || u.TargetNamespace() != u.Namespace {
		return nil, nil
	}
	return h.lookup.Milvus(ctx, u.Namespace, u.Spec.Milvus.Name)
}
