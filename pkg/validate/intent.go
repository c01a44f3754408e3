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
// so on success, a revert on cancel): it only drops an unstarted plan. The
// stage annotations (policy action stage) are guarded the same way: only
// exactly what the webhook stages. A forged stage would have the webhook
// keep the Milvus at a waypoint on later syncs, and health checks report it.
func muIntent(r *milvusReview) []Violation {
	var vs []Violation
	if v := holdIntent(r); v != nil {
		vs = append(vs, *v)
	}
	if v := stageIntent(r); v != nil {
		vs = append(vs, *v)
	}
	return vs
}

// holdIntent is MU-INTENT for the hold's annotations.
func holdIntent(r *milvusReview) *Violation {
	return guardIntent(r, migration.IntentAnnotations, func() (map[string]string, bool) {
		plan := replayHold(r.Old, r.New, r.User, r.Upgrades, r.policy)
		if plan == nil {
			return nil, false
		}
		return plan.Annotations(), trusted(plan, r.New)
	},
		"the milvus-admission.io/ intent annotations are set only by milvus-admission when it holds an image change for a metadata migration; change spec.components.image instead, or remove all four annotations to drop a plan that has not started",
		"intent annotations are milvus-admission's; change the image instead")
}

// stageIntent is MU-INTENT for the stage annotations.
func stageIntent(r *milvusReview) *Violation {
	return guardIntent(r, migration.StageAnnotations, func() (map[string]string, bool) {
		s := replayStage(r.Old, r.New, r.User, r.Upgrades, r.policy)
		if s == nil {
			return nil, false
		}
		return s.Annotations(), stagedAs(s, r.New)
	},
		"the milvus-admission.io/ stage annotations are set only by milvus-admission when it stages an upgrade at a gate's waypoint; change spec.components.image instead, or remove them all",
		"stage annotations are milvus-admission's; change the image instead")
}

// guardIntent is MU-INTENT for the annotations among keys: a write that
// sets or changes them must be exactly what the webhook writes, which
// replay (called on UPDATE) says: the annotations it would write (nil: it
// would write none) and whether the new object is exactly that. The denial
// names the first annotation that is not what the webhook would have
// written (or, when it would write none, that this write changed).
func guardIntent(r *milvusReview, keys []string, replay func() (map[string]string, bool), detail, short string) *Violation {
	was, is := intentOf(r.Old, keys), intentOf(r.New, keys)
	if maps.Equal(was, is) || len(is) == 0 {
		return nil
	}
	expected := was
	if r.Old != nil {
		want, exact := replay()
		if exact {
			return nil
		}
		if want != nil {
			expected = want
		}
	}
	names := slices.Sorted(maps.Keys(is))
	key := names[0]
	for _, k := range names {
		if is[k] != expected[k] {
			key = k
			break
		}
	}
	return &Violation{Rule: policy.MuIntent, Err: field.Forbidden(annotationsPath.Key(key), detail), Short: short}
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
	return maps.Equal(plan.Annotations(), intentOf(cur, migration.IntentAnnotations)) &&
		cur.Spec.Components.Image == plan.HeldImage && cur.Spec.Components.Version == plan.HeldVersion
}

// replayStage is the stage the defaulting webhook makes when, over old,
// someone asks for the image and version cur's stage annotations name; nil
// when it would not stage (or cur carries no readable stage).
func replayStage(old, cur *milvus.Milvus, user string, upgrades []milvus.MilvusUpgrade, p *policy.Policy) *migration.Stage {
	in, ok, err := migration.StageIntentOf(cur)
	if !ok || err != nil {
		return nil
	}
	asked := *cur
	asked.Spec.Components.Image, asked.Spec.Components.Version = in.RequestedImage, in.RequestedVersion
	return StageFor(MilvusChange{Old: old, New: &asked, User: user, Upgrades: upgrades}, p)
}

// stagedAs reports that cur is set as s says, with s's annotations.
func stagedAs(s *migration.Stage, cur *milvus.Milvus) bool {
	return maps.Equal(s.Annotations(), intentOf(cur, migration.StageAnnotations)) &&
		cur.Spec.Components.Image == s.Image && cur.Spec.Components.Version == s.Version
}

// intentOf is the annotations among keys that m carries (none for nil).
func intentOf(m *milvus.Milvus, keys []string) map[string]string {
	out := map[string]string{}
	if m == nil {
		return out
	}
	for _, k := range keys {
		if v, ok := m.Annotations[k]; ok {
			out[k] = v
		}
	}
	return out
}
