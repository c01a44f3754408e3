package validate

import (
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

var annotationsPath = field.NewPath("metadata", "annotations")

// muIntent (MU-INTENT): the generation intent makes the controller create a
// MilvusUpgrade with its own rights, so only the defaulting webhook's hold
// may set or change it: the new intent must be exactly what the hold makes
// of this change. Removing the whole intent is allowed (the controller does
// so on success, a revert on cancel): it only drops an unstarted plan.
func muIntent(r *milvusReview) []Violation {
	was, is := intentOf(r.Old), intentOf(r.New)
	if maps.Equal(was, is) || len(is) == 0 {
		return nil
	}
	// Name the first annotation that is not what the hold would have written
	// (or, when it would not hold at all, that this write changed).
	expected := was
	if r.Old != nil {
		if plan := replayHold(r.Old, r.New, r.User, r.Upgrades, r.policy); plan != nil {
			if trusted(plan, r.New) {
				return nil
			}
			expected = plan.Annotations()
		}
	}
	keys := slices.Sorted(maps.Keys(is))
	key := keys[0]
	for _, k := range keys {
		if is[k] != expected[k] {
			key = k
			break
		}
	}
	return []Violation{{Rule: policy.MuIntent, Err: field.Forbidden(annotationsPath.Key(key),
		"the milvus-admission.io/ intent annotations are set only by milvus-admission when it holds an image change for a metadata migration; change spec.components.image instead, or remove all four annotations to drop a plan that has not started"),
		Short: "intent annotations are milvus-admission's; change the image instead"}}
}

// muUpIdentity (MU-UP-IDENTITY): the operator's hand-off of a migrated image
// always passes (see operatorPassThrough); written by an identity the policy
// does not list, it says that operatorIdentities is probably wrong.
func muUpIdentity(r *milvusReview) []Violation {
	if !r.stranger {
		return nil
	}
	return []Violation{{Rule: policy.MuUpIdentity, Err: field.Invalid(milvus.ImagePath, r.New.Spec.Components.Image,
		fmt.Sprintf("%s wrote the image a MilvusUpgrade hands over after migrating the metadata, but is not in the policy's operatorIdentities; let through, since the metadata is migrated. If it is the Milvus Operator, add it (docs/policy.md)", r.User)),
		Short: r.User + " is not a listed operator identity"}}
}

// TrustedIntent reports whether the intent cur carries is exactly what the
// defaulting webhook's hold makes of the update old → cur, and cur keeps
// old's image and version. The controller asks the same of a persisted
// Milvus (old = cur) before it creates anything.
func TrustedIntent(old, cur *milvus.Milvus, user string, upgrades []milvus.MilvusUpgrade, p *policy.Policy) bool {
	plan := replayHold(old, cur, user, upgrades, p)
	return plan != nil && trusted(plan, cur)
}

// replayHold is the plan the defaulting webhook holds for when, over old,
// someone asks for the image and version cur's intent names; nil when it
// would not hold (or cur carries no readable intent).
func replayHold(old, cur *milvus.Milvus, user string, upgrades []milvus.MilvusUpgrade, p *policy.Policy) *migration.Plan {
	in, ok, err := migration.IntentOf(cur)
	if !ok || err != nil {
		return nil
	}
	asked := *cur
	asked.Spec.Components.Image, asked.Spec.Components.Version = in.RequestedImage, in.RequestedVersion
	r := newMilvusReview(MilvusChange{Old: old, New: &asked, User: user, Upgrades: upgrades}, p)
	var vs []Violation
	for _, rule := range holdRules {
		vs = append(vs, rule(r)...)
	}
	return migration.PlanFor(old, &asked, HeldMigration(vs, p))
}

// holdRules are the rules HeldMigration reads: MU-META and those that keep a
// migration from completing.
var holdRules = []func(*milvusReview) []Violation{muMeta, muMetaFailed, muMetaBusy, muSplitMeta}

// trusted reports that cur is held as plan says, with plan's intent.
func trusted(plan *migration.Plan, cur *milvus.Milvus) bool {
	return maps.Equal(plan.Annotations(), intentOf(cur)) &&
		cur.Spec.Components.Image == plan.HeldImage && cur.Spec.Components.Version == plan.HeldVersion
}

// intentOf is the intent annotations m carries (none for nil).
func intentOf(m *milvus.Milvus) map[string]string {
	out := map[string]string{}
	if m == nil {
		return out
	}
	for _, k := range migration.IntentAnnotations {
		if v, ok := m.Annotations[k]; ok {
			out[k] = v
		}
	}
	return out
}
