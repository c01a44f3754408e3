package validate

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/plan"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// MilvusChange is everything the Milvus rules judge.
type MilvusChange struct {
	// Old is the stored object; nil on CREATE. Its status carries the
	// running version.
	Old *milvus.Milvus
	New *milvus.Milvus
	// User is the requesting user name, for operator pass-through (MU-UP-IDENTITY).
	User string
	// Upgrades are the MilvusUpgrades known for this Milvus (from the
	// informer cache); others are ignored.
	Upgrades []milvus.MilvusUpgrade
}

// Milvus judges a CREATE (Old nil) or UPDATE of a Milvus with every Milvus
// rule the policy does not turn off.
func Milvus(c MilvusChange, p *policy.Policy) []Violation {
	r := newMilvusReview(c, p)
	var vs []Violation
	for _, rl := range rules {
		if rl.milvus != nil && p.ActionFor(rl.id) != policy.Off {
			vs = append(vs, rl.milvus(r)...)
		}
	}
	return vs
}

// milvusReview is one Milvus change as every Milvus rule reads it: both
// objects resolved once, and the version jumps the change makes.
type milvusReview struct {
	MilvusChange
	policy *policy.Policy
	// cur is New resolved; old is Old resolved (zero on CREATE).
	old, cur milvus.Versions
	// transitions are the version jumps of an UPDATE, each to be legal.
	transitions []transition
	// passThrough marks the operator executing a MilvusUpgrade (MU-UP-FLOW);
	// stranger, that the write was the operator's hand-off, made by an
	// identity the policy does not list (MU-UP-IDENTITY).
	passThrough, stranger bool
	// planned is the migration generation plans for this change: MU-META's
	// at the global image or version, when its action is generate.
	planned *migration.Need
}

// transition is one version jump at one place of the spec.
type transition struct {
	from       milvus.Version // zero when it cannot be verified
	fromReason string         // why from is zero
	fromStatus bool           // from was read from the status, not the old spec
	to         milvus.Resolved
	global     bool // the global image/version, not a component override
}

func newMilvusReview(c MilvusChange, p *policy.Policy) *milvusReview {
	r := &milvusReview{MilvusChange: c, policy: p, cur: c.New.Resolve()}
	if c.Old == nil {
		return r // nothing runs yet: only what the new object says by itself
	}
	r.old = migration.Running(c.Old, c.Upgrades)
	r.passThrough, r.stranger = operatorPassThrough(c, p)
	r.stranger = r.stranger && r.old.Global.Image != r.cur.Global.Image // only a write of the image hands off
	oldG, newG, running := r.old.Global, r.cur.Global, r.old.Running
	if changed(oldG, newG) {
		switch {
		case oldG.Known():
			r.transitions = append(r.transitions, transition{from: oldG.Version, to: newG, global: true})
			// The change must also be legal from what really runs.
			if !running.IsZero() && running.Compare(oldG.Version) != 0 {
				r.transitions = append(r.transitions, transition{from: running, fromStatus: true, to: newG, global: true})
			}
		case !running.IsZero():
			r.transitions = append(r.transitions, transition{from: running, fromStatus: true, to: newG, global: true})
		default:
			r.transitions = append(r.transitions, transition{fromReason: oldG.Reason, to: newG, global: true})
		}
	}
	// Components with their own image or version: judge each that changed,
	// from what it ran before (its old override, or the old global image).
	oldEff := make(map[string]milvus.Resolved, len(r.old.Components))
	for _, e := range r.old.Components {
		oldEff[e.Name] = e.Resolved
	}
	for _, e := range r.cur.Components {
		if e.Inherited {
			continue // judged with the global image above
		}
		before, ok := oldEff[e.Name]
		if !ok {
			before = oldG
		}
		if changed(before, e.Resolved) {
			r.transitions = append(r.transitions, transition{from: before.Version, fromReason: before.Reason, to: e.Resolved})
		}
	}
	for _, t := range r.transitions {
		if t.global && r.planned == nil && p.ActionFor(policy.MuMeta) == policy.Generate {
			r.planned = r.metaMigration(t)
		}
	}
	return r
}

// comparable reports a jump between two known, different versions.
func (t transition) comparable() bool {
	return !t.from.IsZero() && t.to.Known() && t.to.Version.Compare(t.from) != 0
}

// crossesMajor reports a jump across the 1.x/2.x boundary.
func (t transition) crossesMajor() bool { return (t.from.Major() < 2) != (t.to.Version.Major() < 2) }

// upgrade and downgrade report a comparable jump within 2.x and up, or down.
func (t transition) upgrade() bool {
	return t.comparable() && !t.crossesMajor() && t.to.Version.Compare(t.from) > 0
}

func (t transition) downgrade() bool {
	return t.comparable() && !t.crossesMajor() && t.to.Version.Compare(t.from) < 0
}

// downAcrossMeta reports a downgrade from 2.2+ metadata to 2.1.
func (t transition) downAcrossMeta() bool {
	return t.downgrade() && plan.Reached(t.from, plan.Meta22) && !plan.Reached(t.to.Version, plan.Meta22)
}

// arrow is "from → to" for messages, naming the status when from was read there.
func (t transition) arrow() string {
	if t.fromStatus {
		return fmt.Sprintf("%s → %s (from status.currentVersion)", t.from, t.to.Version)
	}
	return fmt.Sprintf("%s → %s", t.from, t.to.Version)
}

// invalid is the violation of rule at the field the jump writes.
func (t transition) invalid(rule policy.RuleID, detail, short string) *Violation {
	return &Violation{Rule: rule, Err: field.Invalid(t.to.Path, t.to.Declared, detail), Short: short}
}

// perJump collects what check finds in each jump of the update (nil: nothing).
func (r *milvusReview) perJump(check func(t transition) *Violation) []Violation {
	var vs []Violation
	for _, t := range r.transitions {
		if v := check(t); v != nil {
			vs = append(vs, *v)
		}
	}
	return vs
}

// metaMigration is the migration a 2.1.x → 2.2+ jump needs, unless the
// operator is executing one itself; nil for any other jump. Without it, 2.2
// binaries would run on 2.1 metadata.
func (r *milvusReview) metaMigration(t transition) *migration.Need {
	if !t.upgrade() || t.from.Major() != 2 || t.from.Minor() != 1 || !plan.Reached(t.to.Version, plan.Meta22) || r.passThrough {
		return nil
	}
	return &migration.Need{From: t.from, To: t.to.Version, Target: plan.MigrationTarget(t.to.Version, r.policy)}
}

// muMajor (MU-MAJOR): 1.x ↔ 2.x is a data migration into a new cluster.
func muMajor(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		if !(t.comparable() && t.crossesMajor()) {
			return nil
		}
		return t.invalid(policy.MuMajor,
			t.arrow()+" crosses the 1.x/2.x boundary, which is a data migration with the milvus-migration tool into a new 2.x cluster, never an image change; keep the image",
			t.from.String()+" → "+t.to.Version.String()+" is a data migration, not an image change")
	})
}

// muSrc20 (MU-SRC-20): 2.0.x must go to 2.1.4 before a migration to 2.2+.
func muSrc20(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		if !(t.upgrade() && t.from.Major() == 2 && t.from.Minor() == 0 && plan.Reached(t.to.Version, plan.Meta22)) {
			return nil
		}
		pl, err := r.planFor(t)
		return withPath(t.invalid(policy.MuSrc20,
			fmt.Sprintf("%s: 2.0.x cannot be migrated to 2.2+ directly (the migration tool reads only 2.1.x); %s", t.arrow(), advice(pl, err)),
			"2.0.x must go to "+plan.Last21.Tag()+" first"), pl, err)
	})
}

// muMeta (MU-META): 2.1.x → 2.2+ by image loses indexes. At the global
// image or version the violation carries the migration that fixes it.
func muMeta(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		need := r.metaMigration(t)
		if need == nil {
			return nil
		}
		if u := r.migratingTo(t.to.Image); t.global && u != nil {
			// The operator writes the targetImage of an upgrade it runs while
			// the stored state still says UpdatingMeta (it saves the state
			// after the write). Holding that write would restart the old image
			// on migrated metadata; refused, the operator saves its state and
			// retries, and the retry is a hand-off (operatorPassThrough).
			return t.invalid(policy.MuMeta,
				fmt.Sprintf("%s: MilvusUpgrade %s/%s is migrating the metadata (state %s) and writes this image itself once done; refused until then, never held. If %q is the Milvus Operator, add it to the policy's operatorIdentities", t.arrow(), u.Namespace, u.Name, u.Status.State, r.User),
				"MilvusUpgrade "+u.Name+" is migrating the metadata; its image comes when done")
		}
		pl, err := r.planFor(t)
		v := withPath(t.invalid(policy.MuMeta,
			fmt.Sprintf("%s by image change loses built indexes: 2.2 changed the metadata format; keep the image; %s", t.arrow(), advice(pl, err)),
			"2.1 → 2.2+ by image loses indexes"), pl, err)
		if t.global {
			v.Migration = need
		}
		return v
	})
}

// migratingTo is the started, unfinished upgrade of this Milvus whose
// targetImage is image, if any.
func (r *milvusReview) migratingTo(image string) *milvus.MilvusUpgrade {
	ups := r.upgrades()
	for i := range ups {
		if u := &ups[i]; image != "" && image == u.Spec.TargetImage && u.Status.State != "" && !migration.Finished(u.Status.State) {
			return u
		}
	}
	return nil
}

// muMetaFailed (MU-META-FAILED): with MU-META generating, the MilvusUpgrade
// planned for this change ended short of its target, so the change is not
// held again by itself.
func muMetaFailed(r *milvusReview) []Violation {
	if r.planned == nil {
		return nil
	}
	name := migration.UpgradeName(r.New.Name, r.planned.Target)
	for _, u := range r.upgrades() {
		if u.Name == name && migration.Failed(u.Status.State) {
			g := r.cur.Global
			return []Violation{{Rule: policy.MuMetaFailed, Err: field.Invalid(g.Path, g.Declared,
				fmt.Sprintf("MilvusUpgrade %s/%s, planned for this change, ended in state %s, so the image stays %s; see `kubectl describe milvusupgrade -n %s %s`, then delete it to retry, or revert the image in git",
					u.Namespace, u.Name, u.Status.State, r.Old.Spec.Components.Image, u.Namespace, u.Name)),
				Short: "planned MilvusUpgrade " + u.Name + " failed; delete it to retry"}}
		}
	}
	return nil
}

// muMetaBusy (MU-META-BUSY): with MU-META generating, another MilvusUpgrade
// is at work on this Milvus; a second migration must wait for it. A plan we
// generated that has not started is not at work: the new plan replaces it.
func muMetaBusy(r *milvusReview) []Violation {
	if r.planned == nil {
		return nil
	}
	name := migration.UpgradeName(r.New.Name, r.planned.Target)
	for _, u := range r.upgrades() {
		// A pending plan of ours is replaced by this one (git retargeted).
		if u.Name != name && !migration.Finished(u.Status.State) && !migration.Replaceable(&u, r.New) {
			g := r.cur.Global
			state := "not started yet"
			if u.Status.State != "" {
				state = "state " + u.Status.State
			}
			return []Violation{{Rule: policy.MuMetaBusy, Err: field.Invalid(g.Path, g.Declared,
				fmt.Sprintf("MilvusUpgrade %s/%s already works on this Milvus (%s); let it finish, or delete it, before changing the image",
					u.Namespace, u.Name, state)),
				Short: "MilvusUpgrade " + u.Name + " already works on this Milvus"}}
		}
	}
	return nil
}

// muRolling (MU-ROLLING): before 2.2.3 the coordinators are recreated.
func muRolling(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		if !(t.upgrade() && plan.Reached(t.from, plan.Meta22) && !plan.Reached(t.from, plan.RollingFrom)) {
			return nil
		}
		return t.invalid(policy.MuRolling,
			fmt.Sprintf("%s: before 2.2.3 the coordinators are recreated, so the cluster is down during the upgrade", t.arrow()),
			fmt.Sprintf("from %s the coordinators restart: expect downtime", t.from))
	})
}

// reaches26 reports an upgrade from before 2.6 to 2.6 or later.
func reaches26(t transition) bool { return t.upgrade() && plan.Reaches26(t.from, t.to.Version) }

// mu26 (MU-26): 2.6 is reached only from 2.5.16, with mixCoord in cluster
// mode and the same message queue; never from a 2.6.0 release candidate.
func mu26(r *milvusReview) []Violation {
	var vs []Violation
	for _, t := range r.transitions { // an UPDATE: Old is set
		if !t.upgrade() {
			continue
		}
		oldSpec, newSpec := &r.Old.Spec, &r.New.Spec
		if plan.Candidate26(t.from) {
			vs = append(vs, *t.invalid(policy.Mu26,
				fmt.Sprintf("%s: 2.6.0 release candidates cannot be upgraded from; install the new version as a fresh cluster", t.arrow()),
				"2.6.0 release candidates cannot be upgraded from"))
		}
		gated := !plan.Reached(t.from, plan.Gate26)
		noMixCoord := newSpec.Mode == milvus.ModeCluster && newSpec.Components.MixCoord == nil
		queue := oldSpec.Dependencies.MsgStreamType != newSpec.Dependencies.MsgStreamType
		if !reaches26(t) || !(gated || noMixCoord || queue) {
			continue
		}
		pl, err := r.planFor(t)
		// Where the path is more than this change, the mixCoord and queue
		// advice names it: the change that reaches 2.6 comes later.
		path, same := "", "in the same change"
		if err == nil && detour(pl) {
			path, same = "; path: "+pl.String(), "in the change that reaches 2.6"
		}
		if gated {
			vs = append(vs, *withPath(t.invalid(policy.Mu26,
				fmt.Sprintf("%s: 2.6 can only be reached from %s or later; %s", t.arrow(), plan.Gate26.Short(), advice(pl, err)),
				"2.6 needs "+plan.Gate26.Short()+" first"), pl, err))
		}
		if noMixCoord {
			vs = append(vs, Violation{Rule: policy.Mu26, Err: field.Required(milvus.MixCoordPath,
				fmt.Sprintf("%s: a cluster must run mixCoord to upgrade to 2.6; set spec.components.mixCoord (for example mixCoord: {replicas: 1}) %s%s", t.arrow(), same, path)),
				Short: "2.6 in cluster mode needs spec.components.mixCoord"})
		}
		if queue {
			vs = append(vs, Violation{Rule: policy.Mu26, Err: field.Invalid(milvus.MsgStreamPath, newSpec.Dependencies.MsgStreamType,
				fmt.Sprintf("%s: the message queue must not change during the upgrade to 2.6; keep msgStreamType %q and change it once on 2.6%s", t.arrow(), oldSpec.Dependencies.MsgStreamType, path)),
				Short: "keep the message queue type while upgrading to 2.6"})
		}
	}
	return vs
}

// mu26Operator (MU-26-OPERATOR): 2.6 needs milvus-operator v1.3.0 or later.
func mu26Operator(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		if !reaches26(t) {
			return nil
		}
		return t.invalid(policy.Mu26Operator,
			"Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first",
			"2.6 needs milvus-operator v1.3.0 or later")
	})
}

// mu30 (MU-30): 3.x was validated only from 2.6.20.
func mu30(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		if !(t.upgrade() && t.from.Major() == 2 && t.to.Version.Major() >= 3 && !plan.Reached(t.from, plan.Gate30)) {
			return nil
		}
		pl, err := r.planFor(t)
		return withPath(t.invalid(policy.Mu30,
			fmt.Sprintf("%s: upgrades to 3.x were validated only from %s; apply the full manifest, not an image-only patch; %s", t.arrow(), plan.Gate30.Short(), advice(pl, err)),
			"3.x was validated only from "+plan.Gate30.Short()), pl, err)
	})
}

// muPrerelease (MU-PRERELEASE): no upgrade path from or to a pre-release or
// nightly build is guaranteed. A CREATE is judged on every version it declares.
func muPrerelease(r *milvusReview) []Violation {
	var targets []milvus.Resolved
	if r.Old == nil {
		targets = append(targets, r.cur.Global)
		for _, e := range r.cur.Components {
			if !e.Inherited {
				targets = append(targets, e.Resolved)
			}
		}
	} else {
		for _, t := range r.transitions {
			if t.comparable() {
				targets = append(targets, t.to)
			}
		}
	}
	var vs []Violation
	for _, to := range targets {
		if to.Known() && to.Version.Prerelease() {
			vs = append(vs, Violation{Rule: policy.MuPrerelease, Err: field.Invalid(to.Path, to.Declared,
				fmt.Sprintf("%s is a pre-release or nightly build: no upgrade path from or to it is guaranteed", to.Version)),
				Short: fmt.Sprintf("%s is a pre-release: no upgrade guarantee", to.Version)})
		}
	}
	return vs
}

// muDownMode (MU-DOWN-MODE): a rolling downgrade must update the components
// in reverse order, which only imageUpdateMode: rollingDowngrade does.
func muDownMode(r *milvusReview) []Violation {
	c := &r.New.Spec.Components
	if !c.RollingUpdate() || c.ImageUpdateMode == milvus.UpdateModeRollingDowngrade || r.passThrough {
		return nil
	}
	var vs []Violation
	for _, t := range r.transitions {
		if !t.downgrade() {
			continue
		}
		fix := "set imageUpdateMode: rollingDowngrade so components update in reverse dependency order"
		var no *plan.Unreachable
		if _, err := r.planFor(t); errors.As(err, &no) {
			// No update mode makes it legal: say so, not how to try.
			fix = fmt.Sprintf("no imageUpdateMode makes this downgrade legal (%s)", no.Rule)
		}
		vs = append(vs, Violation{Rule: policy.MuDownMode, Err: notSupported(milvus.UpdateModePath, c.ImageUpdateMode,
			fmt.Sprintf("%s is a downgrade with rolling update enabled; %s", t.arrow(), fix)),
			Short: "a rolling downgrade needs imageUpdateMode: rollingDowngrade"})
	}
	return vs
}

// muDownMeta (MU-DOWN-META): 2.1 cannot read 2.2+ metadata; only a
// MilvusUpgrade rollback restores the backed-up 2.1 metadata.
func muDownMeta(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		if r.passThrough || !t.downAcrossMeta() {
			return nil
		}
		return t.invalid(policy.MuDownMeta,
			fmt.Sprintf("%s: 2.1 cannot read 2.2+ metadata; only a MilvusUpgrade with operation: rollback restores the backed-up 2.1 metadata", t.arrow()),
			"2.2+ → 2.1 needs a MilvusUpgrade with operation: rollback")
	})
}

// muDownMinor (MU-DOWN-MINOR): downgrades across minor versions are not
// validated. A downgrade across the 2.2 metadata boundary is MU-DOWN-META's.
func muDownMinor(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		f, to := t.from, t.to.Version
		if !t.downgrade() || t.downAcrossMeta() || f.Line(to) <= 0 {
			return nil
		}
		return t.invalid(policy.MuDownMinor,
			fmt.Sprintf("%s: downgrades across minor versions are not validated and have crashed clusters (milvus #28008); stay on %d.%d.x or restore a backup", t.arrow(), f.Major(), f.Minor()),
			fmt.Sprintf("%s → %s crosses minor versions: unvalidated downgrade", f, to))
	})
}

// muRuMq (MU-RU-MQ): the operator ignores or rejects rolling updates outside
// cluster mode with rocksmq/natsmq (the standalone default is rocksmq).
func muRuMq(r *milvusReview) []Violation {
	s := &r.New.Spec
	if !s.Components.RollingUpdate() || s.Mode == milvus.ModeCluster {
		return nil
	}
	switch s.Dependencies.MsgStreamType {
	case "", "rocksmq", "natsmq":
	default:
		return nil
	}
	return []Violation{{Rule: policy.MuRuMq, Err: field.Invalid(milvus.RollingPath, true,
		"rolling update is not supported in standalone mode with rocksmq/natsmq; the operator turns it off or rejects it"),
		Short: "rolling update is not supported for standalone with rocksmq/natsmq"}}
}

// muSplitMeta (MU-SPLIT-META): 2.1 and 2.2+ processes cannot share one
// metadata store.
func muSplitMeta(r *milvusReview) []Violation {
	global := r.cur.Global
	if !global.Known() || r.passThrough {
		return nil // the operator executing an upgrade is never stopped half-way
	}
	var vs []Violation
	for _, e := range r.cur.Components {
		if e.Inherited || !e.Known() || plan.Reached(e.Version, plan.Meta22) == plan.Reached(global.Version, plan.Meta22) {
			continue
		}
		// Advice that works when followed: a pin moved past 2.2 together with
		// the global image would be a component's own MU-META; without the
		// pin the component follows the global image and its migration.
		fix := "remove the component's own image and version so that it follows the global image (the metadata migration covers it), and pin it again once the cluster runs 2.2+"
		if plan.Reached(e.Version, plan.Meta22) {
			fix = "a component cannot cross the 2.2 metadata change alone: remove its own image and version, and change the global image instead"
			if pl, err := plan.Path(global.Version, e.Version, plan.Options{}, r.policy); err == nil && e.Version.Compare(global.Version) > 0 {
				fix += "; path: " + pl.String()
			}
		}
		vs = append(vs, Violation{Rule: policy.MuSplitMeta, Err: field.Invalid(e.Path, e.Declared,
			fmt.Sprintf("component %s runs %s but the cluster runs %s: they are on both sides of the 2.2 metadata change; %s", e.Name, e.Version, global.Version, fix)),
			Short: fmt.Sprintf("%s and %s cannot share metadata", e.Version, global.Version)})
	}
	return vs
}

// muTargetUnknown (MU-TARGET-UNKNOWN): a change to a version that cannot be
// verified cannot be checked.
func muTargetUnknown(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		if t.to.Known() {
			return nil
		}
		return t.invalid(policy.MuTargetUnknown,
			fmt.Sprintf("the new version cannot be verified (%s), so this upgrade cannot be checked; pin it: set spec.components.version to the version the image runs, or use a version tag such as v2.4.23", t.to.Reason),
			"new version cannot be verified; pin a version tag or spec.components.version")
	})
}

// muSourceUnknown (MU-SOURCE-UNKNOWN): a change from a version that cannot be
// verified, with no status naming one, is let through unchecked.
func muSourceUnknown(r *milvusReview) []Violation {
	return r.perJump(func(t transition) *Violation {
		if !(t.to.Known() && t.from.IsZero()) {
			return nil
		}
		return t.invalid(policy.MuSourceUnknown,
			fmt.Sprintf("the version running now cannot be verified (%s) and the status names none; the change is allowed unchecked", t.fromReason),
			"running version unknown, change not checked")
	})
}

// notSupported is field.NotSupported with our own detail: the constructor's
// "supported values" list would drop the rule ID and the advice.
func notSupported(path *field.Path, value any, detail string) *field.Error {
	return &field.Error{Type: field.ErrorTypeNotSupported, Field: path.String(), BadValue: value, Detail: detail}
}

// operatorPassThrough reports an image write that executes a MilvusUpgrade
// of this Milvus (MU-UP-FLOW), which MU-META, MU-DOWN-META, MU-DOWN-MODE and
// MU-SPLIT-META let through; stranger, that an identity the policy does not
// list made it. See handOff.
func operatorPassThrough(c MilvusChange, p *policy.Policy) (pass, stranger bool) {
	u, _, stranger := handOff(c, p)
	return u != nil, stranger
}

// handOff finds the MilvusUpgrade whose image this write sets:
//   - a configured operator identity writes an upgrade's targetImage, or its
//     status.sourceImage on rollback;
//   - anyone writes the image an upgrade past its metadata step hands over:
//     targetImage in NewVersionStarting or Succeeded, sourceImage in
//     RollbackOldVersionStarting or RollbackedSucceeded. The metadata already
//     has that image's format, so holding the old image back would run old
//     binaries on it; a misconfigured operator identity must not do that
//     (stranger reports this case by an identity the policy does not list).
//
// rollback reports that the image is the upgrade's source image.
func handOff(c MilvusChange, p *policy.Policy) (u *milvus.MilvusUpgrade, rollback, stranger bool) {
	image := c.New.Spec.Components.Image
	if image == "" {
		return nil, false, false
	}
	operator := p.IsOperator(c.User)
	ups := c.upgrades()
	for i := range ups {
		u, state := &ups[i], ups[i].Status.State
		target, source := image == u.Spec.TargetImage, image == u.Status.SourceImage
		switch {
		case operator && (target || source):
			return u, !target, false
		case target && (state == migration.StateNewVersionStarting || state == migration.StateSucceeded),
			source && (state == migration.StateRollbackOldVersionStarting || state == migration.StateRollbackSucceeded):
			return u, !target, !operator
		}
	}
	return nil, false, false
}

// HandOffVersion is the version the operator's hand-off write carries (see
// handOff): the upgrade's targetVersion, or its sourceVersion on rollback;
// "" when the write is no hand-off. The operator writes only the image, so a
// Milvus pinned by spec.components.version gets that version with it.
func HandOffVersion(c MilvusChange, p *policy.Policy) string {
	if c.Old == nil {
		return ""
	}
	u, rollback, _ := handOff(c, p)
	switch {
	case u == nil:
		return ""
	case rollback:
		return u.Spec.SourceVersion
	default:
		return u.Spec.TargetVersion
	}
}

// upgrades are the MilvusUpgrades that act on this Milvus.
func (c MilvusChange) upgrades() []milvus.MilvusUpgrade {
	var out []milvus.MilvusUpgrade
	for _, u := range c.Upgrades {
		if u.Targets(c.New) {
			out = append(out, u)
		}
	}
	return out
}

// changed reports a different image or declared version.
func changed(a, b milvus.Resolved) bool {
	return a.Image != b.Image || a.Declared != b.Declared || a.Path.String() != b.Path.String()
}
