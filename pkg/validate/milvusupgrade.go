package validate

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/plan"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// UpgradeChange is everything the MilvusUpgrade rules judge.
type UpgradeChange struct {
	// Old is the stored object; nil on CREATE.
	Old *milvus.MilvusUpgrade
	New *milvus.MilvusUpgrade
	// Target is the Milvus the upgrade names, from the informer cache; nil
	// when it does not exist (yet).
	Target *milvus.Milvus
	// TargetUpgrades are the MilvusUpgrades of Target, this one included
	// when it is stored; from the informer cache.
	TargetUpgrades []milvus.MilvusUpgrade
}

// MilvusUpgrade judges a CREATE (Old nil) or UPDATE of a MilvusUpgrade with
// every MilvusUpgrade rule the policy does not turn off.
func MilvusUpgrade(c UpgradeChange, p *policy.Policy) []Violation {
	r := newUpgradeReview(c, p)
	var vs []Violation
	for _, rl := range rules {
		if rl.upgrade != nil && p.ActionFor(rl.id) != policy.Off {
			vs = append(vs, rl.upgrade(r)...)
		}
	}
	return vs
}

// upgradeReview is one MilvusUpgrade change as every MilvusUpgrade rule
// reads it, its versions parsed once.
type upgradeReview struct {
	UpgradeChange
	policy *policy.Policy
	// started: the operator has begun (Old has a state), so the spec is what
	// it executes and only MU-UP-NS and MU-UP-IMMUTABLE apply.
	started bool
	// src and tgt are the parsed versions; srcErr and tgtErr say why not.
	src, tgt       milvus.Version
	srcErr, tgtErr error
}

func newUpgradeReview(c UpgradeChange, p *policy.Policy) *upgradeReview {
	r := &upgradeReview{UpgradeChange: c, policy: p, started: c.Old != nil && c.Old.Status.State != ""}
	r.src, r.srcErr = milvus.ParseVersion(c.New.Spec.SourceVersion)
	r.tgt, r.tgtErr = milvus.ParseVersion(c.New.Spec.TargetVersion)
	return r
}

// versions reports whether the rules that read the versions apply: the
// upgrade has not started and both parsed.
func (r *upgradeReview) versions() bool { return !r.started && r.srcErr == nil && r.tgtErr == nil }

// muUpNs (MU-UP-NS): an upgrade acts only on a Milvus in its own namespace;
// otherwise one tenant could stop another's database.
func muUpNs(r *upgradeReview) []Violation {
	u := r.New
	if ns := u.Spec.Milvus.Namespace; ns != "" && ns != u.Namespace {
		return []Violation{{Rule: policy.MuUpNs, Err: field.Forbidden(milvus.UpNamespacePath,
			fmt.Sprintf("a MilvusUpgrade may only act on a Milvus in its own namespace %q; create it in namespace %q instead", u.Namespace, ns)),
			Short: "must name a Milvus in the upgrade's own namespace"}}
	}
	return nil
}

// muUpVersion (MU-UP-VERSION): sourceVersion and targetVersion must be
// release versions.
func muUpVersion(r *upgradeReview) []Violation {
	if r.started {
		return nil
	}
	var vs []Violation
	for _, f := range []struct {
		path    *field.Path
		value   string
		err     error
		example milvus.Version
	}{
		{milvus.UpSourcePath, r.New.Spec.SourceVersion, r.srcErr, plan.Last21},
		{milvus.UpTargetPath, r.New.Spec.TargetVersion, r.tgtErr, r.policy.Waypoint()},
	} {
		if f.err == nil {
			continue
		}
		detail := fmt.Sprintf("%v; write a release version such as %s", f.err, f.example.Tag())
		err := field.Invalid(f.path, f.value, detail)
		if f.value == "" {
			err = field.Required(f.path, detail)
		}
		vs = append(vs, Violation{Rule: policy.MuUpVersion, Err: err, Short: "not a release version"})
	}
	return vs
}

// muMetaRange (MU-META-RANGE): the migration tool only reads 2.1.x metadata
// and only writes 2.2.x; the operator passes targetVersion straight to it.
func muMetaRange(r *upgradeReview) []Violation {
	if r.started {
		return nil
	}
	var vs []Violation
	// Both messages, and MU-UP-SRC's, follow one path of the planner: from
	// what the Milvus runs to the target asked for. They never contradict.
	pl, err := r.path()
	if src := r.src; r.srcErr == nil && !migratable(src) {
		v := Violation{Rule: policy.MuMetaRange, Err: field.Invalid(milvus.UpSourcePath, src.String(),
			"the migration tool only migrates from 2.1.x; "+r.fix()),
			Short: "sourceVersion must be 2.1.x"}
		vs = append(vs, *withPath(&v, pl, err))
	}
	if tgt := r.tgt; r.tgtErr == nil && tgt.Line(plan.Meta22) != 0 {
		what := "the migration tool only migrates to 2.2.x"
		hop, migrates := firstMigration(pl)
		_, unknown := r.origin()
		switch {
		case err == nil && migrates:
			what += fmt.Sprintf(": set targetVersion to %s (the 2.2.x waypoint); path: %s", hop.To, pl)
		case tgt.Line(plan.Meta22) > 0 && unknown != nil:
			// Nothing to plan from: the waypoint alone.
			what += fmt.Sprintf(": set targetVersion to %s (the 2.2.x waypoint)", plan.MigrationTarget(tgt, r.policy))
		}
		v := Violation{Rule: policy.MuMetaRange, Err: field.Invalid(milvus.UpTargetPath, tgt.String(), what),
			Short: "targetVersion must be 2.2.x"}
		if migrates {
			withPath(&v, pl, err)
		}
		vs = append(vs, v)
	}
	return vs
}

// migratable reports a version the migration tool reads: 2.1.x.
func migratable(v milvus.Version) bool { return v.Major() == 2 && v.Minor() == 1 }

// origin is where the advice of the MilvusUpgrade rules starts: the version
// the Milvus runs when the cache knows it (MU-UP-SRC holds sourceVersion to
// it), else sourceVersion.
func (r *upgradeReview) origin() (milvus.Version, error) {
	if r.Target != nil {
		if v, err := migration.Running(r.Target, r.TargetUpgrades).RunningVersion(); err == nil {
			return v, nil
		}
	}
	return r.src, r.srcErr
}

// goal is the version the upgrade is for: targetVersion, which may lie
// past the migration (the rest of the way is the planner's), or the
// policy's waypoint when it does not parse.
func (r *upgradeReview) goal() milvus.Version {
	if r.tgtErr == nil {
		return r.tgt
	}
	return r.policy.Waypoint()
}

// path is the planner's path from the origin to the goal.
func (r *upgradeReview) path() (plan.Plan, error) {
	from, err := r.origin()
	if err != nil {
		return plan.Plan{}, err
	}
	return plan.Path(from, r.goal(), plan.Options{}, r.policy)
}

// fix is what to do about this MilvusUpgrade, given the path from the
// origin: set sourceVersion where a migration starts from it, else get
// there first, else do without a MilvusUpgrade. Setting sourceVersion to a
// version with 2.2+ metadata would only break MU-META-RANGE.
func (r *upgradeReview) fix() string {
	from, err := r.origin()
	if err != nil {
		return err.Error()
	}
	if plan.Reached(from, plan.Meta22) && from.Compare(r.goal()) >= 0 {
		return fmt.Sprintf("%s already has 2.2+ metadata, so no MilvusUpgrade is needed: delete this one", from)
	}
	pl, err := r.path()
	if err != nil {
		return advice(pl, err)
	}
	hop, migrates := firstMigration(pl)
	switch {
	case migrates && hop.From.Compare(pl.From) == 0:
		return "set sourceVersion to " + pl.From.String()
	case migrates:
		return fmt.Sprintf("next: %s, then set sourceVersion to %s; path: %s", pl.Next(), hop.From, pl)
	case !plan.Reached(pl.From, plan.Meta22):
		return fmt.Sprintf("no MilvusUpgrade leads to %s; %s", pl.To, advice(pl, nil))
	}
	return fmt.Sprintf("%s already has 2.2+ metadata, so no MilvusUpgrade is needed: delete this one and change the Milvus image instead; %s", pl.From, advice(pl, nil))
}

// muUpOrder (MU-UP-ORDER): the target must be newer than the source.
func muUpOrder(r *upgradeReview) []Violation {
	if !r.versions() || r.tgt.Compare(r.src) > 0 {
		return nil
	}
	return []Violation{{Rule: policy.MuUpOrder, Err: field.Invalid(milvus.UpTargetPath, r.New.Spec.TargetVersion,
		fmt.Sprintf("targetVersion %s is not newer than sourceVersion %s; to go back, set operation: rollback on the MilvusUpgrade that did the upgrade", r.tgt, r.src)),
		Short: "targetVersion must be newer than sourceVersion"}}
}

// muUpSrc (MU-UP-SRC): sourceVersion must be what the Milvus really runs.
func muUpSrc(r *upgradeReview) []Violation {
	if r.started || r.srcErr != nil || r.Target == nil {
		return nil
	}
	running, err := migration.Running(r.Target, r.TargetUpgrades).RunningVersion()
	if err != nil || running.Compare(r.src) == 0 {
		return nil
	}
	return []Violation{{Rule: policy.MuUpSrc, Err: field.Invalid(milvus.UpSourcePath, r.src.String(),
		fmt.Sprintf("Milvus %s/%s runs %s, not %s; %s", r.Target.Namespace, r.Target.Name, running, r.src, r.fix())),
		Short: fmt.Sprintf("the Milvus runs %s", running)}}
}

// muUpImage (MU-UP-IMAGE): the operator writes targetImage as the new Milvus
// image, so it must carry the target version.
func muUpImage(r *upgradeReview) []Violation {
	ref := r.New.Spec.TargetImage
	if r.started || r.tgtErr != nil || ref == "" {
		return nil
	}
	// The tag to advise is that of the targetVersion the upgrade must have:
	// the 2.2.x migration target where MU-META-RANGE moves it there.
	tagAdvice := "targetVersion: " + r.tgt.Tag()
	if r.tgt.Line(plan.Meta22) > 0 {
		tagAdvice = "the targetVersion it must have (MU-META-RANGE): " + plan.MigrationTarget(r.tgt, r.policy).Tag()
	}
	why := ""
	if img, err := milvus.ParseImage(ref); err != nil {
		why = err.Error()
	} else if v, err := img.Version(); err != nil {
		why = err.Error()
	} else if v.Compare(r.tgt) != 0 {
		why = fmt.Sprintf("targetImage is %s but targetVersion is %s", v, r.tgt)
	} else {
		return nil
	}
	return []Violation{{Rule: policy.MuUpImage, Err: field.Invalid(milvus.UpTargetImgPath, ref,
		fmt.Sprintf("%s; the operator writes targetImage into the Milvus, so tag it with %s", why, tagAdvice)),
		Short: "targetImage must carry targetVersion's tag"}}
}

// muUpImmutable (MU-UP-IMMUTABLE): once the operator has started, the spec
// is what it executes; only operation: upgrade → rollback may change.
func muUpImmutable(r *upgradeReview) []Violation {
	if !r.started {
		return nil
	}
	o, n := r.Old.Spec, r.New.Spec
	if o.Operation == milvus.OperationUpgrade && n.Operation == milvus.OperationRollback {
		n.Operation = o.Operation
	}
	fields := []struct {
		path     *field.Path
		old, new any
	}{
		{milvus.SpecPath.Child("milvus", "name"), o.Milvus.Name, n.Milvus.Name},
		{milvus.UpNamespacePath, o.Milvus.Namespace, n.Milvus.Namespace},
		{milvus.UpSourcePath, o.SourceVersion, n.SourceVersion},
		{milvus.UpTargetPath, o.TargetVersion, n.TargetVersion},
		{milvus.UpTargetImgPath, o.TargetImage, n.TargetImage},
		{milvus.UpToolImagePath, o.ToolImage, n.ToolImage},
		{milvus.UpOperationPath, o.Operation, n.Operation},
		{milvus.UpMaxRetryPath, o.MaxRetry, n.MaxRetry},
		{milvus.UpRollbackIfPath, o.RollbackIfFailed, n.RollbackIfFailed},
		{milvus.SpecPath.Child("backupPVC"), o.BackupPVC, n.BackupPVC},
	}
	var vs []Violation
	for _, f := range fields {
		if reflect.DeepEqual(f.old, f.new) {
			continue
		}
		vs = append(vs, Violation{Rule: policy.MuUpImmutable, Err: field.Forbidden(f.path,
			fmt.Sprintf("the operator has started this upgrade (state %s); its spec cannot change except operation: upgrade → rollback. Create a new MilvusUpgrade instead", r.Old.Status.State)),
			Short: "spec is immutable once the upgrade started"})
	}
	return vs
}

// muUpOne (MU-UP-ONE): the operator has no guard against two upgrades of
// one Milvus; both would stop it, back up and migrate the same metadata. A
// MilvusUpgrade that has not started may not join an unfinished one.
func muUpOne(r *upgradeReview) []Violation {
	if r.started || r.Target == nil {
		return nil
	}
	for _, u := range r.TargetUpgrades {
		if u.Name == r.New.Name || !u.Targets(r.Target) || migration.Finished(u.Status.State) {
			continue
		}
		state := "not started yet"
		if u.Status.State != "" {
			state = "state " + u.Status.State
		}
		return []Violation{{Rule: policy.MuUpOne, Err: field.Forbidden(milvus.SpecPath.Child("milvus", "name"),
			fmt.Sprintf("MilvusUpgrade %s/%s already works on Milvus %s (%s); two upgrades would migrate the same metadata. Wait until it has finished, or delete it if it has not started", u.Namespace, u.Name, r.Target.Name, state)),
			Short: "MilvusUpgrade " + u.Name + " already works on this Milvus"}}
	}
	return nil
}

// muUpTarget (MU-UP-TARGET): GitOps may apply an upgrade before its Milvus;
// the operator then retries (condition GetMilvusFailed) until the Milvus
// exists, and MU-UP-SRC could not compare the source version.
func muUpTarget(r *upgradeReview) []Violation {
	name := r.New.Spec.Milvus.Name
	if r.started || r.Target != nil || name == "" || r.New.TargetNamespace() != r.New.Namespace {
		return nil
	}
	return []Violation{{Rule: policy.MuUpTarget, Err: field.Invalid(milvus.SpecPath.Child("milvus", "name"), name,
		fmt.Sprintf("Milvus %s/%s does not exist (yet): the operator retries until it does, and sourceVersion could not be checked against what it runs", r.New.Namespace, name)),
		Short: "Milvus " + name + " does not exist (yet); sourceVersion not checked"}}
}
