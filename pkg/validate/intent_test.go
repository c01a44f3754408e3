package validate

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// withIntent sets annotations on m (merged over what it has).
func withIntent(a map[string]string) milvusOpt {
	return func(m *milvus.Milvus) {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		maps.Copy(m.Annotations, a)
	}
}

// holdOf2423 is what the hold records for 2.1.4 → 2.4.23 on my-release.
func holdOf2423() map[string]string {
	return map[string]string{
		migration.AnnotationRequestedImage:  repo + "v2.4.23",
		migration.AnnotationPlannedUpgrade:  planned,
		migration.AnnotationMigrationTarget: "v2.2.16",
	}
}

func holdWith(key, value string) map[string]string {
	a := holdOf2423()
	a[key] = value
	return a
}

func TestMuIntent(t *testing.T) {
	forbidden := func(key string) field.ErrorList {
		return field.ErrorList{field.Forbidden(annotationsPath.Key(key), "[MU-INTENT] the milvus-admission.io/ intent annotations are set only by milvus-admission when it holds an image change for a metadata migration; change spec.components.image instead, or remove all four annotations to drop a plan that has not started")}
	}
	tests := []struct {
		name     string
		old, new *milvus.Milvus
		upgrades []milvus.MilvusUpgrade
		want     field.ErrorList
	}{
		{name: "the hold, as the webhook makes it", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo+"v2.1.4", withIntent(holdOf2423()))},
		{name: "the hold of a version-field change", old: newMilvus(repo+"v2.1.4", declaredVersion("v2.1.4")),
			new: newMilvus(repo+"v2.1.4", declaredVersion("v2.1.4"), withIntent(map[string]string{
				migration.AnnotationRequestedImage: repo + "v2.1.4", migration.AnnotationRequestedVersion: "v2.4.23",
				migration.AnnotationPlannedUpgrade: planned, migration.AnnotationMigrationTarget: "v2.2.16"}))},
		{name: "unchanged intent (kubectl label, a re-sync)", old: newMilvus(repo+"v2.1.4", withIntent(holdOf2423())), new: newMilvus(repo+"v2.1.4", withIntent(holdOf2423()))},
		{name: "all removed (controller on success, a cancel)", old: newMilvus(repo+"v2.1.4", withIntent(holdOf2423())), new: newMilvus(repo + "v2.1.4")},
		{name: "hand-written name", old: newMilvus(repo + "v2.1.4"),
			new:  newMilvus(repo+"v2.1.4", withIntent(holdWith(migration.AnnotationPlannedUpgrade, "kube-system-takeover"))),
			want: forbidden(migration.AnnotationPlannedUpgrade)},
		{name: "hand-written target outside the tool's range", old: newMilvus(repo + "v2.1.4"),
			new:  newMilvus(repo+"v2.1.4", withIntent(holdWith(migration.AnnotationMigrationTarget, "v2.0.0"))),
			want: forbidden(migration.AnnotationMigrationTarget)},
		{name: "an intent that asks for nothing to migrate", old: newMilvus(repo + "v2.1.4"),
			new:  newMilvus(repo+"v2.1.4", withIntent(holdWith(migration.AnnotationRequestedImage, repo+"v2.1.3"))),
			want: forbidden(migration.AnnotationMigrationTarget)}, // no hold to compare with: the first key written
		{name: "the intent, but the image not held", old: newMilvus(repo + "v2.1.4"),
			new:  newMilvus(repo+"v2.4.23", withIntent(holdOf2423())),
			want: forbidden(migration.AnnotationMigrationTarget)},
		{name: "an existing intent edited", old: newMilvus(repo+"v2.1.4", withIntent(holdOf2423())),
			new:  newMilvus(repo+"v2.1.4", withIntent(holdWith(migration.AnnotationPlannedUpgrade, "other"))),
			want: forbidden(migration.AnnotationPlannedUpgrade)},
		{name: "part of the intent removed", old: newMilvus(repo+"v2.1.4", withIntent(holdOf2423())),
			new: func() *milvus.Milvus {
				m := newMilvus(repo+"v2.1.4", withIntent(holdOf2423()))
				delete(m.Annotations, migration.AnnotationPlannedUpgrade)
				return m
			}(),
			want: forbidden(migration.AnnotationMigrationTarget)},
		{name: "on CREATE", new: newMilvus(repo+"v2.1.4", withIntent(holdOf2423())),
			want: forbidden(migration.AnnotationMigrationTarget)},
		{name: "while another upgrade is at work (the hold would not happen)", old: newMilvus(repo + "v2.1.4"),
			new: newMilvus(repo+"v2.1.4", withIntent(holdOf2423())), upgrades: []milvus.MilvusUpgrade{upgradeNamed("by-hand", "BackupMeta")},
			want: forbidden(migration.AnnotationMigrationTarget)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := muIntent(newMilvusReview(MilvusChange{Old: tc.old, New: tc.new, User: someUser, Upgrades: tc.upgrades}, policy.Default()))
			assert.Equal(t, tc.want, denials(got))
		})
	}
}

func TestOperatorHandOff(t *testing.T) {
	at := func(state, source string) []milvus.MilvusUpgrade {
		u := upgradeTo(repo+"v2.2.16", source)
		u.Status.State = state
		return []milvus.MilvusUpgrade{u}
	}
	stranger := "system:serviceaccount:ops:milvus-operator"
	identity := field.ErrorList{field.Invalid(milvus.ImagePath, repo+"v2.2.16", "[MU-UP-IDENTITY] "+stranger+" wrote the image a MilvusUpgrade hands over after migrating the metadata, but is not in the policy's operatorIdentities; let through, since the metadata is migrated. If it is the Milvus Operator, add it (docs/policy.md)")}
	tests := []struct {
		name     string
		old, new *milvus.Milvus
		user     string
		upgrades []milvus.MilvusUpgrade
		want     []policy.RuleID
		errs     field.ErrorList
	}{
		{name: "listed operator, metadata migrating", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"), user: operator, upgrades: at("UpdatingMeta", "")},
		{name: "unlisted identity, NewVersionStarting", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"), user: stranger,
			upgrades: at("NewVersionStarting", ""), want: []policy.RuleID{policy.MuUpIdentity}, errs: identity},
		{name: "unlisted identity, Succeeded", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"), user: stranger,
			upgrades: at("Succeeded", ""), want: []policy.RuleID{policy.MuUpIdentity}, errs: identity},
		{name: "unlisted identity before the metadata is migrated: refused, never held", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"), user: stranger,
			upgrades: at("BackupMeta", ""), want: []policy.RuleID{policy.MuMeta, policy.MuMetaBusy}},
		{name: "unlisted operator writing the target image while the stored state still says UpdatingMeta: refused, never held",
			old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"), user: stranger,
			upgrades: at("UpdatingMeta", ""), want: []policy.RuleID{policy.MuMeta, policy.MuMetaBusy},
			errs: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.2.16", "[MU-META] v2.1.4 → v2.2.16: MilvusUpgrade default/my-release-upgrade is migrating the metadata (state UpdatingMeta) and writes this image itself once done; refused until then, never held. If \"system:serviceaccount:ops:milvus-operator\" is the Milvus Operator, add it to the policy's operatorIdentities"),
				field.Invalid(milvus.ImagePath, repo+"v2.2.16", "[MU-META-BUSY] MilvusUpgrade default/my-release-upgrade already works on this Milvus (state UpdatingMeta); let it finish, or delete it, before changing the image"),
			}},
		{name: "the operator's write with a component pinned to 2.1 is never stopped half-way (no MU-SPLIT-META)",
			old: newMilvus(repo+"v2.1.4", proxyImage(repo+"v2.1.4")), new: newMilvus(repo+"v2.2.16", proxyImage(repo+"v2.1.4")), user: operator,
			upgrades: at("NewVersionStarting", "")},
		{name: "the generated plan's image written by an unlisted operator in UpdatingMeta (the real operator's order): refused, never held",
			old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"), user: stranger,
			upgrades: []milvus.MilvusUpgrade{upgradeNamed(planned, "UpdatingMeta")}, want: []policy.RuleID{policy.MuMeta}},
		{name: "a later write that keeps the handed-over image (the controller clearing the intent): no MU-UP-IDENTITY",
			old: newMilvus(repo + "v2.2.16"), new: newMilvus(repo+"v2.2.16", withIntent(nil)), user: stranger, upgrades: at("Succeeded", "")},
		{name: "unlisted identity rolls back to the source image", old: newMilvus(repo + "v2.2.16"), new: newMilvus(repo + "v2.1.4"), user: stranger,
			upgrades: at("RollbackOldVersionStarting", repo+"v2.1.4"), want: []policy.RuleID{policy.MuUpIdentity}},
		{name: "unlisted identity writes the source image outside a rollback", old: newMilvus(repo + "v2.2.16"), new: newMilvus(repo + "v2.1.4"), user: stranger,
			upgrades: at("Succeeded", repo+"v2.1.4"), want: []policy.RuleID{policy.MuDownMeta}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := Milvus(MilvusChange{Old: tc.old, New: tc.new, User: tc.user, Upgrades: tc.upgrades}, policy.Default())
			assert.Equal(t, tc.want, rulesOf(vs))
			assert.Nil(t, HeldMigration(vs, policy.Default()), "a write during a migration is never held")
			if tc.errs != nil {
				assert.Equal(t, tc.errs, denials(vs))
			}
		})
	}
}
