package validate

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

const (
	repo     = "milvusdb/milvus:"
	operator = "system:serviceaccount:milvus-operator:milvus-operator"
	someUser = "alice@example.com"
	digest   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

type milvusOpt func(*milvus.Milvus)

func newMilvus(image string, opts ...milvusOpt) *milvus.Milvus {
	m := &milvus.Milvus{}
	m.Name, m.Namespace = "my-release", "default"
	m.Spec.Components.Image = image
	for _, o := range opts {
		o(m)
	}
	return m
}

func rollingUpdate(mode string) milvusOpt {
	return func(m *milvus.Milvus) {
		on := true
		m.Spec.Components.EnableRollingUpdate = &on
		m.Spec.Components.ImageUpdateMode = mode
	}
}

func clusterMode(mq string) milvusOpt {
	return func(m *milvus.Milvus) {
		m.Spec.Mode = milvus.ModeCluster
		m.Spec.Dependencies.MsgStreamType = mq
	}
}

func standaloneMode(mq string) milvusOpt {
	return func(m *milvus.Milvus) {
		m.Spec.Mode = milvus.ModeStandalone
		m.Spec.Dependencies.MsgStreamType = mq
	}
}

func withMixCoord(m *milvus.Milvus) { m.Spec.Components.MixCoord = &milvus.Component{} }

func runningVersion(v string) milvusOpt {
	return func(m *milvus.Milvus) { m.Status.CurrentVersion = v }
}

func declaredVersion(v string) milvusOpt {
	return func(m *milvus.Milvus) { m.Spec.Components.Version = v }
}

func proxyImage(image string) milvusOpt {
	return func(m *milvus.Milvus) { m.Spec.Components.Proxy = &milvus.Component{Image: image} }
}

func upgradeTo(targetImage, sourceImage string) milvus.MilvusUpgrade {
	u := milvus.MilvusUpgrade{}
	u.Name, u.Namespace = "my-release-upgrade", "default"
	u.Spec.Milvus = milvus.ObjectReference{Name: "my-release"}
	u.Spec.TargetImage = targetImage
	u.Status.SourceImage = sourceImage
	return u
}

// found renders violations as "RULE path", the identity a test asserts.
func found(vs []Violation) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s %s", v.Rule, v.Path))
	}
	return out
}

const (
	atImage      = " spec.components.image"
	atVersion    = " spec.components.version"
	atUpdateMode = " spec.components.imageUpdateMode"
	atProxy      = " spec.components.proxy.image"
	atMixCoord   = " spec.components.mixCoord"
	atMsgStream  = " spec.dependencies.msgStreamType"
	atRolling    = " spec.components.enableRollingUpdate"
)

func TestMilvusRules(t *testing.T) {
	tests := []struct {
		name     string
		old, new *milvus.Milvus // old nil: CREATE
		user     string
		upgrades []milvus.MilvusUpgrade
		want     []string
	}{
		// MU-MAJOR
		{name: "MU-MAJOR: 1.x to 2.x by image", old: newMilvus(repo + "v1.1.0"), new: newMilvus(repo + "v2.4.23"),
			want: []string{"MU-MAJOR" + atImage}},
		{name: "MU-MAJOR: 2.x back to 1.x", old: newMilvus(repo + "v2.0.2"), new: newMilvus(repo + "v1.1.0"),
			want: []string{"MU-MAJOR" + atImage}},
		{name: "legal: patch upgrade", old: newMilvus(repo + "v2.4.22"), new: newMilvus(repo + "v2.4.23")},
		// MU-SRC-20
		{name: "MU-SRC-20: 2.0 straight to 2.2", old: newMilvus(repo + "v2.0.2"), new: newMilvus(repo + "v2.2.16"),
			want: []string{"MU-SRC-20" + atImage}},
		{name: "legal: 2.0 to 2.1.4", old: newMilvus(repo + "v2.0.2"), new: newMilvus(repo + "v2.1.4")},
		// MU-META and operator pass-through
		{name: "MU-META: 2.1.4 to 2.4.23 by image", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"),
			want: []string{"MU-META" + atImage}},
		{name: "MU-META: 2.1.4 to 2.2.0 by image", old: newMilvus(repo + "2.1.4"), new: newMilvus(repo + "2.2.0"),
			want: []string{"MU-META" + atImage}},
		{name: "legal: operator writes the upgrade's targetImage", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"),
			user: operator, upgrades: []milvus.MilvusUpgrade{upgradeTo(repo+"v2.2.16", "")}},
		{name: "MU-META: a user writing the upgrade's targetImage", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"),
			user: someUser, upgrades: []milvus.MilvusUpgrade{upgradeTo(repo+"v2.2.16", "")},
			want: []string{"MU-META" + atImage}},
		{name: "MU-META: operator writing an image no upgrade targets", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"),
			user: operator, upgrades: []milvus.MilvusUpgrade{upgradeTo(repo+"v2.2.16", "")},
			want: []string{"MU-META" + atImage}},
		{name: "MU-META: operator with an upgrade of another Milvus", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"),
			user: operator, upgrades: []milvus.MilvusUpgrade{func() milvus.MilvusUpgrade {
				u := upgradeTo(repo+"v2.2.16", "")
				u.Spec.Milvus.Name = "other"
				return u
			}()},
			want: []string{"MU-META" + atImage}},
		// MU-ROLLING
		{name: "MU-ROLLING: from 2.2.0 the coordinators restart", old: newMilvus(repo + "v2.2.0"), new: newMilvus(repo + "v2.4.23"),
			want: []string{"MU-ROLLING" + atImage}},
		{name: "legal: rolling upgrade from 2.2.3", old: newMilvus(repo+"v2.2.3", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			new: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar"))},
		// MU-26
		{name: "MU-26: 2.6 from before 2.5.16", old: newMilvus(repo + "v2.5.15"), new: newMilvus(repo + "v2.6.0"),
			want: []string{"MU-26" + atImage, "MU-26-OPERATOR" + atImage}},
		{name: "MU-26: 2.6 in cluster mode without mixCoord", old: newMilvus(repo+"v2.5.16", clusterMode("pulsar")),
			new:  newMilvus(repo+"v2.6.0", clusterMode("pulsar")),
			want: []string{"MU-26" + atMixCoord, "MU-26-OPERATOR" + atImage}},
		{name: "MU-26: message queue changed on the way to 2.6", old: newMilvus(repo+"v2.5.16", clusterMode("pulsar"), withMixCoord),
			new:  newMilvus(repo+"v2.6.0", clusterMode("woodpecker"), withMixCoord),
			want: []string{"MU-26" + atMsgStream, "MU-26-OPERATOR" + atImage}},
		{name: "MU-26: no upgrade from 2.6.0-rc1", old: newMilvus(repo + "2.6.0-rc1"), new: newMilvus(repo + "v2.6.1"),
			want: []string{"MU-26" + atImage}},
		{name: "legal: 2.5.16 to 2.6.5 with mixCoord, same queue", old: newMilvus(repo+"v2.5.16", clusterMode("pulsar"), withMixCoord),
			new:  newMilvus(repo+"v2.6.5", clusterMode("pulsar"), withMixCoord),
			want: []string{"MU-26-OPERATOR" + atImage}},
		// MU-30
		{name: "MU-30: 3.0 from an unvalidated 2.6", old: newMilvus(repo + "v2.6.10"), new: newMilvus(repo + "v3.0.5"),
			want: []string{"MU-30" + atImage}},
		{name: "legal: 2.6.20 to 3.0.5", old: newMilvus(repo + "v2.6.20"), new: newMilvus(repo + "v3.0.5")},
		// MU-PRERELEASE
		{name: "MU-PRERELEASE: upgrade to a release candidate", old: newMilvus(repo + "v2.5.11"), new: newMilvus(repo + "v2.5.12-rc1"),
			want: []string{"MU-PRERELEASE" + atImage}},
		{name: "MU-PRERELEASE: create on a nightly build", new: newMilvus(repo + "2.5-20250428-c40e8cf4-amd64"),
			want: []string{"MU-PRERELEASE" + atImage}},
		{name: "legal: gpu and hotfix flavours are releases", old: newMilvus(repo + "v2.4.13-hotfix"), new: newMilvus(repo + "v2.5.12-gpu")},
		// MU-DOWN-MODE
		{name: "MU-DOWN-MODE: rolling downgrade in rollingUpgrade mode", old: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			new:  newMilvus(repo+"v2.4.22", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			want: []string{"MU-DOWN-MODE" + atUpdateMode}},
		{name: "legal: rolling downgrade in rollingDowngrade mode", old: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			new: newMilvus(repo+"v2.4.22", rollingUpdate("rollingDowngrade"), clusterMode("pulsar"))},
		// MU-DOWN-META
		{name: "MU-DOWN-META: 2.2 back to 2.1 by image", old: newMilvus(repo + "v2.2.16"), new: newMilvus(repo + "v2.1.4"),
			want: []string{"MU-DOWN-META" + atImage}},
		{name: "legal: operator rolls back to the upgrade's sourceImage", old: newMilvus(repo + "v2.2.16"), new: newMilvus(repo + "v2.1.4"),
			user: operator, upgrades: []milvus.MilvusUpgrade{upgradeTo(repo+"v2.2.16", repo+"v2.1.4")}},
		// MU-DOWN-MINOR
		{name: "MU-DOWN-MINOR: 2.6 back to 2.5", old: newMilvus(repo + "v2.6.1"), new: newMilvus(repo + "v2.5.16"),
			want: []string{"MU-DOWN-MINOR" + atImage}},
		{name: "legal: patch downgrade without rolling update", old: newMilvus(repo + "v2.4.23"), new: newMilvus(repo + "v2.4.22")},
		// MU-RU-MQ
		{name: "MU-RU-MQ: rolling update on standalone rocksmq", new: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), standaloneMode("rocksmq")),
			want: []string{"MU-RU-MQ" + atRolling}},
		{name: "MU-RU-MQ: rolling update on default standalone", old: newMilvus(repo + "v2.4.23"), new: newMilvus(repo+"v2.4.23", rollingUpdate("")),
			want: []string{"MU-RU-MQ" + atRolling}},
		{name: "legal: rolling update on cluster with pulsar", new: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar"))},
		// MU-SPLIT-META
		{name: "MU-SPLIT-META: proxy on 2.1 beside a 2.2 cluster", new: newMilvus(repo+"v2.2.16", proxyImage(repo+"v2.1.4")),
			want: []string{"MU-SPLIT-META" + atProxy}},
		{name: "MU-SPLIT-META and MU-META: proxy alone moves to 2.2", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo+"v2.1.4", proxyImage(repo+"v2.2.16")),
			want: []string{"MU-SPLIT-META" + atProxy, "MU-META" + atProxy}},
		{name: "legal: proxy on another 2.2 patch", new: newMilvus(repo+"v2.2.16", proxyImage(repo+"v2.2.15"))},
		// MU-TARGET-UNKNOWN
		{name: "MU-TARGET-UNKNOWN: to latest", old: newMilvus(repo + "v2.4.22"), new: newMilvus(repo + "latest"),
			want: []string{"MU-TARGET-UNKNOWN" + atImage}},
		{name: "MU-TARGET-UNKNOWN: to a bare digest", old: newMilvus(repo + "v2.4.22"), new: newMilvus("milvusdb/milvus@" + digest),
			want: []string{"MU-TARGET-UNKNOWN" + atImage}},
		{name: "MU-TARGET-UNKNOWN: image removed", old: newMilvus(repo + "v2.4.22"), new: newMilvus(""),
			want: []string{"MU-TARGET-UNKNOWN" + atImage}},
		{name: "legal: digest pinned with spec.components.version", old: newMilvus(repo + "v2.4.22"), new: newMilvus("milvusdb/milvus@"+digest, declaredVersion("v2.4.23"))},
		{name: "version field wins over the tag", old: newMilvus(repo+"v2.4.22", declaredVersion("v2.1.4")), new: newMilvus(repo+"v2.4.23", declaredVersion("v2.2.16")),
			want: []string{"MU-META" + atVersion}},
		// MU-SOURCE-UNKNOWN and the running version
		{name: "MU-SOURCE-UNKNOWN: from latest with no status", old: newMilvus(repo + "latest"), new: newMilvus(repo + "v2.4.23"),
			want: []string{"MU-SOURCE-UNKNOWN" + atImage}},
		{name: "from latest, judged against status.currentVersion", old: newMilvus(repo+"latest", runningVersion("v2.1.4")), new: newMilvus(repo + "v2.4.23"),
			want: []string{"MU-META" + atImage}},
		{name: "legal from the spec, illegal from what runs", old: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4")), new: newMilvus(repo + "v2.4.23"),
			want: []string{"MU-META" + atImage}},
		{name: "legal: unrelated change while an upgrade is pending", old: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4")),
			new: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4"), withMixCoord)},
		// CREATE
		{name: "legal: create a 2.1 cluster", new: newMilvus(repo + "v2.1.4")},
		{name: "legal: create with latest", new: newMilvus(repo + "latest")},
		{name: "legal: registry with a port", old: newMilvus("10.20.12.8:5000/milvusdb/milvus:v2.5.16"), new: newMilvus("10.20.12.8:5000/milvusdb/milvus:v2.5.17")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Milvus(MilvusChange{Old: tc.old, New: tc.new, User: tc.user, Upgrades: tc.upgrades}, policy.Default())
			assert.ElementsMatch(t, tc.want, found(got))
			for _, v := range got {
				assert.NotEmpty(t, v.Detail, "every violation says what to do")
				assert.LessOrEqual(t, len([]rune(Warning(v))), MaxWarningLen)
				assert.Less(t, len(v.Short)+len(v.Rule)+len(v.Path.String())+5, MaxWarningLen, "short text fits a warning uncut: %q", Warning(v))
			}
		})
	}
}

// The three procedures of the seed document, decided with the default policy.
func TestSeedProcedures(t *testing.T) {
	p := policy.Default()
	t.Run("rolling upgrade 2.2.3 to 2.4.23 is allowed quietly", func(t *testing.T) {
		old := newMilvus(repo+"v2.2.3", rollingUpdate("rollingUpgrade"), clusterMode("pulsar"))
		cur := newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar"))
		d := Decide(Milvus(MilvusChange{Old: old, New: cur}, p), p)
		assert.True(t, d.Allowed())
		assert.Empty(t, d.Warnings)
	})
	t.Run("image change from 2.2.0 is allowed with the downtime warning", func(t *testing.T) {
		d := Decide(Milvus(MilvusChange{Old: newMilvus(repo + "v2.2.0"), New: newMilvus(repo + "v2.4.23")}, p), p)
		assert.True(t, d.Allowed())
		require.Len(t, d.Warnings, 1)
		assert.Contains(t, d.Warnings[0], "[MU-ROLLING] spec.components.image:")
		assert.Contains(t, d.Warnings[0], "downtime")
	})
	t.Run("2.1.4 to 2.4.23 is denied with the MilvusUpgrade route", func(t *testing.T) {
		d := Decide(Milvus(MilvusChange{Old: newMilvus(repo + "v2.1.4"), New: newMilvus(repo + "v2.4.23")}, p), p)
		require.False(t, d.Allowed())
		require.Len(t, d.Errors, 1)
		e := d.Errors[0]
		assert.Equal(t, "spec.components.image", e.Field)
		assert.Equal(t, repo+"v2.4.23", e.BadValue)
		for _, part := range []string{"[MU-META]", "loses built indexes", "MilvusUpgrade", "sourceVersion v2.1.4", "targetVersion v2.2.16", "then change the image to v2.4.23"} {
			assert.Contains(t, e.Detail, part)
		}
	})
}

func TestDecide(t *testing.T) {
	vs := []Violation{
		{Rule: policy.RuleMeta, Path: milvus.ImagePath, Value: "x", Detail: "d1", Short: "s1"},
		{Rule: policy.RuleMeta, Path: milvus.ImagePath, Value: "x", Detail: "again from the running version", Short: "s1"},
		{Rule: policy.RuleRolling, Path: milvus.ImagePath, Value: "x", Detail: "d2", Short: "s2"},
		{Rule: policy.RulePrerelease, Path: milvus.ImagePath, Value: "x", Detail: "d3", Short: "s3"},
	}
	t.Run("default policy", func(t *testing.T) {
		d := Decide(vs, policy.Default())
		require.Len(t, d.Errors, 1, "the same rule at the same field counts once")
		assert.Equal(t, "spec.components.image", d.Errors[0].Field)
		assert.Equal(t, "[MU-META] d1", d.Errors[0].Detail)
		assert.Equal(t, []string{"[MU-ROLLING] spec.components.image: s2", "[MU-PRERELEASE] spec.components.image: s3"}, d.Warnings)
		assert.Equal(t, []policy.RuleID{policy.RuleMeta, policy.RuleRolling, policy.RulePrerelease}, d.Rules)
	})
	t.Run("policy turns a deny into a warning and another rule off", func(t *testing.T) {
		p, err := policy.Parse([]byte("rules: {MU-META: warn, MU-ROLLING: off}"))
		require.NoError(t, err)
		d := Decide(vs, p)
		assert.True(t, d.Allowed())
		assert.Equal(t, []string{"[MU-META] spec.components.image: s1", "[MU-PRERELEASE] spec.components.image: s3"}, d.Warnings)
		assert.Equal(t, []policy.RuleID{policy.RuleMeta, policy.RulePrerelease}, d.Rules)
	})
	t.Run("a long warning is cut to the limit", func(t *testing.T) {
		long := Violation{Rule: policy.RuleRolling, Path: milvus.ImagePath, Short: fmt.Sprintf("%0200d", 0)}
		w := Warning(long)
		assert.Len(t, []rune(w), MaxWarningLen)
		assert.Equal(t, "…", string([]rune(w)[MaxWarningLen-1:]))
	})
}
