package e2e

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/shared"
)

// schemaOf loads the v1beta1 schema of a Milvus Operator CRD.
func schemaOf(t *testing.T, file string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	schema, err := shared.CRDSchema(file, "v1beta1")
	require.NoError(t, err)
	return *schema
}

// schemaDefault is the CRD schema's default at path, if it declares one.
func schemaDefault(s apiextensionsv1.JSONSchemaProps, path []string) (any, bool) {
	for _, key := range path {
		next, ok := s.Properties[key]
		if !ok {
			return nil, false
		}
		s = next
	}
	if s.Default == nil {
		return nil, false
	}
	var v any
	if err := json.Unmarshal(s.Default.Raw, &v); err != nil {
		return nil, false
	}
	return v, true
}

// assertOnly checks that stored holds every field of written unchanged,
// and that each other field is one of ours or a default of the CRD schema.
func assertOnly(t *testing.T, schema apiextensionsv1.JSONSchemaProps, path []string, written, stored any, ours map[string]any) {
	t.Helper()
	at := strings.Join(path, ".")
	wm, wIsMap := written.(map[string]any)
	sm, sIsMap := stored.(map[string]any)
	if !wIsMap || !sIsMap {
		assert.Truef(t, reflect.DeepEqual(written, stored), "%s: wrote %v, stored %v", at, written, stored)
		return
	}
	for k, v := range wm {
		sv, ok := sm[k]
		if assert.Truef(t, ok, "%s.%s was written but is not stored", at, k) {
			assertOnly(t, schema, append(append([]string{}, path...), k), v, sv, ours)
		}
	}
	for k, sv := range sm {
		if _, written := wm[k]; written {
			continue
		}
		p := append(append([]string{}, path...), k)
		key := strings.Join(p, ".")
		if v, ok := ours[key]; ok {
			assert.Equalf(t, v, sv, "%s: our default", key)
			continue
		}
		def, ok := schemaDefault(schema, p)
		if assert.Truef(t, ok, "%s = %v is stored but neither written, ours, nor a CRD default", key, sv) {
			assert.Equalf(t, def, sv, "%s: CRD schema default", key)
		}
	}
}

// What the user wrote, plus our defaults, plus the CRD's own schema defaults
// is stored; a field the schema does not know is pruned after us.
func TestStoredObjectIsWrittenPlusDefaults(t *testing.T) {
	ns := newNamespace(t)
	t.Run("Milvus", func(t *testing.T) {
		manifest := `apiVersion: milvus.io/v1beta1
kind: Milvus
metadata:
  name: stored
  labels: {app: milvus}
spec:
  mode: cluster
  components:
    image: harbor.example.com:8443/milvusdb/milvus:v2.1.4
    enableRollingUpdate: false
    proxy:
      replicas: 0
    notInTheSchema: pruned
  config:
    log: {level: debug}
    anything: {goes: [1, 2]}
  dependencies:
    msgStreamType: pulsar
`
		_, stderr := kubectl(t, []byte(manifest), "-n", ns, "apply", "--validate=false", "-f", "-")
		assert.NotContains(t, stderr, "Error")
		var written map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(manifest), &written))
		delete(written["spec"].(map[string]any)["components"].(map[string]any), "notInTheSchema")

		stored := getJSON(t, ns, "milvus", "stored")
		assert.Nil(t, at(stored, "spec", "components", "notInTheSchema"), "pruned by the API server")
		assertOnly(t, schemaOf(t, "milvus.io_milvuses.yaml"), []string{"spec"}, written["spec"], stored["spec"],
			map[string]any{"spec.components.imageUpdateMode": "rollingUpgrade"})
		assert.Equal(t, false, at(stored, "spec", "components", "enableRollingUpdate"), "an explicit false is kept")
		assert.Equal(t, float64(0), at(stored, "spec", "components", "proxy", "replicas"), "an explicit 0 is kept")
	})
	t.Run("MilvusUpgrade", func(t *testing.T) {
		manifest := `apiVersion: milvus.io/v1beta1
kind: MilvusUpgrade
metadata:
  name: stored-upgrade
spec:
  milvus: {name: stored}
  sourceVersion: v2.1.4
  targetVersion: v2.2.16
  maxRetry: 0
  rollbackIfFailed: false
`
		kubectl(t, []byte(manifest), "-n", ns, "apply", "-f", "-")
		var written map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(manifest), &written))
		stored := getJSON(t, ns, "milvusupgrade", "stored-upgrade")
		assertOnly(t, schemaOf(t, "milvus.io_milvusupgrades.yaml"), []string{"spec"}, written["spec"], stored["spec"], map[string]any{
			"spec.toolImage":        "milvusdb/meta-migration:v2.2.0",
			"spec.targetImage":      "harbor.example.com:8443/milvusdb/milvus:v2.2.16",
			"spec.milvus.namespace": ns,
		})
	})
}

// Every sample manifest of the Milvus Operator applies cleanly with kubectl.
func TestSamplesApplyWithKubectl(t *testing.T) {
	docs, err := shared.Samples()
	require.NoError(t, err)
	dir, err := shared.Dir()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(dir, "milvus-operator", "samples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, docs)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ns := newNamespace(t)
			if filepath.Base(f) == "milvusupgrade.yaml" {
				// It upgrades Milvus "my-release" in namespace "default" from v2.1.4.
				ns = "default"
				kubectl(t, milvusManifest{name: "my-release", image: repo + "v2.1.4"}.yaml(), "-n", ns, "apply", "-f", "-")
			}
			out, stderr := kubectl(t, nil, "-n", ns, "apply", "-f", f)
			assert.Contains(t, out, "created")
			for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if line != "" {
					assert.True(t, strings.HasPrefix(line, "Warning: ["), "only rule warnings on stderr, got %q", line)
				}
			}
		})
	}
}
