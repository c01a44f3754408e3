package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/matchconditions"
	"github.com/milvus-admission/milvus-admission/internal/shared"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/webhook"
)

// shippedWebhooks reads the webhooks of manifests/webhooks.yaml by name.
func shippedWebhooks(t *testing.T) map[string]admissionregistrationv1.ValidatingWebhook {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "manifests", "webhooks.yaml"))
	require.NoError(t, err)
	docs, err := shared.YAMLDocuments(bytes.NewReader(data))
	require.NoError(t, err)
	out := map[string]admissionregistrationv1.ValidatingWebhook{}
	for _, doc := range docs {
		// Both configurations' webhooks carry name, rules and matchConditions.
		var cfg admissionregistrationv1.ValidatingWebhookConfiguration
		require.NoError(t, yaml.Unmarshal(doc, &cfg))
		for _, w := range cfg.Webhooks {
			out[w.Name] = w
		}
	}
	require.Len(t, out, 4)
	return out
}

func edit(obj map[string]any, value any, path ...string) map[string]any {
	out := runtime.DeepCopyJSON(obj)
	if value == nil {
		unstructured.RemoveNestedField(out, path...)
	} else if err := unstructured.SetNestedField(out, value, path...); err != nil {
		panic(err) // a test's own object: its fixture is wrong
	}
	return out
}

func toJSON(t *testing.T, obj map[string]any) []byte {
	if obj == nil {
		return nil
	}
	data, err := json.Marshal(obj)
	require.NoError(t, err)
	return data
}

// check's reading of the shipped matchConditions agrees with the CEL
// expressions themselves, on every field they name and on what they leave out.
func TestConditionsMatchManifests(t *testing.T) {
	hooks := shippedWebhooks(t)
	stored := map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus",
		"metadata": map[string]any{"name": "m", "namespace": "default", "labels": map[string]any{"app": "x"}},
		"spec": map[string]any{
			"mode": "cluster", "dependencies": map[string]any{"msgStreamType": "pulsar"},
			"components": map[string]any{"image": "milvusdb/milvus:v2.4.23", "imageUpdateMode": "rollingUpgrade", "proxy": map[string]any{"replicas": int64(1)}},
		},
	}
	intent := []string{"metadata", "annotations", "milvus-admission.io/planned-upgrade"}
	noMode := edit(stored, nil, "spec", "components", "imageUpdateMode")
	type pair struct{ old, cur map[string]any }
	cases := map[string]pair{
		"CREATE":                       {nil, stored},
		"nothing":                      {stored, stored},
		"image":                        {stored, edit(stored, "milvusdb/milvus:v2.5.4", "spec", "components", "image")},
		"version":                      {stored, edit(stored, "v2.5.4", "spec", "components", "version")},
		"mode":                         {stored, edit(stored, "standalone", "spec", "mode")},
		"msgStreamType":                {stored, edit(stored, "kafka", "spec", "dependencies", "msgStreamType")},
		"imageUpdateMode":              {stored, edit(stored, "all", "spec", "components", "imageUpdateMode")},
		"imageUpdateMode removed":      {stored, noMode},
		"no imageUpdateMode, replicas": {noMode, edit(noMode, int64(3), "spec", "components", "proxy", "replicas")},
		"enableRollingUpdate true":     {stored, edit(stored, true, "spec", "components", "enableRollingUpdate")},
		"enableRollingUpdate false":    {stored, edit(stored, false, "spec", "components", "enableRollingUpdate")},
		"mixCoord added":               {stored, edit(stored, map[string]any{"replicas": int64(1)}, "spec", "components", "mixCoord")},
		"intent added":                 {stored, edit(stored, "x", intent...)},
		"intent removed":               {edit(stored, "x", intent...), stored},
		"intent kept":                  {edit(stored, "x", intent...), edit(stored, "x", intent...)},
		"replicas":                     {stored, edit(stored, int64(3), "spec", "components", "proxy", "replicas")},
		"a label":                      {stored, edit(stored, "y", "metadata", "labels", "app")},
		"last-applied":                 {stored, edit(stored, "{}", "metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration")},
		"image while deleting":         {stored, edit(edit(stored, "2026-11-29T16:00:00Z", "metadata", "deletionTimestamp"), "milvusdb/milvus:v2.5.4", "spec", "components", "image")},
	}
	var c milvus.Components
	for _, nc := range c.Named() {
		cases[nc.Name+".image"] = pair{stored, edit(stored, "milvusdb/milvus:v2.5.4", "spec", "components", nc.Name, "image")}
		cases[nc.Name+".version"] = pair{stored, edit(stored, "v2.5.4", "spec", "components", nc.Name, "version")}
	}
	mutate, validate := matchconditions.Compile(t, hooks["mutate.milvus.milvus-admission.io"].MatchConditions), matchconditions.Compile(t, hooks["validate.milvus.milvus-admission.io"].MatchConditions)
	for name, p := range cases {
		t.Run("Milvus: "+name, func(t *testing.T) {
			assert.Equal(t, mutate.Calls(t, p.old, p.cur), mutatingCalled(milvus.MilvusKind.Kind, toJSON(t, p.old), toJSON(t, p.cur)), "mutating")
			assert.Equal(t, validate.Calls(t, p.old, p.cur), validatingCalled(milvus.MilvusKind.Kind, toJSON(t, p.old), toJSON(t, p.cur)), "validating")
		})
	}

	upgrade := map[string]any{"metadata": map[string]any{"name": "u"}, "spec": map[string]any{"sourceVersion": "v2.1.4", "targetVersion": "v2.2.16"}}
	upCases := map[string]pair{
		"CREATE":   {nil, upgrade},
		"spec":     {upgrade, edit(upgrade, "v2.2.15", "spec", "targetVersion")},
		"label":    {upgrade, edit(upgrade, map[string]any{"a": "b"}, "metadata", "labels")},
		"deleting": {upgrade, edit(edit(upgrade, "v2.2.15", "spec", "targetVersion"), "2026-11-29T16:00:00Z", "metadata", "deletionTimestamp")},
		"nothing":  {upgrade, upgrade},
	}
	for _, name := range []string{"mutate.milvusupgrade.milvus-admission.io", "validate.milvusupgrade.milvus-admission.io"} {
		m := matchconditions.Compile(t, hooks[name].MatchConditions)
		for cname, p := range upCases {
			t.Run(name+": "+cname, func(t *testing.T) {
				assert.Equal(t, m.Calls(t, p.old, p.cur), mutatingCalled(milvus.MilvusUpgradeKind.Kind, toJSON(t, p.old), toJSON(t, p.cur)), "mutating")
				assert.Equal(t, m.Calls(t, p.old, p.cur), validatingCalled(milvus.MilvusUpgradeKind.Kind, toJSON(t, p.old), toJSON(t, p.cur)), "validating")
			})
		}
	}
}

// The webhook names and paths check reports are those of the shipped
// configurations.
func TestWebhookNamesMatchManifests(t *testing.T) {
	hooks := shippedWebhooks(t)
	for kind, name := range validatingWebhookName {
		require.Contains(t, hooks, name)
		assert.Equal(t, paths[kind][1], *hooks[name].ClientConfig.Service.Path, kind)
		assert.Equal(t, resources[kind], hooks[name].Rules[0].Resources[0], kind)
	}
	assert.Equal(t, webhook.ValidateMilvusPath, paths[milvus.MilvusKind.Kind][1])
}
