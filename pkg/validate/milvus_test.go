package validate

import (
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
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

// upgradeNamed is an upgrade of my-release called name, in state.
func upgradeNamed(name, state string) milvus.MilvusUpgrade {
	u := upgradeTo(repo+"v2.2.16", "")
	u.Name = name
	u.Spec.SourceVersion, u.Spec.TargetVersion = "v2.1.4", "v2.2.16"
	u.Status.State = state
	return u
}

// planned is the name generation gives the 2.2.16 migration of my-release.
const planned = "my-release-migrate-v2-2-16"

func upgradeTo(targetImage, sourceImage string) milvus.MilvusUpgrade {
	u := milvus.MilvusUpgrade{}
	u.Name, u.Namespace = "my-release-upgrade", "default"
	u.Spec.Milvus = milvus.ObjectReference{Name: "my-release"}
	u.Spec.TargetImage = targetImage
	u.Status.SourceImage = sourceImage
	return u
}

// denials are the field errors vs would deny with, in order, each led by its
// rule ID: what a user reads in the 422.
func denials(vs []Violation) field.ErrorList {
	var out field.ErrorList
	for _, v := range vs {
		out = append(out, v.denial())
	}
	return out
}

func TestMilvusRules(t *testing.T) {
	tests := []struct {
		name     string
		old, new *milvus.Milvus // old nil: CREATE
		user     string
		upgrades []milvus.MilvusUpgrade
		uid      types.UID // of the Milvus, for ownerReferences
		want     field.ErrorList
	}{
		// MU-MAJOR
		{name: "MU-MAJOR: 1.x to 2.x by image", old: newMilvus(repo + "v1.1.0"), new: newMilvus(repo + "v2.4.23"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-MAJOR] v1.1.0 → v2.4.23 crosses the 1.x/2.x boundary, which is a data migration with the milvus-migration tool into a new 2.x cluster, never an image change; keep the image"),
			}},
		{name: "MU-MAJOR: 2.x back to 1.x", old: newMilvus(repo + "v2.0.2"), new: newMilvus(repo + "v1.1.0"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v1.1.0", "[MU-MAJOR] v2.0.2 → v1.1.0 crosses the 1.x/2.x boundary, which is a data migration with the milvus-migration tool into a new 2.x cluster, never an image change; keep the image"),
			}},
		{name: "legal: patch upgrade", old: newMilvus(repo + "v2.4.22"), new: newMilvus(repo + "v2.4.23")},
		// MU-SRC-20
		{name: "MU-SRC-20: 2.0 straight to 2.2", old: newMilvus(repo + "v2.0.2"), new: newMilvus(repo + "v2.2.16"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.2.16", "[MU-SRC-20] v2.0.2 → v2.2.16: 2.0.x cannot be migrated to 2.2+ directly (the migration tool reads only 2.1.x); next: change the image to v2.1.4; path: v2.0.2 → v2.1.4 →MilvusUpgrade v2.2.16"),
			}},
		{name: "legal: 2.0 to 2.1.4", old: newMilvus(repo + "v2.0.2"), new: newMilvus(repo + "v2.1.4")},
		// MU-META and operator pass-through
		{name: "MU-META: 2.1.4 to 2.4.23 by image", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META] v2.1.4 → v2.4.23 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
			}},
		{name: "MU-META: 2.1.4 to 2.2.0 by image", old: newMilvus(repo + "2.1.4"), new: newMilvus(repo + "2.2.0"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"2.2.0", "[MU-META] 2.1.4 → 2.2.0 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.0; path: v2.1.4 →MilvusUpgrade v2.2.0"),
			}},
		{name: "legal: operator writes the upgrade's targetImage", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"),
			user: operator, upgrades: []milvus.MilvusUpgrade{upgradeTo(repo+"v2.2.16", "")}},
		{name: "MU-META: a user writing the upgrade's targetImage", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"),
			user: someUser, upgrades: []milvus.MilvusUpgrade{upgradeTo(repo+"v2.2.16", "")},
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.2.16", "[MU-META] v2.1.4 → v2.2.16 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16"),
				field.Invalid(milvus.ImagePath, repo+"v2.2.16", "[MU-META-BUSY] MilvusUpgrade default/my-release-upgrade already works on this Milvus (not started yet); let it finish, or delete it, before changing the image"),
			}},
		{name: "MU-META: operator writing an image no upgrade targets", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"),
			user: operator, upgrades: []milvus.MilvusUpgrade{upgradeTo(repo+"v2.2.16", "")},
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META] v2.1.4 → v2.4.23 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META-BUSY] MilvusUpgrade default/my-release-upgrade already works on this Milvus (not started yet); let it finish, or delete it, before changing the image"),
			}},
		{name: "MU-META: operator with an upgrade of another Milvus", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.16"),
			user: operator, upgrades: []milvus.MilvusUpgrade{func() milvus.MilvusUpgrade {
				u := upgradeTo(repo+"v2.2.16", "")
				u.Spec.Milvus.Name = "other"
				return u
			}()},
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.2.16", "[MU-META] v2.1.4 → v2.2.16 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16"),
			}},
		// MU-META-FAILED and MU-META-BUSY
		{name: "MU-META-FAILED: the planned upgrade failed", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"),
			upgrades: []milvus.MilvusUpgrade{upgradeNamed(planned, "UpdateMetaFailed")},
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META] v2.1.4 → v2.4.23 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META-FAILED] MilvusUpgrade default/"+planned+", planned for this change, ended in state UpdateMetaFailed, so the image stays "+repo+"v2.1.4; see `kubectl describe milvusupgrade -n default "+planned+"`, then delete it to retry, or revert the image in git"),
			}},
		{name: "MU-META-BUSY: another upgrade is at work", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"),
			upgrades: []milvus.MilvusUpgrade{upgradeNamed("by-hand", "BackupMeta")},
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META] v2.1.4 → v2.4.23 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META-BUSY] MilvusUpgrade default/by-hand already works on this Milvus (state BackupMeta); let it finish, or delete it, before changing the image"),
			}},
		{name: "MU-META only: a pending plan of ours for another target gives way (git retargeted)", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.5"),
			upgrades: []milvus.MilvusUpgrade{func() milvus.MilvusUpgrade {
				u := upgradeNamed(planned, "")
				u.Labels = map[string]string{migration.LabelManagedBy: migration.ManagedBy}
				u.OwnerReferences = []metav1.OwnerReference{{Kind: "Milvus", Name: "my-release", UID: "uid-1", Controller: ptr.To(true)}}
				return u
			}()},
			uid: "uid-1",
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.2.5", "[MU-META] v2.1.4 → v2.2.5 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.5; path: v2.1.4 →MilvusUpgrade v2.2.5"),
			}},
		{name: "MU-META only: the planned upgrade pending, others finished", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"),
			upgrades: []milvus.MilvusUpgrade{upgradeNamed(planned, ""), upgradeNamed("old-ok", "Succeeded"), upgradeNamed("old-bad", "RollbackFailed"),
				func() milvus.MilvusUpgrade {
					u := upgradeNamed("of-another", "BackupMeta")
					u.Spec.Milvus.Name = "other"
					return u
				}()},
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META] v2.1.4 → v2.4.23 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
			}},
		{name: "legal: a Succeeded upgrade counts as running while the status lags (never a second migration)",
			old: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4")), new: newMilvus(repo + "v2.4.23"),
			upgrades: []milvus.MilvusUpgrade{upgradeNamed("by-hand", "Succeeded")}},
		{name: "MU-META: a rolled-back upgrade does not count as running",
			old: newMilvus(repo+"v2.1.4", runningVersion("v2.1.4")), new: newMilvus(repo + "v2.2.16"),
			upgrades: []milvus.MilvusUpgrade{upgradeNamed("by-hand", "RollbackedSucceeded")},
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.2.16", "[MU-META] v2.1.4 → v2.2.16 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16"),
			}},
		// MU-ROLLING
		{name: "MU-ROLLING: from 2.2.0 the coordinators restart", old: newMilvus(repo + "v2.2.0"), new: newMilvus(repo + "v2.4.23"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-ROLLING] v2.2.0 → v2.4.23: before 2.2.3 the coordinators are recreated, so the cluster is down during the upgrade"),
			}},
		{name: "legal: rolling upgrade from 2.2.3", old: newMilvus(repo+"v2.2.3", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			new: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar"))},
		// MU-26
		{name: "MU-26: 2.6 from before 2.5.16", old: newMilvus(repo + "v2.5.15"), new: newMilvus(repo + "v2.6.0"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.6.0", "[MU-26] v2.5.15 → v2.6.0: 2.6 can only be reached from 2.5.16 or later; next: change the image to v2.5.16; path: v2.5.15 → v2.5.16 → v2.6.0"),
				field.Invalid(milvus.ImagePath, repo+"v2.6.0", "[MU-26-OPERATOR] Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first"),
			}},
		{name: "MU-26: 2.6 in cluster mode without mixCoord", old: newMilvus(repo+"v2.5.16", clusterMode("pulsar")),
			new: newMilvus(repo+"v2.6.0", clusterMode("pulsar")),
			want: field.ErrorList{
				field.Required(milvus.MixCoordPath, "[MU-26] v2.5.16 → v2.6.0: a cluster must run mixCoord to upgrade to 2.6; set spec.components.mixCoord (for example mixCoord: {replicas: 1}) in the same change"),
				field.Invalid(milvus.ImagePath, repo+"v2.6.0", "[MU-26-OPERATOR] Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first"),
			}},
		{name: "MU-26: message queue changed on the way to 2.6", old: newMilvus(repo+"v2.5.16", clusterMode("pulsar"), withMixCoord),
			new: newMilvus(repo+"v2.6.0", clusterMode("woodpecker"), withMixCoord),
			want: field.ErrorList{
				field.Invalid(milvus.MsgStreamPath, "woodpecker", "[MU-26] v2.5.16 → v2.6.0: the message queue must not change during the upgrade to 2.6; keep msgStreamType \"pulsar\" and change it once on 2.6"),
				field.Invalid(milvus.ImagePath, repo+"v2.6.0", "[MU-26-OPERATOR] Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first"),
			}},
		{name: "MU-26: no upgrade from 2.6.0-rc1", old: newMilvus(repo + "2.6.0-rc1"), new: newMilvus(repo + "v2.6.1"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.6.1", "[MU-26] 2.6.0-rc1 → v2.6.1: 2.6.0 release candidates cannot be upgraded from; install the new version as a fresh cluster"),
			}},
		{name: "legal: 2.5.16 to 2.6.5 with mixCoord, same queue", old: newMilvus(repo+"v2.5.16", clusterMode("pulsar"), withMixCoord),
			new: newMilvus(repo+"v2.6.5", clusterMode("pulsar"), withMixCoord),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.6.5", "[MU-26-OPERATOR] Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first"),
			}},
		// Advice from two rules follows one path (issue 13)
		{name: "MU-META and MU-26 advise the same path", old: newMilvus(repo+"v2.1.4", clusterMode("pulsar")), new: newMilvus(repo+"v2.6.3", clusterMode("pulsar")),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.6.3", "[MU-META] v2.1.4 → v2.6.3 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3"),
				field.Invalid(milvus.ImagePath, repo+"v2.6.3", "[MU-26] v2.1.4 → v2.6.3: 2.6 can only be reached from 2.5.16 or later; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3"),
				field.Required(milvus.MixCoordPath, "[MU-26] v2.1.4 → v2.6.3: a cluster must run mixCoord to upgrade to 2.6; set spec.components.mixCoord (for example mixCoord: {replicas: 1}) in the change that reaches 2.6; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3"),
				field.Invalid(milvus.ImagePath, repo+"v2.6.3", "[MU-26-OPERATOR] Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first"),
			}},
		{name: "MU-26 and MU-30 advise the same path", old: newMilvus(repo + "v2.4.23"), new: newMilvus(repo + "v3.0.5"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v3.0.5", "[MU-26] v2.4.23 → v3.0.5: 2.6 can only be reached from 2.5.16 or later; next: change the image to v2.5.16; path: v2.4.23 → v2.5.16 → v2.6.20 → v3.0.5"),
				field.Invalid(milvus.ImagePath, repo+"v3.0.5", "[MU-26-OPERATOR] Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first"),
				field.Invalid(milvus.ImagePath, repo+"v3.0.5", "[MU-30] v2.4.23 → v3.0.5: upgrades to 3.x were validated only from 2.6.20; apply the full manifest, not an image-only patch; next: change the image to v2.5.16; path: v2.4.23 → v2.5.16 → v2.6.20 → v3.0.5"),
			}},
		// MU-30
		{name: "MU-30: 3.0 from an unvalidated 2.6", old: newMilvus(repo + "v2.6.10"), new: newMilvus(repo + "v3.0.5"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v3.0.5", "[MU-30] v2.6.10 → v3.0.5: upgrades to 3.x were validated only from 2.6.20; apply the full manifest, not an image-only patch; next: change the image to v2.6.20; path: v2.6.10 → v2.6.20 → v3.0.5"),
			}},
		{name: "legal: 2.6.20 to 3.0.5", old: newMilvus(repo + "v2.6.20"), new: newMilvus(repo + "v3.0.5")},
		// MU-PRERELEASE
		{name: "MU-PRERELEASE: upgrade to a release candidate", old: newMilvus(repo + "v2.5.11"), new: newMilvus(repo + "v2.5.12-rc1"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.5.12-rc1", "[MU-PRERELEASE] v2.5.12-rc1 is a pre-release or nightly build: no upgrade path from or to it is guaranteed"),
			}},
		{name: "MU-PRERELEASE: create on a nightly build", new: newMilvus(repo + "2.5-20250428-c40e8cf4-amd64"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"2.5-20250428-c40e8cf4-amd64", "[MU-PRERELEASE] 2.5-20250428-c40e8cf4-amd64 is a pre-release or nightly build: no upgrade path from or to it is guaranteed"),
			}},
		{name: "legal: gpu and hotfix flavours are releases", old: newMilvus(repo + "v2.4.13-hotfix"), new: newMilvus(repo + "v2.5.12-gpu")},
		// MU-DOWN-MODE
		{name: "MU-DOWN-MODE: rolling downgrade in rollingUpgrade mode", old: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			new: newMilvus(repo+"v2.4.22", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			want: field.ErrorList{
				notSupported(milvus.UpdateModePath, "rollingUpgrade", "[MU-DOWN-MODE] v2.4.23 → v2.4.22 is a downgrade with rolling update enabled; set imageUpdateMode: rollingDowngrade so components update in reverse dependency order"),
			}},
		{name: "legal: rolling downgrade in rollingDowngrade mode", old: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			new: newMilvus(repo+"v2.4.22", rollingUpdate("rollingDowngrade"), clusterMode("pulsar"))},
		// MU-DOWN-META
		{name: "MU-DOWN-META: 2.2 back to 2.1 by image", old: newMilvus(repo + "v2.2.16"), new: newMilvus(repo + "v2.1.4"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.1.4", "[MU-DOWN-META] v2.2.16 → v2.1.4: 2.1 cannot read 2.2+ metadata; only a MilvusUpgrade with operation: rollback restores the backed-up 2.1 metadata"),
			}},
		{name: "legal: operator rolls back to the upgrade's sourceImage", old: newMilvus(repo + "v2.2.16"), new: newMilvus(repo + "v2.1.4"),
			user: operator, upgrades: []milvus.MilvusUpgrade{upgradeTo(repo+"v2.2.16", repo+"v2.1.4")}},
		// MU-DOWN-MINOR
		{name: "MU-DOWN-MINOR: 2.6 back to 2.5", old: newMilvus(repo + "v2.6.1"), new: newMilvus(repo + "v2.5.16"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.5.16", "[MU-DOWN-MINOR] v2.6.1 → v2.5.16: downgrades across minor versions are not validated and have crashed clusters (milvus #28008); stay on 2.6.x or restore a backup"),
			}},
		{name: "MU-DOWN-MODE does not advise rollingDowngrade where no downgrade is legal", old: newMilvus(repo+"v2.6.1", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			new: newMilvus(repo+"v2.5.16", rollingUpdate("rollingUpgrade"), clusterMode("pulsar")),
			want: field.ErrorList{
				notSupported(milvus.UpdateModePath, "rollingUpgrade", "[MU-DOWN-MODE] v2.6.1 → v2.5.16 is a downgrade with rolling update enabled; no imageUpdateMode makes this downgrade legal (MU-DOWN-MINOR)"),
				field.Invalid(milvus.ImagePath, repo+"v2.5.16", "[MU-DOWN-MINOR] v2.6.1 → v2.5.16: downgrades across minor versions are not validated and have crashed clusters (milvus #28008); stay on 2.6.x or restore a backup"),
			}},
		{name: "legal: patch downgrade without rolling update", old: newMilvus(repo + "v2.4.23"), new: newMilvus(repo + "v2.4.22")},
		// MU-RU-MQ
		{name: "MU-RU-MQ: rolling update on standalone rocksmq", new: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), standaloneMode("rocksmq")),
			want: field.ErrorList{
				field.Invalid(milvus.RollingPath, true, "[MU-RU-MQ] rolling update is not supported in standalone mode with rocksmq/natsmq; the operator turns it off or rejects it"),
			}},
		{name: "MU-RU-MQ: rolling update on default standalone", old: newMilvus(repo + "v2.4.23"), new: newMilvus(repo+"v2.4.23", rollingUpdate("")),
			want: field.ErrorList{
				field.Invalid(milvus.RollingPath, true, "[MU-RU-MQ] rolling update is not supported in standalone mode with rocksmq/natsmq; the operator turns it off or rejects it"),
			}},
		{name: "legal: rolling update on cluster with pulsar", new: newMilvus(repo+"v2.4.23", rollingUpdate("rollingUpgrade"), clusterMode("pulsar"))},
		// MU-SPLIT-META
		{name: "MU-SPLIT-META: proxy on 2.1 beside a 2.2 cluster", new: newMilvus(repo+"v2.2.16", proxyImage(repo+"v2.1.4")),
			want: field.ErrorList{
				field.Invalid(milvus.ComponentsPath.Child("proxy", "image"), repo+"v2.1.4", "[MU-SPLIT-META] component proxy runs v2.1.4 but the cluster runs v2.2.16: they are on both sides of the 2.2 metadata change; remove the component's own image and version so that it follows the global image (the metadata migration covers it), and pin it again once the cluster runs 2.2+"),
			}},
		{name: "MU-SPLIT-META and MU-META: proxy alone moves to 2.2", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo+"v2.1.4", proxyImage(repo+"v2.2.16")),
			want: field.ErrorList{
				field.Invalid(milvus.ComponentsPath.Child("proxy", "image"), repo+"v2.2.16", "[MU-META] v2.1.4 → v2.2.16 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16"),
				field.Invalid(milvus.ComponentsPath.Child("proxy", "image"), repo+"v2.2.16", "[MU-SPLIT-META] component proxy runs v2.2.16 but the cluster runs v2.1.4: they are on both sides of the 2.2 metadata change; a component cannot cross the 2.2 metadata change alone: remove its own image and version, and change the global image instead; path: v2.1.4 →MilvusUpgrade v2.2.16"),
			}},
		{name: "legal: proxy on another 2.2 patch", new: newMilvus(repo+"v2.2.16", proxyImage(repo+"v2.2.15"))},
		// MU-TARGET-UNKNOWN
		{name: "MU-TARGET-UNKNOWN: to latest", old: newMilvus(repo + "v2.4.22"), new: newMilvus(repo + "latest"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"latest", "[MU-TARGET-UNKNOWN] the new version cannot be verified (tag \"latest\" names no verifiable version), so this upgrade cannot be checked; pin it: set spec.components.version to the version the image runs, or use a version tag such as v2.4.23"),
			}},
		{name: "MU-TARGET-UNKNOWN: to a bare digest", old: newMilvus(repo + "v2.4.22"), new: newMilvus("milvusdb/milvus@" + digest),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, "milvusdb/milvus@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "[MU-TARGET-UNKNOWN] the new version cannot be verified (image \"milvusdb/milvus@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\" is pinned by digest only, which names no verifiable version), so this upgrade cannot be checked; pin it: set spec.components.version to the version the image runs, or use a version tag such as v2.4.23"),
			}},
		{name: "MU-TARGET-UNKNOWN: image removed", old: newMilvus(repo + "v2.4.22"), new: newMilvus(""),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, "", "[MU-TARGET-UNKNOWN] the new version cannot be verified (no image is set, so the operator's default image runs), so this upgrade cannot be checked; pin it: set spec.components.version to the version the image runs, or use a version tag such as v2.4.23"),
			}},
		{name: "legal: digest pinned with spec.components.version", old: newMilvus(repo + "v2.4.22"), new: newMilvus("milvusdb/milvus@"+digest, declaredVersion("v2.4.23"))},
		{name: "version field wins over the tag", old: newMilvus(repo+"v2.4.22", declaredVersion("v2.1.4")), new: newMilvus(repo+"v2.4.23", declaredVersion("v2.2.16")),
			want: field.ErrorList{
				field.Invalid(milvus.VersionPath, "v2.2.16", "[MU-META] v2.1.4 → v2.2.16 by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16"),
			}},
		// MU-SOURCE-UNKNOWN and the running version
		{name: "MU-SOURCE-UNKNOWN: from latest with no status", old: newMilvus(repo + "latest"), new: newMilvus(repo + "v2.4.23"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-SOURCE-UNKNOWN] the version running now cannot be verified (tag \"latest\" names no verifiable version) and the status names none; the change is allowed unchecked"),
			}},
		{name: "from latest, judged against status.currentVersion", old: newMilvus(repo+"latest", runningVersion("v2.1.4")), new: newMilvus(repo + "v2.4.23"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META] v2.1.4 → v2.4.23 (from status.currentVersion) by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
			}},
		{name: "legal from the spec, illegal from what runs", old: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4")), new: newMilvus(repo + "v2.4.23"),
			want: field.ErrorList{
				field.Invalid(milvus.ImagePath, repo+"v2.4.23", "[MU-META] v2.1.4 → v2.4.23 (from status.currentVersion) by image change loses built indexes: 2.2 changed the metadata format; keep the image; next: create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16; path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
			}},
		{name: "legal: unrelated change while an upgrade is pending", old: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4")),
			new: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4"), withMixCoord)},
		// CREATE
		{name: "legal: create a 2.1 cluster", new: newMilvus(repo + "v2.1.4")},
		{name: "legal: create with latest", new: newMilvus(repo + "latest")},
		{name: "legal: registry with a port", old: newMilvus("10.20.12.8:5000/milvusdb/milvus:v2.5.16"), new: newMilvus("10.20.12.8:5000/milvusdb/milvus:v2.5.17")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.new.UID = tc.uid
			got := Milvus(MilvusChange{Old: tc.old, New: tc.new, User: tc.user, Upgrades: tc.upgrades}, policy.Default())
			assert.Equal(t, tc.want, denials(got))
			for _, v := range got {
				assert.NotEmpty(t, v.Err.Detail, "every violation says what to do")
				assert.LessOrEqual(t, len([]rune(Warning(v))), MaxWarningLen)
				assert.Less(t, utf8.RuneCountInString(Warning(v)), MaxWarningLen, "short text fits a warning uncut: %q", Warning(v))
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
		for _, part := range []string{"[MU-META]", "loses built indexes", "MilvusUpgrade", "sourceVersion v2.1.4", "targetVersion v2.2.16", "path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"} {
			assert.Contains(t, e.Detail, part)
		}
	})
}

func TestDecide(t *testing.T) {
	vs := []Violation{
		{Rule: policy.MuMeta, Err: field.Invalid(milvus.ImagePath, "x", "d1"), Short: "s1"},
		{Rule: policy.MuMeta, Err: field.Invalid(milvus.ImagePath, "x", "again from the running version"), Short: "s1"},
		{Rule: policy.MuRolling, Err: field.Invalid(milvus.ImagePath, "x", "d2"), Short: "s2"},
		{Rule: policy.MuPrerelease, Err: field.Invalid(milvus.ImagePath, "x", "d3"), Short: "s3"},
	}
	t.Run("default policy", func(t *testing.T) {
		d := Decide(vs, policy.Default())
		require.Len(t, d.Errors, 1, "the same rule at the same field counts once")
		assert.Equal(t, "spec.components.image", d.Errors[0].Field)
		assert.Equal(t, "[MU-META] d1", d.Errors[0].Detail)
		assert.Equal(t, []string{"[MU-ROLLING] spec.components.image: s2", "[MU-PRERELEASE] spec.components.image: s3"}, d.Warnings)
		assert.Equal(t, []policy.RuleID{policy.MuMeta, policy.MuRolling, policy.MuPrerelease}, d.Rules)
	})
	t.Run("policy turns a deny into a warning and another rule off", func(t *testing.T) {
		p, err := policy.Parse([]byte("rules: {MU-META: warn, MU-ROLLING: off}"))
		require.NoError(t, err)
		d := Decide(vs, p)
		assert.True(t, d.Allowed())
		assert.Equal(t, []string{"[MU-META] spec.components.image: s1", "[MU-PRERELEASE] spec.components.image: s3"}, d.Warnings)
		assert.Equal(t, []policy.RuleID{policy.MuMeta, policy.MuPrerelease}, d.Rules)
	})
	t.Run("a long warning is cut to the limit", func(t *testing.T) {
		long := Violation{Rule: policy.MuRolling, Err: field.Invalid(milvus.ImagePath, "x", ""), Short: fmt.Sprintf("%0200d", 0)}
		w := Warning(long)
		assert.Len(t, []rune(w), MaxWarningLen)
		assert.Equal(t, "…", string([]rune(w)[MaxWarningLen-1:]))
	})
}

// The typed hand-off to generation: the migration MU-META carries, and when
// the defaulting webhook may hold for it.
func TestHeldMigration(t *testing.T) {
	v214, v2216, v2423 := milvus.MustVersion("v2.1.4"), milvus.MustVersion("v2.2.16"), milvus.MustVersion("v2.4.23")
	to2423 := &migration.Need{From: v214, To: v2423, Target: v2216}
	generate := policy.Default()
	parse := func(yaml string) *policy.Policy {
		p, err := policy.Parse([]byte(yaml))
		require.NoError(t, err)
		return p
	}
	tests := []struct {
		name     string
		old, new *milvus.Milvus
		upgrades []milvus.MilvusUpgrade
		policy   *policy.Policy
		want     *migration.Need
	}{
		{name: "global image 2.1.4 → 2.4.23", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"), policy: generate, want: to2423},
		{name: "global image to a 2.2.x migrates to it", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.2.5"), policy: generate,
			want: &migration.Need{From: v214, To: milvus.MustVersion("v2.2.5"), Target: milvus.MustVersion("v2.2.5")}},
		{name: "version field wins", old: newMilvus(repo+"v2.4.22", declaredVersion("v2.1.4")), new: newMilvus(repo+"v2.4.23", declaredVersion("v2.4.23")),
			policy: generate, want: to2423},
		{name: "judged from the running version", old: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4")), new: newMilvus(repo + "v2.4.23"),
			policy: generate, want: to2423},
		{name: "a component override alone is not held", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo+"v2.1.4", proxyImage(repo+"v2.2.16")), policy: generate},
		{name: "global and component: not held", old: newMilvus(repo+"v2.1.4", proxyImage(repo+"v2.1.4")), new: newMilvus(repo+"v2.4.23", proxyImage(repo+"v2.4.23")), policy: generate},
		{name: "MU-META: deny", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"), policy: parse("rules: {MU-META: deny}")},
		{name: "no MU-META: 2.2.0 → 2.4.23", old: newMilvus(repo + "v2.2.0"), new: newMilvus(repo + "v2.4.23"), policy: generate},
		{name: "the planned upgrade failed", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"), policy: generate,
			upgrades: []milvus.MilvusUpgrade{upgradeNamed(planned, "BakupMetaFailed")}},
		{name: "another upgrade at work", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"), policy: generate,
			upgrades: []milvus.MilvusUpgrade{upgradeNamed("by-hand", "")}},
		{name: "a component pinned to 2.1 would be left behind: denied up front, not held",
			old: newMilvus(repo+"v2.1.4", proxyImage(repo+"v2.1.4")), new: newMilvus(repo+"v2.4.23", proxyImage(repo+"v2.1.4")), policy: generate},
		{name: "another upgrade at work, MU-META-BUSY only warns", old: newMilvus(repo + "v2.1.4"), new: newMilvus(repo + "v2.4.23"),
			policy: parse("rules: {MU-META-BUSY: warn}"), upgrades: []milvus.MilvusUpgrade{upgradeNamed("by-hand", "")}, want: to2423},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := Milvus(MilvusChange{Old: tc.old, New: tc.new, Upgrades: tc.upgrades}, tc.policy)
			assert.Equal(t, tc.want, HeldMigration(vs, tc.policy))
		})
	}
}
