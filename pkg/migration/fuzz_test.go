package migration

import (
	"testing"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// FuzzIntent: whatever annotations a tenant writes, reading the intent and
// building the upgrade never panic, and an upgrade is built only for an
// intent that reads.
func FuzzIntent(f *testing.F) {
	f.Add("milvusdb/milvus:v2.4.23", "", "my-release-migrate-v2-2-16", "v2.2.16", "milvusdb/milvus:v2.1.4", "v2.1.4")
	f.Add("", "2.4.23", "x", "two", "", "")
	f.Add("a:b@sha256:0", "v3", "", "v2.2.16", "r:5000/m:latest", "latest")
	f.Fuzz(func(t *testing.T, image, version, name, target, current, running string) {
		m := &milvus.Milvus{}
		m.Name, m.Namespace = "my-release", "default"
		m.Spec.Components.Image = current
		m.Status.CurrentVersion = running
		m.Annotations = map[string]string{
			AnnotationRequestedImage: image, AnnotationRequestedVersion: version,
			AnnotationPlannedUpgrade: name, AnnotationMigrationTarget: target,
		}
		in, ok, err := IntentOf(m)
		if name == "" && (ok || err != nil) {
			t.Fatalf("no planned upgrade is no intent: ok=%v err=%v", ok, err)
		}
		if !ok || err != nil {
			return
		}
		u, err := BuildUpgrade(m, nil, in, policy.Default())
		if err != nil {
			return
		}
		if u.GetName() != name || u.GetNamespace() != "default" {
			t.Fatalf("built %s/%s for intent %q", u.GetNamespace(), u.GetName(), name)
		}
	})
}
