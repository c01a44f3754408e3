package validate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

const (
	atSource      = " spec.sourceVersion"
	atTarget      = " spec.targetVersion"
	atTargetImage = " spec.targetImage"
	atNamespace   = " spec.milvus.namespace"
)

func TestMilvusUpgradeRules(t *testing.T) {
	tests := []struct {
		name     string
		old, new *milvus.MilvusUpgrade
		target   *milvus.Milvus
		want     []string
	}{
		{name: "legal: 2.1.4 to 2.2.16", new: newUpgrade("v2.1.4", "v2.2.16")},
		{name: "legal: the operator's sample, 2.1.4 to 2.2.0", new: newUpgrade("v2.1.4", "v2.2.0")},
		// MU-META-RANGE
		{name: "MU-META-RANGE: target past 2.2 (the seed's own example)", new: newUpgrade("v2.1.4", "v2.4.23"),
			want: []string{"MU-META-RANGE" + atTarget}},
		{name: "MU-META-RANGE: source already on 2.2", new: newUpgrade("v2.2.0", "v2.2.16"),
			want: []string{"MU-META-RANGE" + atSource}},
		{name: "MU-META-RANGE: source on 2.0", new: newUpgrade("v2.0.2", "v2.2.16"),
			want: []string{"MU-META-RANGE" + atSource}},
		// MU-UP-VERSION
		{name: "MU-UP-VERSION: source is not a version", new: newUpgrade("latest", "v2.2.16"),
			want: []string{"MU-UP-VERSION" + atSource}},
		{name: "MU-UP-VERSION: target missing", new: newUpgrade("v2.1.4", ""),
			want: []string{"MU-UP-VERSION" + atTarget}},
		// MU-UP-ORDER
		{name: "MU-UP-ORDER: target older than source", new: newUpgrade("v2.1.4", "v2.1.0"),
			want: []string{"MU-UP-ORDER" + atTarget, "MU-META-RANGE" + atTarget}},
		// MU-UP-NS
		{name: "MU-UP-NS: a Milvus in another namespace", new: newUpgrade("v2.1.4", "v2.2.16", inNamespace("tenant-b")),
			want: []string{"MU-UP-NS" + atNamespace}},
		{name: "legal: namespace left empty", new: newUpgrade("v2.1.4", "v2.2.16", inNamespace(""))},
		// MU-UP-SRC
		{name: "MU-UP-SRC: the Milvus runs another version", new: newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.1.4", runningVersion("v2.1.3")),
			want:   []string{"MU-UP-SRC" + atSource}},
		{name: "MU-UP-SRC: no status, the spec's version differs", new: newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo + "v2.1.3"),
			want:   []string{"MU-UP-SRC" + atSource}},
		{name: "legal: the Milvus runs the source (with or without v)", new: newUpgrade("2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.1.4", runningVersion("v2.1.4"))},
		// MU-UP-IMAGE
		{name: "MU-UP-IMAGE: targetImage carries another version", new: newUpgrade("v2.1.4", "v2.2.16", targetImageOf(repo+"v2.2.15")),
			want: []string{"MU-UP-IMAGE" + atTargetImage}},
		{name: "MU-UP-IMAGE: targetImage is latest", new: newUpgrade("v2.1.4", "v2.2.16", targetImageOf(repo+"latest")),
			want: []string{"MU-UP-IMAGE" + atTargetImage}},
		{name: "legal: private registry targetImage", new: newUpgrade("v2.1.4", "v2.2.16", targetImageOf("harbor.example.com:8443/milvusdb/milvus:v2.2.16"))},
		// MU-UP-IMMUTABLE
		{name: "MU-UP-IMMUTABLE: target changed after the operator started",
			old: newUpgrade("v2.1.4", "v2.2.16", inState("BackupMeta")), new: newUpgrade("v2.1.4", "v2.2.15"),
			want: []string{"MU-UP-IMMUTABLE" + atTarget}},
		{name: "legal: upgrade turned into rollback after start",
			old: newUpgrade("v2.1.4", "v2.2.16", inState("UpdateMetaFailed")), new: newUpgrade("v2.1.4", "v2.2.16", operation("rollback"))},
		{name: "MU-UP-IMMUTABLE: rollback turned back into upgrade",
			old: newUpgrade("v2.1.4", "v2.2.16", operation("rollback"), inState("RollbackNewVersionStopping")), new: newUpgrade("v2.1.4", "v2.2.16"),
			want: []string{"MU-UP-IMMUTABLE spec.operation"}},
		{name: "legal: spec edited before the operator started", old: newUpgrade("v2.1.4", "v2.2.15"), new: newUpgrade("v2.1.4", "v2.2.16")},
		{name: "started upgrades are not re-judged against the running version",
			old:    newUpgrade("v2.1.4", "v2.2.16", inState("Succeeded")),
			new:    newUpgrade("v2.1.4", "v2.2.16"),
			target: newMilvus(repo+"v2.2.16", runningVersion("v2.2.16"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MilvusUpgrade(UpgradeChange{Old: tc.old, New: tc.new, Target: tc.target}, policy.Default())
			assert.ElementsMatch(t, tc.want, found(got))
			for _, v := range got {
				assert.NotEmpty(t, v.Detail)
				assert.Less(t, len(v.Short)+len(v.Rule)+len(v.Path.String())+5, MaxWarningLen, "short text fits a warning uncut: %q", Warning(v))
			}
		})
	}
}

func TestMetaRangeExplainsTheWaypoint(t *testing.T) {
	p := policy.Default()
	d := Decide(MilvusUpgrade(UpgradeChange{New: newUpgrade("v2.1.4", "v2.4.23")}, p), p)
	require.Len(t, d.Errors, 1)
	assert.Equal(t, "spec.targetVersion", d.Errors[0].Field)
	for _, part := range []string{"[MU-META-RANGE]", "only migrates to 2.2.x", "set targetVersion to v2.2.16", "change the Milvus image to v2.4.23"} {
		assert.Contains(t, d.Errors[0].Detail, part)
	}
}
