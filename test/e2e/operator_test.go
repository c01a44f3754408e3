package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// grantOperator gives the operator's service account (and a look-alike)
// what it needs on Milvus objects, so impersonating them is authorized as in
// a real install and only the webhook tells them apart.
func grantOperator(t *testing.T) {
	t.Helper()
	kubectl(t, []byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: e2e-milvus-operator
rules:
  - apiGroups: ["milvus.io"]
    resources: ["milvuses", "milvuses/status", "milvusupgrades", "milvusupgrades/status"]
    verbs: ["get", "list", "watch", "update", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-milvus-operator
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: e2e-milvus-operator
subjects:
  - kind: ServiceAccount
    name: milvus-operator
    namespace: milvus-operator
  - kind: ServiceAccount
    name: someone-else
    namespace: milvus-operator
`), "apply", "-f", "-")
}

func setImage(ns, image string, as ...string) (string, error) {
	args := []string{"-n", ns, "patch", "milvus", "my-release", "--type=merge", "-p",
		fmt.Sprintf(`{"spec":{"components":{"image":%q}}}`, image)}
	if len(as) > 0 {
		args = append(args, "--as", as[0])
	}
	_, stderr, err := tryKubectl(nil, args...)
	if err != nil {
		return stderr, fmt.Errorf("%w: %s", err, stderr)
	}
	return stderr, nil
}

// The operator executes a MilvusUpgrade by writing the image itself
// (MU-UP-FLOW); that write passes, the same write by a user does not.
func TestOperatorIdentityPassesThrough(t *testing.T) {
	grantOperator(t)
	ns := newNamespace(t)
	kubectl(t, milvusManifest{name: "my-release", image: repo + "v2.1.4"}.yaml(), "-n", ns, "apply", "-f", "-")
	kubectl(t, webhooktest.UpgradeManifest("my-release-upgrade", "my-release", "v2.1.4", "v2.2.16"), "-n", ns, "apply", "-f", "-")

	t.Run("a user writing the upgrade's targetImage is judged by the rules", func(t *testing.T) {
		stderr, err := setImage(ns, repo+"v2.2.16")
		require.Error(t, err)
		assert.Contains(t, stderr, "[MU-META]")
	})
	t.Run("the operator writing the upgrade's targetImage passes", func(t *testing.T) {
		eventually(t, "operator image write", func() error {
			_, err := setImage(ns, repo+"v2.2.16", operatorSA)
			return err
		})
		assert.Equal(t, repo+"v2.2.16", storedImage(t, ns, "my-release"))
	})
	t.Run("the operator writing an image no upgrade names is judged", func(t *testing.T) {
		stderr, err := setImage(ns, repo+"v2.1.3", operatorSA)
		require.Error(t, err)
		assert.Contains(t, stderr, "[MU-DOWN-META]")
	})
	t.Run("the operator rolling back to status.sourceImage passes, a user doing so does not", func(t *testing.T) {
		kubectl(t, nil, "-n", ns, "patch", "milvusupgrade", "my-release-upgrade", "--subresource=status", "--type=merge",
			"-p", `{"status":{"sourceImage":"milvusdb/milvus:v2.1.4","state":"RollbackNewVersionStopping"}}`)
		stderr, err := setImage(ns, repo+"v2.1.4")
		require.Error(t, err)
		assert.Contains(t, stderr, "[MU-DOWN-META]")
		eventually(t, "operator rollback write", func() error {
			_, err := setImage(ns, repo+"v2.1.4", operatorSA)
			return err
		})
		assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, "my-release"))
	})
	t.Run("another identity with the same access is not the operator", func(t *testing.T) {
		stderr, err := setImage(ns, repo+"v2.2.16", "system:serviceaccount:milvus-operator:someone-else")
		require.Error(t, err)
		assert.Contains(t, stderr, "[MU-META]")
	})
}
