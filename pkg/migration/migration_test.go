package migration

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

const (
	image214  = "milvusdb/milvus:v2.1.4"
	image225  = "milvusdb/milvus:v2.2.5"
	image2216 = "milvusdb/milvus:v2.2.16"
	image2423 = "milvusdb/milvus:v2.4.23"
	alice     = "alice@example.com"
	operator  = "system:serviceaccount:milvus-operator:milvus-operator"
	planned   = "my-release-migrate-v2-2-16"
)

// newMilvus is the Milvus "my-release" in "default" with a global image and,
// when not empty, spec.components.version.
func newMilvus(image, version string) *milvus.Milvus {
	m := &milvus.Milvus{}
	m.Name, m.Namespace = "my-release", "default"
	m.Spec.Components.Image = image
	m.Spec.Components.Version = version
	return m
}

func withProxy(m *milvus.Milvus, image string) *milvus.Milvus {
	m.Spec.Components.Proxy = &milvus.Component{Image: image}
	return m
}

func withAnnotations(m *milvus.Milvus, a map[string]string) *milvus.Milvus {
	m.Annotations = a
	return m
}

// intentFor is the annotations the webhook records for the 2.1.4 → 2.4.23 hold.
func intentFor() map[string]string {
	return map[string]string{
		AnnotationRequestedImage:  image2423,
		AnnotationPlannedUpgrade:  planned,
		AnnotationMigrationTarget: "v2.2.16",
	}
}

// update is the violations validate.Milvus finds for old → cur by user.
func update(t *testing.T, old, cur *milvus.Milvus, user string, p *policy.Policy) []validate.Violation {
	t.Helper()
	return validate.Milvus(validate.MilvusChange{Old: old, New: cur, User: user}, p)
}

func hasRule(vs []validate.Violation, rule policy.RuleID) bool {
	for _, v := range vs {
		if v.Rule == rule {
			return true
		}
	}
	return false
}

func metaDeny(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte("rules:\n  MU-META: deny\n"))
	require.NoError(t, err)
	require.Equal(t, policy.Deny, p.ActionFor(policy.RuleMeta))
	return p
}

func TestPlanForNone(t *testing.T) {
	p := policy.Default()
	require.Equal(t, policy.Generate, p.ActionFor(policy.RuleMeta), "the default policy generates")

	tests := []struct {
		name string
		old  *milvus.Milvus
		cur  *milvus.Milvus
		// vs, when set, replaces the violations validate.Milvus finds for old → cur.
		vs       []validate.Violation
		policy   *policy.Policy
		metaSeen bool // MU-META is among the violations: PlanFor must decline on other grounds
	}{
		{name: "CREATE (no old object) even with a MU-META violation at the image",
			cur:      newMilvus(image2423, ""),
			vs:       []validate.Violation{{Rule: policy.RuleMeta, Path: milvus.ImagePath, Value: image2423}},
			metaSeen: true},
		{name: "policy says MU-META: deny",
			old: newMilvus(image214, ""), cur: newMilvus(image2423, ""), policy: metaDeny(t), metaSeen: true},
		{name: "no MU-META: 2.2.0 to 2.4.23 only warns MU-ROLLING",
			old: newMilvus("milvusdb/milvus:v2.2.0", ""), cur: newMilvus(image2423, "")},
		{name: "no violation at all: same image",
			old: newMilvus(image214, ""), cur: newMilvus(image214, "")},
		{name: "MU-META at a component path: proxy override 2.1.4 to 2.2.16",
			old:      withProxy(newMilvus(image214, ""), image214),
			cur:      withProxy(newMilvus(image214, ""), image2216),
			metaSeen: true},
		{name: "MU-META at the global image and at a component path",
			old:      withProxy(newMilvus(image214, ""), image214),
			cur:      withProxy(newMilvus(image2423, ""), image2423),
			metaSeen: true},
		{name: "target unknown: requested image is latest",
			old:      newMilvus(image214, ""),
			cur:      newMilvus("milvusdb/milvus:latest", ""),
			vs:       []validate.Violation{{Rule: policy.RuleMeta, Path: milvus.ImagePath, Value: "milvusdb/milvus:latest"}},
			metaSeen: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := p
			if tc.policy != nil {
				pol = tc.policy
			}
			vs := tc.vs
			if vs == nil && tc.old != nil {
				vs = update(t, tc.old, tc.cur, alice, pol)
			}
			require.Equal(t, tc.metaSeen, hasRule(vs, policy.RuleMeta), "precondition on the violations: %v", vs)
			assert.Nil(t, PlanFor(tc.old, tc.cur, vs, pol))
		})
	}
}

func TestPlanFor(t *testing.T) {
	p := policy.Default()
	tests := []struct {
		name        string
		old, cur    *milvus.Milvus
		want        *Plan
		annotations map[string]string
	}{
		{name: "2.1.4 to 2.4.23 migrates to the waypoint first",
			old: newMilvus(image214, ""), cur: newMilvus(image2423, ""),
			want: &Plan{HeldImage: image214, RequestedImage: image2423,
				Target: milvus.MustVersion("v2.2.16"), UpgradeName: "my-release-migrate-v2-2-16"},
			annotations: map[string]string{
				AnnotationRequestedImage:  image2423,
				AnnotationPlannedUpgrade:  "my-release-migrate-v2-2-16",
				AnnotationMigrationTarget: "v2.2.16",
			}},
		{name: "2.1.4 to 2.2.5 migrates to the requested 2.2.5",
			old: newMilvus(image214, ""), cur: newMilvus(image225, ""),
			want: &Plan{HeldImage: image214, RequestedImage: image225,
				Target: milvus.MustVersion("v2.2.5"), UpgradeName: "my-release-migrate-v2-2-5"},
			annotations: map[string]string{
				AnnotationRequestedImage:  image225,
				AnnotationPlannedUpgrade:  "my-release-migrate-v2-2-5",
				AnnotationMigrationTarget: "v2.2.5",
			}},
		{name: "spec.components.version set on both sides is held and requested too",
			old: newMilvus(image214, "2.1.4"), cur: newMilvus(image2423, "2.4.23"),
			want: &Plan{HeldImage: image214, HeldVersion: "2.1.4", RequestedImage: image2423, RequestedVersion: "2.4.23",
				Target: milvus.MustVersion("v2.2.16"), UpgradeName: "my-release-migrate-v2-2-16"},
			annotations: map[string]string{
				AnnotationRequestedImage:   image2423,
				AnnotationRequestedVersion: "2.4.23",
				AnnotationPlannedUpgrade:   "my-release-migrate-v2-2-16",
				AnnotationMigrationTarget:  "v2.2.16",
			}},
		{name: "only spec.components.version changes, to 2.2.5 without a v: the tag gets its v",
			old: newMilvus(image214, "2.1.4"), cur: newMilvus(image214, "2.2.5"),
			want: &Plan{HeldImage: image214, HeldVersion: "2.1.4", RequestedImage: image214, RequestedVersion: "2.2.5",
				Target: milvus.MustVersion("2.2.5"), UpgradeName: "my-release-migrate-v2-2-5"},
			annotations: map[string]string{
				AnnotationRequestedImage:   image214,
				AnnotationRequestedVersion: "2.2.5",
				AnnotationPlannedUpgrade:   "my-release-migrate-v2-2-5",
				AnnotationMigrationTarget:  "v2.2.5",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := update(t, tc.old, tc.cur, alice, p)
			require.True(t, hasRule(vs, policy.RuleMeta), "precondition: MU-META fires: %v", vs)
			got := PlanFor(tc.old, tc.cur, vs, p)
			require.NotNil(t, got)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want.Target.Tag(), got.Target.Tag())
			assert.Equal(t, tc.annotations, got.Annotations())
		})
	}
}

func TestUpgradeName(t *testing.T) {
	waypoint := milvus.MustVersion("v2.2.16")
	const suffix = "-migrate-v2-2-16"
	hashed := regexp.MustCompile(`^[a-z0-9-]+-[0-9a-f]{8}` + regexp.QuoteMeta(suffix) + `$`)

	t.Run("a short name is kept whole", func(t *testing.T) {
		assert.Equal(t, "my-release"+suffix, UpgradeName("my-release", waypoint))
	})
	t.Run("flavour and case of the tag are left out of the name", func(t *testing.T) {
		assert.Equal(t, "my-release-migrate-v2-2-16", UpgradeName("my-release", milvus.MustVersion("V2.2.16-GPU")))
		assert.Equal(t, "my-release-migrate-v2-2-16", UpgradeName("my-release", milvus.MustVersion("v2.2.16-hotfix_1+b1")))
	})
	t.Run("a long flavour cannot make the name long or invalid", func(t *testing.T) {
		target := milvus.MustVersion("v2.2.5-" + strings.Repeat("f", 120))
		for _, name := range []string{"my-release", strings.Repeat("m", 63), strings.Repeat("m", 253)} {
			got := UpgradeName(name, target)
			assert.LessOrEqual(t, len(got), 63)
			assert.Empty(t, validation.IsDNS1123Subdomain(got), got)
			assert.True(t, strings.HasSuffix(got, "-migrate-v2-2-5"), got)
		}
	})
	t.Run("a name that just fits in 63 characters is kept whole", func(t *testing.T) {
		name := strings.Repeat("a", 63-len(suffix))
		got := UpgradeName(name, waypoint)
		assert.Equal(t, name+suffix, got)
		assert.Len(t, got, 63)
	})
	t.Run("a 60-character name is cut to 63 characters with an 8-hex hash", func(t *testing.T) {
		name := "milvus-" + strings.Repeat("x", 53)
		require.Len(t, name, 60)
		got := UpgradeName(name, waypoint)
		assert.LessOrEqual(t, len(got), 63)
		assert.Regexp(t, hashed, got)
		// What remains of the Milvus name is its beginning.
		kept := strings.TrimSuffix(got, suffix)
		kept = kept[:len(kept)-9]
		assert.NotEmpty(t, kept)
		assert.True(t, strings.HasPrefix(name, kept), "%q is not a prefix of %q", kept, name)
		assert.Equal(t, got, UpgradeName(name, waypoint), "deterministic")
		assert.Empty(t, validation.IsDNS1123Label(got))
	})
	t.Run("one character too long is hashed", func(t *testing.T) {
		got := UpgradeName(strings.Repeat("a", 64-len(suffix)), waypoint)
		assert.LessOrEqual(t, len(got), 63)
		assert.Regexp(t, hashed, got)
	})
	t.Run("two long names with the same prefix differ", func(t *testing.T) {
		prefix := strings.Repeat("tenant-a-milvus-", 3)
		a := UpgradeName(prefix+"production-one", waypoint)
		b := UpgradeName(prefix+"production-two", waypoint)
		assert.NotEqual(t, a, b)
		for _, got := range []string{a, b} {
			assert.LessOrEqual(t, len(got), 63)
			assert.Regexp(t, hashed, got)
			assert.Empty(t, validation.IsDNS1123Label(got), got)
		}
	})
	t.Run("a cut that ends in a dash leaves no double dash", func(t *testing.T) {
		// The cut keeps 63-16-9 = 38 characters; the 38th is a dash.
		name := strings.Repeat("a", 37) + "-" + strings.Repeat("b", 22)
		got := UpgradeName(name, waypoint)
		assert.NotContains(t, got, "--")
		assert.True(t, strings.HasPrefix(got, strings.Repeat("a", 37)+"-"), got)
		assert.Empty(t, validation.IsDNS1123Label(got), got)
	})
	t.Run("names of every length are valid DNS-1123 labels", func(t *testing.T) {
		for n := 1; n <= 253; n++ {
			name := strings.Repeat("m", n)
			got := UpgradeName(name, waypoint)
			assert.Empty(t, validation.IsDNS1123Label(got), "length %d: %s", n, got)
		}
	})
}

func TestIntentOf(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		want    Intent
		ok      bool
		wantErr string
	}{
		{name: "no annotations"},
		{name: "unrelated annotations only", ann: map[string]string{"argocd.argoproj.io/tracking-id": "x"}},
		{name: "requested image without a planned upgrade is no intent",
			ann: map[string]string{AnnotationRequestedImage: image2423, AnnotationMigrationTarget: "v2.2.16"}},
		{name: "full intent", ok: true,
			ann: map[string]string{
				AnnotationRequestedImage: image2423, AnnotationRequestedVersion: "2.4.23",
				AnnotationPlannedUpgrade: planned, AnnotationMigrationTarget: "v2.2.16",
			},
			want: Intent{RequestedImage: image2423, RequestedVersion: "2.4.23", UpgradeName: planned, Target: milvus.MustVersion("v2.2.16")}},
		{name: "intent without a requested version", ok: true, ann: intentFor(),
			want: Intent{RequestedImage: image2423, UpgradeName: planned, Target: milvus.MustVersion("v2.2.16")}},
		{name: "malformed target", ok: true,
			ann:     map[string]string{AnnotationPlannedUpgrade: planned, AnnotationMigrationTarget: "two-point-two"},
			wantErr: "annotation " + AnnotationMigrationTarget + `: "two-point-two" is not a Milvus version`},
		{name: "missing target", ok: true,
			ann:     map[string]string{AnnotationPlannedUpgrade: planned},
			wantErr: "annotation " + AnnotationMigrationTarget + ": empty version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := IntentOf(withAnnotations(newMilvus(image214, ""), tc.ann))
			assert.Equal(t, tc.ok, ok)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, Intent{}, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestBuildUpgrade(t *testing.T) {
	p := policy.Default()
	intent := Intent{RequestedImage: image2423, UpgradeName: planned, Target: milvus.MustVersion("v2.2.16")}

	// expected is the whole object BuildUpgrade must produce.
	expected := func(source, targetImage string) map[string]any {
		return map[string]any{
			"apiVersion": "milvus.io/v1beta1",
			"kind":       "MilvusUpgrade",
			"metadata": map[string]any{
				"name":      planned,
				"namespace": "default",
				"labels":    map[string]any{"app.kubernetes.io/managed-by": "milvus-admission"},
			},
			"spec": map[string]any{
				"milvus":        map[string]any{"name": "my-release", "namespace": "default"},
				"sourceVersion": source,
				"targetVersion": "v2.2.16",
				"targetImage":   targetImage,
				"toolImage":     "milvusdb/meta-migration:v2.2.0",
			},
		}
	}
	tests := []struct {
		name   string
		milvus func() *milvus.Milvus
		want   map[string]any
	}{
		{name: "source from status.currentVersion, which wins over the spec",
			milvus: func() *milvus.Milvus {
				m := newMilvus(image214, "")
				m.Status.CurrentVersion = "2.1.3"
				return m
			},
			want: expected("v2.1.3", image2216)},
		{name: "source from status.currentImage when no currentVersion",
			milvus: func() *milvus.Milvus {
				m := newMilvus(image214, "")
				m.Status.CurrentImage = "milvusdb/milvus:v2.1.2"
				return m
			},
			want: expected("v2.1.2", image2216)},
		{name: "source from the spec image when the status names none",
			milvus: func() *milvus.Milvus { return newMilvus(image214, "") },
			want:   expected("v2.1.4", image2216)},
		{name: "source from spec.components.version, which wins over the tag",
			milvus: func() *milvus.Milvus { return newMilvus("milvusdb/milvus:2.1-custom", "2.1.4") },
			want:   expected("v2.1.4", image2216)},
		{name: "private registry with a port is kept in targetImage",
			milvus: func() *milvus.Milvus {
				m := newMilvus("harbor.example.com:8443/mirror/milvus:v2.1.4", "")
				m.Status.CurrentVersion = "v2.1.4"
				return m
			},
			want: expected("v2.1.4", "harbor.example.com:8443/mirror/milvus:v2.2.16")},
		{name: "default repository when the Milvus has no image, only a version",
			milvus: func() *milvus.Milvus { return newMilvus("", "v2.1.4") },
			want:   expected("v2.1.4", "milvusdb/milvus:v2.2.16")},
		{name: "Argo CD labels and annotations of the Milvus are not copied",
			milvus: func() *milvus.Milvus {
				m := newMilvus(image214, "")
				m.Labels = map[string]string{"app.kubernetes.io/instance": "my-release", "team": "search"}
				m.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "my-app:milvus.io/Milvus:default/my-release"}
				for k, v := range intentFor() {
					m.Annotations[k] = v
				}
				return m
			},
			want: expected("v2.1.4", image2216)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.milvus()
			u, err := BuildUpgrade(m, intent, p)
			require.NoError(t, err)
			assert.Equal(t, tc.want, u.Object)
			assert.Equal(t, milvus.MilvusUpgradeKind, u.GroupVersionKind())
			assert.Equal(t, map[string]string{LabelManagedBy: ManagedBy}, u.GetLabels())
			assert.NotContains(t, u.GetLabels(), "app.kubernetes.io/instance")
			assert.NotContains(t, u.GetAnnotations(), "argocd.argoproj.io/tracking-id")
			assert.Empty(t, u.GetAnnotations())
			assert.Empty(t, u.GetOwnerReferences(), "the caller sets the owner")
		})
	}
	t.Run("an unknown running version is an error", func(t *testing.T) {
		m := newMilvus("milvusdb/milvus:latest", "")
		u, err := BuildUpgrade(m, intent, p)
		require.Error(t, err)
		assert.Nil(t, u)
		assert.Contains(t, err.Error(), "default/my-release")
		assert.Contains(t, err.Error(), "latest")
	})
	t.Run("no image at all is an error", func(t *testing.T) {
		_, err := BuildUpgrade(newMilvus("", ""), intent, p)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no image is set")
	})
}

func upgrade(name, state string) milvus.MilvusUpgrade {
	u := milvus.MilvusUpgrade{}
	u.Name, u.Namespace = name, "default"
	u.Spec.Milvus.Name = "my-release"
	u.Spec.TargetImage = image2216
	u.Status.State = state
	return u
}

var allFailedStates = []string{"BakupMetaFailed", "UpdateMetaFailed", "RollbackFailed", "RollbackedSucceeded"}

func TestFailed(t *testing.T) {
	for _, s := range allFailedStates {
		assert.True(t, Failed(s), s)
	}
	for _, s := range []string{"", "Pending", "BakupMeta", "UpdatingMeta", "Succeeded", "RollbackSucceeded"} {
		assert.False(t, Failed(s), s)
	}
}

func TestDecideHold(t *testing.T) {
	p := policy.Default()
	old, cur := newMilvus(image214, ""), newMilvus(image2423, "")
	vs := update(t, old, cur, alice, p)
	plan := PlanFor(old, cur, vs, p)
	require.NotNil(t, plan)
	require.Equal(t, planned, plan.UpgradeName)

	tests := []struct {
		name     string
		upgrades []milvus.MilvusUpgrade
	}{
		{name: "no upgrade yet"},
		{name: "the planned upgrade exists, not started", upgrades: []milvus.MilvusUpgrade{upgrade(planned, "")}},
		{name: "the planned upgrade is running", upgrades: []milvus.MilvusUpgrade{upgrade(planned, "UpdatingMeta")}},
		{name: "another upgrade already succeeded", upgrades: []milvus.MilvusUpgrade{upgrade("manual-upgrade", StateSucceeded)}},
		{name: "another upgrade failed long ago", upgrades: []milvus.MilvusUpgrade{upgrade("manual-upgrade", "UpdateMetaFailed")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := Decide(old, cur, vs, tc.upgrades, Request{}, p)
			assert.Nil(t, out.Deny)
			assert.False(t, out.Cancel)
			require.NotNil(t, out.Hold)
			assert.Equal(t, plan, out.Hold)
			require.NotNil(t, out.Warning)
			assert.Equal(t, policy.RuleMeta, out.Warning.Rule)
			assert.Equal(t, milvus.ImagePath.String(), out.Warning.Path.String())
			w := validate.Warning(*out.Warning)
			assert.LessOrEqual(t, utf8.RuneCountInString(w), validate.MaxWarningLen)
			assert.Equal(t, "[MU-META] spec.components.image: held; MilvusUpgrade "+planned+" migrates to v2.2.16 first", w)
		})
	}
	t.Run("the warning stays short with a long Milvus name", func(t *testing.T) {
		long := strings.Repeat("m", 63)
		o, c := newMilvus(image214, ""), newMilvus(image2423, "")
		o.Name, c.Name = long, long
		lvs := update(t, o, c, alice, p)
		out := Decide(o, c, lvs, nil, Request{}, p)
		require.NotNil(t, out.Hold)
		require.NotNil(t, out.Warning)
		assert.LessOrEqual(t, utf8.RuneCountInString(validate.Warning(*out.Warning)), validate.MaxWarningLen)
	})
}

func TestDecideDeny(t *testing.T) {
	p := policy.Default()
	old, cur := newMilvus(image214, ""), newMilvus(image2423, "")
	vs := update(t, old, cur, alice, p)

	for _, state := range allFailedStates {
		t.Run("the planned upgrade ended in "+state, func(t *testing.T) {
			out := Decide(old, cur, vs, []milvus.MilvusUpgrade{upgrade(planned, state)}, Request{}, p)
			assert.Nil(t, out.Hold)
			require.NotNil(t, out.Deny)
			assert.Equal(t, policy.RuleMeta, out.Deny.Rule)
			assert.Equal(t, milvus.ImagePath.String(), out.Deny.Path.String())
			assert.Equal(t, image2423, out.Deny.Value)
			assert.Contains(t, out.Deny.Detail, "default/"+planned)
			assert.Contains(t, out.Deny.Detail, "state "+state)
			assert.Contains(t, out.Deny.Detail, "delete it to retry")
			assert.Contains(t, out.Deny.Detail, "the image stays "+image214)
			assert.Contains(t, out.Deny.Short, planned)
		})
	}
	for _, state := range []string{"", "UpdatingMeta"} {
		t.Run("another upgrade of this Milvus in state "+`"`+state+`"`, func(t *testing.T) {
			out := Decide(old, cur, vs, []milvus.MilvusUpgrade{upgrade("manual-upgrade", state)}, Request{}, p)
			assert.Nil(t, out.Hold)
			require.NotNil(t, out.Deny)
			assert.Equal(t, policy.RuleMeta, out.Deny.Rule)
			assert.Contains(t, out.Deny.Detail, "default/manual-upgrade")
			assert.Contains(t, out.Deny.Detail, `(state "`+state+`")`)
			assert.Contains(t, out.Deny.Short, "manual-upgrade")
		})
	}
	t.Run("the deny names spec.components.version when the version field is what changed", func(t *testing.T) {
		o, c := newMilvus(image214, "2.1.4"), newMilvus(image2423, "2.4.23")
		out := Decide(o, c, update(t, o, c, alice, p), []milvus.MilvusUpgrade{upgrade(planned, "RollbackFailed")}, Request{}, p)
		require.NotNil(t, out.Deny)
		assert.Equal(t, milvus.VersionPath.String(), out.Deny.Path.String())
		assert.Equal(t, "2.4.23", out.Deny.Value)
	})
}

// appliedBy records that manager owns spec.components.image through op.
func appliedBy(m *milvus.Milvus, manager string, op metav1.ManagedFieldsOperationType) *milvus.Milvus {
	m.ManagedFields = []metav1.ManagedFieldsEntry{{
		Manager: manager, Operation: op, APIVersion: "milvus.io/v1beta1", FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:components":{"f:image":{}}}}`)},
	}}
	return m
}

func TestDecideCancel(t *testing.T) {
	p := policy.Default()
	held := func() *milvus.Milvus { return withAnnotations(newMilvus(image214, ""), intentFor()) }
	// reverted is held, after a kubectl apply of a manifest back on 2.1.4.
	reverted := func(lastAppliedImage string) *milvus.Milvus {
		m := held()
		m.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","spec":{"components":{"image":"` + lastAppliedImage + `"}}}`
		return m
	}

	tests := []struct {
		name       string
		old, cur   *milvus.Milvus
		upgrades   []milvus.MilvusUpgrade
		byOperator bool
		applier    string
		cancel     bool
	}{
		{name: "git reverted, no upgrade yet: cancel",
			old: held(), cur: reverted(image214), cancel: true},
		{name: "git reverted, planned upgrade not started: cancel",
			old: held(), cur: reverted(image214), upgrades: []milvus.MilvusUpgrade{upgrade(planned, "")}, cancel: true},
		{name: "server-side apply by the image's field manager, back on the held image: cancel",
			old: held(), cur: appliedBy(held(), "flux", metav1.ManagedFieldsOperationApply), applier: "flux", cancel: true},
		{name: "server-side apply by a manager that does not own the image: no cancel",
			old: held(), cur: appliedBy(held(), "someone", metav1.ManagedFieldsOperationApply), applier: "flux"},
		{name: "an update (not an apply) by the image's manager: no cancel",
			old: held(), cur: appliedBy(held(), "flux", metav1.ManagedFieldsOperationUpdate), applier: "flux"},
		{name: "no last-applied configuration (kubectl edit or label): no cancel",
			old: held(), cur: held()},
		{name: "last-applied still asks for the requested image (a re-sync, or this webhook re-invoked on its own hold): no cancel",
			old: withAnnotations(newMilvus(image214, ""), nil), cur: reverted(image2423)},
		{name: "planned upgrade started: no cancel",
			old: held(), cur: reverted(image214), upgrades: []milvus.MilvusUpgrade{upgrade(planned, "UpdatingMeta")}},
		{name: "planned upgrade succeeded: no cancel (the controller clears the intent)",
			old: held(), cur: held(), upgrades: []milvus.MilvusUpgrade{upgrade(planned, StateSucceeded)}},
		{name: "planned upgrade failed: no cancel",
			old: held(), cur: held(), upgrades: []milvus.MilvusUpgrade{upgrade(planned, "UpdateMetaFailed")}},
		{name: "written by the operator: no cancel",
			old: held(), cur: reverted(image214), byOperator: true},
		{name: "image changed (the operator writes the target image): no cancel",
			old: held(), cur: withAnnotations(newMilvus(image2216, ""), intentFor()), byOperator: true,
			upgrades: []milvus.MilvusUpgrade{upgrade(planned, "UpdatingMeta")}},
		{name: "image changed by a user within 2.1: no cancel",
			old: held(), cur: withAnnotations(newMilvus("milvusdb/milvus:v2.1.3", ""), intentFor())},
		{name: "version field changed, image the same: no cancel",
			old: held(), cur: withAnnotations(newMilvus(image214, "2.1.4"), intentFor())},
		{name: "no intent: nothing to cancel",
			old: newMilvus(image214, ""), cur: newMilvus(image214, "")},
		{name: "CREATE with intent annotations: nothing to cancel",
			cur: held()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user := alice
			if tc.byOperator {
				user = operator
			}
			var vs []validate.Violation
			if tc.old != nil {
				vs = validate.Milvus(validate.MilvusChange{Old: tc.old, New: tc.cur, User: user, Upgrades: tc.upgrades}, p)
			}
			require.False(t, hasRule(vs, policy.RuleMeta), "precondition: no MU-META, so no hold: %v", vs)
			out := Decide(tc.old, tc.cur, vs, tc.upgrades, Request{ByOperator: tc.byOperator, Applier: tc.applier}, p)
			assert.Nil(t, out.Hold)
			assert.Nil(t, out.Deny)
			if !tc.cancel {
				assert.Equal(t, Outcome{}, out)
				return
			}
			assert.True(t, out.Cancel)
			require.NotNil(t, out.Warning)
			assert.Equal(t, policy.RuleMeta, out.Warning.Rule)
			w := validate.Warning(*out.Warning)
			assert.Contains(t, w, planned)
			assert.Contains(t, w, "cancelled")
			assert.LessOrEqual(t, utf8.RuneCountInString(w), validate.MaxWarningLen)
		})
	}
}
