// Package plan finds the legal path from one Milvus version to another: the
// ordered hops — a MilvusUpgrade metadata migration, rolling upgrades through
// the gates, a rolling downgrade — each a change the admission rules of
// pkg/validate allow, with what to change and the rule that asks for it.
// Unreachable targets return an *Unreachable naming the rule.
//
// The gates below are the thresholds the rules themselves test, and the
// migration waypoint is the policy's, so a path and the rules agree by
// construction. Everything here is pure: the webhook's messages, the CLI and
// tests share it.
package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// The versions the upgrade rules name (../shared/upgrade-rules.md). The rules
// in pkg/validate compare against these same values. The gates' waypoints
// and the 2.2.x migration waypoint are the policy's (policy.GateWaypoint,
// policy.Policy.Waypoint).
var (
	// Meta22 is the first release with the 2.2 metadata format (MU-META).
	Meta22 = milvus.MustVersion("v2.2.0")
	// Last21 is where 2.0.x goes before a metadata migration: the migration
	// tool reads only 2.1.x (MU-SRC-20).
	Last21 = milvus.MustVersion("v2.1.4")
	// RollingFrom is the first release an image change upgrades without
	// recreating the coordinators (MU-ROLLING).
	RollingFrom = milvus.MustVersion("v2.2.3")
	// Gate26 is the release 2.6 must be reached from (MU-26).
	Gate26 = gateWaypoint(policy.Mu26)
	// Line26 is the first 2.6 release (MU-26).
	Line26 = milvus.MustVersion("v2.6.0")
	// Gate30 is the 2.6 release upgrades to 3.x were validated from (MU-30).
	Gate30 = gateWaypoint(policy.Mu30)
)

// gateWaypoint is the waypoint of a rule the policy knows as a gate.
func gateWaypoint(id policy.RuleID) milvus.Version {
	w, ok := policy.GateWaypoint(id)
	if !ok {
		panic(fmt.Sprintf("policy: %s is no gate", id))
	}
	return w
}

// Reached reports whether v has reached gate's release numbers. A
// pre-release of the gate counts, as in milvus.Version.AtLeast: the rules
// judge pre-releases separately (MU-PRERELEASE).
func Reached(v, gate milvus.Version) bool {
	return v.AtLeast(gate.Major(), gate.Minor(), gate.Patch())
}

// MigrationTarget is the 2.2.x targetVersion of the metadata migration on
// the way to to: to itself when it is 2.2.x, else the policy's waypoint.
func MigrationTarget(to milvus.Version, p *policy.Policy) milvus.Version {
	if to.Line(Meta22) == 0 {
		return to
	}
	return p.Waypoint()
}

// Reaches26 reports a jump from before the 2.6 line to 2.6 or later (MU-26).
func Reaches26(from, to milvus.Version) bool {
	return from.Line(Line26) < 0 && Reached(to, Line26)
}

// Candidate26 reports a 2.6.0 release candidate, which cannot be upgraded
// from (MU-26). A dated nightly build is no candidate.
func Candidate26(v milvus.Version) bool {
	return v.Line(Line26) == 0 && v.Patch() == 0 && v.Prerelease() && !v.Nightly()
}

// Method is how a hop is made.
type Method string

// The ways to make a hop.
const (
	// ByMilvusUpgrade: apply a MilvusUpgrade; the operator migrates the
	// metadata and then writes the new image itself.
	ByMilvusUpgrade Method = "MilvusUpgrade"
	// ByRollingUpgrade: change the image; from 2.2.3 on the operator rolls it out.
	ByRollingUpgrade Method = "image (rollingUpgrade)"
	// ByRecreate: change the image; before 2.2.3 the coordinators are
	// recreated, so the cluster is down meanwhile.
	ByRecreate Method = "image (downtime)"
	// ByRollingDowngrade: change the image back with imageUpdateMode:
	// rollingDowngrade (harmless with rolling update off, and the operator
	// turns rolling update on by default).
	ByRollingDowngrade Method = "image (rollingDowngrade)"
	// BySpec: change the fields of Edits only; the version stays.
	BySpec Method = "spec"
)

// Hop is one change, legal by the rules, on the way to the target.
type Hop struct {
	// From and To are the global versions before and after; equal for BySpec.
	From, To milvus.Version
	By       Method
	// Rule is the rule that makes this hop necessary or shapes it; "" for
	// the plain last leg.
	Rule policy.RuleID
	// Why says in a few words why the hop is there.
	Why string
	// Edits are the other fields the same change sets in the Milvus.
	Edits []Edit
	// Notes are the warnings the rules give on this hop (the policy warns).
	Notes []Note
}

// Note is a warning a hop gets, with its rule.
type Note struct {
	Rule policy.RuleID
	Text string
}

// String is the hop as one instruction: "change the image to v2.5.16 and set …".
func (h Hop) String() string {
	var parts []string
	switch h.By {
	case ByMilvusUpgrade:
		parts = append(parts, fmt.Sprintf("create a MilvusUpgrade with sourceVersion %s, targetVersion %s", h.From.Tag(), h.To.Tag()))
	case BySpec:
	default:
		parts = append(parts, "change the image to "+h.To.Tag())
	}
	for _, e := range h.Edits {
		parts = append(parts, e.String())
	}
	return strings.Join(parts, " and ")
}

// IsImage reports a hop made by changing the Milvus image.
func (h Hop) IsImage() bool { return h.By != ByMilvusUpgrade && h.By != BySpec }

// Plan is the ordered path from From to To. No hops: From is To already.
type Plan struct {
	From, To milvus.Version
	Hops     []Hop
	// Notes are what the path leaves as it is, such as components that
	// pin their own version and so do not follow.
	Notes []string
}

// Next is the first hop; the zero Hop when there is nothing to do.
func (p Plan) Next() Hop {
	if len(p.Hops) == 0 {
		return Hop{}
	}
	return p.Hops[0]
}

// String is the path on one short line:
// "v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3". Hops that change no
// version are left out.
func (p Plan) String() string {
	var b strings.Builder
	b.WriteString(p.From.Tag())
	for _, h := range p.Hops {
		switch h.By {
		case BySpec:
			continue
		case ByMilvusUpgrade:
			b.WriteString(" →MilvusUpgrade ")
		default:
			b.WriteString(" → ")
		}
		b.WriteString(h.To.Tag())
	}
	return b.String()
}

// Command is the CLI command that prints this plan in full.
func Command(from, to milvus.Version) string {
	return fmt.Sprintf("milvus-admission plan --from %s --to %s", from.Tag(), to.Tag())
}

// Unreachable says why no path leads to a target, naming the rule.
type Unreachable struct {
	From, To string
	Rule     policy.RuleID
	Why      string
}

func (e *Unreachable) Error() string {
	return fmt.Sprintf("no path from %s to %s: [%s] %s", e.From, e.To, e.Rule, e.Why)
}

// Options describe the Milvus a path starts from. The zero value is a
// standalone Milvus without pinned components.
type Options struct {
	// Mode is spec.mode; only cluster mode needs mixCoord on 2.6.
	Mode string
	// MixCoord reports that spec.components.mixCoord is set.
	MixCoord bool
	// MsgStreamType is spec.dependencies.msgStreamType now; ToMsgStreamType
	// the one to end with ("" keeps it).
	MsgStreamType, ToMsgStreamType string
	// ImageUpdateMode is spec.components.imageUpdateMode.
	ImageUpdateMode string
	// Pinned are the components that set their own image or version, each
	// with the version it runs (unverifiable ones left out).
	Pinned map[string]milvus.Version
}

// Path plans from → to for a Milvus described by opts under policy p. A
// gate whose rule p turns off (MU-26's 2.5.16, MU-30's 2.6.20) is skipped;
// the metadata migration never is: it is the migration tool's limit
// (MU-META, MU-SRC-20, MU-META-RANGE), not a choice. A hop that would be
// denied by a rule no path avoids (MU-ROLLING, MU-PRERELEASE,
// MU-26-OPERATOR set to deny) makes the target unreachable.
func Path(from, to milvus.Version, opts Options, p *policy.Policy) (Plan, error) {
	if from.IsZero() {
		return Plan{}, &Unreachable{From: "?", To: to.String(), Rule: policy.MuSourceUnknown, Why: "the version running now is unknown; pin it with a version tag or spec.components.version"}
	}
	if to.IsZero() {
		return Plan{}, &Unreachable{From: from.String(), To: "?", Rule: policy.MuTargetUnknown, Why: "the target names no version; pin it with a version tag or spec.components.version"}
	}
	b := &builder{plan: Plan{From: from, To: to}, cur: from, opts: opts, policy: p,
		mixCoord: opts.MixCoord, updateMode: opts.ImageUpdateMode, pinned: maps.Clone(opts.Pinned)}
	err := b.pins()
	switch c := to.Compare(from); {
	case err != nil || c == 0:
	case crossesMajor(from, to):
		err = b.unreachable(policy.MuMajor, "1.x ↔ 2.x is a data migration with the milvus-migration tool into a new cluster, never an image change")
	case c < 0:
		err = b.downgrade()
	default:
		err = b.upgrade()
	}
	if err == nil {
		err = b.msgStream()
	}
	if err != nil {
		return Plan{}, err
	}
	b.notePins()
	return b.plan, nil
}

// Between plans from one version or image reference to another (see
// Version), so that an image without a version gets a reason, not a plan.
func Between(from, to string, opts Options, p *policy.Policy) (Plan, error) {
	// The target first: a change to an unverifiable version is judged
	// (MU-TARGET-UNKNOWN) whatever runs.
	t, err := Version(to)
	if err != nil {
		return Plan{}, &Unreachable{From: from, To: to, Rule: policy.MuTargetUnknown, Why: err.Error() + ", so no path can be checked; name a version tag such as v2.4.23"}
	}
	f, err := Version(from)
	if err != nil {
		return Plan{}, &Unreachable{From: from, To: to, Rule: policy.MuSourceUnknown, Why: err.Error() + ", so no path can start from it; pin the running version"}
	}
	return Path(f, t, opts, p)
}

// Version reads a version ("v2.4.23", "2.4.23") or an image reference
// ("milvusdb/milvus:v2.4.23"): the version its tag names.
func Version(s string) (milvus.Version, error) {
	if v, err := milvus.ParseVersion(s); err == nil {
		return v, nil
	}
	img, err := milvus.ParseImage(s)
	if err != nil {
		return milvus.Version{}, fmt.Errorf("%q is neither a version nor an image: %w", s, err)
	}
	if img.Tag == "" && img.Digest == "" && !strings.ContainsAny(s, "/:") {
		return milvus.ParseVersion(s) // a bare word: say why it is no version
	}
	return img.Version()
}

// builder walks from the start to the target, one hop at a time, keeping
// the state of the Milvus the next hop is judged on.
type builder struct {
	plan       Plan
	cur        milvus.Version
	opts       Options
	policy     *policy.Policy
	mixCoord   bool
	updateMode string
	pinned     map[string]milvus.Version
	// crossed26 records a hop that reached 2.6 from before it.
	crossed26 bool
}

func (b *builder) unreachable(rule policy.RuleID, why string) error {
	return &Unreachable{From: b.plan.From.String(), To: b.plan.To.String(), Rule: rule, Why: why}
}

func (b *builder) off(rule policy.RuleID) bool { return b.policy.ActionFor(rule) == policy.Off }

// pins refuses a start with components on both sides of the 2.2 metadata
// change (MU-SPLIT-META).
func (b *builder) pins() error {
	for _, name := range slices.Sorted(maps.Keys(b.pinned)) {
		if v := b.pinned[name]; Reached(v, Meta22) != Reached(b.cur, Meta22) {
			return b.unreachable(policy.MuSplitMeta, fmt.Sprintf("component %s runs %s beside %s, across the 2.2 metadata change; remove its own image and version first", name, v, b.cur))
		}
	}
	return nil
}

func (b *builder) upgrade() error {
	to := b.plan.To
	if Candidate26(b.cur) {
		return b.unreachable(policy.Mu26, "2.6.0 release candidates cannot be upgraded from; install the new version as a fresh cluster")
	}
	if b.cur.Major() == 2 && b.cur.Minor() == 0 && Reached(to, Meta22) {
		if err := b.image(Last21, policy.MuSrc20, "the migration tool reads only 2.1.x: 2.0.x goes to "+Last21.Tag()+" first"); err != nil {
			return err
		}
	}
	if b.cur.Major() == 2 && b.cur.Minor() == 1 && Reached(to, Meta22) {
		if err := b.unpin(); err != nil {
			return err
		}
		if err := b.migrate(MigrationTarget(to, b.policy)); err != nil {
			return err
		}
	}
	if Reached(to, Line26) && b.cur.Line(Line26) < 0 && !Reached(b.cur, Gate26) && !b.off(policy.Mu26) {
		if err := b.image(Gate26, policy.Mu26, "2.6 can only be reached from 2.5.16 or later"); err != nil {
			return err
		}
	}
	if to.Major() >= 3 && b.cur.Major() == 2 && !Reached(b.cur, Gate30) && !b.off(policy.Mu30) {
		if err := b.image(Gate30, policy.Mu30, "upgrades to 3.x were validated only from 2.6.20"); err != nil {
			return err
		}
	}
	if b.cur.Compare(to) == 0 {
		return nil
	}
	rule, why := policy.RuleID(""), "the rest of the way"
	if to.Major() >= 3 && b.cur.Major() == 2 {
		rule, why = policy.Mu30, "apply the full manifest, not an image-only patch"
	}
	return b.image(to, rule, why)
}

// image adds an image upgrade from the current version to to.
func (b *builder) image(to milvus.Version, rule policy.RuleID, why string) error {
	h := Hop{From: b.cur, To: to, By: ByRecreate, Rule: rule, Why: why}
	if Reached(b.cur, RollingFrom) {
		h.By = ByRollingUpgrade
	}
	if b.updateMode == milvus.UpdateModeRollingDowngrade {
		// Left from a downgrade: an upgrade goes in dependency order.
		h.Edits = append(h.Edits, Edit{Path: updateModePath, Value: milvus.UpdateModeRollingUpgrade})
		b.updateMode = milvus.UpdateModeRollingUpgrade
	}
	if Reaches26(b.cur, to) {
		b.crossed26 = true
		if b.opts.Mode == milvus.ModeCluster && !b.mixCoord {
			h.Edits = append(h.Edits, Edit{Path: mixCoordPath, Value: map[string]any{"replicas": int64(1)}})
			b.mixCoord = true
			if h.Rule == "" {
				h.Rule, h.Why = policy.Mu26, "a cluster runs mixCoord on 2.6"
			}
		}
	}
	if err := b.warnings(&h); err != nil {
		return err
	}
	b.add(h)
	return nil
}

// migrate adds the MilvusUpgrade that migrates the 2.1.x metadata to target.
func (b *builder) migrate(target milvus.Version) error {
	h := Hop{From: b.cur, To: target, By: ByMilvusUpgrade, Rule: policy.MuMeta,
		Why: "2.2 changed the metadata format and the migration tool only migrates 2.1.x → 2.2.x (MU-META-RANGE)"}
	if err := b.warnings(&h); err != nil {
		return err
	}
	b.add(h)
	return nil
}

// unpin removes the own image and version of the components still on 2.1
// (or 2.0): they would stay on the old metadata format (MU-SPLIT-META). Each
// then runs the global version, a change judged like the global image's.
func (b *builder) unpin() error {
	h := Hop{From: b.cur, To: b.cur, By: BySpec, Rule: policy.MuSplitMeta,
		Why: "a component on 2.1 cannot run beside migrated 2.2 metadata; unpinned it follows the global image"}
	down := false
	for _, name := range slices.Sorted(maps.Keys(b.pinned)) {
		v := b.pinned[name]
		if Reached(v, Meta22) {
			continue
		}
		if crossesMajor(v, b.cur) {
			return b.unreachable(policy.MuMajor, fmt.Sprintf("component %s runs %s: unpinned it would cross the 1.x/2.x boundary, a data migration", name, v))
		}
		if v.Compare(b.cur) > 0 {
			if v.Line(b.cur) > 0 {
				return b.unreachable(policy.MuDownMinor, fmt.Sprintf("component %s runs %s, ahead of %s: unpinning it is a downgrade across minor versions; upgrade the global image to %s first", name, v, b.cur, v.Tag()))
			}
			down = true
		}
		h.Edits = append(h.Edits, Edit{Path: componentPath(name), Remove: pinFields})
		delete(b.pinned, name)
	}
	if len(h.Edits) == 0 {
		return nil
	}
	if down {
		b.rollingDowngrade(&h)
	}
	if err := b.prerelease(&h, b.cur); err != nil {
		return err
	}
	b.add(h)
	return nil
}

// downgrade adds the one hop back within a minor line, or says why none exists.
func (b *builder) downgrade() error {
	from, to := b.cur, b.plan.To
	switch {
	case Reached(from, Meta22) && !Reached(to, Meta22):
		return b.unreachable(policy.MuDownMeta, "2.1 cannot read 2.2+ metadata; only operation: rollback on the MilvusUpgrade that migrated it restores the backed-up 2.1 metadata")
	case from.Line(to) > 0:
		return b.unreachable(policy.MuDownMinor, fmt.Sprintf("downgrades across minor versions are not validated and have crashed clusters (milvus #28008); stay on %d.%d.x or restore a backup", from.Major(), from.Minor()))
	}
	h := Hop{From: from, To: to, By: ByRollingDowngrade, Rule: policy.MuDownMode,
		Why: "a downgrade updates the components in reverse dependency order"}
	b.rollingDowngrade(&h)
	if err := b.prerelease(&h, to); err != nil {
		return err
	}
	b.add(h)
	return nil
}

// rollingDowngrade makes h set imageUpdateMode: rollingDowngrade, unless it is
// already: a downgrade with rolling update on needs it (MU-DOWN-MODE).
func (b *builder) rollingDowngrade(h *Hop) {
	if b.updateMode != milvus.UpdateModeRollingDowngrade {
		h.Edits = append(h.Edits, Edit{Path: updateModePath, Value: milvus.UpdateModeRollingDowngrade})
		b.updateMode = milvus.UpdateModeRollingDowngrade
	}
}

// msgStream changes the message queue last: never on the way to 2.6 (MU-26).
func (b *builder) msgStream() error {
	want := b.opts.ToMsgStreamType
	if want == "" || want == b.opts.MsgStreamType {
		return nil
	}
	h := Hop{From: b.cur, To: b.cur, By: BySpec, Why: "the message queue asked for",
		Edits: []Edit{{Path: msgStreamPath, Value: want}}}
	if b.crossed26 {
		h.Rule, h.Why = policy.Mu26, "the message queue must not change on the way to 2.6: change it once there"
	}
	b.add(h)
	return nil
}

// warnings records the warnings the rules give on an upgrade hop; one the
// policy denies makes the target unreachable, as no path avoids it.
func (b *builder) warnings(h *Hop) error {
	if Reached(h.From, Meta22) && !Reached(h.From, RollingFrom) {
		if err := b.note(h, policy.MuRolling, fmt.Sprintf("from %s the coordinators restart: expect downtime", h.From)); err != nil {
			return err
		}
	}
	if Reaches26(h.From, h.To) {
		if err := b.note(h, policy.Mu26Operator, "Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first"); err != nil {
			return err
		}
	}
	if h.From.Major() == 2 && h.To.Major() >= 3 && !Reached(h.From, Gate30) {
		if err := b.note(h, policy.Mu30, "3.x was validated only from 2.6.20"); err != nil {
			return err
		}
	}
	return b.prerelease(h, h.To)
}

// prerelease notes a hop to a pre-release or nightly build (MU-PRERELEASE).
func (b *builder) prerelease(h *Hop, to milvus.Version) error {
	if !to.Prerelease() {
		return nil
	}
	return b.note(h, policy.MuPrerelease, fmt.Sprintf("%s is a pre-release: no upgrade guarantee", to))
}

func (b *builder) note(h *Hop, rule policy.RuleID, text string) error {
	switch b.policy.ActionFor(rule) {
	case policy.Off:
		return nil
	case policy.Warn:
		h.Notes = append(h.Notes, Note{Rule: rule, Text: text})
		return nil
	}
	return b.unreachable(rule, fmt.Sprintf("%s → %s: %s, and the policy denies it", h.From, h.To, text))
}

func (b *builder) add(h Hop) {
	b.plan.Hops = append(b.plan.Hops, h)
	b.cur = h.To
}

// notePins names the components that keep their own version along the path.
func (b *builder) notePins() {
	if len(b.plan.Hops) == 0 {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(b.pinned)) {
		b.plan.Notes = append(b.plan.Notes, fmt.Sprintf("spec.components.%s keeps its own version %s: it does not follow these steps", name, b.pinned[name]))
	}
}

// crossesMajor reports a jump across the 1.x/2.x boundary (MU-MAJOR).
func crossesMajor(a, b milvus.Version) bool { return (a.Major() < 2) != (b.Major() < 2) }

// OptionsFor describes m as it is to the planner: its mode, mixCoord,
// message queue and update mode, and the components that pin a version of
// their own. ToMsgStreamType is left to the caller.
func OptionsFor(m *milvus.Milvus) Options {
	c := &m.Spec.Components
	opts := Options{
		Mode:            m.Spec.Mode,
		MixCoord:        c.MixCoord != nil,
		MsgStreamType:   m.Spec.Dependencies.MsgStreamType,
		ImageUpdateMode: c.ImageUpdateMode,
	}
	for _, e := range c.Effective(c.Global()) {
		if !e.Inherited && e.Known() {
			if opts.Pinned == nil {
				opts.Pinned = map[string]milvus.Version{}
			}
			opts.Pinned[e.Name] = e.Version
		}
	}
	return opts
}
