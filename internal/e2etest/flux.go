package e2etest

import (
	"bytes"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	ssautils "github.com/fluxcd/pkg/ssa/utils"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FluxManager is Flux's apply engine as kustomize-controller sets it up,
// writing through c.
func FluxManager(c client.Client) *ssa.ResourceManager {
	return ssa.NewResourceManager(c, nil, ssa.Owner{Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io"})
}

// ReadObjects reads manifests as Flux does, each object put in ns.
func ReadObjects(t *testing.T, ns string, manifests ...[]byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := ssautils.ReadObjects(bytes.NewReader(bytes.Join(manifests, []byte("\n---\n"))))
	require.NoError(t, err)
	for _, o := range objs {
		o.SetNamespace(ns)
	}
	return objs
}
