package manifests_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// The optional NetworkPolicy selects the webhook's pods and admits every
// port the container declares, so applying it never cuts the API server off.
func TestOptionalNetworkPolicyFitsTheDeployment(t *testing.T) {
	data, err := os.ReadFile("optional/networkpolicy.yaml")
	require.NoError(t, err)
	var np networkingv1.NetworkPolicy
	require.NoError(t, yaml.UnmarshalStrict(data, &np))
	d := only[appsv1.Deployment](t, rendered(t), "Deployment")
	assert.Equal(t, d.Namespace, np.Namespace)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "selects the webhook's pods")
	admitted := map[int32]bool{}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			admitted[p.Port.IntVal] = true
		}
	}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		assert.True(t, admitted[p.ContainerPort], "port %s (%d) is admitted", p.Name, p.ContainerPort)
	}
}
