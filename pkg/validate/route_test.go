package validate

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/plan"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

var adviceGrid = []string{
	"v1.1.1", "v2.0.2", "v2.1.0", "v2.1.4", "v2.2.0", "v2.2.16", "v2.3.21", "v2.4.23",
	"v2.5.4", "v2.5.16", "2.6.0-rc1", "v2.6.3", "v2.6.20", "v3.0.5",
}

var (
	pathRE      = regexp.MustCompile(`path: ([^;]+)`)
	setSourceRE = regexp.MustCompile(`set sourceVersion to ([^;,\s]+)`)
	setTargetRE = regexp.MustCompile(`set targetVersion to ([^;,\s]+)`)
)

// paths are the paths the details name.
func paths(errs []string) map[string]bool {
	out := map[string]bool{}
	for _, e := range errs {
		for _, m := range pathRE.FindAllStringSubmatch(e, -1) {
			out[m[1]] = true
		}
	}
	return out
}

func details(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.denial().Detail)
	}
	return out
}

// Every Milvus change of the grid: the rules that name a path name the same
// one, the planner's.
func TestMilvusAdviceFollowsOnePath(t *testing.T) {
	p := policy.Default()
	named := 0
	for _, from := range adviceGrid {
		for _, to := range adviceGrid {
			old := newMilvus(repo+from, clusterMode("pulsar"))
			cur := newMilvus(repo+to, clusterMode("woodpecker"))
			got := paths(details(Milvus(MilvusChange{Old: old, New: cur}, p)))
			if len(got) == 0 {
				continue
			}
			named++
			pl, err := plan.Path(milvus.MustVersion(from), milvus.MustVersion(to),
				plan.Options{Mode: milvus.ModeCluster, MsgStreamType: "pulsar", ToMsgStreamType: "woodpecker"}, p)
			require.NoError(t, err, "%s → %s: a message names a path where the planner has none", from, to)
			assert.Equal(t, map[string]bool{pl.String(): true}, got, "%s → %s", from, to)
		}
	}
	assert.Greater(t, named, 20)
}

// Every MilvusUpgrade of the grid, with the Milvus running any grid version
// or none known: sourceVersion is advised only as the 2.1.x the Milvus runs,
// targetVersion only as a 2.2.x, never beside advice to delete the upgrade,
// and one path at most.
func TestUpgradeAdviceNeverContradicts(t *testing.T) {
	p := policy.Default()
	for _, src := range adviceGrid {
		for _, tgt := range adviceGrid {
			for _, running := range append([]string{""}, adviceGrid...) {
				target := newMilvus(repo + "latest") // runs nothing verifiable
				if running != "" {
					target = newMilvus(repo+running, runningVersion(running))
				}
				errs := details(MilvusUpgrade(UpgradeChange{New: newUpgrade(src, tgt), Target: target}, p))
				all := strings.Join(errs, "\n")
				for _, m := range setSourceRE.FindAllStringSubmatch(all, -1) {
					v := milvus.MustVersion(m[1])
					assert.True(t, v.Major() == 2 && v.Minor() == 1, "%s → %s on %s: sourceVersion %s advised: %s", src, tgt, running, v, all)
					if running != "" && strings.Contains(all, "then set sourceVersion") {
						assert.Equal(t, plan.Last21.String(), v.String())
					} else if running != "" {
						assert.Equal(t, running, v.String(), "the running version: %s", all)
					}
				}
				for _, m := range setTargetRE.FindAllStringSubmatch(all, -1) {
					assert.Zero(t, milvus.MustVersion(m[1]).Line(plan.Meta22), "%s → %s: targetVersion %s advised", src, tgt, m[1])
				}
				if strings.Contains(all, "delete this one") {
					assert.NotContains(t, all, "set targetVersion", "%s → %s on %s: %s", src, tgt, running, all)
					assert.NotRegexp(t, `set sourceVersion to \S+$|set sourceVersion to \S+\n`, all)
				}
				assert.LessOrEqual(t, len(paths(errs)), 1, "%s → %s on %s: %s", src, tgt, running, all)
			}
		}
	}
}

// A rule the policy only warns about keeps the path in its warning when it
// fits, and else points to the plan command; never longer than a warning.
func TestWarningsCarryThePath(t *testing.T) {
	p, err := policy.Parse([]byte("rules: {MU-META: warn, MU-26: warn, MU-SRC-20: warn}"))
	require.NoError(t, err)
	for _, tc := range []struct {
		from, to string
		want     []string
	}{
		{"v2.1.4", "v2.4.23", []string{"[MU-META] spec.components.image: 2.1 → 2.2+ by image loses indexes; v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"}},
		{"v2.5.4", "v2.6.3", []string{
			"[MU-26] spec.components.image: 2.6 needs 2.5.16 first; v2.5.4 → v2.5.16 → v2.6.3",
			"[MU-26-OPERATOR] spec.components.image: 2.6 needs milvus-operator v1.3.0 or later",
		}},
		{"v2.0.2", "v2.6.3", []string{
			"[MU-SRC-20] spec.components.image: 2.0.x must go to v2.1.4 first; run milvus-admission plan --from v2.0.2 --to v2.6.3",
			"[MU-26] spec.components.image: 2.6 needs 2.5.16 first; v2.0.2 → v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3",
			"[MU-26-OPERATOR] spec.components.image: 2.6 needs milvus-operator v1.3.0 or later",
		}},
	} {
		d := Decide(Milvus(MilvusChange{Old: newMilvus(repo + tc.from), New: newMilvus(repo + tc.to)}, p), p)
		assert.True(t, d.Allowed())
		assert.Equal(t, tc.want, d.Warnings, "%s → %s", tc.from, tc.to)
		for _, w := range d.Warnings {
			assert.Less(t, utf8.RuneCountInString(w), MaxWarningLen, "uncut: %q", w)
		}
	}
}

// Where the policy leaves no path, a warning names none.
func TestWarningsWithoutAPath(t *testing.T) {
	p, err := policy.Parse([]byte("rules: {MU-26: warn, MU-ROLLING: deny}"))
	require.NoError(t, err)
	d := Decide(Milvus(MilvusChange{Old: newMilvus(repo + "v2.2.0"), New: newMilvus(repo + "v2.6.3")}, p), p)
	assert.Contains(t, d.Warnings, "[MU-26] spec.components.image: 2.6 needs 2.5.16 first")
	require.Len(t, d.Errors, 1)
	assert.Contains(t, d.Errors[0].Detail, "[MU-ROLLING]")
	assert.Equal(t, "[MU-26] v2.2.0 → v2.6.3: 2.6 can only be reached from 2.5.16 or later; no path leads there: [MU-ROLLING] v2.2.0 → v2.5.16: from v2.2.0 the coordinators restart: expect downtime, and the policy denies it",
		denials(Milvus(MilvusChange{Old: newMilvus(repo + "v2.2.0"), New: newMilvus(repo + "v2.6.3")}, p))[1].Detail)
}

// The path a hold's second warning line shows.
func TestHoldPath(t *testing.T) {
	p := policy.Default()
	need := func(from, to string) *migration.Need {
		vs := Milvus(MilvusChange{Old: newMilvus(repo + from), New: newMilvus(repo + to)}, p)
		return HeldMigration(vs, p)
	}
	assert.Equal(t, "[MU-META] spec.components.image: path v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3",
		HoldPath("spec.components.image", need("v2.1.4", "v2.6.3"), newMilvus(repo+"v2.1.4"), p))
	assert.Equal(t, "[MU-META] spec.components.version: path v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23",
		HoldPath("spec.components.version", need("v2.1.4", "v2.4.23"), newMilvus(repo+"v2.1.4"), p))
	long := &migration.Need{From: milvus.MustVersion("v2.1.4-hotfix22"), To: milvus.MustVersion("v3.0.5-gpu-cuda12-xy")}
	assert.Equal(t, "[MU-META] spec.components.version: path: run milvus-admission plan --from v2.1.4-hotfix22 --to v3.0.5-gpu-cuda12-xy",
		HoldPath("spec.components.version", long, newMilvus(repo+"v2.1.4"), p), "the path does not fit a warning: the command does")
	longer := &migration.Need{From: milvus.MustVersion("v2.1.4-hotfix-20230101-abcdef"), To: milvus.MustVersion("v3.0.5-gpu-cuda12-20250101-abcdef01")}
	assert.Empty(t, HoldPath("spec.components.image", longer, newMilvus(repo+"v2.1.4"), p), "neither fits: no line rather than a cut one")
	assert.Empty(t, HoldPath("spec.components.image", nil, newMilvus(repo+"v2.1.4"), p))
}
