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
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

// mutateMilvus serves MutateMilvusPath: the defaults, and on an update that
// needs a metadata migration, the hold (pkg/migration); on one a gate whose
// action is stage would deny, the stage at the gate's waypoint. It never
// denies: what cannot be held or staged reaches validateMilvus as it came
// and is denied there.
func (h *handlers) mutateMilvus(ctx context.Context, req admission.Request, cur, old *milvus.Milvus) admission.Response {
	obj := raw(req, cur)
	ops, err := mutate.Milvus(obj)
	if err != nil {
		return badRequest(ctx, err)
	}
	if old == nil {
		return patched(ops)
	}
	change, err := h.milvusChange(ctx, req, old, cur)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	pol := h.policy.For(req.Namespace)
	need := validate.HeldMigration(validate.Milvus(change, pol), pol)
	out := migration.Decide(old, cur, need, change.Upgrades,
		migration.Request{ByOperator: pol.IsOperator(change.User), Applier: applier(req)})
	var stage *migration.Stage
	if out.Hold == nil && !out.Cancel {
		stage = validate.StageFor(change, pol)
	}
	var more []jsonpatch.Operation
	switch v := validate.HandOffVersion(change, pol); {
	case out.Hold != nil:
		more, err = mutate.Hold(obj, out.Hold)
	case out.Cancel:
		more, err = mutate.Cancel(obj)
	case stage != nil:
		more, err = mutate.Stage(obj, stage)
	case v != "" && cur.Spec.Components.Version != "" && cur.Spec.Components.Version != v:
		// The version pin wins over the tag: without this the stale pin
		// would make every later sync look like a 2.1 → 2.2+ change again.
		more, err = mutate.Version(obj, v)
	}
	if err == nil && stage == nil && migration.StageEnds(old, cur, applier(req)) {
		// Moved on from the waypoint (or git did): the stage is over.
		var unstage []jsonpatch.Operation
		unstage, err = mutate.Unstage(obj)
		more = append(more, unstage...)
	}
	if err != nil {
		return badRequest(ctx, err)
	}
	resp := patched(append(ops, more...))
	if out.Note != "" {
		resp.Warnings = append(resp.Warnings, validate.Notice(policy.MuMeta, out.Field, out.Note))
		resp.AuditAnnotations[AuditRules] = string(policy.MuMeta)
	}
	switch {
	case out.Hold != nil:
		if path := validate.HoldPath(out.Field, need, cur, pol); path != "" {
			resp.Warnings = append(resp.Warnings, path)
		}
		record(ctx, req, milvus.MilvusKind.Kind, cur.Name, DecisionHeld, []policy.RuleID{policy.MuMeta})
	case out.Cancel:
		record(ctx, req, milvus.MilvusKind.Kind, cur.Name, DecisionCancelled, []policy.RuleID{policy.MuMeta})
	case stage != nil:
		resp.Warnings = append(resp.Warnings, validate.Notice(stage.Rule, stage.Field(), stage.Note()))
		resp.AuditAnnotations[AuditRules] = string(stage.Rule)
		h.exempted(ctx, req, []policy.RuleID{stage.Rule})
		record(ctx, req, milvus.MilvusKind.Kind, cur.Name, DecisionStaged, []policy.RuleID{stage.Rule})
	}
	return resp
}

// validateMilvus serves ValidateMilvusPath.
func (h *handlers) validateMilvus(ctx context.Context, req admission.Request, cur, old *milvus.Milvus) admission.Response {
	change, err := h.milvusChange(ctx, req, old, cur)
	if err != nil {
		return lookupFailed(ctx, err)
	}
	pol := h.policy.For(req.Namespace)
	d := validate.Decide(validate.Milvus(change, pol), pol)
	h.exempted(ctx, req, d.Rules)
	if d.Allowed() {
		countHandOff(change, pol)
	}
	return decided(ctx, req, milvus.MilvusKind.GroupKind(), objectName(req, cur.GenerateName), d)
}

// milvusChange gathers what the Milvus rules judge. An UPDATE needs the
// upgrades of this Milvus from the cache: the operator's pass-through and
// MU-META-FAILED/MU-META-BUSY read them.
func (h *handlers) milvusChange(ctx context.Context, req admission.Request, old, cur *milvus.Milvus) (validate.MilvusChange, error) {
	change := validate.MilvusChange{Old: old, New: cur, User: req.UserInfo.Username}
	if old == nil {
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
