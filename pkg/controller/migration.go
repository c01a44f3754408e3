// Package controller acts on persisted Milvus objects that the webhook held
// for a metadata migration (pkg/migration): it creates the planned
// MilvusUpgrade, reports each step as an Event, records a failed migration
// on the Milvus (migration.AnnotationMigrationFailed, for GitOps health
// checks), and clears the intent once the operator's upgrade has succeeded.
// It never acts on a request: dry-runs reach only the webhook, which writes
// nothing.
package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
	"github.com/milvus-admission/milvus-admission/pkg/webhook"
)

// Event reasons.
const (
	ReasonPlanned   = "MigrationPlanned"
	ReasonSucceeded = "MigrationSucceeded"
	ReasonFailed    = "MigrationFailed"
	ReasonCancelled = "MigrationCancelled"
	ReasonInvalid   = "MigrationInvalid"
)

// Migrations counts the controller's steps by their Event reason: upgrades
// planned (generated), succeeded, failed, cancelled, and intents refused.
var Migrations = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "milvus_admission_migrations_total",
	Help: "Steps of generated metadata migrations by reason: MigrationPlanned, MigrationSucceeded, MigrationFailed, MigrationCancelled, MigrationInvalid.",
}, []string{"reason"})

func init() { metrics.Registry.MustRegister(Migrations) }

// event counts a step and reports it as an Event on obj.
func (r *Migration) event(obj, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	Migrations.WithLabelValues(reason).Inc()
	r.Events.Eventf(obj, related, eventtype, reason, action, note, args...)
}

// Migration reconciles Milvus objects carrying a migration intent.
type Migration struct {
	Client client.Client
	Policy *policy.Policy
	Events events.EventRecorder
	// ExcludedNamespaces are those the shipped webhook configurations do not
	// cover: no hold can have happened there, so no intent is acted on.
	ExcludedNamespaces []string
}

// SetupWithManager watches Milvus objects and the MilvusUpgrades they own.
func (r *Migration) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("milvus-migration").
		For(&milvus.Milvus{}).
		Owns(&milvus.MilvusUpgrade{}).
		Complete(r)
}

func newObject(kind string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(milvus.MilvusKind.GroupVersion().WithKind(kind))
	return u
}

// Reconcile implements reconcile.Reconciler.
func (r *Migration) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	m := &milvus.Milvus{}
	if err := r.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Every path but the failed one ends with no failure recorded: the
	// intent was dropped or retargeted, its upgrade is new, still at work,
	// or succeeded. The record is derived from the persisted intent and
	// upgrade alone, so one a tenant wrote is put right here too.
	in, ok, err := migration.IntentOf(m)
	if err != nil {
		r.event(m, nil, corev1.EventTypeWarning, ReasonInvalid, "Plan", "ignoring a malformed migration intent: %v", err)
		return ctrl.Result{}, r.recordFailure(ctx, m, "")
	}
	if !ok {
		upgrades, err := webhook.CacheLookup{Reader: r.Client}.UpgradesFor(ctx, m.Namespace, m.Name)
		if err == nil {
			_, _, err = r.deleteUnstarted(ctx, m, "", upgrades, "the Milvus no longer asks for the change")
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.recordFailure(ctx, m, "")
	}

	up := &milvus.MilvusUpgrade{}
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: in.UpgradeName}, up)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.recordFailure(ctx, m, ""); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.create(ctx, m, in)
	case err != nil:
		return ctrl.Result{}, err
	}
	state := up.Status.State
	switch {
	case state == migration.StateSucceeded:
		if err := r.clearIntent(ctx, m); err != nil {
			return ctrl.Result{}, err
		}
		r.event(m, up, corev1.EventTypeNormal, ReasonSucceeded, "Migrate",
			"MilvusUpgrade %s succeeded; the next sync can roll on to %s", in.UpgradeName, requested(in))
		log.Info("migration succeeded, intent cleared", "upgrade", in.UpgradeName)
	case migration.Failed(state) && migration.Generated(up, m):
		// Only the upgrade we generated for this Milvus: one made by hand
		// under the planned name shows its failure in its own health.
		record := migration.FailureRecord(in.UpgradeName, state)
		if recorded(m, record) {
			return ctrl.Result{}, nil
		}
		if err := r.recordFailure(ctx, m, record); err != nil {
			return ctrl.Result{}, err
		}
		r.event(m, up, corev1.EventTypeWarning, ReasonFailed, "Migrate",
			"MilvusUpgrade %s ended in state %s; the image stays held. Delete it to retry, or revert the image in git", in.UpgradeName, state)
		log.Info("migration failed, recorded on the Milvus", "upgrade", in.UpgradeName, "state", state)
	default:
		return ctrl.Result{}, r.recordFailure(ctx, m, "")
	}
	return ctrl.Result{}, nil
}

// create makes the planned MilvusUpgrade, owned by the Milvus. It trusts
// nothing the annotations say: it creates only in a namespace the webhooks
// cover, only the plan the hold itself makes of the persisted object (the
// deterministic name, the 2.2.x target, no other upgrade at work), and only
// an upgrade the MilvusUpgrade rules allow (source = the running version).
// AlreadyExists means another replica or an earlier pass made it.
func (r *Migration) create(ctx context.Context, m *milvus.Milvus, in migration.Intent) error {
	refuse := func(format string, args ...any) error {
		r.event(m, nil, corev1.EventTypeWarning, ReasonInvalid, "Plan", "not creating MilvusUpgrade %s: "+format, append([]any{in.UpgradeName}, args...)...)
		return nil
	}
	if slices.Contains(r.ExcludedNamespaces, m.Namespace) {
		return refuse("namespace %s is not covered by the milvus-admission webhooks, so this intent was not written by them", m.Namespace)
	}
	upgrades, err := webhook.CacheLookup{Reader: r.Client}.UpgradesFor(ctx, m.Namespace, m.Name)
	if err != nil {
		return err
	}
	if !validate.TrustedIntent(m, m, "", upgrades, r.Policy) {
		return refuse("the intent annotations are not the plan milvus-admission makes of this Milvus (written by hand, or another MilvusUpgrade is at work)")
	}
	// Git retargeted before the operator started: the plan we generated
	// before gives way to this one. Delete it first, so that the two never
	// exist at once (MU-UP-ONE), and create in a later pass: the webhooks
	// judge the create from their caches, and until the deletion reaches
	// them MU-UP-ONE still finds the old plan and denies it. The deleted
	// upgrade's event brings the Milvus back once this cache has it.
	why := fmt.Sprintf("the Milvus now asks for %s (MilvusUpgrade %s)", requested(in), in.UpgradeName)
	upgrades, deleting, err := r.deleteUnstarted(ctx, m, in.UpgradeName, upgrades, why)
	if err != nil || deleting {
		return err
	}
	up, err := migration.BuildUpgrade(m, upgrades, in, r.Policy)
	if err != nil {
		return refuse("cannot plan the migration: %v", err)
	}
	view := &milvus.MilvusUpgrade{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(up.Object, view); err != nil {
		return err
	}
	if d := validate.Decide(validate.MilvusUpgrade(validate.UpgradeChange{New: view, Target: m, TargetUpgrades: upgrades}, r.Policy), r.Policy); !d.Allowed() {
		return refuse("the rules deny it: %v", d.Errors.ToAggregate())
	}
	// blockOwnerDeletion stays false: true needs the right to update
	// milvuses/finalizers (OwnerReferencesPermissionEnforcement), which our
	// least-privilege RBAC does not grant.
	if err := controllerutil.SetControllerReference(m, up, r.Client.Scheme(), controllerutil.WithBlockOwnerDeletion(false)); err != nil {
		return err
	}
	if err := r.Client.Create(ctx, up); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		r.event(m, nil, corev1.EventTypeWarning, ReasonInvalid, "Plan", "creating MilvusUpgrade %s: %v", in.UpgradeName, err)
		return err
	}
	source, _, _ := unstructured.NestedString(up.Object, "spec", "sourceVersion")
	r.event(m, up, corev1.EventTypeNormal, ReasonPlanned, "Plan",
		"created MilvusUpgrade %s to migrate the metadata %s → %s before %s", in.UpgradeName, source, in.Target.Tag(), requested(in))
	logf.FromContext(ctx).Info("created MilvusUpgrade", "upgrade", in.UpgradeName)
	return nil
}

// deleteUnstarted deletes the upgrades generated for m that the operator has
// not started, except the one named keep, and returns upgrades without them,
// and whether there were any: deleted now, or earlier and still in the
// cache. why ends the Event: why the Milvus no longer asks for them.
func (r *Migration) deleteUnstarted(ctx context.Context, m *milvus.Milvus, keep string, upgrades []milvus.MilvusUpgrade, why string) (kept []milvus.MilvusUpgrade, deleting bool, err error) {
	kept = upgrades[:0:0]
	for i := range upgrades {
		u := &upgrades[i]
		if u.Name == keep || !migration.Replaceable(u, m) {
			kept = append(kept, *u)
			continue
		}
		deleting = true
		stale := newObject(milvus.MilvusUpgradeKind.Kind)
		stale.SetNamespace(u.Namespace)
		stale.SetName(u.Name)
		err := r.Client.Delete(ctx, stale, client.Preconditions{UID: ptr.To(u.UID)})
		switch {
		case apierrors.IsNotFound(err):
			continue // deleted by an earlier pass, not yet out of the cache
		case err != nil:
			return nil, false, err
		}
		r.event(m, stale, corev1.EventTypeNormal, ReasonCancelled, "Cancel",
			"deleted MilvusUpgrade %s before the operator started it: %s", u.Name, why)
	}
	return kept, deleting, nil
}

// clearIntent removes the intent annotations, and a failure record with
// them, with one merge patch.
func (r *Migration) clearIntent(ctx context.Context, obj *milvus.Milvus) error {
	remove := map[string]any{migration.AnnotationMigrationFailed: nil}
	for _, k := range migration.IntentAnnotations {
		remove[k] = nil
	}
	return r.patchAnnotations(ctx, obj, remove)
}

// recorded reports that obj's failure record is record ("": none).
func recorded(obj *milvus.Milvus, record string) bool {
	got, ok := obj.GetAnnotations()[migration.AnnotationMigrationFailed]
	return got == record && ok == (record != "")
}

// recordFailure makes obj's failure record (migration.AnnotationMigrationFailed)
// say record, "" for none, with a merge patch of that annotation alone; it
// writes nothing when the record is already so. The webhook lets the write
// through: MU-INTENT guards the intent and stage annotations, not this one.
func (r *Migration) recordFailure(ctx context.Context, obj *milvus.Milvus, record string) error {
	if recorded(obj, record) {
		return nil
	}
	var value any // nil: a merge patch removes the annotation
	if record != "" {
		value = record
	}
	return r.patchAnnotations(ctx, obj, map[string]any{migration.AnnotationMigrationFailed: value})
}

// patchAnnotations sets obj's annotations to values (nil removes one) with
// a merge patch that touches nothing else: neither the operator's writes
// nor an apply's fields conflict with it.
func (r *Migration) patchAnnotations(ctx context.Context, obj *milvus.Milvus, values map[string]any) error {
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": values}})
	if err != nil {
		return err
	}
	return r.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data))
}

func requested(in migration.Intent) string {
	if in.RequestedVersion != "" {
		return fmt.Sprintf("%s (version %s)", in.RequestedImage, in.RequestedVersion)
	}
	return in.RequestedImage
}
