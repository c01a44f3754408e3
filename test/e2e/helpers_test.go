package e2e

import (
	"context"
	"fmt"
	"github.com/milvus-admission/milvus-admission/internal/e2etest"
	"strings"
	"testing"
	"time"
)

const (
	repo        = "milvusdb/milvus:"
	operatorSA  = "system:serviceaccount:milvus-operator:milvus-operator"
	waitTimeout = 15 * time.Second
)

// tryKubectl runs kubectl and returns its error instead of failing.
func tryKubectl(stdin []byte, args ...string) (stdout, stderr string, err error) {
	return env.Kubectl(context.Background(), stdin, args...)
}

func storedImage(t *testing.T, ns, name string) any {
	return at(getJSON(t, ns, "milvus", name), "spec", "components", "image")
}

// milvusManifest is a Milvus as a user keeps it in git.
type milvusManifest struct {
	name, image   string
	cluster       bool // cluster mode with pulsar and mixCoord, else standalone
	rollingUpdate bool
}

func (m milvusManifest) yaml() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata:\n  name: %s\nspec:\n", m.name)
	if m.cluster {
		b.WriteString("  mode: cluster\n  dependencies:\n    msgStreamType: pulsar\n")
	}
	fmt.Fprintf(&b, "  components:\n    image: %s\n", m.image)
	if m.rollingUpdate {
		b.WriteString("    enableRollingUpdate: true\n")
	}
	if m.cluster {
		b.WriteString("    mixCoord:\n      replicas: 1\n")
	}
	return []byte(b.String())
}

// eventually retries f until it returns nil or the timeout passes; the
// webhook's informer cache sees new objects a moment after they are written.
// f runs on the test's goroutine, so it may fail the test with require.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	e2etest.Eventually(t.Context(), t, waitTimeout, what, f, func() string { return "webhook log:\n" + env.LogTail(20) })
}

// The shared helpers (internal/e2etest), against this suite's cluster.
var at = e2etest.At

func newNamespace(t *testing.T) string { t.Helper(); return e2etest.NewNamespace(t, env, nil) }

func kubectl(t *testing.T, stdin []byte, args ...string) (stdout, stderr string) {
	t.Helper()
	return e2etest.Kubectl(t, env, stdin, args...)
}

func getJSON(t *testing.T, ns, resource, name string) map[string]any {
	t.Helper()
	return e2etest.GetJSON(t, env, ns, resource, name)
}
