package ha

import (
	"context"
	"fmt"
	"github.com/milvus-admission/milvus-admission/internal/e2etest"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	repo        = "milvusdb/milvus:"
	waitTimeout = 15 * time.Second
	// intent annotations (docs/generation.md)
	annPlanned   = "milvus-admission.io/planned-upgrade"
	annTarget    = "milvus-admission.io/migration-target"
	annRequested = "milvus-admission.io/requested-image"
	annVersion   = "milvus-admission.io/requested-version"
)

var intentAnnotations = []string{annPlanned, annTarget, annRequested, annVersion}

// ensureReplicas starts every replica an earlier test left stopped and
// waits until the API server calls the webhooks again. It also runs in
// t.Cleanup, where t.Context() has ended.
func ensureReplicas(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, env.StartAll(ctx))
	waitForAdmission(ctx, t)
}

// waitForAdmission waits until a server-side dry-run MilvusUpgrade gets
// its toolImage, which only the mutating webhook sets.
func waitForAdmission(ctx context.Context, t *testing.T) {
	t.Helper()
	probe := []byte(`{"apiVersion":"milvus.io/v1beta1","kind":"MilvusUpgrade","metadata":{"name":"admission-probe","namespace":"default"},
		"spec":{"milvus":{"name":"probe"},"sourceVersion":"v2.1.4","targetVersion":"v2.2.16"}}`)
	eventuallyCtx(ctx, t, waitTimeout, "the API server calls the webhooks", func() error {
		out, stderr, err := env.Kubectl(ctx, probe, "create", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.toolImage}")
		if err != nil || strings.TrimSpace(out) == "" {
			return fmt.Errorf("toolImage %q, %v: %s", out, err, stderr)
		}
		return nil
	})
}

// tryKubectl runs kubectl and returns its error, with stderr, instead of
// failing.
func tryKubectl(stdin []byte, args ...string) (stdout, stderr string, err error) {
	out, errOut, err := env.Kubectl(context.Background(), stdin, args...)
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut)
	}
	return out, errOut, err
}

func storedImage(t *testing.T, ns, name string) any {
	t.Helper()
	return at(getJSON(t, ns, "milvus", name), "spec", "components", "image")
}

// intentOf is the intent annotations the stored Milvus carries.
func intentOf(t *testing.T, ns, name string) map[string]any {
	t.Helper()
	out := map[string]any{}
	anns, _ := at(getJSON(t, ns, "milvus", name), "metadata", "annotations").(map[string]any)
	for _, k := range intentAnnotations {
		if v, ok := anns[k]; ok {
			out[k] = v
		}
	}
	return out
}

// upgrades lists the MilvusUpgrade names in ns.
func upgrades(t *testing.T, ns string) []string {
	t.Helper()
	out, _ := kubectl(t, nil, "-n", ns, "get", "milvusupgrades", "-o", "jsonpath={.items[*].metadata.name}")
	return strings.Fields(out)
}

// eventsFor lists "type reason: message" of the Events about the object
// name in ns.
func eventsFor(t *testing.T, ns, name string) []string {
	t.Helper()
	out, _ := kubectl(t, nil, "-n", ns, "get", "events", "--field-selector", "involvedObject.name="+name,
		"-o", `go-template={{range .items}}{{.type}} {{.reason}}: {{.message}}{{"\n"}}{{end}}`)
	return strings.Split(strings.TrimSpace(out), "\n")
}

// waitForUpgrades waits until the MilvusUpgrades in ns are exactly want.
func waitForUpgrades(t *testing.T, ns string, want ...string) {
	t.Helper()
	eventually(t, waitTimeout, fmt.Sprintf("the MilvusUpgrades in %s are %v", ns, want), func() error {
		if got := upgrades(t, ns); !slices.Equal(got, want) {
			return fmt.Errorf("MilvusUpgrades: %v", got)
		}
		return nil
	})
}

// milvusManifest is a standalone Milvus as a user keeps it in git.
type milvusManifest struct {
	name, image string
	annotations map[string]string
	finalizers  []string
}

func (m milvusManifest) yaml() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata:\n  name: %s\n", m.name)
	if len(m.annotations) > 0 {
		b.WriteString("  annotations:\n")
		for _, k := range slices.Sorted(maps.Keys(m.annotations)) {
			fmt.Fprintf(&b, "    %s: %q\n", k, m.annotations[k])
		}
	}
	if len(m.finalizers) > 0 {
		b.WriteString("  finalizers:\n")
		for _, f := range m.finalizers {
			fmt.Fprintf(&b, "    - %s\n", f)
		}
	}
	fmt.Fprintf(&b, "spec:\n  components:\n    image: %s\n", m.image)
	return []byte(b.String())
}

// eventually retries f until it returns nil, failing the test after
// timeout with f's last error and the replicas' logs. f runs on the test's
// goroutine, so it may fail the test with require.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	eventuallyCtx(t.Context(), t, timeout, what, f)
}

// eventuallyCtx is eventually under ctx.
func eventuallyCtx(ctx context.Context, t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	e2etest.Eventually(ctx, t, timeout, what, f, func() string { return "replica logs:\n" + env.LogTail(15) })
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
