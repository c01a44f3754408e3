package manifests_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/milvus-admission/milvus-admission/internal/matchconditions"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// stored is a Milvus as the API server stores it after defaulting.
func stored() map[string]any {
	return map[string]any{
		"apiVersion": "milvus.io/v1beta1", "kind": "Milvus",
		"metadata": map[string]any{"name": "my-release", "namespace": "default", "labels": map[string]any{"app": "x"}, "finalizers": []any{"milvus.milvus.io/finalizer"}},
		"spec": map[string]any{
			"mode":         "cluster",
			"dependencies": map[string]any{"msgStreamType": "pulsar"},
			"components": map[string]any{
				"image": "milvusdb/milvus:v2.4.23", "imageUpdateMode": "rollingUpgrade",
				"proxy": map[string]any{"replicas": int64(1)},
			},
		},
	}
}

// edited is stored() changed by edit.
func edited(edit func(obj map[string]any)) map[string]any {
	obj := runtime.DeepCopyJSON(stored())
	edit(obj)
	return obj
}

func set(path []string, value any) func(map[string]any) {
	return func(obj map[string]any) {
		if err := unstructured.SetNestedField(obj, value, path...); err != nil {
			panic(err) // a test's own object: its fixture is wrong
		}
	}
}

// Every field a Milvus rule reads (the view types of pkg/milvus) makes the
// API server call both Milvus webhooks when it changes; what no rule reads
// never does, so an outage blocks neither deletes nor metadata, and routine
// updates skip the round trip.
func TestMilvusMatchConditions(t *testing.T) {
	objs := rendered(t)
	mutating := only[admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration")
	validating := only[admissionregistrationv1.ValidatingWebhookConfiguration](t, objs, "ValidatingWebhookConfiguration")
	hooks := map[string]matchconditions.Matcher{}
	for _, w := range mutating.Webhooks {
		hooks[w.Name] = matchconditions.Compile(t, w.MatchConditions)
	}
	for _, w := range validating.Webhooks {
		hooks[w.Name] = matchconditions.Compile(t, w.MatchConditions)
	}
	require.Len(t, hooks, 4)
	mutate, validate := hooks["mutate.milvus.milvus-admission.io"], hooks["validate.milvus.milvus-admission.io"]

	read := map[string]func(map[string]any){
		"spec.mode":                           set([]string{"spec", "mode"}, "standalone"),
		"spec.dependencies.msgStreamType":     set([]string{"spec", "dependencies", "msgStreamType"}, "kafka"),
		"spec.components.image":               set([]string{"spec", "components", "image"}, "milvusdb/milvus:v2.5.4"),
		"spec.components.version":             set([]string{"spec", "components", "version"}, "v2.5.4"),
		"spec.components.imageUpdateMode":     set([]string{"spec", "components", "imageUpdateMode"}, "all"),
		"spec.components.enableRollingUpdate": set([]string{"spec", "components", "enableRollingUpdate"}, true),
		"spec.components.mixCoord added":      set([]string{"spec", "components", "mixCoord"}, map[string]any{"replicas": int64(1)}),
		"an intent annotation":                set([]string{"metadata", "annotations", "milvus-admission.io/planned-upgrade"}, "x"),
	}
	var c milvus.Components
	for _, nc := range c.Named() {
		read["spec.components."+nc.Name+".image"] = set([]string{"spec", "components", nc.Name, "image"}, "milvusdb/milvus:v2.5.4")
		read["spec.components."+nc.Name+".version"] = set([]string{"spec", "components", nc.Name, "version"}, "v2.5.4")
	}
	for name, edit := range read {
		t.Run("called: "+name, func(t *testing.T) {
			assert.True(t, validate.Calls(t, stored(), edited(edit)), "validating")
			assert.True(t, mutate.Calls(t, stored(), edited(edit)), "mutating")
		})
	}
	t.Run("called: CREATE", func(t *testing.T) {
		assert.True(t, validate.Calls(t, nil, stored()))
		assert.True(t, mutate.Calls(t, nil, stored()))
	})
	t.Run("called: an intent annotation removed", func(t *testing.T) {
		with := edited(read["an intent annotation"])
		assert.True(t, validate.Calls(t, with, stored()))
		assert.True(t, mutate.Calls(t, with, stored()))
	})
	t.Run("called: an apply while a hold is on (a revert may cancel it)", func(t *testing.T) {
		with := edited(read["an intent annotation"])
		assert.True(t, mutate.Calls(t, with, with))
	})

	skipped := map[string]func(map[string]any){
		"replicas only":      set([]string{"spec", "components", "proxy", "replicas"}, int64(3)),
		"a label":            set([]string{"metadata", "labels", "team"}, "search"),
		"another annotation": set([]string{"metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"}, "{}"),
		"resources":          set([]string{"spec", "components", "resources"}, map[string]any{"limits": map[string]any{"cpu": "2"}}),
		"the operator's finalizer removed while deleting": func(obj map[string]any) {
			meta := obj["metadata"].(map[string]any)
			meta["deletionTimestamp"] = "2026-11-29T16:00:00Z"
			delete(meta, "finalizers")
		},
		"an image change while deleting": func(obj map[string]any) {
			set([]string{"metadata", "deletionTimestamp"}, "2026-11-29T16:00:00Z")(obj)
			set([]string{"spec", "components", "image"}, "milvusdb/milvus:v2.5.4")(obj)
		},
	}
	for name, edit := range skipped {
		t.Run("not called: "+name, func(t *testing.T) {
			assert.False(t, validate.Calls(t, stored(), edited(edit)), "validating")
			assert.False(t, mutate.Calls(t, stored(), edited(edit)), "mutating")
		})
	}
	t.Run("only the mutating webhook: a default to set", func(t *testing.T) {
		noMode := func(obj map[string]any) {
			delete(obj["spec"].(map[string]any)["components"].(map[string]any), "imageUpdateMode")
		}
		old, cur := edited(noMode), edited(noMode)
		set([]string{"spec", "components", "proxy", "replicas"}, int64(3))(cur)
		assert.True(t, mutate.Calls(t, old, cur))
		assert.False(t, validate.Calls(t, old, cur))
	})

	for _, name := range []string{"mutate.milvusupgrade.milvus-admission.io", "validate.milvusupgrade.milvus-admission.io"} {
		up := hooks[name]
		upgrade := map[string]any{"metadata": map[string]any{"name": "u"}, "spec": map[string]any{"sourceVersion": "v2.1.4", "targetVersion": "v2.2.16"}}
		changedSpec := runtime.DeepCopyJSON(upgrade)
		changedSpec["spec"].(map[string]any)["targetVersion"] = "v2.2.15"
		labelled := runtime.DeepCopyJSON(upgrade)
		labelled["metadata"].(map[string]any)["labels"] = map[string]any{"a": "b"}
		deleting := runtime.DeepCopyJSON(changedSpec)
		deleting["metadata"].(map[string]any)["deletionTimestamp"] = "2026-11-29T16:00:00Z"
		t.Run(name, func(t *testing.T) {
			assert.True(t, up.Calls(t, nil, upgrade), "CREATE")
			assert.True(t, up.Calls(t, upgrade, changedSpec), "a spec change")
			assert.False(t, up.Calls(t, upgrade, labelled), "metadata only")
			assert.False(t, up.Calls(t, upgrade, deleting), "while deleting")
			assert.False(t, up.Calls(t, upgrade, maps.Clone(upgrade)), "nothing changed")
		})
	}
}

// The controller ignores intents in exactly the namespaces the webhooks
// exclude: no hold can have written one there.
func TestExcludedNamespacesMatchTheWebhooks(t *testing.T) {
	objs := rendered(t)
	d := only[appsv1.Deployment](t, objs, "Deployment")
	var flag string
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--excluded-namespaces="); ok {
			flag = v
		}
	}
	require.NotEmpty(t, flag, "the Deployment passes --excluded-namespaces")
	mutating := only[admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration")
	validating := only[admissionregistrationv1.ValidatingWebhookConfiguration](t, objs, "ValidatingWebhookConfiguration")
	selectors := []*metav1.LabelSelector{}
	for _, w := range mutating.Webhooks {
		selectors = append(selectors, w.NamespaceSelector)
	}
	for _, w := range validating.Webhooks {
		selectors = append(selectors, w.NamespaceSelector)
	}
	for _, sel := range selectors {
		require.NotNil(t, sel)
		assert.Equal(t, []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: strings.Split(flag, ",")},
			{Key: "milvus-admission.io/exempt", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"true"}},
		}, sel.MatchExpressions, "the excluded names, and the exempt label")
	}
}
