package operator

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The operator's ClusterRole as it ships covers what its MilvusUpgrade state
// machine does: the Milvus and MilvusUpgrade objects, the task Pods and
// their ConfigMaps, and the backup's PersistentVolumeClaim.
func TestManagerRole(t *testing.T) {
	role, err := ManagerRole()
	require.NoError(t, err)
	assert.Equal(t, "manager-role", role.Name)
	allows := func(group, resource, verb string) bool {
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
				return true
			}
		}
		return false
	}
	for _, want := range [][3]string{
		{"milvus.io", "milvuses", "update"},
		{"milvus.io", "milvusupgrades", "watch"},
		{"milvus.io", "milvusupgrades/status", "update"},
		{"", "pods", "create"},
		{"", "configmaps", "create"},
		{"", "persistentvolumeclaims", "create"},
	} {
		assert.True(t, allows(want[0], want[1], want[2]), "manager-role allows %v", want)
	}
}

func TestWithoutInCluster(t *testing.T) {
	assert.Equal(t, []string{"HOME=/root", "PATH=/bin"},
		withoutInCluster([]string{"HOME=/root", "KUBERNETES_SERVICE_HOST=10.0.0.1", "KUBECONFIG=/x", "PATH=/bin", "KUBERNETES_SERVICE_PORT=443"}))
}
