package controller

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

const (
	milvusUID    = types.UID("6f0c1a52-0000-4000-8000-000000000001")
	otherUID     = types.UID("6f0c1a52-0000-4000-8000-000000000002")
	plannedName  = "my-release-migrate-v2-2-16"
	argoTracking = "argocd.argoproj.io/tracking-id"
)

var releaseKey = types.NamespacedName{Namespace: "default", Name: "my-release"}

// intent is what the webhook records for the hold of 2.1.4 → 2.4.23.
func intent() map[string]string {
	return map[string]string{
		migration.AnnotationRequestedImage:  "registry.internal:5000/milvusdb/milvus:v2.4.23",
		migration.AnnotationPlannedUpgrade:  plannedName,
		migration.AnnotationMigrationTarget: "v2.2.16",
	}
}

// newMilvusObj is the Milvus my-release, held at 2.1.4 in a private registry,
// running 2.1.4, with the given annotations (none when nil).
func newMilvusObj(name string, uid types.UID, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec":     map[string]any{"components": map[string]any{"image": "registry.internal:5000/milvusdb/milvus:v2.1.4"}},
		"status":   map[string]any{"currentVersion": "v2.1.4"},
	}}
	u.SetUID(uid)
	u.SetLabels(map[string]string{"app.kubernetes.io/instance": name})
	if annotations != nil {
		u.SetAnnotations(annotations)
	}
	return u
}

// generated is a MilvusUpgrade the controller made for the Milvus with ownerUID.
func generated(name, ownerName string, ownerUID types.UID, state string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "MilvusUpgrade",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"milvus":        map[string]any{"name": ownerName, "namespace": "default"},
			"sourceVersion": "v2.1.4", "targetVersion": "v2.2.16",
			"targetImage": "registry.internal:5000/milvusdb/milvus:v2.2.16", "toolImage": "milvusdb/meta-migration:v2.2.0",
		},
	}}
	u.SetUID(types.UID("up-" + name))
	u.SetLabels(map[string]string{migration.LabelManagedBy: migration.ManagedBy})
	u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "milvus.io/v1beta1", Kind: "Milvus", Name: ownerName, UID: ownerUID, Controller: ptr.To(true)}})
	if state != "" {
		u.Object["status"] = map[string]any{"state": state}
	}
	return u
}

type fixture struct {
	client client.Client
	events *events.FakeRecorder
	r      *Migration
	// patches are the bodies of the patches the controller sent.
	patches []string
	// counted is Migrations at the last drain.
	counted map[string]float64
}

func newFixture(objs ...client.Object) *fixture {
	f := &fixture{events: events.NewFakeRecorder(100), counted: counted()}
	scheme := runtime.NewScheme() // the webhook's: the views of pkg/milvus
	utilruntime.Must(milvus.AddToScheme(scheme))
	f.client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			data, err := patch.Data(obj)
			if err != nil {
				return err
			}
			f.patches = append(f.patches, string(data))
			return c.Patch(ctx, obj, patch, opts...)
		},
	}).Build()
	f.r = &Migration{Client: f.client, Policy: policy.Default(), Events: f.events}
	return f
}

// drainPatches returns the patch bodies sent so far.
func (f *fixture) drainPatches() []string {
	out := f.patches
	f.patches = nil
	return out
}

func (f *fixture) reconcile(t *testing.T, key types.NamespacedName) {
	t.Helper()
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	require.NoError(t, err)
	assert.Equal(t, ctrl.Result{}, res)
}

// drain returns the events recorded so far. Each one must have been
// counted in Migrations under its reason, and nothing else counted.
func (f *fixture) drain(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		select {
		case e := <-f.events.Events:
			out = append(out, e)
		default:
			f.checkCounted(t, out)
			return out
		}
	}
}

var reasons = []string{ReasonPlanned, ReasonSucceeded, ReasonFailed, ReasonCancelled, ReasonInvalid}

// counted is Migrations by reason.
func counted() map[string]float64 {
	out := map[string]float64{}
	for _, r := range reasons {
		out[r] = testutil.ToFloat64(Migrations.WithLabelValues(r))
	}
	return out
}

// checkCounted compares what Migrations counted since the last drain with
// the reasons of evs ("Normal MigrationPlanned note…").
func (f *fixture) checkCounted(t *testing.T, evs []string) {
	t.Helper()
	now, want := counted(), map[string]float64{}
	for _, r := range reasons {
		want[r] = f.counted[r]
	}
	for _, e := range evs {
		if fields := strings.Fields(e); len(fields) > 1 {
			want[fields[1]]++
		}
	}
	assert.Equal(t, want, now, "milvus_admission_migrations_total counts each Event under its reason")
	f.counted = now
}

func (f *fixture) upgrades(t *testing.T) []unstructured.Unstructured {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(milvus.MilvusUpgradeListKind)
	require.NoError(t, f.client.List(context.Background(), list, client.InNamespace("default")))
	return list.Items
}

func (f *fixture) getUpgrade(t *testing.T, name string) (*unstructured.Unstructured, error) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(milvus.MilvusUpgradeKind)
	err := f.client.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: name}, u)
	return u, err
}

func (f *fixture) milvusAnnotations(t *testing.T) map[string]string {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(milvus.MilvusKind)
	require.NoError(t, f.client.Get(context.Background(), releaseKey, u))
	return u.GetAnnotations()
}

func names(items []unstructured.Unstructured) []string {
	var out []string
	for _, u := range items {
		out = append(out, u.GetName())
	}
	return out
}

func TestReconcileCreatesThePlannedUpgrade(t *testing.T) {
	ann := intent()
	ann[argoTracking] = "app:milvus.io/Milvus:default/my-release"
	f := newFixture(newMilvusObj("my-release", milvusUID, ann))

	f.reconcile(t, releaseKey)

	up, err := f.getUpgrade(t, plannedName)
	require.NoError(t, err)
	assert.Equal(t, []metav1.OwnerReference{{
		APIVersion: "milvus.io/v1beta1", Kind: "Milvus", Name: "my-release", UID: milvusUID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false),
	}}, up.GetOwnerReferences())
	assert.Equal(t, map[string]string{migration.LabelManagedBy: migration.ManagedBy}, up.GetLabels())
	assert.Empty(t, up.GetAnnotations(), "no Argo CD tracking copied from the Milvus")
	spec, _, err := unstructured.NestedMap(up.Object, "spec")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"milvus":        map[string]any{"name": "my-release", "namespace": "default"},
		"sourceVersion": "v2.1.4",
		"targetVersion": "v2.2.16",
		"targetImage":   "registry.internal:5000/milvusdb/milvus:v2.2.16",
		"toolImage":     "milvusdb/meta-migration:v2.2.0",
	}, spec)
	_, hasStatus, _ := unstructured.NestedString(up.Object, "status", "state")
	assert.False(t, hasStatus)

	evs := f.drain(t)
	require.Len(t, evs, 1)
	assert.True(t, strings.HasPrefix(evs[0], "Normal "+ReasonPlanned+" "), evs[0])
	assert.Contains(t, evs[0], plannedName)
	assert.Contains(t, evs[0], "v2.1.4 → v2.2.16")
	assert.Contains(t, evs[0], "registry.internal:5000/milvusdb/milvus:v2.4.23")

	assert.Equal(t, ann, f.milvusAnnotations(t), "the intent stays until the upgrade succeeds")

	t.Run("a second reconcile creates no duplicate", func(t *testing.T) {
		f.reconcile(t, releaseKey)
		assert.Equal(t, []string{plannedName}, names(f.upgrades(t)))
		assert.Empty(t, f.drain(t))
	})
}

func TestReconcileUpgradeOutcome(t *testing.T) {
	t.Run("succeeded: intent annotations removed, others kept", func(t *testing.T) {
		ann := intent()
		ann[migration.AnnotationRequestedVersion] = "2.4.23"
		ann[argoTracking] = "app:milvus.io/Milvus:default/my-release"
		f := newFixture(newMilvusObj("my-release", milvusUID, ann), generated(plannedName, "my-release", milvusUID, migration.StateSucceeded))

		f.reconcile(t, releaseKey)

		assert.Equal(t, map[string]string{argoTracking: "app:milvus.io/Milvus:default/my-release"}, f.milvusAnnotations(t))
		evs := f.drain(t)
		require.Len(t, evs, 1)
		assert.True(t, strings.HasPrefix(evs[0], "Normal "+ReasonSucceeded+" "), evs[0])
		assert.Contains(t, evs[0], plannedName)
		assert.Contains(t, evs[0], "(version 2.4.23)")
		assert.Equal(t, []string{plannedName}, names(f.upgrades(t)), "a succeeded upgrade is kept")

		t.Run("the next reconcile, without intent, keeps the succeeded upgrade", func(t *testing.T) {
			f.reconcile(t, releaseKey)
			assert.Equal(t, []string{plannedName}, names(f.upgrades(t)))
			assert.Empty(t, f.drain(t))
		})
	})
	for _, state := range []string{"BakupMetaFailed", "UpdateMetaFailed", "RollbackFailed", "RollbackedSucceeded"} {
		t.Run("failed in "+state+": recorded on the Milvus, warning event, intent kept, nothing created", func(t *testing.T) {
			ann := intent()
			ann[argoTracking] = "app:milvus.io/Milvus:default/my-release"
			f := newFixture(newMilvusObj("my-release", milvusUID, ann), generated(plannedName, "my-release", milvusUID, state))

			f.reconcile(t, releaseKey)

			record := plannedName + " " + state
			want := withAnnotation(ann, migration.AnnotationMigrationFailed, record)
			assert.Equal(t, want, f.milvusAnnotations(t), "the intent and every other annotation kept")
			assert.Equal(t, []string{`{"metadata":{"annotations":{"milvus-admission.io/migration-failed":"` + record + `"}}}`}, f.drainPatches(),
				"one merge patch of the failure record alone")
			evs := f.drain(t)
			require.Len(t, evs, 1)
			assert.True(t, strings.HasPrefix(evs[0], "Warning "+ReasonFailed+" "), evs[0])
			assert.Contains(t, evs[0], plannedName)
			assert.Contains(t, evs[0], state)
			assert.Equal(t, []string{plannedName}, names(f.upgrades(t)))

			t.Run("the next reconcile writes nothing and reports nothing again", func(t *testing.T) {
				f.reconcile(t, releaseKey)
				assert.Empty(t, f.drainPatches())
				assert.Empty(t, f.drain(t))
				assert.Equal(t, want, f.milvusAnnotations(t))
			})
		})
	}
	for _, state := range []string{"", "BakupMeta", "UpdatingMeta"} {
		t.Run("in progress ("+state+"): nothing to do", func(t *testing.T) {
			f := newFixture(newMilvusObj("my-release", milvusUID, intent()), generated(plannedName, "my-release", milvusUID, state))

			f.reconcile(t, releaseKey)

			assert.Equal(t, intent(), f.milvusAnnotations(t))
			assert.Empty(t, f.drain(t))
			assert.Empty(t, f.drainPatches())
			assert.Equal(t, []string{plannedName}, names(f.upgrades(t)))
		})
	}
}

func withAnnotation(a map[string]string, key, value string) map[string]string {
	out := maps.Clone(a)
	out[key] = value
	return out
}

// The failure record says what the persisted intent and its generated
// upgrade say, and nothing else: cleared once the migration succeeds, the
// failed upgrade is deleted to retry, git retargets, or the intent goes; a
// record a tenant wrote is put right; an upgrade we did not generate
// records nothing.
func TestReconcileFailureRecord(t *testing.T) {
	failed := plannedName + " UpdateMetaFailed"
	recordedIntent := withAnnotation(intent(), migration.AnnotationMigrationFailed, failed)
	retargeted := map[string]string{
		migration.AnnotationRequestedImage:  "registry.internal:5000/milvusdb/milvus:v2.2.5",
		migration.AnnotationPlannedUpgrade:  "my-release-migrate-v2-2-5",
		migration.AnnotationMigrationTarget: "v2.2.5",
		migration.AnnotationMigrationFailed: failed,
	}
	byHand := generated(plannedName, "my-release", milvusUID, "UpdateMetaFailed")
	byHand.SetLabels(nil)
	byHand.SetOwnerReferences(nil)

	removal := `{"metadata":{"annotations":{"milvus-admission.io/migration-failed":null}}}`
	tests := []struct {
		name     string
		ann      map[string]string
		upgrades []client.Object
		want     map[string]string // the Milvus's annotations afterwards
		patches  []string          // the patches sent, in order
		upgrade  []string          // the upgrades afterwards
		reasons  []string          // of the events
	}{
		{name: "succeeded: cleared with the intent, in one patch",
			ann:      recordedIntent,
			upgrades: []client.Object{generated(plannedName, "my-release", milvusUID, migration.StateSucceeded)},
			want:     map[string]string{},
			patches: []string{`{"metadata":{"annotations":{"milvus-admission.io/migration-failed":null,"milvus-admission.io/migration-target":null,` +
				`"milvus-admission.io/planned-upgrade":null,"milvus-admission.io/requested-image":null,"milvus-admission.io/requested-version":null}}}`},
			upgrade: []string{plannedName},
			reasons: []string{ReasonSucceeded}},
		{name: "the failed upgrade deleted to retry: cleared, the upgrade planned anew",
			ann:     recordedIntent,
			want:    intent(),
			patches: []string{removal},
			upgrade: []string{plannedName},
			reasons: []string{ReasonPlanned}},
		{name: "git retargeted after the failure: cleared, the new upgrade planned",
			ann:      retargeted,
			upgrades: []client.Object{generated(plannedName, "my-release", milvusUID, "UpdateMetaFailed")},
			want:     withoutAnnotation(retargeted, migration.AnnotationMigrationFailed),
			patches:  []string{removal},
			upgrade:  []string{"my-release-migrate-v2-2-5", plannedName},
			reasons:  []string{ReasonPlanned}},
		{name: "the intent removed: cleared",
			ann:      map[string]string{migration.AnnotationMigrationFailed: failed, argoTracking: "x"},
			upgrades: []client.Object{generated(plannedName, "my-release", milvusUID, "UpdateMetaFailed")},
			want:     map[string]string{argoTracking: "x"},
			patches:  []string{removal},
			upgrade:  []string{plannedName}},
		{name: "written by a tenant while the migration runs: cleared",
			ann:      recordedIntent,
			upgrades: []client.Object{generated(plannedName, "my-release", milvusUID, "UpdatingMeta")},
			want:     intent(),
			patches:  []string{removal},
			upgrade:  []string{plannedName}},
		{name: "a stale state: rewritten",
			ann:      withAnnotation(intent(), migration.AnnotationMigrationFailed, plannedName+" BakupMetaFailed"),
			upgrades: []client.Object{generated(plannedName, "my-release", milvusUID, "RollbackedSucceeded")},
			want:     withAnnotation(intent(), migration.AnnotationMigrationFailed, plannedName+" RollbackedSucceeded"),
			patches:  []string{`{"metadata":{"annotations":{"milvus-admission.io/migration-failed":"` + plannedName + ` RollbackedSucceeded"}}}`},
			upgrade:  []string{plannedName},
			reasons:  []string{ReasonFailed}},
		{name: "a failed upgrade made by hand under the planned name: nothing recorded",
			ann:      intent(),
			upgrades: []client.Object{byHand},
			want:     intent(),
			upgrade:  []string{plannedName}},
		{name: "a malformed intent: cleared",
			ann:     withAnnotation(recordedIntent, migration.AnnotationMigrationTarget, "soon"),
			want:    withAnnotation(intent(), migration.AnnotationMigrationTarget, "soon"),
			patches: []string{removal},
			reasons: []string{ReasonInvalid}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(append([]client.Object{newMilvusObj("my-release", milvusUID, tc.ann)}, tc.upgrades...)...)

			f.reconcile(t, releaseKey)

			got := f.milvusAnnotations(t)
			if got == nil {
				got = map[string]string{}
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.patches, f.drainPatches(), "the patches sent (none: nothing written)")
			assert.ElementsMatch(t, tc.upgrade, names(f.upgrades(t)))
			var reasons []string
			for _, e := range f.drain(t) {
				reasons = append(reasons, strings.Fields(e)[1])
			}
			assert.Equal(t, tc.reasons, reasons)
		})
	}
}

func withoutAnnotation(a map[string]string, key string) map[string]string {
	out := maps.Clone(a)
	delete(out, key)
	return out
}

func TestReconcileCancelsUnstarted(t *testing.T) {
	userUpgrade := generated("manual-upgrade", "my-release", milvusUID, "")
	userUpgrade.SetLabels(nil)
	userUpgrade.SetOwnerReferences(nil)

	tests := []struct {
		name    string
		objs    []client.Object
		kept    []string
		deleted string // the upgrade a MigrationCancelled event names, if any
	}{
		{name: "owned generated upgrade not started: deleted",
			objs:    []client.Object{generated(plannedName, "my-release", milvusUID, "")},
			deleted: plannedName},
		{name: "owned generated upgrade in UpdatingMeta: kept",
			objs: []client.Object{generated(plannedName, "my-release", milvusUID, "UpdatingMeta")},
			kept: []string{plannedName}},
		{name: "owned generated upgrade failed: kept",
			objs: []client.Object{generated(plannedName, "my-release", milvusUID, "UpdateMetaFailed")},
			kept: []string{plannedName}},
		{name: "generated upgrade of another Milvus: kept",
			objs: []client.Object{
				newMilvusObj("other-release", otherUID, intent()),
				generated("other-release-migrate-v2-2-16", "other-release", otherUID, ""),
			},
			kept: []string{"other-release-migrate-v2-2-16"}},
		{name: "a user's upgrade without the label: kept",
			objs: []client.Object{userUpgrade},
			kept: []string{"manual-upgrade"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(append([]client.Object{newMilvusObj("my-release", milvusUID, nil)}, tc.objs...)...)

			f.reconcile(t, releaseKey)

			assert.ElementsMatch(t, tc.kept, names(f.upgrades(t)))
			evs := f.drain(t)
			if tc.deleted == "" {
				assert.Empty(t, evs)
				return
			}
			_, err := f.getUpgrade(t, tc.deleted)
			assert.True(t, apierrors.IsNotFound(err), "%v", err)
			require.Len(t, evs, 1)
			assert.True(t, strings.HasPrefix(evs[0], "Normal "+ReasonCancelled+" "), evs[0])
			assert.Contains(t, evs[0], tc.deleted)
		})
	}
}

func TestReconcileNothingToDo(t *testing.T) {
	t.Run("Milvus not found: no error", func(t *testing.T) {
		f := newFixture()
		f.reconcile(t, releaseKey)
		assert.Empty(t, f.drain(t))
		assert.Empty(t, f.upgrades(t))
	})
	t.Run("Milvus without intent or upgrades: nothing happens", func(t *testing.T) {
		f := newFixture(newMilvusObj("my-release", milvusUID, map[string]string{argoTracking: "x"}))
		f.reconcile(t, releaseKey)
		assert.Empty(t, f.drain(t))
		assert.Empty(t, f.drainPatches(), "nothing written")
		assert.Empty(t, f.upgrades(t))
		assert.Equal(t, map[string]string{argoTracking: "x"}, f.milvusAnnotations(t))
	})
}

func TestReconcileInvalidIntent(t *testing.T) {
	t.Run("malformed target: warning event, no error, nothing created", func(t *testing.T) {
		ann := intent()
		ann[migration.AnnotationMigrationTarget] = "soon"
		f := newFixture(newMilvusObj("my-release", milvusUID, ann))

		f.reconcile(t, releaseKey)

		evs := f.drain(t)
		require.Len(t, evs, 1)
		assert.True(t, strings.HasPrefix(evs[0], "Warning "+ReasonInvalid+" "), evs[0])
		assert.Contains(t, evs[0], migration.AnnotationMigrationTarget)
		assert.Empty(t, f.upgrades(t))
		assert.Equal(t, ann, f.milvusAnnotations(t))
	})
	t.Run("running version unknown: warning event, no error, nothing created", func(t *testing.T) {
		m := newMilvusObj("my-release", milvusUID, intent())
		require.NoError(t, unstructured.SetNestedField(m.Object, "milvusdb/milvus:latest", "spec", "components", "image"))
		unstructured.RemoveNestedField(m.Object, "status")
		f := newFixture(m)

		f.reconcile(t, releaseKey)

		evs := f.drain(t)
		require.Len(t, evs, 1)
		assert.True(t, strings.HasPrefix(evs[0], "Warning "+ReasonInvalid+" "), evs[0])
		assert.Contains(t, evs[0], "not the plan milvus-admission makes", "from an unknown version nothing is held")
		assert.Empty(t, f.upgrades(t))
	})
}

// The controller acts with its own rights, so it creates nothing a tenant's
// hand-written annotations ask for that the hold itself would not make.
func TestReconcileTrustsNothing(t *testing.T) {
	with := func(key, value string) map[string]string {
		a := intent()
		a[key] = value
		return a
	}
	busy := generated("by-hand", "my-release", milvusUID, "BackupMeta")
	busy.SetOwnerReferences(nil)
	busy.SetLabels(nil)
	tests := []struct {
		name     string
		milvus   *unstructured.Unstructured
		others   []client.Object
		excluded []string
		says     string
	}{
		{name: "a name of the tenant's choosing", milvus: newMilvusObj("my-release", milvusUID, with(migration.AnnotationPlannedUpgrade, "prod-db-migrate")),
			says: "not the plan"},
		{name: "a target the migration tool cannot reach", milvus: newMilvusObj("my-release", milvusUID, with(migration.AnnotationMigrationTarget, "v2.0.0")),
			says: "not the plan"},
		{name: "a requested image that needs no migration", milvus: newMilvusObj("my-release", milvusUID, with(migration.AnnotationRequestedImage, "registry.internal:5000/milvusdb/milvus:v2.1.3")),
			says: "not the plan"},
		{name: "another upgrade at work on this Milvus", milvus: newMilvusObj("my-release", milvusUID, intent()), others: []client.Object{busy},
			says: "another MilvusUpgrade is at work"},
		{name: "a namespace the webhooks do not cover", milvus: newMilvusObj("my-release", milvusUID, intent()), excluded: []string{"kube-system", "default"},
			says: "namespace default is not covered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(append([]client.Object{tc.milvus}, tc.others...)...)
			f.r.ExcludedNamespaces = tc.excluded
			f.reconcile(t, releaseKey)
			evs := f.drain(t)
			require.Len(t, evs, 1)
			assert.True(t, strings.HasPrefix(evs[0], "Warning "+ReasonInvalid+" "), evs[0])
			assert.Contains(t, evs[0], tc.says)
			assert.Len(t, f.upgrades(t), len(tc.others), "nothing created")
		})
	}
}

// Git retargeted before the operator started: the plan we generated gives
// way to the new one (deleted first, so the two never coexist); a started
// upgrade is never touched.
func TestReconcileReplacesAnUnstartedPlan(t *testing.T) {
	retargeted := map[string]string{
		migration.AnnotationRequestedImage:  "registry.internal:5000/milvusdb/milvus:v2.2.5",
		migration.AnnotationPlannedUpgrade:  "my-release-migrate-v2-2-5",
		migration.AnnotationMigrationTarget: "v2.2.5",
	}
	t.Run("unstarted: replaced, in two passes", func(t *testing.T) {
		f := newFixture(newMilvusObj("my-release", milvusUID, retargeted), generated(plannedName, "my-release", milvusUID, ""))
		names := func() []string {
			var names []string
			for _, u := range f.upgrades(t) {
				names = append(names, u.GetName())
			}
			return names
		}
		// The first deletes; the create waits for the deletion to reach
		// the webhooks' caches (MU-UP-ONE would still see the old plan).
		f.reconcile(t, releaseKey)
		assert.Empty(t, names(), "deleted, nothing created yet")
		evs := f.drain(t)
		require.Len(t, evs, 1)
		assert.Contains(t, evs[0], "Normal "+ReasonCancelled+" deleted MilvusUpgrade "+plannedName+" before the operator started it: the Milvus now asks for registry.internal:5000/milvusdb/milvus:v2.2.5")
		// The deletion's event brings the Milvus back.
		f.reconcile(t, releaseKey)
		assert.Equal(t, []string{"my-release-migrate-v2-2-5"}, names())
		evs = f.drain(t)
		require.Len(t, evs, 1)
		assert.Contains(t, evs[0], "Normal "+ReasonPlanned+" created MilvusUpgrade my-release-migrate-v2-2-5")
	})
	t.Run("deleted, still in the cache: nothing created, no second event", func(t *testing.T) {
		stale := generated(plannedName, "my-release", milvusUID, "")
		f := newFixture(newMilvusObj("my-release", milvusUID, retargeted), stale)
		// The cache lags: the upgrade it lists is gone from the API server.
		f.client = interceptor.NewClient(f.client.(client.WithWatch), interceptor.Funcs{
			Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
				return apierrors.NewNotFound(schema.GroupResource{Group: milvus.Group, Resource: "milvusupgrades"}, plannedName)
			},
		})
		f.r.Client = f.client
		f.reconcile(t, releaseKey)
		require.Len(t, f.upgrades(t), 1)
		assert.Equal(t, plannedName, f.upgrades(t)[0].GetName(), "nothing created while the cache still holds the old plan")
		assert.Empty(t, f.drain(t))
	})
	t.Run("started: kept, nothing created", func(t *testing.T) {
		f := newFixture(newMilvusObj("my-release", milvusUID, retargeted), generated(plannedName, "my-release", milvusUID, "BackupMeta"))
		f.reconcile(t, releaseKey)
		require.Len(t, f.upgrades(t), 1)
		assert.Equal(t, plannedName, f.upgrades(t)[0].GetName())
		evs := f.drain(t)
		require.Len(t, evs, 1)
		assert.Contains(t, evs[0], "Warning "+ReasonInvalid)
	})
}
