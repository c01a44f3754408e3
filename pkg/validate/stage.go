package validate

import (
	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// maxStageHops bounds the search for a legal hop. Each gate's waypoint is
// older than the version that hit the gate, so the search ends anyway; two
// gates (MU-26, MU-30) need two hops.
const maxStageHops = 4

// StageFor is where the defaulting webhook sets the update c instead of
// leaving it to be denied (policy action stage), or nil:
//   - a re-sync of what a stored stage converges to, while the waypoint does
//     not run healthy yet (waypointRuns): the stored image and version stay;
//   - otherwise, when every denial of the change is a gate's whose action is
//     stage, at the global image or version: the change is set at the lowest
//     of their waypoints, and lower again while that hop is gated itself.
//
// Either way the staged change passes every rule, or nothing is staged and
// the validating webhook denies the change as it came (stage acts as deny
// there). Only plain release tags are staged (v2.6.3, not v2.6.3-gpu or a
// custom build): the waypoint's image is that repository with the
// waypoint's tag, which a flavoured or custom image may not have.
func StageFor(c MilvusChange, p *policy.Policy) *migration.Stage {
	if c.Old == nil || !p.Staging() {
		return nil
	}
	if in, ok, err := migration.StageIntentOf(c.Old); ok && err == nil && in.Asks(c.New) {
		if s, pending := restage(c, in, p); pending {
			return s
		}
	}
	if !plainRelease(c.New) {
		return nil
	}
	hop := c
	var s *migration.Stage
	for range maxStageHops {
		vs := judgeHop(hop, p)
		if Decide(vs, p).Allowed() {
			return s
		}
		rule, waypoint, ok := lowestGate(vs, p)
		if !ok {
			return nil
		}
		if s = stageAt(c, rule, waypoint); s == nil {
			return nil
		}
		hop.New = staged(c.New, s)
	}
	return nil
}

// restage is the stage of a re-sync that asks for what the stored stage in
// converges to: pending while the Milvus stays at the waypoint and the
// waypoint does not run healthy yet; then the stored image and version stay
// (s), if that passes every rule (else s is nil).
func restage(c MilvusChange, in migration.StageIntent, p *policy.Policy) (s *migration.Stage, pending bool) {
	rule, gate := gateAt(in.Waypoint)
	stored := c.Old.Spec.Components.Global()
	target := c.New.Spec.Components.Global()
	if !gate || p.ActionFor(rule) != policy.Stage || !stored.Known() || stored.Version.Compare(in.Waypoint) != 0 ||
		!target.Known() || waypointRuns(c.Old, c.Upgrades, in.Waypoint) {
		return nil, false
	}
	s = &migration.Stage{Rule: rule, Waypoint: in.Waypoint, Target: target.Version,
		Image: c.Old.Spec.Components.Image, Version: c.Old.Spec.Components.Version,
		RequestedImage: c.New.Spec.Components.Image, RequestedVersion: c.New.Spec.Components.Version}
	hop := c
	hop.New = staged(c.New, s)
	if !Decide(judgeHop(hop, p), p).Allowed() {
		return nil, true
	}
	return s, true
}

// waypointRuns reports that m runs waypoint healthy: the operator reports
// it (status.currentVersion/currentImage, written once the cluster is ready
// and updated) and status.status is Healthy now. Only then does a staged
// change move on.
func waypointRuns(m *milvus.Milvus, upgrades []milvus.MilvusUpgrade, waypoint milvus.Version) bool {
	running := migration.Running(m, upgrades).Running
	return !running.IsZero() && running.Compare(waypoint) >= 0 && m.Status.Health == milvus.StatusHealthy
}

// lowestGate is the gate with the lowest waypoint among the denials in vs;
// ok is false when some denial is not a staged gate's at the global image
// or version (a mixCoord or message-queue violation, MU-META, …): no hop
// fixes that.
func lowestGate(vs []Violation, p *policy.Policy) (rule policy.RuleID, waypoint milvus.Version, ok bool) {
	for _, v := range vs {
		switch p.ActionFor(v.Rule) {
		case policy.Warn, policy.Off:
			continue
		case policy.Stage:
			w, gate := policy.GateWaypoint(v.Rule)
			if gate && (v.Err.Field == milvus.ImagePath.String() || v.Err.Field == milvus.VersionPath.String()) {
				if waypoint.IsZero() || w.Compare(waypoint) < 0 {
					rule, waypoint = v.Rule, w
				}
				continue
			}
		}
		return "", milvus.Version{}, false
	}
	return rule, waypoint, !waypoint.IsZero()
}

// stageAt is the update c set at waypoint, or nil when that is no step up
// from what the Milvus declares and runs towards what c asks for (a 2.6.0
// release candidate is never "staged" back to 2.5.16). A Milvus already
// declaring the waypoint keeps its image and version as stored.
func stageAt(c MilvusChange, rule policy.RuleID, waypoint milvus.Version) *migration.Stage {
	target := c.New.Spec.Components.Global()
	from := migration.Running(c.Old, c.Upgrades)
	if !target.Known() || waypoint.Compare(target.Version) >= 0 ||
		from.Global.Known() && from.Global.Version.Compare(waypoint) > 0 ||
		!from.Running.IsZero() && from.Running.Compare(waypoint) > 0 {
		return nil
	}
	s := &migration.Stage{Rule: rule, Waypoint: waypoint, Target: target.Version,
		RequestedImage: c.New.Spec.Components.Image, RequestedVersion: c.New.Spec.Components.Version}
	switch {
	case from.Global.Known() && from.Global.Version.Compare(waypoint) == 0:
		s.Image, s.Version = c.Old.Spec.Components.Image, c.Old.Spec.Components.Version
	default:
		// The requested image's repository, a private registry kept
		// (plainRelease has parsed it), as mutate.TargetImage does.
		s.Image = c.New.ImageRepository() + ":" + waypoint.Tag()
		if s.RequestedVersion != "" {
			s.Version = waypoint.Tag()
		}
	}
	return s
}

// staged is m with the stage's global image and version.
func staged(m *milvus.Milvus, s *migration.Stage) *milvus.Milvus {
	hop := *m
	hop.Spec.Components.Image, hop.Spec.Components.Version = s.Image, s.Version
	return &hop
}

// judgeHop is Milvus without MU-INTENT: a staged object carries the
// webhook's own stage annotations, and MU-INTENT replays the stage with this.
func judgeHop(c MilvusChange, p *policy.Policy) []Violation {
	r := newMilvusReview(c, p)
	var vs []Violation
	for _, rl := range hopRules {
		if p.ActionFor(rl.id) != policy.Off {
			vs = append(vs, rl.milvus(r)...)
		}
	}
	return vs
}

// hopRules are the Milvus rules but MU-INTENT. They are gathered in init:
// MU-INTENT reaches judgeHop, so reading rules in a variable's initializer
// would be an initialization cycle.
var hopRules []rule

func init() {
	for _, rl := range rules {
		if rl.milvus != nil && rl.id != policy.MuIntent {
			hopRules = append(hopRules, rl)
		}
	}
}

// plainRelease reports that m's global image is tagged with a release
// version and nothing else (v2.6.3, 2.6.3), agreeing with
// spec.components.version when that is set.
func plainRelease(m *milvus.Milvus) bool {
	img, err := milvus.ParseImage(m.Spec.Components.Image)
	if err != nil || img.Tag == "" || img.Digest != "" {
		return false
	}
	v, err := milvus.ParseVersion(img.Tag)
	if err != nil || v.Prerelease() || v.Tag() != "v"+v.Short() {
		return false
	}
	if declared := m.Spec.Components.Version; declared != "" {
		d, err := milvus.ParseVersion(declared)
		return err == nil && d.Compare(v) == 0 && d.Tag() == v.Tag()
	}
	return true
}

// gateAt is the gate whose waypoint is waypoint.
func gateAt(waypoint milvus.Version) (policy.RuleID, bool) {
	for _, id := range policy.Gates() {
		if w, _ := policy.GateWaypoint(id); w.Compare(waypoint) == 0 {
			return id, true
		}
	}
	return "", false
}
