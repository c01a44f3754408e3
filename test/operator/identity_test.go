package operator

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/internal/operator"
)

// The operator installed as ops/renamed-operator, an identity the default
// policy's operatorIdentities do not list. It runs in a control plane of its
// own where the listed identity, milvus-operator/milvus-operator, does not
// exist and is bound to nothing: so none of the listed identities may update
// milvuses, which the webhook says at start-up. A generated migration still
// completes; the operator's hand-off of the migrated image is let through
// with the MU-UP-IDENTITY warning.
func TestOperatorUnderUnlistedIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Stop()) })
	op, err := operator.Start(ctx, c, operator.Options{Namespace: "ops", ServiceAccount: "renamed-operator"})
	require.NoError(t, err)
	t.Cleanup(op.Stop)
	p := &plane{c: c, op: op}
	_, _, err = c.Kubectl(ctx, nil, "get", "serviceaccount", "-n", operator.DefaultNamespace, operator.DefaultServiceAccount)
	require.Error(t, err, "the listed identity does not exist in this control plane")

	webhookLog := func() string {
		data, err := os.ReadFile(c.WebhookLog)
		require.NoError(t, err)
		return string(data)
	}
	assert.Contains(t, webhookLog(), "none of the policy's operatorIdentities may update milvuses")

	ns := p.newNamespace(t)
	states := p.states(t, ns)
	m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
	p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	m.image = repo + "v2.4.23"
	_, stderr := p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	assert.Contains(t, stderr, "[MU-META] spec.components.image: held")
	p.waitForUpgrade(t, ns, plannedName)

	require.Equal(t, "Succeeded", p.runs(t, states, ns, plannedName))
	stored := p.getJSON(t, ns, "milvus", "my-release")
	t.Logf("stored: image %v, standalone replicas %v; events: %q", at(stored, "spec", "components", "image"),
		at(stored, "spec", "components", "standalone", "replicas"), p.events(t, ns, "my-release"))
	assert.Equal(t, repo+"v2.2.16", at(stored, "spec", "components", "image"), "the operator's hand-off of the migrated image")

	// The webhook's decision log at info: the hand-off was warned about.
	var decisions []string
	for _, l := range strings.Split(webhookLog(), "\n") {
		if strings.Contains(l, `"decided"`) && strings.Contains(l, ns) && strings.Contains(l, op.Identity) {
			decisions = append(decisions, l)
		}
	}
	t.Logf("the webhook's decisions on the operator's writes:\n%s", strings.Join(decisions, "\n"))
	warned := false
	for _, l := range decisions {
		warned = warned || strings.Contains(l, "MU-UP-IDENTITY")
		assert.NotContains(t, l, `"decision":"held"`, "the webhook held back the operator's hand-off of the migrated image")
	}
	assert.True(t, warned, "the operator's image write got MU-UP-IDENTITY")
	// The real operator writes the target image while its stored state
	// still says UpdatingMeta (it saves NewVersionStarting afterwards). An
	// identity the policy does not list cannot be told from a tenant then,
	// so that first write is refused — never held — and the retry, with
	// NewVersionStarting stored, is the hand-off. Any other denial fails.
	denials := p.operatorDenials(ns)
	t.Logf("the API server denied %d of the operator's writes (expected: the one made before its state was saved)", len(denials))
	assert.LessOrEqual(t, len(denials), 1)
	for _, d := range denials {
		assert.Contains(t, d, "is migrating the metadata (state UpdatingMeta) and writes this image itself once done; refused until then, never held")
	}
}
