package plan_test

import (
	"errors"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/plan"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// grid is every kind of version a Milvus runs or is asked to run: 1.x, 2.0.x,
// 2.1.x, 2.2.0–2.2.16, 2.3.x, 2.4.x, 2.5.0–2.5.16, 2.6.x, 3.0, flavours,
// pre-releases, a nightly, and images without a version.
var grid = []string{
	"v1.0.0", "v1.1.1",
	"v2.0.0", "v2.0.2",
	"v2.1.0", "v2.1.4",
	"v2.2.0", "v2.2.2", "v2.2.3", "v2.2.8", "v2.2.16",
	"v2.3.0", "v2.3.21",
	"v2.4.0", "v2.4.13-hotfix", "v2.4.23",
	"v2.5.0", "v2.5.4", "v2.5.12-gpu", "v2.5.15", "v2.5.16", "v2.5.17",
	"2.6.0-rc1", "v2.6.0", "v2.6.3", "v2.6.19", "v2.6.20",
	"v3.0.0-rc1", "v3.0.0", "v3.0.5",
	"2.5-20250428-c40e8cf4-amd64",
	"10.20.12.8:5000/milvusdb/milvus:v2.4.22",
	"milvusdb/milvus:latest",
	"milvusdb/milvus@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"master-20221016-15878781",
}

func mustPolicy(t testing.TB, yaml string) *policy.Policy {
	t.Helper()
	if yaml == "" {
		return policy.Default()
	}
	p, err := policy.Parse([]byte(yaml))
	require.NoError(t, err)
	return p
}

// check plans the start s → to and proves the answer through the rules: a
// plan is walked hop by hop (walk); an unreachable target names a rule that
// the direct change breaks, and check returns its *plan.Unreachable. Any
// other error is a disagreement with the rules.
func check(s start, to string, p *policy.Policy) (plan.Plan, error) {
	pl, err := plan.Between(s.image, to, s.options(), p)
	var no *plan.Unreachable
	if errors.As(err, &no) {
		if no.Rule == "" || no.Why == "" {
			return pl, errors.New("an unreachable target must name a rule and a reason: " + err.Error())
		}
		if s.image == imageOf(to) || len(s.pinned) > 0 {
			return pl, err // no change to judge / a reason from the pins
		}
		if _, ferr := fires(s, imageOf(to), no.Rule, p); ferr != nil {
			return pl, errors.New(err.Error() + ": " + ferr.Error())
		}
		return pl, err
	}
	if err != nil {
		return pl, err
	}
	return pl, walk(s, pl, p)
}

// Every pair of the grid, in a cluster without mixCoord and in standalone
// mode, gets a path the rules allow hop by hop, or a reason they agree with.
func TestGrid(t *testing.T) {
	p := policy.Default()
	for _, base := range []start{
		{mode: milvus.ModeCluster, mq: "pulsar", rolling: true},
		{mode: milvus.ModeStandalone, updateMode: milvus.UpdateModeRollingUpgrade},
	} {
		reached, unreachable := 0, 0
		for _, from := range grid {
			for _, to := range grid {
				s := base
				s.image = imageOf(from)
				pl, err := check(s, to, p)
				var no *plan.Unreachable
				switch {
				case errors.As(err, &no):
					unreachable++
				case err != nil:
					t.Errorf("%s %s → %s: %v", base.mode, from, to, err)
				default:
					reached++
					assertChained(t, pl)
				}
			}
		}
		// Both outcomes occur: the grid is no list of easy cases.
		assert.Greater(t, reached, len(grid)*len(grid)/3, "%s: paths", base.mode)
		assert.Greater(t, unreachable, len(grid)*len(grid)/10, "%s: unreachable", base.mode)
	}
}

// assertChained: the hops start at From, chain, and end at To.
func assertChained(t *testing.T, pl plan.Plan) {
	t.Helper()
	at := pl.From
	for _, h := range pl.Hops {
		assert.Zero(t, h.From.Compare(at), "%s: hop from %s, not %s", pl, h.From, at)
		assert.NotEmpty(t, h.Why, "%s: every hop says why", pl)
		at = h.To
	}
	assert.Zero(t, at.Compare(pl.To), "%s ends at %s", pl, at)
}

func TestPaths(t *testing.T) {
	cluster := start{mode: milvus.ModeCluster, mq: "pulsar", rolling: true}
	tests := []struct {
		name     string
		start    start
		from, to string
		policy   string
		want     string        // the path on one line
		next     string        // the first hop, when it matters
		rule     policy.RuleID // the rule of an unreachable target
	}{
		{name: "the issue's example", start: cluster, from: "v2.1.4", to: "v2.6.3",
			want: "v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3", next: "create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16"},
		{name: "2.0 goes to 2.1.4 first", from: "v2.0.2", to: "v2.4.23", want: "v2.0.2 → v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23", next: "change the image to v2.1.4"},
		{name: "2.0 within 2.x before 2.2", from: "v2.0.2", to: "v2.1.0", want: "v2.0.2 → v2.1.0"},
		{name: "a 2.2.x target is migrated to directly", from: "v2.1.4", to: "2.2.5", want: "v2.1.4 →MilvusUpgrade v2.2.5"},
		{name: "the policy's waypoint", from: "v2.1.4", to: "v2.4.23", policy: "migrationWaypoint: v2.2.3", want: "v2.1.4 →MilvusUpgrade v2.2.3 → v2.4.23"},
		{name: "rolling from 2.2.3", from: "v2.2.3", to: "v2.4.23", want: "v2.2.3 → v2.4.23"},
		{name: "from 2.2.0 with downtime", from: "v2.2.0", to: "v2.4.23", want: "v2.2.0 → v2.4.23"},
		{name: "MU-ROLLING denied: no path avoids it", from: "v2.2.0", to: "v2.4.23", policy: "rules: {MU-ROLLING: deny}", rule: policy.MuRolling},
		{name: "the 2.5.16 gate", start: cluster, from: "v2.5.4", to: "v2.6.3", want: "v2.5.4 → v2.5.16 → v2.6.3"},
		{name: "the gate reached", start: cluster, from: "v2.5.17", to: "v2.6.3", want: "v2.5.17 → v2.6.3",
			next: "change the image to v2.6.3 and set spec.components.mixCoord: {replicas: 1}"},
		{name: "MU-26 off: no gate", from: "v2.4.23", to: "v2.6.3", policy: "rules: {MU-26: off}", want: "v2.4.23 → v2.6.3"},
		{name: "MU-26 warns: the gate stays", from: "v2.4.23", to: "v2.6.3", policy: "rules: {MU-26: warn}", want: "v2.4.23 → v2.5.16 → v2.6.3"},
		{name: "3.0 through both gates", start: cluster, from: "v2.5.4", to: "v3.0.5", want: "v2.5.4 → v2.5.16 → v2.6.20 → v3.0.5"},
		{name: "MU-30 off", from: "v2.5.4", to: "v3.0.5", policy: "rules: {MU-30: off}", want: "v2.5.4 → v2.5.16 → v3.0.5"},
		{name: "from 2.6.20", from: "v2.6.20", to: "v3.0.5", want: "v2.6.20 → v3.0.5"},
		{name: "all the way", start: cluster, from: "v2.0.0", to: "v3.0.5", want: "v2.0.0 → v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.20 → v3.0.5"},
		{name: "same version, other flavour", from: "v2.4.13-hotfix", to: "v2.4.13", want: "v2.4.13-hotfix"},
		{name: "downgrade within the line", start: cluster, from: "v2.4.23", to: "v2.4.22", want: "v2.4.23 → v2.4.22",
			next: "change the image to v2.4.22 and set spec.components.imageUpdateMode: rollingDowngrade"},
		{name: "1.x to 2.x", from: "v1.1.1", to: "v2.4.23", rule: policy.MuMajor},
		{name: "2.x to 1.x", from: "v2.0.2", to: "v1.1.1", rule: policy.MuMajor},
		{name: "down across the metadata change", from: "v2.2.16", to: "v2.1.4", rule: policy.MuDownMeta},
		{name: "down across minor versions", from: "v2.6.1", to: "v2.5.16", rule: policy.MuDownMinor},
		{name: "3.0 back to 2.6", from: "v3.0.5", to: "v2.6.20", rule: policy.MuDownMinor},
		{name: "from a 2.6.0 release candidate", from: "2.6.0-rc1", to: "v2.6.3", rule: policy.Mu26},
		{name: "to latest", from: "v2.4.23", to: "milvusdb/milvus:latest", rule: policy.MuTargetUnknown},
		{name: "to a digest", from: "v2.4.23", to: "milvusdb/milvus@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", rule: policy.MuTargetUnknown},
		{name: "from latest", from: "milvusdb/milvus:latest", to: "v2.4.23", rule: policy.MuSourceUnknown},
		{name: "a pre-release target the policy denies", from: "v2.5.11", to: "v2.5.12-rc1", policy: "rules: {MU-PRERELEASE: deny}", rule: policy.MuPrerelease},
		{name: "a component pinned to 2.1 is unpinned before the migration", from: "v2.1.4", to: "v2.4.23",
			start: start{pinned: map[string]string{"proxy": "v2.1.3"}}, want: "v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23",
			next: "remove image and version from spec.components.proxy"},
		{name: "a component pinned ahead is unpinned in a rolling downgrade", from: "v2.1.0", to: "v2.2.16",
			start: start{pinned: map[string]string{"proxy": "v2.1.4"}, rolling: true}, want: "v2.1.0 →MilvusUpgrade v2.2.16",
			next: "remove image and version from spec.components.proxy and set spec.components.imageUpdateMode: rollingDowngrade"},
		{name: "a component across the metadata change", from: "v2.4.23", to: "v2.5.4",
			start: start{pinned: map[string]string{"proxy": "v2.1.4"}}, rule: policy.MuSplitMeta},
		{name: "the message queue changes after 2.6", start: start{mode: milvus.ModeCluster, mq: "pulsar", toMQ: "woodpecker"},
			from: "v2.5.16", to: "v2.6.3", want: "v2.5.16 → v2.6.3"},
		{name: "only the message queue", start: start{mq: "rocksmq", toMQ: "woodpecker"}, from: "v2.6.3", to: "v2.6.3", want: "v2.6.3",
			next: "set spec.dependencies.msgStreamType: woodpecker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, tc.policy)
			s := tc.start
			s.image = imageOf(tc.from)
			pl, err := check(s, tc.to, p)
			if tc.rule != "" {
				var no *plan.Unreachable
				require.ErrorAs(t, err, &no)
				assert.Equal(t, tc.rule, no.Rule, "%v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, pl.String())
			if tc.next != "" {
				assert.Equal(t, tc.next, pl.Next().String())
			}
		})
	}
}

// What each hop says: method, rule, edits and the warnings on the way.
func TestHops(t *testing.T) {
	pl, err := plan.Path(milvus.MustVersion("v2.1.4"), milvus.MustVersion("v2.6.3"),
		plan.Options{Mode: milvus.ModeCluster, MsgStreamType: "pulsar", ToMsgStreamType: "woodpecker"}, policy.Default())
	require.NoError(t, err)
	type hop struct {
		by    plan.Method
		rule  policy.RuleID
		step  string
		notes []policy.RuleID
	}
	var got []hop
	for _, h := range pl.Hops {
		var notes []policy.RuleID
		for _, n := range h.Notes {
			notes = append(notes, n.Rule)
		}
		got = append(got, hop{h.By, h.Rule, h.String(), notes})
	}
	assert.Equal(t, []hop{
		{plan.ByMilvusUpgrade, policy.MuMeta, "create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16", nil},
		{plan.ByRollingUpgrade, policy.Mu26, "change the image to v2.5.16", nil},
		{plan.ByRollingUpgrade, policy.Mu26, "change the image to v2.6.3 and set spec.components.mixCoord: {replicas: 1}", []policy.RuleID{policy.Mu26Operator}},
		{plan.BySpec, policy.Mu26, "set spec.dependencies.msgStreamType: woodpecker", nil},
	}, got)
	assert.Equal(t, "v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3", pl.String())
	assert.Empty(t, plan.Plan{}.Next().By, "no hop: the zero Hop")
}

// scenario is one random start, target and policy from the grid.
type scenario struct {
	s      start
	to     string
	policy string
}

var policies = []string{
	"", "rules: {MU-26: off}", "rules: {MU-30: off}", "rules: {MU-26: warn, MU-30: deny}",
	"rules: {MU-META: deny}", "rules: {MU-META: warn}", "migrationWaypoint: v2.2.3",
	"rules: {MU-ROLLING: deny}", "rules: {MU-PRERELEASE: deny}", "rules: {MU-26-OPERATOR: off}",
	"rules: {MU-26: stage, MU-30: stage}",
}

// Generate draws a scenario: versions from the grid, any mode, mixCoord,
// message queue change, update mode and components pinned on the start's
// side of the 2.2 metadata change.
func (scenario) Generate(r *rand.Rand, _ int) reflect.Value {
	pick := func(xs ...string) string { return xs[r.Intn(len(xs))] }
	from := grid[r.Intn(len(grid))]
	s := start{
		image:      imageOf(from),
		mode:       pick("", milvus.ModeCluster, milvus.ModeStandalone),
		mq:         pick("", "pulsar", "kafka", "rocksmq"),
		toMQ:       pick("", "", "woodpecker", "pulsar"),
		mixCoord:   r.Intn(2) == 0,
		rolling:    r.Intn(2) == 0,
		updateMode: pick("", milvus.UpdateModeRollingUpgrade, milvus.UpdateModeRollingDowngrade),
	}
	if v, err := plan.Version(from); err == nil && r.Intn(3) == 0 {
		pins := []string{"v2.4.23", "v2.5.16", "v2.6.3"}
		if !plan.Reached(v, plan.Meta22) {
			pins = []string{"v2.0.2", "v2.1.0", "v2.1.4"}
		}
		s.pinned = map[string]string{pick("proxy", "queryNode", "dataNode"): pick(pins...)}
	}
	return reflect.ValueOf(scenario{s: s, to: grid[r.Intn(len(grid))], policy: policies[r.Intn(len(policies))]})
}

// Property: whatever the start, target and policy, following the plan hop
// by hop through the real rules meets no denial and arrives at the target;
// or the target is unreachable for a reason the rules give.
func TestFollowingAPlanIsNeverDenied(t *testing.T) {
	parsed := map[string]*policy.Policy{}
	for _, y := range policies {
		parsed[y] = mustPolicy(t, y)
	}
	reached := 0
	property := func(sc scenario) bool {
		pl, err := check(sc.s, sc.to, parsed[sc.policy])
		var no *plan.Unreachable
		if err != nil && !errors.As(err, &no) {
			t.Logf("start %+v → %s, policy %q: %v", sc.s, sc.to, sc.policy, err)
			return false
		}
		if err == nil && len(pl.Hops) > 1 {
			reached++
		}
		return true
	}
	require.NoError(t, quick.Check(property, &quick.Config{MaxCount: 3000, Rand: rand.New(rand.NewSource(13))}))
	assert.Greater(t, reached, 300, "enough multi-hop paths were walked")
}
