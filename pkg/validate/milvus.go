package validate

import (
	"fmt"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
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

// Milvus judges a CREATE (Old nil) or UPDATE of a Milvus.
func Milvus(c MilvusChange, p *policy.Policy) []Violation {
	var vs []Violation
	newC := &c.New.Spec.Components
	vs = append(vs, splitMeta(newC)...)
	vs = append(vs, rollingMQ(c.New)...)
	if c.Old == nil {
		// Nothing runs yet: only what the new object says by itself.
		for _, r := range append([]milvus.Resolved{newC.Global()}, resolvedOf(newC.Effective())...) {
			if r.Known() && r.Version.Prerelease() {
				vs = append(vs, prerelease(r))
			}
		}
		return vs
	}

	j := judge{change: c, policy: p, passThrough: operatorPassThrough(c, p)}
	oldC := &c.Old.Spec.Components
	oldG, newG := oldC.Global(), newC.Global()
	if changed(oldG, newG) {
		running, hasRunning := c.Old.Status.Running()
		fromRunning := source{version: running, name: "status.currentVersion"}
		switch {
		case oldG.Known():
			j.transition(source{version: oldG.Version}, newG)
			// The change must also be legal from what really runs.
			if hasRunning && running.Compare(oldG.Version) != 0 {
				j.transition(fromRunning, newG)
			}
		case hasRunning:
			j.transition(fromRunning, newG)
		default:
			j.transition(source{reason: oldG.Reason}, newG)
		}
	}
	// Components with their own image or version: judge each that changed,
	// from what it ran before (its old override, or the old global image).
	oldEff := map[string]milvus.Resolved{}
	for _, e := range oldC.Effective() {
		oldEff[e.Name] = e.Resolved
	}
	for _, e := range newC.Effective() {
		if e.Inherited {
			continue // judged with the global image above
		}
		before, ok := oldEff[e.Name]
		if !ok {
			before = oldG
		}
		if changed(before, e.Resolved) {
			j.transition(source{version: before.Version, reason: before.Reason}, e.Resolved)
		}
	}
	return append(vs, j.out...)
}

// source is the version a transition starts from and where it was read.
type source struct {
	version milvus.Version // zero when it cannot be verified
	name    string         // where version was read when not the old spec, for messages
	reason  string         // why version is zero
}

// judge collects the violations of the transitions of one update.
type judge struct {
	change      MilvusChange
	policy      *policy.Policy
	passThrough bool
	out         []Violation
}

func (j *judge) add(v Violation) { j.out = append(j.out, v) }

// transition judges one version jump to to.Path.
func (j *judge) transition(from source, to milvus.Resolved) {
	path, val := to.Path, to.Declared
	if !to.Known() {
		j.add(Violation{Rule: policy.RuleTargetUnknown, Path: path, Value: val,
			Detail: fmt.Sprintf("the new version cannot be verified (%s), so this upgrade cannot be checked; pin it: set spec.components.version to the version the image runs, or use a version tag such as v2.4.23", to.Reason),
			Short:  "new version cannot be verified; pin a version tag or spec.components.version"})
		return
	}
	if from.version.IsZero() {
		j.add(Violation{Rule: policy.RuleSourceUnknown, Path: path, Value: val,
			Detail: fmt.Sprintf("the version running now cannot be verified (%s) and the status names none; the change is allowed unchecked", from.reason),
			Short:  "running version unknown, change not checked"})
		return
	}
	f, t := from.version, to.Version
	if t.Compare(f) == 0 {
		return // same release: a registry mirror or flavour change
	}
	arrow := fmt.Sprintf("%s → %s", f, t)
	if from.name != "" {
		arrow = fmt.Sprintf("%s → %s (from %s)", f, t, from.name)
	}
	if t.Prerelease() {
		j.add(prerelease(to))
	}
	if (f.Major() < 2) != (t.Major() < 2) {
		j.add(Violation{Rule: policy.RuleMajor, Path: path, Value: val,
			Detail: arrow + " crosses the 1.x/2.x boundary, which is a data migration with the milvus-migration tool into a new 2.x cluster, never an image change; keep the image",
			Short:  f.String() + " → " + t.String() + " is a data migration, not an image change"})
		return
	}
	if t.Compare(f) > 0 {
		j.upgrade(f, to, arrow)
	} else {
		j.downgrade(f, to, arrow)
	}
}

func (j *judge) upgrade(from milvus.Version, to milvus.Resolved, arrow string) {
	t, path, val := to.Version, to.Path, to.Declared
	oldSpec, newSpec := &j.change.Old.Spec, &j.change.New.Spec
	waypoint := j.policy.Waypoint()
	switch {
	case from.Major() == 2 && from.Minor() == 0 && t.AtLeast(2, 2, 0):
		j.add(Violation{Rule: policy.RuleSource20, Path: path, Value: val,
			Detail: fmt.Sprintf("%s: 2.0.x cannot be migrated to 2.2+ directly; upgrade to v2.1.4 first, then migrate the metadata with a MilvusUpgrade", arrow),
			Short:  "2.0.x must go to v2.1.4 first"})
	case from.Major() == 2 && from.Minor() == 1 && t.AtLeast(2, 2, 0) && !j.passThrough:
		next := ""
		if t.Line(waypoint) > 0 {
			next = fmt.Sprintf(", then change the image to %s (a rolling upgrade)", t)
		}
		j.add(Violation{Rule: policy.RuleMeta, Path: path, Value: val,
			Detail: fmt.Sprintf("%s by image change loses built indexes: 2.2 changed the metadata format; keep the image and create a MilvusUpgrade with sourceVersion %s, targetVersion %s%s", arrow, from, waypointFor(t, waypoint), next),
			Short:  "2.1 → 2.2+ by image loses indexes; migrate with a MilvusUpgrade"})
	}
	if from.AtLeast(2, 2, 0) && !from.AtLeast(2, 2, 3) {
		j.add(Violation{Rule: policy.RuleRolling, Path: path, Value: val,
			Detail: fmt.Sprintf("%s: before 2.2.3 the coordinators are recreated, so the cluster is down during the upgrade", arrow),
			Short:  fmt.Sprintf("from %s the coordinators restart: expect downtime", from)})
	}
	if from.Major() == 2 && from.Minor() == 6 && from.Patch() == 0 && from.Prerelease() && !from.Nightly() {
		j.add(Violation{Rule: policy.Rule26, Path: path, Value: val,
			Detail: fmt.Sprintf("%s: 2.6.0 release candidates cannot be upgraded from; install the new version as a fresh cluster", arrow),
			Short:  "2.6.0 release candidates cannot be upgraded from"})
	}
	if from.Line(milvus.MustVersion("2.6.0")) < 0 && t.AtLeast(2, 6, 0) {
		if !from.AtLeast(2, 5, 16) {
			j.add(Violation{Rule: policy.Rule26, Path: path, Value: val,
				Detail: fmt.Sprintf("%s: 2.6 can only be reached from 2.5.16 or later; upgrade to v2.5.16 first, then to %s", arrow, t),
				Short:  "2.6 needs 2.5.16 first"})
		}
		if newSpec.Mode == milvus.ModeCluster && newSpec.Components.MixCoord == nil {
			j.add(Violation{Rule: policy.Rule26, Path: milvus.MixCoordPath, Value: "absent",
				Detail: fmt.Sprintf("%s: a cluster must run mixCoord to upgrade to 2.6; set spec.components.mixCoord (for example mixCoord: {replicas: 1}) in the same change", arrow),
				Short:  "2.6 in cluster mode needs spec.components.mixCoord"})
		}
		if oldSpec.Dependencies.MsgStreamType != newSpec.Dependencies.MsgStreamType {
			j.add(Violation{Rule: policy.Rule26, Path: milvus.MsgStreamPath, Value: newSpec.Dependencies.MsgStreamType,
				Detail: fmt.Sprintf("%s: the message queue must not change during the upgrade to 2.6; keep msgStreamType %q and change it in a later step", arrow, oldSpec.Dependencies.MsgStreamType),
				Short:  "keep the message queue type while upgrading to 2.6"})
		}
		j.add(Violation{Rule: policy.Rule26Operator, Path: path, Value: val,
			Detail: "Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first",
			Short:  "2.6 needs milvus-operator v1.3.0 or later"})
	}
	if from.Major() == 2 && t.Major() >= 3 && !from.AtLeast(2, 6, 20) {
		j.add(Violation{Rule: policy.Rule30, Path: path, Value: val,
			Detail: fmt.Sprintf("%s: upgrades to 3.x were validated only from 2.6.20; upgrade to v2.6.20 first and apply the full manifest, not an image-only patch", arrow),
			Short:  "3.x was validated only from 2.6.20; go there first"})
	}
}

func (j *judge) downgrade(from milvus.Version, to milvus.Resolved, arrow string) {
	t, path, val := to.Version, to.Path, to.Declared
	newC := &j.change.New.Spec.Components
	switch {
	case from.AtLeast(2, 2, 0) && !t.AtLeast(2, 2, 0):
		if !j.passThrough {
			j.add(Violation{Rule: policy.RuleDownMeta, Path: path, Value: val,
				Detail: fmt.Sprintf("%s: 2.1 cannot read 2.2+ metadata; only a MilvusUpgrade with operation: rollback restores the backed-up 2.1 metadata", arrow),
				Short:  "2.2+ → 2.1 needs a MilvusUpgrade with operation: rollback"})
		}
	case from.Line(t) > 0:
		j.add(Violation{Rule: policy.RuleDownMinor, Path: path, Value: val,
			Detail: fmt.Sprintf("%s: downgrades across minor versions are not validated and have crashed clusters (milvus #28008); stay on %d.%d.x or restore a backup", arrow, from.Major(), from.Minor()),
			Short:  fmt.Sprintf("%s → %s crosses minor versions: unvalidated downgrade", from, t)})
	}
	if newC.RollingUpdate() && newC.ImageUpdateMode != milvus.UpdateModeRollingDowngrade && !j.passThrough {
		j.add(Violation{Rule: policy.RuleDownMode, Path: milvus.UpdateModePath, Value: newC.ImageUpdateMode,
			Detail: fmt.Sprintf("%s is a downgrade with rolling update enabled; set imageUpdateMode: rollingDowngrade so components update in reverse dependency order", arrow),
			Short:  "a rolling downgrade needs imageUpdateMode: rollingDowngrade"})
	}
}

// waypointFor is the 2.2.x target of the metadata migration towards t.
func waypointFor(t, waypoint milvus.Version) milvus.Version {
	if t.Major() == 2 && t.Minor() == 2 {
		return t
	}
	return waypoint
}

// splitMeta denies components on both sides of the 2.2 metadata boundary:
// 2.1 and 2.2+ processes cannot share one metadata store.
func splitMeta(c *milvus.Components) []Violation {
	global := c.Global()
	var vs []Violation
	for _, e := range c.Effective() {
		if e.Inherited || !e.Known() || !global.Known() {
			continue
		}
		if e.Version.AtLeast(2, 2, 0) != global.Version.AtLeast(2, 2, 0) {
			vs = append(vs, Violation{Rule: policy.RuleSplitMeta, Path: e.Path, Value: e.Declared,
				Detail: fmt.Sprintf("component %s runs %s but the cluster runs %s: they are on both sides of the 2.2 metadata change; give all components the same version line", e.Name, e.Version, global.Version),
				Short:  fmt.Sprintf("%s and %s cannot share metadata", e.Version, global.Version)})
		}
	}
	return vs
}

// rollingMQ warns that the operator ignores or rejects rolling updates
// outside cluster mode with rocksmq/natsmq (the standalone default is rocksmq).
func rollingMQ(m *milvus.Milvus) []Violation {
	s := &m.Spec
	if !s.Components.RollingUpdate() || s.Mode == milvus.ModeCluster {
		return nil
	}
	switch s.Dependencies.MsgStreamType {
	case "", "rocksmq", "natsmq":
	default:
		return nil
	}
	return []Violation{{Rule: policy.RuleRollingMQ, Path: milvus.RollingPath, Value: true,
		Detail: "rolling update is not supported in standalone mode with rocksmq/natsmq; the operator turns it off or rejects it",
		Short:  "rolling update is not supported for standalone with rocksmq/natsmq"}}
}

func prerelease(r milvus.Resolved) Violation {
	return Violation{Rule: policy.RulePrerelease, Path: r.Path, Value: r.Declared,
		Detail: fmt.Sprintf("%s is a pre-release or nightly build: no upgrade path from or to it is guaranteed", r.Version),
		Short:  fmt.Sprintf("%s is a pre-release: no upgrade guarantee", r.Version)}
}

// operatorPassThrough reports an image write by the operator that executes a
// MilvusUpgrade of this Milvus (MU-UP-FLOW): the new image is the upgrade's
// targetImage, or its status.sourceImage on rollback.
func operatorPassThrough(c MilvusChange, p *policy.Policy) bool {
	if !p.IsOperator(c.User) {
		return false
	}
	image := c.New.Spec.Components.Image
	if image == "" {
		return false
	}
	for _, u := range c.Upgrades {
		if u.Spec.Milvus.Name != c.New.Name || u.TargetNamespace() != c.New.Namespace {
			continue
		}
		if image == u.Spec.TargetImage || image == u.Status.SourceImage {
			return true
		}
	}
	return false
}

// changed reports a different image or declared version.
func changed(a, b milvus.Resolved) bool {
	return a.Image != b.Image || a.Declared != b.Declared || a.Path.String() != b.Path.String()
}

func resolvedOf(es []milvus.ComponentResolved) []milvus.Resolved {
	out := make([]milvus.Resolved, 0, len(es))
	for _, e := range es {
		if !e.Inherited {
			out = append(out, e.Resolved)
		}
	}
	return out
}
