package check

import (
	"context"
	"testing"

	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// Whatever the manifests, check answers or says what is wrong: it never
// panics.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(milvusYAML("m", "milvusdb/milvus:v2.1.4")), []byte(milvusYAML("m", "milvusdb/milvus:v2.4.23")))
	f.Add([]byte(milvusYAML("m", "milvusdb/milvus:v2.4.23")), webhooktest.UpgradeManifest("u", "m", "v2.1.4", "v2.4.23"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: milvus.io/v1beta1, kind: Milvus, metadata: {name: a}}\n"), []byte("{\"apiVersion\":\"milvus.io/v1beta1\",\"kind\":\"Milvus\",\"metadata\":{\"name\":\"a\"},\"status\":{\"currentVersion\":\"v2.1.4\"}}"))
	f.Add([]byte("--- x\n"), []byte("a: [\n"))
	f.Fuzz(func(t *testing.T, base, change []byte) {
		baseObjs, err := Parse(Source{Name: "b", Data: base}, "default")
		if err != nil {
			return
		}
		objs, err := Parse(Source{Name: "c", Data: change}, "default")
		if err != nil {
			return
		}
		for _, o := range objs {
			o.FieldLine("spec.components.image")
			o.FieldLine("metadata.annotations[a.b/c]")
		}
		for _, live := range []bool{false, true} {
			r, err := Run(context.Background(), Options{}, Base{Name: "b", Objects: baseObjs, Live: live}, objs)
			if err == nil {
				for _, format := range Formats {
					if err := r.Write(discard{}, format); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
