package ha

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// webhookNames are the Milvus webhooks of manifests/webhooks.yaml; a write
// the dead webhooks block names one of them.
var webhookNames = []string{"mutate.milvus.milvus-admission.io", "validate.milvus.milvus-admission.io"}

// requireBlocked checks that a write failed because a Milvus webhook could
// not be called.
func requireBlocked(t *testing.T, stderr string, err error) {
	t.Helper()
	require.Error(t, err, "the write reached the dead webhook and must fail")
	for _, name := range webhookNames {
		if strings.Contains(stderr, `failed calling webhook "`+name+`"`) {
			return
		}
	}
	t.Errorf("the error names neither of %v: %s", webhookNames, stderr)
}

// With every replica down (failurePolicy Fail, the registrations in place)
// the API server blocks only the writes the rules judge; the CEL
// matchConditions keep deletions, finalizer removal, replicas and labels
// away from the dead webhooks.
func TestOutageBlocksOnlyJudgedWrites(t *testing.T) {
	ensureReplicas(t)
	t.Cleanup(func() { ensureReplicas(t) }) // later tests need the webhooks
	ns := newNamespace(t)
	const finalizer = "milvus.milvus.io/finalizer"
	kubectl(t, milvusManifest{name: "doomed", image: repo + "v2.4.23", finalizers: []string{finalizer}}.yaml(), "-n", ns, "apply", "-f", "-")
	steady := milvusManifest{name: "steady", image: repo + "v2.4.23"}
	kubectl(t, steady.yaml(), "-n", ns, "apply", "-f", "-")
	require.Equal(t, "rollingUpgrade", at(getJSON(t, ns, "milvus", "steady"), "spec", "components", "imageUpdateMode"),
		"defaulted while the webhooks were up")

	require.NoError(t, env.StopAll())
	for i := range env.Replicas() {
		require.False(t, env.Running(i), "replica %d", i)
	}

	t.Run("an image change is blocked", func(t *testing.T) {
		steady.image = repo + "v2.4.22"
		_, stderr, err := tryKubectl(steady.yaml(), "-n", ns, "apply", "-f", "-")
		requireBlocked(t, stderr, err)
		assert.Equal(t, repo+"v2.4.23", storedImage(t, ns, "steady"))
	})

	t.Run("deletion and finalizer removal pass", func(t *testing.T) {
		kubectl(t, nil, "-n", ns, "delete", "milvus", "doomed", "--wait=false")
		require.NotNil(t, at(getJSON(t, ns, "milvus", "doomed"), "metadata", "deletionTimestamp"), "waits for its finalizer")
		kubectl(t, nil, "-n", ns, "patch", "milvus", "doomed", "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
		eventually(t, waitTimeout, "the Milvus is gone", func() error {
			_, stderr, err := tryKubectl(nil, "-n", ns, "get", "milvus", "doomed")
			if err == nil || !strings.Contains(stderr, "NotFound") {
				return fmt.Errorf("still there: %v", err)
			}
			return nil
		})
	})

	t.Run("a replicas-only change passes", func(t *testing.T) {
		kubectl(t, nil, "-n", ns, "patch", "milvus", "steady", "--type=merge", "-p", `{"spec":{"components":{"proxy":{"replicas":3},"standalone":{"replicas":1}}}}`)
		obj := getJSON(t, ns, "milvus", "steady")
		assert.Equal(t, float64(3), at(obj, "spec", "components", "proxy", "replicas"))
		assert.Equal(t, float64(1), at(obj, "spec", "components", "standalone", "replicas"))
	})

	t.Run("a label change passes", func(t *testing.T) {
		kubectl(t, nil, "-n", ns, "label", "milvus", "steady", "team=search")
		assert.Equal(t, "search", at(getJSON(t, ns, "milvus", "steady"), "metadata", "labels", "team"))
	})

	for name, patch := range map[string]string{
		"spec.components.version":         `{"spec":{"components":{"version":"v2.4.22"}}}`,
		"spec.components.proxy.image":     `{"spec":{"components":{"proxy":{"image":"milvusdb/milvus:v2.4.22"}}}}`,
		"spec.components.imageUpdateMode": `{"spec":{"components":{"imageUpdateMode":"all"}}}`,
	} {
		t.Run("a change of "+name+" is blocked", func(t *testing.T) {
			_, stderr, err := tryKubectl(nil, "-n", ns, "patch", "milvus", "steady", "--type=merge", "-p", patch)
			requireBlocked(t, stderr, err)
		})
	}
	obj := getJSON(t, ns, "milvus", "steady")
	assert.Nil(t, at(obj, "spec", "components", "version"), "no blocked write was stored")
	assert.Nil(t, at(obj, "spec", "components", "proxy", "image"))
	assert.Equal(t, "rollingUpgrade", at(obj, "spec", "components", "imageUpdateMode"))
}
