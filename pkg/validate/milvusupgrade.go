package validate

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
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
}

// MilvusUpgrade judges a CREATE (Old nil) or UPDATE of a MilvusUpgrade.
func MilvusUpgrade(c UpgradeChange, p *policy.Policy) []Violation {
	u := c.New
	var vs []Violation
	if ns := u.Spec.Milvus.Namespace; ns != "" && ns != u.Namespace {
		vs = append(vs, Violation{Rule: policy.RuleUpNamespace, Path: milvus.UpNamespacePath, Value: ns,
			Detail: fmt.Sprintf("a MilvusUpgrade may only act on a Milvus in its own namespace %q; create it in namespace %q instead", u.Namespace, ns),
			Short:  "must name a Milvus in the upgrade's own namespace"})
	}
	if c.Old != nil && c.Old.Status.State != "" {
		// The operator has started: the spec is what it executes.
		return append(vs, frozenSpec(c.Old, u)...)
	}

	src, srcErr := milvus.ParseVersion(u.Spec.SourceVersion)
	if srcErr != nil {
		vs = append(vs, notAVersion(milvus.UpSourcePath, u.Spec.SourceVersion, srcErr))
	}
	tgt, tgtErr := milvus.ParseVersion(u.Spec.TargetVersion)
	if tgtErr != nil {
		vs = append(vs, notAVersion(milvus.UpTargetPath, u.Spec.TargetVersion, tgtErr))
	}
	if srcErr == nil {
		vs = append(vs, sourceRange(src)...)
		vs = append(vs, runningSource(c, src)...)
	}
	if tgtErr == nil {
		vs = append(vs, targetRange(tgt, p.Waypoint())...)
		vs = append(vs, targetImage(u.Spec.TargetImage, tgt)...)
	}
	if srcErr == nil && tgtErr == nil && tgt.Compare(src) <= 0 {
		vs = append(vs, Violation{Rule: policy.RuleUpOrder, Path: milvus.UpTargetPath, Value: u.Spec.TargetVersion,
			Detail: fmt.Sprintf("targetVersion %s is not newer than sourceVersion %s; to go back, set operation: rollback on the MilvusUpgrade that did the upgrade", tgt, src),
			Short:  "targetVersion must be newer than sourceVersion"})
	}
	return vs
}

func notAVersion(path *field.Path, val string, err error) Violation {
	return Violation{Rule: policy.RuleUpVersion, Path: path, Value: val,
		Detail: fmt.Sprintf("%v; write a release version such as v2.1.4", err),
		Short:  "not a release version"}
}

// sourceRange: the migration tool only reads 2.1.x metadata (MU-META-RANGE).
func sourceRange(src milvus.Version) []Violation {
	if src.Major() == 2 && src.Minor() == 1 {
		return nil
	}
	what := "the migration tool only migrates from 2.1.x"
	switch {
	case src.Major() == 2 && src.Minor() == 0:
		what += "; upgrade the Milvus image to v2.1.4 first (MU-SRC-20)"
	case src.AtLeast(2, 2, 0):
		what += fmt.Sprintf("; %s already has 2.2+ metadata, so change spec.components.image of the Milvus instead (a rolling upgrade)", src)
	}
	return []Violation{{Rule: policy.RuleMetaRange, Path: milvus.UpSourcePath, Value: src.String(),
		Detail: what, Short: "sourceVersion must be 2.1.x"}}
}

// targetRange: the tool only writes 2.2.x metadata (MU-META-RANGE); the
// operator passes targetVersion straight to it.
func targetRange(tgt, waypoint milvus.Version) []Violation {
	if tgt.Major() == 2 && tgt.Minor() == 2 {
		return nil
	}
	what := "the migration tool only migrates to 2.2.x"
	if tgt.Line(waypoint) > 0 {
		what += fmt.Sprintf(": set targetVersion to %s (the 2.2.x waypoint), and once the upgrade has succeeded change the Milvus image to %s (a rolling upgrade)", waypoint, tgt)
	}
	return []Violation{{Rule: policy.RuleMetaRange, Path: milvus.UpTargetPath, Value: tgt.String(),
		Detail: what, Short: "targetVersion must be 2.2.x"}}
}

// runningSource: sourceVersion must be what the Milvus really runs (MU-UP-SRC).
func runningSource(c UpgradeChange, src milvus.Version) []Violation {
	if c.Target == nil {
		return nil
	}
	running, err := c.Target.RunningVersion()
	if err != nil || running.Compare(src) == 0 {
		return nil
	}
	return []Violation{{Rule: policy.RuleUpSource, Path: milvus.UpSourcePath, Value: src.String(),
		Detail: fmt.Sprintf("Milvus %s/%s runs %s, not %s; set sourceVersion to %s", c.Target.Namespace, c.Target.Name, running, src, running),
		Short:  fmt.Sprintf("the Milvus runs %s", running)}}
}

// targetImage: the operator writes targetImage as the new Milvus image, so
// it must be the target version (MU-UP-IMAGE).
func targetImage(ref string, tgt milvus.Version) []Violation {
	if ref == "" {
		return nil
	}
	bad := func(why string) []Violation {
		return []Violation{{Rule: policy.RuleUpImage, Path: milvus.UpTargetImgPath, Value: ref,
			Detail: fmt.Sprintf("%s; the operator writes targetImage into the Milvus, so tag it with targetVersion: %s", why, tgt.Tag()),
			Short:  "targetImage must carry targetVersion's tag"}}
	}
	img, err := milvus.ParseImage(ref)
	if err != nil {
		return bad(err.Error())
	}
	v, err := img.Version()
	if err != nil {
		return bad(err.Error())
	}
	if v.Compare(tgt) != 0 {
		return bad(fmt.Sprintf("targetImage is %s but targetVersion is %s", v, tgt))
	}
	return nil
}

// frozenSpec allows no spec change once the operator has started, except
// turning an upgrade into a rollback.
func frozenSpec(old, cur *milvus.MilvusUpgrade) []Violation {
	o, n := old.Spec, cur.Spec
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
		vs = append(vs, Violation{Rule: policy.RuleUpImmutable, Path: f.path, Value: f.new,
			Detail: fmt.Sprintf("the operator has started this upgrade (state %s); its spec cannot change except operation: upgrade → rollback. Create a new MilvusUpgrade instead", old.Status.State),
			Short:  "spec is immutable once the upgrade started"})
	}
	return vs
}
