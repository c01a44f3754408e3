package validate

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// staging is a policy whose gates stage.
func staging(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte("rules: {MU-26: stage, MU-30: stage}\n"))
	require.NoError(t, err)
	return p
}

// healthy is the status the operator writes once version runs, ready and updated.
func healthy(version string) milvusOpt {
	return func(m *milvus.Milvus) {
		m.Status.CurrentImage, m.Status.CurrentVersion, m.Status.Health = repo+version, "", milvus.StatusHealthy
	}
}

// health sets status.status alone.
func health(status string) milvusOpt {
	return func(m *milvus.Milvus) { m.Status.Health = status }
}

// stageOf263 is what the stage of 2.5.x → 2.6.3 records.
func stageOf263() map[string]string {
	return map[string]string{migration.AnnotationStagedAt: "v2.5.16", migration.AnnotationStageTargetImage: repo + "v2.6.3"}
}

// a 2.5 cluster ready for 2.6 but for its version: mixCoord, pulsar.
var ready26 = []milvusOpt{clusterMode("pulsar"), withMixCoord}

func with(opts ...milvusOpt) []milvusOpt { return append(append([]milvusOpt{}, ready26...), opts...) }

func TestStageFor(t *testing.T) {
	type want struct {
		rule                policy.RuleID
		image, version      string
		annotations         map[string]string
		warning, stageField string
	}
	staged263 := &want{rule: policy.Mu26, image: repo + "v2.5.16", annotations: stageOf263(),
		warning: "[MU-26] spec.components.image: staged at v2.5.16; v2.6.3 follows once v2.5.16 runs healthy"}
	restaged := func(image string) *want { w := *staged263; w.image = image; return &w }
	tests := []struct {
		name     string
		old, new *milvus.Milvus
		policy   *policy.Policy
		want     *want
	}{
		{name: "2.5.4 → 2.6.3 is staged at 2.5.16",
			old: newMilvus(repo+"v2.5.4", ready26...), new: newMilvus(repo+"v2.6.3", ready26...), want: staged263},
		{name: "a private registry with a port is kept",
			old: newMilvus("10.20.12.8:5000/milvusdb/milvus:v2.5.4", ready26...), new: newMilvus("10.20.12.8:5000/milvusdb/milvus:2.6.3", ready26...),
			want: &want{rule: policy.Mu26, image: "10.20.12.8:5000/milvusdb/milvus:v2.5.16",
				annotations: map[string]string{migration.AnnotationStagedAt: "v2.5.16", migration.AnnotationStageTargetImage: "10.20.12.8:5000/milvusdb/milvus:2.6.3"},
				warning:     "[MU-26] spec.components.image: staged at v2.5.16; v2.6.3 follows once v2.5.16 runs healthy"}},
		{name: "a version pin moves with the image",
			old: newMilvus(repo+"v2.5.4", with(declaredVersion("v2.5.4"))...), new: newMilvus(repo+"v2.6.3", with(declaredVersion("v2.6.3"))...),
			want: &want{rule: policy.Mu26, image: repo + "v2.5.16", version: "v2.5.16",
				annotations: map[string]string{migration.AnnotationStagedAt: "v2.5.16", migration.AnnotationStageTargetImage: repo + "v2.6.3", migration.AnnotationStageTargetVersion: "v2.6.3"},
				warning:     "[MU-26] spec.components.version: staged at v2.5.16; v2.6.3 follows once v2.5.16 runs healthy"}},
		{name: "2.5.4 → 3.0.5 stops at the first gate",
			old: newMilvus(repo+"v2.5.4", ready26...), new: newMilvus(repo+"v3.0.5", ready26...),
			want: &want{rule: policy.Mu26, image: repo + "v2.5.16",
				annotations: map[string]string{migration.AnnotationStagedAt: "v2.5.16", migration.AnnotationStageTargetImage: repo + "v3.0.5"},
				warning:     "[MU-26] spec.components.image: staged at v2.5.16; v3.0.5 follows once v2.5.16 runs healthy"}},
		{name: "then, from 2.5.16 running healthy, at the second",
			old: newMilvus(repo+"v2.5.16", with(healthy("v2.5.16"), withIntent(map[string]string{migration.AnnotationStagedAt: "v2.5.16", migration.AnnotationStageTargetImage: repo + "v3.0.5"}))...),
			new: newMilvus(repo+"v3.0.5", ready26...),
			want: &want{rule: policy.Mu30, image: repo + "v2.6.20",
				annotations: map[string]string{migration.AnnotationStagedAt: "v2.6.20", migration.AnnotationStageTargetImage: repo + "v3.0.5"},
				warning:     "[MU-30] spec.components.image: staged at v2.6.20; v3.0.5 follows once v2.6.20 runs healthy"}},
		{name: "a re-sync while the operator still reports 2.5.4: the stored waypoint stays",
			old: newMilvus(repo+"2.5.16", with(runningVersion("v2.5.4"), withIntent(stageOf263()))...), new: newMilvus(repo+"v2.6.3", ready26...),
			want: restaged(repo + "2.5.16")},
		{name: "a re-sync with 2.5.16 reported but not healthy",
			old: newMilvus(repo+"v2.5.16", with(runningVersion("v2.5.16"), health("Unhealthy"), withIntent(stageOf263()))...), new: newMilvus(repo+"v2.6.3", ready26...),
			want: restaged(repo + "v2.5.16")},
		{name: "a re-sync once 2.5.16 runs healthy moves on",
			old: newMilvus(repo+"v2.5.16", with(healthy("v2.5.16"), withIntent(stageOf263()))...), new: newMilvus(repo+"v2.6.3", ready26...)},
		{name: "retargeted while staged: a new stage at the stored waypoint",
			old: newMilvus(repo+"v2.5.16", with(runningVersion("v2.5.4"), withIntent(stageOf263()))...), new: newMilvus(repo+"v2.6.5", ready26...),
			want: &want{rule: policy.Mu26, image: repo + "v2.5.16",
				annotations: map[string]string{migration.AnnotationStagedAt: "v2.5.16", migration.AnnotationStageTargetImage: repo + "v2.6.5"},
				warning:     "[MU-26] spec.components.image: staged at v2.5.16; v2.6.5 follows once v2.5.16 runs healthy"}},
		{name: "from 2.5.16: nothing to stage", old: newMilvus(repo+"v2.5.16", ready26...), new: newMilvus(repo+"v2.6.3", ready26...)},
		{name: "MU-26 denies: nothing staged", policy: policy.Default(),
			old: newMilvus(repo+"v2.5.4", ready26...), new: newMilvus(repo+"v2.6.3", ready26...)},
		{name: "a cluster without mixCoord: no hop fixes that",
			old: newMilvus(repo+"v2.5.4", clusterMode("pulsar")), new: newMilvus(repo+"v2.6.3", clusterMode("pulsar"))},
		{name: "the message queue changed on the way",
			old: newMilvus(repo+"v2.5.4", ready26...), new: newMilvus(repo+"v2.6.3", withMixCoord, clusterMode("woodpecker"))},
		{name: "2.1.4 → 2.6.3 needs a migration first (MU-META), not a stage",
			old: newMilvus(repo+"v2.1.4", ready26...), new: newMilvus(repo+"v2.6.3", ready26...)},
		{name: "a flavoured tag has no known waypoint image",
			old: newMilvus(repo+"v2.5.4-gpu", ready26...), new: newMilvus(repo+"v2.6.3-gpu", ready26...)},
		{name: "a custom build pinned by version",
			old: newMilvus("registry.internal/milvus:build-1", with(declaredVersion("v2.5.4"))...), new: newMilvus("registry.internal/milvus:build-2", with(declaredVersion("v2.6.3"))...)},
		{name: "from a 2.6.0 release candidate: never staged back down",
			old: newMilvus(repo+"v2.6.0-rc1", ready26...), new: newMilvus(repo+"v3.0.5", ready26...)},
		{name: "CREATE", new: newMilvus(repo+"v2.6.3", ready26...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = staging(t)
			}
			c := MilvusChange{Old: tc.old, New: tc.new, User: someUser}
			s := StageFor(c, p)
			if tc.want == nil {
				assert.Nil(t, s)
				return
			}
			require.NotNil(t, s)
			assert.Equal(t, tc.want.rule, s.Rule)
			assert.Equal(t, tc.want.image, s.Image)
			assert.Equal(t, tc.want.version, s.Version)
			assert.Equal(t, tc.want.annotations, s.Annotations())
			assert.Equal(t, tc.want.warning, Notice(s.Rule, s.Field(), s.Note()))
			assert.LessOrEqual(t, len([]rune(Notice(s.Rule, s.Field(), s.Note()))), MaxWarningLen)

			// Default, then validate: the staged object, with its
			// annotations, passes every rule (MU-INTENT included).
			out := stagedObject(tc.new, s)
			d := Decide(Milvus(MilvusChange{Old: tc.old, New: out, User: someUser}, p), p)
			assert.True(t, d.Allowed(), "%v", d.Errors)
		})
	}
}

// stagedObject is m as the defaulting webhook leaves it after stage s.
func stagedObject(m *milvus.Milvus, s *migration.Stage) *milvus.Milvus {
	out := staged(m, s)
	out.Annotations = maps.Clone(m.Annotations)
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	for _, k := range migration.StageAnnotations {
		delete(out.Annotations, k)
	}
	maps.Copy(out.Annotations, s.Annotations())
	return out
}

// A stage is staged only when it passes every rule, whatever the policy
// turns off: a rule that is off cannot make a downgrade look like a step.
func TestStageNeverStepsDown(t *testing.T) {
	p, err := policy.Parse([]byte("rules: {MU-26: stage, MU-30: stage, MU-DOWN-MINOR: off, MU-DOWN-MODE: off}\n"))
	require.NoError(t, err)
	old, cur := newMilvus(repo+"v2.6.0-rc1", ready26...), newMilvus(repo+"v3.0.5", ready26...)
	assert.Nil(t, StageFor(MilvusChange{Old: old, New: cur}, p))
	d := Decide(Milvus(MilvusChange{Old: old, New: cur}, p), p)
	assert.False(t, d.Allowed(), "stage acts as deny when nothing is staged")
	assert.Equal(t, []policy.RuleID{policy.Mu26, policy.Mu30}, d.Rules)
}

// Validation treats stage as deny: what the defaulting webhook could not
// stage (or never saw) is refused with the rule's own message.
func TestStageDeniesUnstaged(t *testing.T) {
	p := staging(t)
	d := Decide(Milvus(MilvusChange{Old: newMilvus(repo+"v2.5.4", ready26...), New: newMilvus(repo+"v2.6.3", ready26...)}, p), p)
	require.Len(t, d.Errors, 1)
	assert.Equal(t, milvus.ImagePath.String(), d.Errors[0].Field)
	assert.Contains(t, d.Errors[0].Detail, "[MU-26]")
}

func TestMuIntentStage(t *testing.T) {
	forbidden := func(key string) field.ErrorList {
		return field.ErrorList{field.Forbidden(annotationsPath.Key(key), "[MU-INTENT] the milvus-admission.io/ stage annotations are set only by milvus-admission when it stages an upgrade at a gate's waypoint; change spec.components.image instead, or remove them all")}
	}
	stageWith := func(key, value string) map[string]string {
		a := stageOf263()
		a[key] = value
		return a
	}
	at2516 := func(opts ...milvusOpt) *milvus.Milvus { return newMilvus(repo+"v2.5.16", with(opts...)...) }
	from254 := newMilvus(repo+"v2.5.4", ready26...)
	tests := []struct {
		name     string
		old, new *milvus.Milvus
		policy   *policy.Policy
		want     field.ErrorList
	}{
		{name: "the stage, as the webhook makes it", old: from254, new: at2516(withIntent(stageOf263()))},
		{name: "unchanged (a re-sync, kubectl label)", old: at2516(withIntent(stageOf263())), new: at2516(withIntent(stageOf263()))},
		{name: "all removed (moved on, or by hand)", old: at2516(withIntent(stageOf263())), new: at2516()},
		{name: "a waypoint the gate does not have", old: from254,
			new: at2516(withIntent(stageWith(migration.AnnotationStagedAt, "v2.5.10"))), want: forbidden(migration.AnnotationStagedAt)},
		{name: "a target that needs no stage", old: from254,
			new: at2516(withIntent(stageWith(migration.AnnotationStageTargetImage, repo+"v2.5.20"))), want: forbidden(migration.AnnotationStageTargetImage)},
		{name: "the annotations without the staged image", old: from254,
			new: newMilvus(repo+"v2.6.3", with(withIntent(stageOf263()))...), want: forbidden(migration.AnnotationStageTargetImage)},
		{name: "a stage retargeted as the webhook would (a replay)", old: at2516(runningVersion("v2.5.4"), withIntent(stageOf263())),
			new: at2516(runningVersion("v2.5.4"), withIntent(stageWith(migration.AnnotationStageTargetImage, repo+"v2.6.1"))), want: field.ErrorList{}},
		{name: "in a namespace whose policy does not stage", policy: policy.Default(), old: from254,
			new: at2516(withIntent(stageOf263())), want: forbidden(migration.AnnotationStageTargetImage)},
		{name: "on CREATE", new: at2516(withIntent(stageOf263())), want: forbidden(migration.AnnotationStageTargetImage)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = staging(t)
			}
			got := denials(muIntent(newMilvusReview(MilvusChange{Old: tc.old, New: tc.new, User: someUser}, p)))
			if len(tc.want) == 0 {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// The controller acts on the hold's intent only: a staged Milvus carries no
// intent it would read, and none it would trust.
func TestStageIsNoHold(t *testing.T) {
	m := newMilvus(repo+"v2.5.16", with(withIntent(stageOf263()))...)
	_, ok, err := migration.IntentOf(m)
	assert.False(t, ok)
	assert.NoError(t, err)
	assert.False(t, TrustedIntent(m, m, "", nil, staging(t)))
	in, ok, err := migration.StageIntentOf(m)
	require.True(t, ok)
	require.NoError(t, err)
	assert.Equal(t, "v2.5.16", in.Waypoint.String())
	assert.True(t, in.Asks(newMilvus(repo+"v2.6.3")))
}
