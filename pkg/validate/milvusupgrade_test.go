package validate

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

type upgradeOpt func(*milvus.MilvusUpgrade)

func newUpgrade(source, target string, opts ...upgradeOpt) *milvus.MilvusUpgrade {
	u := &milvus.MilvusUpgrade{}
	u.Name, u.Namespace = "my-release-upgrade", "default"
	u.Spec.Milvus = milvus.ObjectReference{Name: "my-release", Namespace: "default"}
	u.Spec.SourceVersion, u.Spec.TargetVersion = source, target
	u.Spec.Operation = milvus.OperationUpgrade
	for _, o := range opts {
		o(u)
	}
	return u
}

func inNamespace(ns string) upgradeOpt {
	return func(u *milvus.MilvusUpgrade) { u.Spec.Milvus.Namespace = ns }
}

func targetImageOf(image string) upgradeOpt {
	return func(u *milvus.MilvusUpgrade) { u.Spec.TargetImage = image }
}

func inState(state string) upgradeOpt {
	return func(u *milvus.MilvusUpgrade) { u.Status.State = state }
}

func operation(op string) upgradeOpt {
	return func(u *milvus.MilvusUpgrade) { u.Spec.Operation = op }
}

func TestMilvusUpgradeRules(t *testing.T) {
	// unverified is a Milvus that exists but reports no verifiable version,
	// the target of every row that names none, so MU-UP-SRC stays out of rows
	// about other rules.
	unverified := newMilvus(repo + "latest")
	tests := []struct {
		name     string
		old, new *milvus.MilvusUpgrade
		target   *milvus.Milvus
		missing  bool // the Milvus does not exist
		upgrades []milvus.MilvusUpgrade
		want     field.ErrorList
	}{
		{name: "legal: 2.1.4 to 2.2.16", new: newUpgrade("v2.1.4", "v2.2.16")},
		// MU-UP-TARGET
		{name: "MU-UP-TARGET: the Milvus does not exist (yet)", new: newUpgrade("v2.1.4", "v2.2.16"), missing: true,
			want: field.ErrorList{
				field.Invalid(milvus.SpecPath.Child("milvus", "name"), "my-release", "[MU-UP-TARGET] Milvus default/my-release does not exist (yet): the operator retries until it does, and sourceVersion could not be checked against what it runs"),
			}},
		// MU-UP-ONE
		{name: "MU-UP-ONE: another upgrade of the Milvus is unfinished", new: newUpgrade("v2.1.4", "v2.2.16"),
			upgrades: []milvus.MilvusUpgrade{upgradeNamed(planned, "")},
			want: field.ErrorList{
				field.Forbidden(milvus.SpecPath.Child("milvus", "name"), "[MU-UP-ONE] MilvusUpgrade default/"+planned+" already works on Milvus my-release (not started yet); two upgrades would migrate the same metadata. Wait until it has finished, or delete it if it has not started"),
			}},
		{name: "legal: the other upgrades failed, or are of another Milvus, or this one (Succeeded ones: the MU-UP-SRC row)", old: newUpgrade("v2.1.4", "v2.2.15"), new: newUpgrade("v2.1.4", "v2.2.16"),
			upgrades: []milvus.MilvusUpgrade{upgradeNamed("failed", "RollbackFailed"), upgradeNamed("my-release-upgrade", ""),
				func() milvus.MilvusUpgrade {
					u := upgradeNamed("other", "BackupMeta")
					u.Spec.Milvus.Name = "other"
					return u
				}()}},
		// MU-UP-SRC counts a Succeeded upgrade as running
		{name: "MU-UP-SRC: a second migration while the status lags behind a success", new: newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.2.16", runningVersion("v2.1.4")), upgrades: []milvus.MilvusUpgrade{upgradeNamed("first", "Succeeded")},
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "v2.1.4", "[MU-UP-SRC] Milvus default/my-release runs v2.2.16, not v2.1.4; v2.2.16 already has 2.2+ metadata, so no MilvusUpgrade is needed: delete this one"),
			}},
		{name: "legal: the operator's sample, 2.1.4 to 2.2.0", new: newUpgrade("v2.1.4", "v2.2.0")},
		// MU-META-RANGE
		{name: "MU-META-RANGE: target past 2.2 (the seed's own example)", new: newUpgrade("v2.1.4", "v2.4.23"),
			want: field.ErrorList{
				field.Invalid(milvus.UpTargetPath, "v2.4.23", "[MU-META-RANGE] the migration tool only migrates to 2.2.x: set targetVersion to v2.2.16 (the 2.2.x waypoint); path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
			}},
		{name: "MU-META-RANGE: source already on 2.2", new: newUpgrade("v2.2.0", "v2.2.16"),
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "v2.2.0", "[MU-META-RANGE] the migration tool only migrates from 2.1.x; v2.2.0 already has 2.2+ metadata, so no MilvusUpgrade is needed: delete this one and change the Milvus image instead; next: change the image to v2.2.16; path: v2.2.0 → v2.2.16"),
			}},
		{name: "MU-META-RANGE: source on 2.0", new: newUpgrade("v2.0.2", "v2.2.16"),
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "v2.0.2", "[MU-META-RANGE] the migration tool only migrates from 2.1.x; next: change the image to v2.1.4, then set sourceVersion to v2.1.4; path: v2.0.2 → v2.1.4 →MilvusUpgrade v2.2.16"),
			}},
		// MU-UP-VERSION
		{name: "MU-UP-VERSION: source is not a version", new: newUpgrade("latest", "v2.2.16"),
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "latest", "[MU-UP-VERSION] tag \"latest\" names no verifiable version; write a release version such as v2.1.4"),
			}},
		{name: "MU-UP-VERSION: target missing", new: newUpgrade("v2.1.4", ""),
			want: field.ErrorList{
				field.Required(milvus.UpTargetPath, "[MU-UP-VERSION] empty version; write a release version such as v2.2.16"),
			}},
		// MU-UP-ORDER
		{name: "MU-UP-ORDER: target older than source", new: newUpgrade("v2.1.4", "v2.1.0"),
			want: field.ErrorList{
				field.Invalid(milvus.UpTargetPath, "v2.1.0", "[MU-META-RANGE] the migration tool only migrates to 2.2.x"),
				field.Invalid(milvus.UpTargetPath, "v2.1.0", "[MU-UP-ORDER] targetVersion v2.1.0 is not newer than sourceVersion v2.1.4; to go back, set operation: rollback on the MilvusUpgrade that did the upgrade"),
			}},
		// MU-UP-NS
		{name: "MU-UP-NS: a Milvus in another namespace", new: newUpgrade("v2.1.4", "v2.2.16", inNamespace("tenant-b")),
			want: field.ErrorList{
				field.Forbidden(milvus.UpNamespacePath, "[MU-UP-NS] a MilvusUpgrade may only act on a Milvus in its own namespace \"default\"; create it in namespace \"tenant-b\" instead"),
			}},
		{name: "legal: namespace left empty", new: newUpgrade("v2.1.4", "v2.2.16", inNamespace(""))},
		// MU-UP-SRC
		{name: "MU-UP-SRC: the Milvus runs another version", new: newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.1.4", runningVersion("v2.1.3")),
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "v2.1.4", "[MU-UP-SRC] Milvus default/my-release runs v2.1.3, not v2.1.4; set sourceVersion to v2.1.3"),
			}},
		{name: "MU-UP-SRC: no status, the spec's version differs", new: newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo + "v2.1.3"),
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "v2.1.4", "[MU-UP-SRC] Milvus default/my-release runs v2.1.3, not v2.1.4; set sourceVersion to v2.1.3"),
			}},
		{name: "legal: the Milvus runs the source (with or without v)", new: newUpgrade("2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.1.4", runningVersion("v2.1.4"))},
		{name: "MU-UP-SRC: the Milvus runs 2.2+ metadata, so no sourceVersion helps (issue 13)", new: newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.4.23", runningVersion("v2.4.23")),
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "v2.1.4", "[MU-UP-SRC] Milvus default/my-release runs v2.4.23, not v2.1.4; v2.4.23 already has 2.2+ metadata, so no MilvusUpgrade is needed: delete this one"),
			}},
		{name: "MU-UP-SRC and MU-META-RANGE: a target past 2.2 from a Milvus on 2.4", new: newUpgrade("v2.1.4", "v2.6.3"),
			target: newMilvus(repo+"v2.4.23", runningVersion("v2.4.23")),
			want: field.ErrorList{
				field.Invalid(milvus.UpTargetPath, "v2.6.3", "[MU-META-RANGE] the migration tool only migrates to 2.2.x"),
				field.Invalid(milvus.UpSourcePath, "v2.1.4", "[MU-UP-SRC] Milvus default/my-release runs v2.4.23, not v2.1.4; v2.4.23 already has 2.2+ metadata, so no MilvusUpgrade is needed: delete this one and change the Milvus image instead; next: change the image to v2.5.16; path: v2.4.23 → v2.5.16 → v2.6.3"),
			}},
		{name: "MU-UP-SRC: the Milvus runs 2.0", new: newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.0.2", runningVersion("v2.0.2")),
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "v2.1.4", "[MU-UP-SRC] Milvus default/my-release runs v2.0.2, not v2.1.4; next: change the image to v2.1.4, then set sourceVersion to v2.1.4; path: v2.0.2 → v2.1.4 →MilvusUpgrade v2.2.16"),
			}},
		{name: "MU-META-RANGE: source and target both past 2.2", new: newUpgrade("v2.4.23", "v2.6.3"),
			want: field.ErrorList{
				field.Invalid(milvus.UpSourcePath, "v2.4.23", "[MU-META-RANGE] the migration tool only migrates from 2.1.x; v2.4.23 already has 2.2+ metadata, so no MilvusUpgrade is needed: delete this one and change the Milvus image instead; next: change the image to v2.5.16; path: v2.4.23 → v2.5.16 → v2.6.3"),
				field.Invalid(milvus.UpTargetPath, "v2.6.3", "[MU-META-RANGE] the migration tool only migrates to 2.2.x"),
			}},
		{name: "MU-UP-IMAGE: the tag of the 2.2.x target", new: newUpgrade("v2.1.4", "v2.4.23", targetImageOf(repo+"v2.4.22")),
			want: field.ErrorList{
				field.Invalid(milvus.UpTargetPath, "v2.4.23", "[MU-META-RANGE] the migration tool only migrates to 2.2.x: set targetVersion to v2.2.16 (the 2.2.x waypoint); path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"),
				field.Invalid(milvus.UpTargetImgPath, repo+"v2.4.22", "[MU-UP-IMAGE] targetImage is v2.4.22 but targetVersion is v2.4.23; the operator writes targetImage into the Milvus, so tag it with the targetVersion it must have (MU-META-RANGE): v2.2.16"),
			}},
		// MU-UP-IMAGE
		{name: "MU-UP-IMAGE: targetImage carries another version", new: newUpgrade("v2.1.4", "v2.2.16", targetImageOf(repo+"v2.2.15")),
			want: field.ErrorList{
				field.Invalid(milvus.UpTargetImgPath, repo+"v2.2.15", "[MU-UP-IMAGE] targetImage is v2.2.15 but targetVersion is v2.2.16; the operator writes targetImage into the Milvus, so tag it with targetVersion: v2.2.16"),
			}},
		{name: "MU-UP-IMAGE: targetImage is latest", new: newUpgrade("v2.1.4", "v2.2.16", targetImageOf(repo+"latest")),
			want: field.ErrorList{
				field.Invalid(milvus.UpTargetImgPath, repo+"latest", "[MU-UP-IMAGE] tag \"latest\" names no verifiable version; the operator writes targetImage into the Milvus, so tag it with targetVersion: v2.2.16"),
			}},
		{name: "legal: private registry targetImage", new: newUpgrade("v2.1.4", "v2.2.16", targetImageOf("harbor.example.com:8443/milvusdb/milvus:v2.2.16"))},
		// MU-UP-IMMUTABLE
		{name: "MU-UP-IMMUTABLE: target changed after the operator started",
			old: newUpgrade("v2.1.4", "v2.2.16", inState("BackupMeta")), new: newUpgrade("v2.1.4", "v2.2.15"),
			want: field.ErrorList{
				field.Forbidden(milvus.UpTargetPath, "[MU-UP-IMMUTABLE] the operator has started this upgrade (state BackupMeta); its spec cannot change except operation: upgrade → rollback. Create a new MilvusUpgrade instead"),
			}},
		{name: "legal: upgrade turned into rollback after start",
			old: newUpgrade("v2.1.4", "v2.2.16", inState("UpdateMetaFailed")), new: newUpgrade("v2.1.4", "v2.2.16", operation("rollback"))},
		{name: "MU-UP-IMMUTABLE: rollback turned back into upgrade",
			old: newUpgrade("v2.1.4", "v2.2.16", operation("rollback"), inState("RollbackNewVersionStopping")), new: newUpgrade("v2.1.4", "v2.2.16"),
			want: field.ErrorList{
				field.Forbidden(milvus.UpOperationPath, "[MU-UP-IMMUTABLE] the operator has started this upgrade (state RollbackNewVersionStopping); its spec cannot change except operation: upgrade → rollback. Create a new MilvusUpgrade instead"),
			}},
		{name: "legal: spec edited before the operator started", old: newUpgrade("v2.1.4", "v2.2.15"), new: newUpgrade("v2.1.4", "v2.2.16")},
		{name: "started upgrades are not re-judged against the running version",
			old:    newUpgrade("v2.1.4", "v2.2.16", inState("Succeeded")),
			new:    newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.2.16", runningVersion("v2.2.16"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if target == nil && !tc.missing {
				target = unverified
			}
			got := MilvusUpgrade(UpgradeChange{Old: tc.old, New: tc.new, Target: target, TargetUpgrades: tc.upgrades}, policy.Default())
			assert.Equal(t, tc.want, denials(got))
			for _, v := range got {
				assert.NotEmpty(t, v.Err.Detail)
				assert.Less(t, utf8.RuneCountInString(Warning(v)), MaxWarningLen, "short text fits a warning uncut: %q", Warning(v))
			}
		})
	}
}

func TestMetaRangeExplainsTheWaypoint(t *testing.T) {
	p := policy.Default()
	d := Decide(MilvusUpgrade(UpgradeChange{New: newUpgrade("v2.1.4", "v2.4.23")}, p), p)
	require.Len(t, d.Errors, 1)
	assert.Equal(t, "spec.targetVersion", d.Errors[0].Field)
	for _, part := range []string{"[MU-META-RANGE]", "only migrates to 2.2.x", "set targetVersion to v2.2.16", "path: v2.1.4 →MilvusUpgrade v2.2.16 → v2.4.23"} {
		assert.Contains(t, d.Errors[0].Detail, part)
	}
}
