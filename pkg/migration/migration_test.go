package migration

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/milvus-admission/milvus-admission/internal/shared"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

const (
	image214  = "milvusdb/milvus:v2.1.4"
	image225  = "milvusdb/milvus:v2.2.5"
	image2216 = "milvusdb/milvus:v2.2.16"
	image2423 = "milvusdb/milvus:v2.4.23"
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

// to2423 is the migration a 2.1.4 → 2.4.23 change needs (validate.HeldMigration).
var to2423 = &Need{From: milvus.MustVersion("v2.1.4"), To: milvus.MustVersion("v2.4.23"), Target: milvus.MustVersion("v2.2.16")}

func TestPlanForNone(t *testing.T) {
	assert.Nil(t, PlanFor(nil, newMilvus(image2423, ""), to2423), "a CREATE is never held")
	assert.Nil(t, PlanFor(newMilvus(image214, ""), newMilvus(image2423, ""), nil), "nothing to migrate")
}

func TestPlanFor(t *testing.T) {
	v214, v225, bare225 := milvus.MustVersion("v2.1.4"), milvus.MustVersion("v2.2.5"), milvus.MustVersion("2.2.5")
	to225, toBare225 := &Need{From: v214, To: v225, Target: v225}, &Need{From: v214, To: bare225, Target: bare225}
	tests := []struct {
		name        string
		old, cur    *milvus.Milvus
		need        *Need
		want        *Plan
		annotations map[string]string
	}{
		{name: "2.1.4 to 2.4.23 migrates to the waypoint first",
			old: newMilvus(image214, ""), cur: newMilvus(image2423, ""), need: to2423,
			want: &Plan{HeldImage: image214, RequestedImage: image2423,
				Target: milvus.MustVersion("v2.2.16"), UpgradeName: "my-release-migrate-v2-2-16"},
			annotations: map[string]string{
				AnnotationRequestedImage:  image2423,
				AnnotationPlannedUpgrade:  "my-release-migrate-v2-2-16",
				AnnotationMigrationTarget: "v2.2.16",
			}},
		{name: "2.1.4 to 2.2.5 migrates to the requested 2.2.5",
			old: newMilvus(image214, ""), cur: newMilvus(image225, ""), need: to225,
			want: &Plan{HeldImage: image214, RequestedImage: image225,
				Target: milvus.MustVersion("v2.2.5"), UpgradeName: "my-release-migrate-v2-2-5"},
			annotations: map[string]string{
				AnnotationRequestedImage:  image225,
				AnnotationPlannedUpgrade:  "my-release-migrate-v2-2-5",
				AnnotationMigrationTarget: "v2.2.5",
			}},
		{name: "spec.components.version set on both sides is held and requested too",
			old: newMilvus(image214, "2.1.4"), cur: newMilvus(image2423, "2.4.23"), need: to2423,
			want: &Plan{HeldImage: image214, HeldVersion: "2.1.4", RequestedImage: image2423, RequestedVersion: "2.4.23",
				Target: milvus.MustVersion("v2.2.16"), UpgradeName: "my-release-migrate-v2-2-16"},
			annotations: map[string]string{
				AnnotationRequestedImage:   image2423,
				AnnotationRequestedVersion: "2.4.23",
				AnnotationPlannedUpgrade:   "my-release-migrate-v2-2-16",
				AnnotationMigrationTarget:  "v2.2.16",
			}},
		{name: "only spec.components.version changes, to 2.2.5 without a v: the tag gets its v",
			old: newMilvus(image214, "2.1.4"), cur: newMilvus(image214, "2.2.5"), need: toBare225,
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
			got := PlanFor(tc.old, tc.cur, tc.need)
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
			u, err := BuildUpgrade(m, nil, intent, p)
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
		u, err := BuildUpgrade(m, nil, intent, p)
		require.Error(t, err)
		assert.Nil(t, u)
		assert.Contains(t, err.Error(), "default/my-release")
		assert.Contains(t, err.Error(), "latest")
	})
	t.Run("a Succeeded upgrade counts as running while the status lags", func(t *testing.T) {
		m := newMilvus(image2216, "")
		m.Status.CurrentVersion = "v2.1.4"
		done := upgrade("by-hand", StateSucceeded)
		done.Spec.TargetVersion = "v2.2.16"
		u, err := BuildUpgrade(m, []milvus.MilvusUpgrade{done}, intent, p)
		require.NoError(t, err)
		source, _, _ := unstructured.NestedString(u.Object, "spec", "sourceVersion")
		assert.Equal(t, "v2.2.16", source, "never a second migration from 2.1.4")
	})
	t.Run("no image at all is an error", func(t *testing.T) {
		_, err := BuildUpgrade(newMilvus("", ""), nil, intent, p)
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

// Failed agrees with the real operator (../shared/milvus-operator/src):
// of every state it declares, the failed ones are those it stops requeueing
// at, Succeeded aside.
func TestFailed(t *testing.T) {
	states, terminal := operatorStates(t)
	require.Contains(t, states, StateSucceeded)
	require.True(t, terminal[StateSucceeded])
	for _, s := range states {
		assert.Equal(t, terminal[s] && s != StateSucceeded, Failed(s), "state %q", s)
	}
	assert.False(t, Failed("NoSuchState"))
	for _, s := range []string{StateNewVersionStarting, StateRollbackOldVersionStarting, StateRollbackSucceeded} {
		assert.Contains(t, states, s, "a state the operator declares")
	}
}

// operatorStates parses the operator's milvusupgrade_types.go: every
// MilvusUpgradeState constant, and those in milvusUpgradeNoRequeueStates.
func operatorStates(t *testing.T) (states []string, terminal map[string]bool) {
	t.Helper()
	dir, err := shared.Dir()
	require.NoError(t, err)
	file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "milvus-operator", "src", "apis", "milvus.io", "v1beta1", "milvusupgrade_types.go"), nil, 0)
	require.NoError(t, err, "the operator source is part of ../shared")
	values := map[string]string{} // constant name → state
	terminal = map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			if id, ok := n.Type.(*ast.Ident); ok && id.Name == "MilvusUpgradeState" && len(n.Values) == 1 {
				if lit, ok := n.Values[0].(*ast.BasicLit); ok {
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					values[n.Names[0].Name] = v
					states = append(states, v)
				}
			}
			if len(n.Names) == 1 && n.Names[0].Name == "milvusUpgradeNoRequeueStates" {
				for _, elt := range n.Values[0].(*ast.CompositeLit).Elts {
					terminal[values[elt.(*ast.KeyValueExpr).Key.(*ast.Ident).Name]] = true
				}
			}
		}
		return true
	})
	require.NotEmpty(t, terminal, "milvusUpgradeNoRequeueStates found")
	return states, terminal
}

func TestDecideHold(t *testing.T) {
	old, cur := newMilvus(image214, ""), newMilvus(image2423, "")
	plan := PlanFor(old, cur, to2423)
	require.NotNil(t, plan)
	require.Equal(t, planned, plan.UpgradeName)
	for _, upgrades := range [][]milvus.MilvusUpgrade{nil, {upgrade(planned, "")}, {upgrade(planned, "UpdatingMeta")}} {
		out := Decide(old, cur, to2423, upgrades, Request{})
		assert.Equal(t, Outcome{Hold: plan, Field: "spec.components.image", Note: "held; MilvusUpgrade " + planned + " migrates to v2.2.16 first"}, out)
	}
	t.Run("the note names the version field when it is set", func(t *testing.T) {
		o, c := newMilvus(image214, "2.1.4"), newMilvus(image2423, "2.4.23")
		out := Decide(o, c, to2423, nil, Request{})
		require.NotNil(t, out.Hold)
		assert.Equal(t, "spec.components.version", out.Field)
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

func withLabel(m *milvus.Milvus) *milvus.Milvus {
	m.Labels = map[string]string{"team": "search"}
	return m
}

func TestDecideCancel(t *testing.T) {
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
			old:     appliedBy(held(), "flux", metav1.ManagedFieldsOperationApply),
			cur:     appliedBy(held(), "flux", metav1.ManagedFieldsOperationApply),
			applier: "flux", cancel: true},
		{name: "kubectl label over a stale last-applied configuration (held by kubectl patch): no cancel",
			old: reverted(image214), cur: withLabel(reverted(image214)), applier: "kubectl-label"},
		{name: "kubectl annotate / patch / edit, stale last-applied: no cancel",
			old: reverted(image214), cur: reverted(image214), applier: "kubectl-patch"},
		{name: "the ownership PATCH after a server-side takeover (--force-conflicts): no cancel",
			old: appliedBy(reverted(image214), "kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate),
			cur: appliedBy(reverted(image214), "kubectl", metav1.ManagedFieldsOperationApply), applier: "kubectl"},
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
		{name: "planned upgrade failed, a re-sync still asks for the image: no cancel (MU-META-FAILED denies)",
			old: held(), cur: held(), upgrades: []milvus.MilvusUpgrade{upgrade(planned, "UpdateMetaFailed")}},
		{name: "git reverted after the planned upgrade failed and rolled back: cancel (the failed upgrade stays)",
			old: held(), cur: reverted(image214), upgrades: []milvus.MilvusUpgrade{upgrade(planned, "RollbackedSucceeded")}, cancel: true},
		{name: "git reverted while the operator rolls back: no cancel",
			old: held(), cur: reverted(image214), upgrades: []milvus.MilvusUpgrade{upgrade(planned, "RollbackRestoringOldMeta")}},
		{name: "written by the operator: no cancel",
			old: held(), cur: reverted(image214), byOperator: true},
		{name: "image changed (the operator writes the target image): no cancel",
			old: held(), cur: withAnnotations(newMilvus(image2216, ""), intentFor()), byOperator: true,
			upgrades: []milvus.MilvusUpgrade{upgrade(planned, "UpdatingMeta")}},
		{name: "image changed by a user within 2.1: no cancel",
			old: held(), cur: withAnnotations(newMilvus("milvusdb/milvus:v2.1.3", ""), intentFor())},
		{name: "version field changed, image the same: no cancel",
			old: held(), cur: withAnnotations(newMilvus(image214, "2.1.4"), intentFor())},
		{name: "an intent this request adds (a forged one in a client-side apply): nothing to cancel, MU-INTENT denies it",
			old: newMilvus(image214, ""), cur: func() *milvus.Milvus {
				m := reverted(image214)
				m.Annotations[AnnotationPlannedUpgrade] = "anything"
				return m
			}()},
		{name: "an intent this request changes: nothing to cancel",
			old: held(), cur: func() *milvus.Milvus {
				m := reverted(image214)
				m.Annotations[AnnotationPlannedUpgrade] = "other"
				return m
			}()},
		{name: "no intent: nothing to cancel",
			old: newMilvus(image214, ""), cur: newMilvus(image214, "")},
		{name: "CREATE with intent annotations: nothing to cancel",
			cur: held()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := Decide(tc.old, tc.cur, nil, tc.upgrades, Request{ByOperator: tc.byOperator, Applier: tc.applier})
			want := Outcome{}
			if tc.cancel {
				want = Outcome{Cancel: true, Field: "spec.components.image", Note: "migration " + planned + " cancelled: the image stays as it is"}
			}
			assert.Equal(t, want, out)
		})
	}
}

// A malformed intent is not dropped in silence: the note says why nothing
// can be cancelled.
func TestDecideMalformedIntent(t *testing.T) {
	cur := withAnnotations(newMilvus(image214, ""), map[string]string{AnnotationPlannedUpgrade: planned, AnnotationMigrationTarget: "soon"})
	out := Decide(newMilvus(image214, ""), cur, nil, nil, Request{})
	assert.Equal(t, Outcome{Field: "metadata.annotations",
		Note: `ignoring a malformed migration intent: annotation ` + AnnotationMigrationTarget + `: "soon" is not a Milvus version (expected a tag like v2.4.23)`}, out)
}
