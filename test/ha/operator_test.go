package ha

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// renamedOperator is the Milvus Operator installed under a ServiceAccount
// the default policy's operatorIdentities do not list.
const renamedOperator = "system:serviceaccount:ops:renamed-operator"

const renamedOperatorRBAC = `apiVersion: v1
kind: Namespace
metadata:
  name: ops
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: renamed-operator
  namespace: ops
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ha-renamed-operator
rules:
  - apiGroups: ["milvus.io"]
    resources: ["milvuses", "milvusupgrades", "milvusupgrades/status"]
    verbs: ["get", "list", "watch", "update", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ha-renamed-operator
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ha-renamed-operator
subjects:
  - kind: ServiceAccount
    name: renamed-operator
    namespace: ops
`

// The operator runs as an identity the policy does not list: every replica
// says so at start-up, and its hand-off of the migrated image still passes,
// with a warning (MU-UP-IDENTITY), so the migration completes.
func TestOperatorUnderUnlistedIdentity(t *testing.T) {
	ensureReplicas(t)
	for i := range env.Replicas() {
		eventually(t, waitTimeout, fmt.Sprintf("replica %d logs the operatorIdentities check", i), func() error {
			log := env.ReplicaLog(i)
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, "none of the policy's operatorIdentities may update milvuses") {
					if !strings.Contains(line, `"level":"error"`) && !strings.Contains(line, "ERROR") {
						return fmt.Errorf("not an error-level line: %s", line)
					}
					return nil
				}
			}
			return fmt.Errorf("not in replica %d's log (%s)", i, env.ReplicaLogPath(i))
		})
	}

	kubectl(t, []byte(renamedOperatorRBAC), "apply", "-f", "-")
	ns := newNamespace(t)
	const name = "my-release"
	planned := name + "-migrate-v2-2-16"
	m := milvusManifest{name: name, image: repo + "v2.1.4"}
	kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	m.image = repo + "v2.4.23"
	kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	require.Equal(t, repo+"v2.1.4", storedImage(t, ns, name), "held")
	waitForUpgrades(t, ns, planned)
	target, _ := kubectl(t, nil, "-n", ns, "get", "milvusupgrade", planned, "-o", "jsonpath={.spec.targetImage}")
	require.Equal(t, repo+"v2.2.16", target)

	asOperator := func(args ...string) []string {
		return append(append([]string{"-n", ns}, args...), "--as="+renamedOperator)
	}
	status := func(state string) {
		kubectl(t, nil, asOperator("patch", "milvusupgrade", planned, "--subresource=status", "--type=merge",
			"-p", fmt.Sprintf(`{"status":{"state":%q,"sourceImage":%q}}`, state, repo+"v2.1.4"))...)
	}
	setImage := func(dryRun bool) []string {
		args := asOperator("patch", "milvus", name, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"components":{"image":%q}}}`, target),
			"-o", "jsonpath={.spec.components.image}")
		if dryRun {
			args = append(args, "--dry-run=server")
		}
		return args
	}

	// The metadata is migrated; the operator starts the new version.
	status("NewVersionStarting")
	// The webhooks read the upgrade from their informer cache: wait until a
	// dry-run of the hand-off (which writes nothing) is answered as the
	// real one must be.
	eventually(t, waitTimeout, "the webhooks see the upgrade in NewVersionStarting", func() error {
		out, stderr, err := tryKubectl(nil, setImage(true)...)
		if err != nil || out != target || !strings.Contains(stderr, "[MU-UP-IDENTITY]") {
			return fmt.Errorf("dry-run answered image %q, %v: %s", out, err, stderr)
		}
		return nil
	})
	out, stderr := kubectl(t, nil, setImage(false)...)
	assert.Equal(t, target, out, "admitted as written")
	assert.Contains(t, stderr, "Warning: [MU-UP-IDENTITY]")
	assert.Contains(t, stderr, renamedOperator)
	assert.Equal(t, target, storedImage(t, ns, name), "the target image is stored, not held again")

	status("Succeeded")
	eventually(t, waitTimeout, "the controller clears the intent", func() error {
		if intent := intentOf(t, ns, name); len(intent) > 0 {
			return fmt.Errorf("intent still there: %v", intent)
		}
		return nil
	})
	assert.Equal(t, target, storedImage(t, ns, name))
	assert.Contains(t, strings.Join(eventsFor(t, ns, name), "\n"), "Normal MigrationSucceeded: ")
}
