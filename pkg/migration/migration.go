// Package migration plans the metadata migration a 2.1.x → 2.2+ image change
// needs (MU-META with the generate action): the webhook holds the old image
// and records the intent on the Milvus itself; a controller acting on the
// persisted object creates the MilvusUpgrade, which the operator executes.
// Everything here is pure, so the webhook, the controller and tests share it.
package migration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// Annotations of the intent, recorded on the Milvus by the webhook.
const (
	prefix = "milvus-admission.io/"
	// AnnotationRequestedImage is the image git asked for and the webhook held.
	AnnotationRequestedImage = prefix + "requested-image"
	// AnnotationRequestedVersion is spec.components.version as asked, when set.
	AnnotationRequestedVersion = prefix + "requested-version"
	// AnnotationPlannedUpgrade names the MilvusUpgrade that migrates first.
	AnnotationPlannedUpgrade = prefix + "planned-upgrade"
	// AnnotationMigrationTarget is that MilvusUpgrade's targetVersion.
	AnnotationMigrationTarget = prefix + "migration-target"
)

// IntentAnnotations lists every annotation of the intent.
var IntentAnnotations = []string{AnnotationRequestedImage, AnnotationRequestedVersion, AnnotationPlannedUpgrade, AnnotationMigrationTarget}

// AnnotationMigrationFailed records on the Milvus that the MilvusUpgrade its
// intent planned ended short of the target: "<upgrade> <state>"
// (FailureRecord). Only the controller writes it, from the persisted intent
// and upgrade, and it is not part of the intent: it is informational, for
// GitOps health checks (gitops/) and people. Nothing reads it as input, so
// a tenant who writes it gains nothing, and the controller puts it right.
const AnnotationMigrationFailed = prefix + "migration-failed"

// FailureRecord is the AnnotationMigrationFailed value for the MilvusUpgrade
// upgrade that ended in the failed state.
func FailureRecord(upgrade, state string) string { return upgrade + " " + state }

// The label that marks generated MilvusUpgrades.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "milvus-admission"
)

// MilvusUpgrade states (operator milvusupgrade_types.go) that matter here.
const (
	StateSucceeded = "Succeeded"
	// The operator writes spec.components.image in these, once the metadata
	// is in the format of the image it writes: the upgrade's targetImage in
	// NewVersionStarting, its status.sourceImage in RollbackOldVersionStarting.
	StateNewVersionStarting         = "NewVersionStarting"
	StateRollbackOldVersionStarting = "RollbackOldVersionStarting"
	StateRollbackSucceeded          = "RollbackedSucceeded"
)

// failedStates end a MilvusUpgrade without reaching the target.
var failedStates = map[string]bool{
	"BakupMetaFailed": true, "UpdateMetaFailed": true, "RollbackFailed": true, "RollbackedSucceeded": true,
}

// Failed reports a terminal state short of the target.
func Failed(state string) bool { return failedStates[state] }

// Finished reports a terminal state: Succeeded or failed.
func Finished(state string) bool { return state == StateSucceeded || Failed(state) }

// Generated reports a MilvusUpgrade this package generated for m: it
// carries the label, and m is its controller.
func Generated(u, m metav1.Object) bool {
	return u.GetLabels()[LabelManagedBy] == ManagedBy && metav1.IsControlledBy(u, m)
}

// Replaceable reports a MilvusUpgrade this package generated for m that the
// operator has not started: a new plan may replace it (git retargeted).
func Replaceable(u *milvus.MilvusUpgrade, m *milvus.Milvus) bool {
	return u.Status.State == "" && Generated(u, m)
}

// Migrated is the highest targetVersion of the upgrades of m that have
// Succeeded: its metadata has that version's format, whatever the status says
// yet (the operator updates the status only once every component is Ready,
// minutes later in a real cluster).
func Migrated(m *milvus.Milvus, upgrades []milvus.MilvusUpgrade) (milvus.Version, bool) {
	var best milvus.Version
	for _, u := range upgrades {
		if !u.Targets(m) || u.Status.State != StateSucceeded || u.Spec.Operation == milvus.OperationRollback {
			continue
		}
		if v, err := milvus.ParseVersion(u.Spec.TargetVersion); err == nil && (best.IsZero() || v.Compare(best) > 0) {
			best = v
		}
	}
	return best, !best.IsZero()
}

// Running resolves m with a Succeeded upgrade of it counted as running: the
// greater of the status's version and what an upgrade migrated to. Every
// rule and every plan reads this, so that a lagging status never makes a
// second migration of metadata that is already migrated.
func Running(m *milvus.Milvus, upgrades []milvus.MilvusUpgrade) milvus.Versions {
	v := m.Resolve()
	if t, ok := Migrated(m, upgrades); ok && (v.Running.IsZero() || t.Compare(v.Running) > 0) {
		v.Running = t
	}
	return v
}

// Need is the metadata migration that makes a 2.1.x → 2.2+ change of the
// global image or version legal (MU-META). validate finds it; this package
// plans it.
type Need struct {
	// From is the 2.1.x version judged as running; To is the version asked for.
	From, To milvus.Version
	// Target is the 2.2.x version the MilvusUpgrade migrates to: To itself
	// when it is 2.2.x, else the policy's waypoint.
	Target milvus.Version
}

// Plan is a held image change and the migration planned for it.
type Plan struct {
	// Held are the old global image and version, kept on the object.
	HeldImage, HeldVersion string
	// Requested are the image and version git asked for.
	RequestedImage, RequestedVersion string
	// Target is the 2.2.x version the MilvusUpgrade migrates to.
	Target milvus.Version
	// UpgradeName is the deterministic name of that MilvusUpgrade.
	UpgradeName string
}

// Annotations is the intent to record on the Milvus.
func (p *Plan) Annotations() map[string]string {
	a := map[string]string{
		AnnotationRequestedImage:  p.RequestedImage,
		AnnotationPlannedUpgrade:  p.UpgradeName,
		AnnotationMigrationTarget: p.Target.Tag(),
	}
	if p.RequestedVersion != "" {
		a[AnnotationRequestedVersion] = p.RequestedVersion
	}
	return a
}

// PlanFor is the plan that holds the update old → cur until need is met;
// nil on a CREATE or when nothing needs migrating.
func PlanFor(old, cur *milvus.Milvus, need *Need) *Plan {
	if old == nil || need == nil {
		return nil
	}
	return &Plan{
		HeldImage: old.Spec.Components.Image, HeldVersion: old.Spec.Components.Version,
		RequestedImage: cur.Spec.Components.Image, RequestedVersion: cur.Spec.Components.Version,
		Target:      need.Target,
		UpgradeName: UpgradeName(cur.Name, need.Target),
	}
}

// maxNameLen keeps generated names short enough for a label value too.
const maxNameLen = 63

// UpgradeName is "<milvus>-migrate-v<major>-<minor>-<patch>", a valid object
// name: the target's flavour and pre-release words are left out, so a long tag
// cannot make it long. A long Milvus name is cut and given a hash so two
// Milvuses never share one.
func UpgradeName(milvusName string, target milvus.Version) string {
	suffix := "-migrate-v" + strings.ReplaceAll(target.Short(), ".", "-")
	if len(milvusName)+len(suffix) <= maxNameLen {
		return milvusName + suffix
	}
	sum := sha256.Sum256([]byte(milvusName))
	hash := "-" + hex.EncodeToString(sum[:])[:8]
	// suffix is at most 9+1+3*6+2 characters (version numbers are bounded by
	// the parser), so keep is always positive.
	keep := maxNameLen - len(suffix) - len(hash)
	return strings.TrimRight(milvusName[:keep], "-.") + hash + suffix
}

// Intent is what a persisted Milvus's annotations ask for.
type Intent struct {
	RequestedImage, RequestedVersion string
	UpgradeName                      string
	Target                           milvus.Version
}

// Equal reports the same intent (Version holds a pointer: == would not do).
func (in Intent) Equal(o Intent) bool {
	return in.RequestedImage == o.RequestedImage && in.RequestedVersion == o.RequestedVersion &&
		in.UpgradeName == o.UpgradeName && in.Target.String() == o.Target.String()
}

// IntentOf reads the intent from a Milvus's annotations; ok is false when it
// has none, err when it is malformed.
func IntentOf(m *milvus.Milvus) (in Intent, ok bool, err error) {
	if m == nil {
		return Intent{}, false, nil
	}
	a := m.Annotations
	in.UpgradeName = a[AnnotationPlannedUpgrade]
	if in.UpgradeName == "" {
		return Intent{}, false, nil
	}
	in.RequestedImage, in.RequestedVersion = a[AnnotationRequestedImage], a[AnnotationRequestedVersion]
	if in.Target, err = milvus.ParseVersion(a[AnnotationMigrationTarget]); err != nil {
		return Intent{}, true, fmt.Errorf("annotation %s: %w", AnnotationMigrationTarget, err)
	}
	return in, true, nil
}

// BuildUpgrade is the MilvusUpgrade that executes the intent of m: from the
// version m runs (Running, with its upgrades) to the 2.2.x target, its image in m's repository (a private
// registry kept) and the policy's tool image. maxRetry, rollbackIfFailed and
// operation are left to the defaulting webhook it passes through, like any
// user's. It copies none of m's labels or annotations: Argo CD's tracking
// ones would make it a pruning candidate. The caller sets the owner.
func BuildUpgrade(m *milvus.Milvus, upgrades []milvus.MilvusUpgrade, in Intent, p *policy.Policy) (*unstructured.Unstructured, error) {
	source, err := Running(m, upgrades).RunningVersion()
	if err != nil {
		return nil, fmt.Errorf("cannot tell which version Milvus %s/%s runs: %w", m.Namespace, m.Name, err)
	}
	repo := m.ImageRepository()
	if repo == "" {
		repo = p.DefaultRepository
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"milvus":        map[string]any{"name": m.Name, "namespace": m.Namespace},
			"sourceVersion": source.Tag(),
			"targetVersion": in.Target.Tag(),
			"targetImage":   repo + ":" + in.Target.Tag(),
			"toolImage":     p.ToolImage,
		},
	}}
	u.SetGroupVersionKind(milvus.MilvusUpgradeKind)
	u.SetName(in.UpgradeName)
	u.SetNamespace(m.Namespace)
	u.SetLabels(map[string]string{LabelManagedBy: ManagedBy})
	return u, nil
}

// Outcome is what the defaulting webhook does about a Milvus update. It
// never denies: the validating webhook does (MU-META, MU-META-FAILED,
// MU-META-BUSY).
type Outcome struct {
	// Hold, when set, keeps the old image and records this plan.
	Hold *Plan
	// Cancel drops an intent that has not started: the update keeps the held image.
	Cancel bool
	// Note tells the user what happens next, in a few words, about Field;
	// "" for nothing.
	Note, Field string
}

// Request is what Decide needs to know about the admission request itself.
type Request struct {
	// ByOperator reports a write by one of the policy's operator identities.
	ByOperator bool
	// Applier is the field manager of a server-side apply, else "".
	Applier string
}

// Decide turns an update into an Outcome. need is the migration the update
// may be held for (validate.HeldMigration); upgrades are the MilvusUpgrades
// that name this Milvus, from the informer cache.
func Decide(old, cur *milvus.Milvus, need *Need, upgrades []milvus.MilvusUpgrade, req Request) Outcome {
	if plan := PlanFor(old, cur, need); plan != nil {
		field := milvus.ImagePath // the version field wins when set
		if cur.Spec.Components.Version != "" {
			field = milvus.VersionPath
		}
		return Outcome{Hold: plan, Field: field.String(), Note: fmt.Sprintf("held; MilvusUpgrade %s migrates to %s first", plan.UpgradeName, plan.Target.Tag())}
	}
	in, ok, err := IntentOf(cur)
	if err != nil {
		// Nothing to cancel from: the controller reports the same error as an Event.
		return Outcome{Field: "metadata.annotations", Note: "ignoring a malformed migration intent: " + err.Error()}
	}
	// Only a plan the stored object carries can be cancelled: an intent this
	// very request adds was not written by a hold (MU-INTENT denies it).
	stored, held, _ := IntentOf(old)
	unchanged := old != nil && old.Spec.Components.Image == cur.Spec.Components.Image && old.Spec.Components.Version == cur.Spec.Components.Version
	if !ok || !held || !stored.Equal(in) || !unchanged || req.ByOperator || ownershipOnly(old, cur) || !revertedInGit(old, cur, in, req.Applier) {
		return Outcome{}
	}
	if planned := find(upgrades, in.UpgradeName); planned != nil && planned.Status.State != "" && !Failed(planned.Status.State) {
		return Outcome{} // the operator is at work: only it ends this
	}
	// An apply keeps the held image and no longer asks for the requested one,
	// and the operator has not started, or has given up (the failed upgrade
	// stays for kubectl describe): git was reverted, so the plan is dropped.
	return Outcome{Cancel: true, Field: milvus.ImagePath.String(), Note: fmt.Sprintf("migration %s cancelled: the image stays as it is", in.UpgradeName)}
}

// revertedInGit reports that an apply in this request no longer asks for
// the requested image; no other write can revert:
//   - a server-side apply (Flux, Argo CD with server-side apply) whose field
//     manager owns the image field: the image in the object is the one it
//     applied;
//   - a client-side apply (kubectl apply, Argo CD): it rewrites kubectl's
//     last-applied annotation, and the new one names another image. A write
//     that leaves the annotation as it was (kubectl label, annotate, patch,
//     edit) applied nothing, however stale the annotation is.
//
// The API server re-invoking this webhook on its own hold of a client-side
// apply still finds the requested image in the last-applied annotation.
func revertedInGit(old, cur *milvus.Milvus, in Intent, applier string) bool {
	if applier != "" && appliesImage(cur, applier) {
		return cur.Spec.Components.Image != in.RequestedImage || cur.Spec.Components.Version != in.RequestedVersion
	}
	last := cur.Annotations[lastApplied]
	if last == "" || last == old.Annotations[lastApplied] {
		return false
	}
	var applied milvus.Milvus
	if err := json.Unmarshal([]byte(last), &applied); err != nil {
		return false
	}
	return applied.Spec.Components.Image != in.RequestedImage || applied.Spec.Components.Version != in.RequestedVersion
}

// ownershipOnly reports a write that changes nothing but managedFields:
// the ownership PATCH kubectl sends after a server-side apply takes over
// from client-side apply (--force-conflicts). It applies nothing.
func ownershipOnly(old, cur *milvus.Milvus) bool {
	return !reflect.DeepEqual(old.ManagedFields, cur.ManagedFields) &&
		reflect.DeepEqual(old.Spec, cur.Spec) && maps.Equal(old.Labels, cur.Labels) && maps.Equal(old.Annotations, cur.Annotations)
}

// appliesImage reports that the server-side apply manager owns
// spec.components.image in the object's managed fields.
func appliesImage(m *milvus.Milvus, manager string) bool {
	for _, mf := range m.ManagedFields {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]map[string]any
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) != nil {
			return false
		}
		_, ok := fields["f:spec"]["f:components"]["f:image"]
		return ok
	}
	return false
}

// lastApplied is kubectl's client-side apply annotation.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func find(upgrades []milvus.MilvusUpgrade, name string) *milvus.MilvusUpgrade {
	for i := range upgrades {
		if upgrades[i].Name == name {
			return &upgrades[i]
		}
	}
	return nil
}
