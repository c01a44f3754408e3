package metricsauth

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// heavyDependencies are what filters.WithAuthenticationAndAuthorization
// brings along and this package exists to leave out.
var heavyDependencies = []string{
	"k8s.io/apiserver",
	"github.com/google/cel-go",
	"google.golang.org/grpc",
	"go.opentelemetry.io",
}

// The dependencies of the package and of the webhook's binary, as the Go
// toolchain builds them, hold none of the heavy ones: one import of them
// anywhere in cmd/webhook would bring them all back.
func TestNoHeavyDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to list the package's dependencies: put the Go toolchain on PATH")
	cmd := exec.Command(goTool, "list", "-deps", ".", "../../cmd/webhook")
	out, err := cmd.Output()
	var stderr []byte
	if exitErr, ok := err.(*exec.ExitError); ok {
		stderr = exitErr.Stderr
	}
	require.NoError(t, err, "go list -deps: %s", stderr)
	deps := strings.Fields(string(out))
	// The list is the real one, not empty or of some other package.
	require.Contains(t, deps, "k8s.io/client-go/kubernetes/typed/authentication/v1")
	require.Contains(t, deps, "github.com/milvus-admission/milvus-admission/internal/metricsauth")
	require.Contains(t, deps, "github.com/milvus-admission/milvus-admission/cmd/webhook")
	for _, dep := range deps {
		for _, heavy := range heavyDependencies {
			if strings.HasPrefix(dep, heavy) {
				t.Errorf("internal/metricsauth or cmd/webhook depends on %s (%s), which this package exists to avoid", dep, heavy)
			}
		}
	}
}
