package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/internal/e2etest"
)

// stagePolicy stages MU-26 (2.5.16 before 2.6) everywhere but in strictNS,
// where it denies as by default.
const (
	strictNS    = "stage-strict"
	stagePolicy = "rules:\n  MU-26: stage\nnamespaces:\n  " + strictNS + ":\n    rules:\n      MU-26: deny\n"
	// stagedWarning is what the user sees on a sync while 2.5.16 is staged.
	stagedWarning = "[MU-26] spec.components.image: staged at v2.5.16; v2.6.3 follows once v2.5.16 runs healthy"
	stagedAt      = "milvus-admission.io/staged-at"
	stageTarget   = "milvus-admission.io/stage-target-image"
)

// stageCluster is a control plane of its own whose webhook runs with
// stagePolicy: the shared one runs the default policy, read once at start.
type stageCluster struct {
	c *cluster.Cluster
	// warnings records what the API server warned Flux's client about.
	warnings *warningRecorder
	flux     *ssa.ResourceManager
}

func startStageCluster(t *testing.T) *stageCluster {
	t.Helper()
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policyFile, []byte(stagePolicy), 0o600))
	c, err := cluster.Start(context.Background(), cluster.Options{WebhookArgs: []string{"--policy", policyFile}})
	require.NoError(t, err, "starting a control plane with the stage policy")
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the stage control plane: %v", err)
		}
	})
	s := &stageCluster{c: c, warnings: &warningRecorder{}}
	// Flux's client as kustomize-controller sets it up, but keeping the
	// warnings it would log.
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandlerWithContext = s.warnings
	cl, err := client.New(cfg, client.Options{})
	require.NoError(t, err)
	s.flux = e2etest.FluxManager(cl)
	return s
}

// warningRecorder keeps the API server's warnings (rest.WarningHandlerWithContext).
type warningRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

// take returns the warnings seen since the last take.
func (w *warningRecorder) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := strings.Join(w.seen, "\n")
	w.seen = nil
	return out
}

func (s *stageCluster) kubectl(t *testing.T, stdin []byte, args ...string) (stdout, stderr string) {
	t.Helper()
	return e2etest.Kubectl(t, s.c, stdin, args...)
}

func (s *stageCluster) stored(t *testing.T, ns string) map[string]any {
	t.Helper()
	return e2etest.GetJSON(t, s.c, ns, "milvus", "my-release")
}

// report writes status as the Milvus Operator does once image runs
// (status_cluster.go: currentImage with the ready and updated conditions),
// with the overall status health, through the status subresource.
func (s *stageCluster) report(t *testing.T, ns, image, health string) {
	t.Helper()
	ready := map[string]string{"Healthy": "True"}[health]
	if ready == "" {
		ready = "False"
	}
	s.kubectl(t, nil, "-n", ns, "patch", "milvus", "my-release", "--subresource=status", "--type=merge", "-p",
		fmt.Sprintf(`{"status":{"currentImage":%q,"status":%q,"conditions":[{"type":"MilvusReady","status":%q},{"type":"MilvusUpdated","status":"True"}]}}`,
			image, health, ready))
}

// stageSyncers apply a manifest as GitOps tools do and return the warnings
// the user would see: kubectl's stderr, or what Flux's client was told.
func (s *stageCluster) syncers() map[string]func(t *testing.T, ns string, m milvusManifest) string {
	return map[string]func(t *testing.T, ns string, m milvusManifest) string{
		"kubectl apply": func(t *testing.T, ns string, m milvusManifest) string {
			_, stderr := s.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
			return stderr
		},
		"flux ssa": func(t *testing.T, ns string, m milvusManifest) string {
			s.warnings.take()
			_, err := s.flux.ApplyAll(context.Background(), readObjects(t, ns, m.yaml()), ssa.DefaultApplyOptions())
			require.NoError(t, err)
			return s.warnings.take()
		},
	}
}

// dryRun is the object a GitOps tool's dry-run of m gets back, and the
// warnings it was told: kubectl apply --dry-run=server, or Flux's diff
// (the dry-run it makes on every interval).
func (s *stageCluster) dryRun(t *testing.T, name, ns string, m milvusManifest) (image, stagedAtAnnotation any, warnings string) {
	t.Helper()
	if name == "kubectl apply" {
		out, stderr := s.kubectl(t, m.yaml(), "-n", ns, "apply", "--dry-run=server", "-f", "-",
			"-o", `jsonpath={.spec.components.image} {.metadata.annotations.milvus-admission\.io/staged-at}`)
		image, at, _ := strings.Cut(out, " ")
		return image, at, stderr
	}
	s.warnings.take()
	_, _, merged, err := s.flux.Diff(context.Background(), readObjects(t, ns, m.yaml())[0], ssa.DefaultDiffOptions())
	require.NoError(t, err)
	require.NotNil(t, merged, "the dry-run shows a change")
	return at(merged.Object, "spec", "components", "image"), at(merged.Object, "metadata", "annotations", stagedAt), s.warnings.take()
}

// 2.5.4 → 2.6.3 in one manifest, with MU-26: stage, through kubectl and
// Flux: staged at 2.5.16 (git never carries it), staged again on every sync
// until the simulated operator reports 2.5.16 running healthy, then 2.6.3.
// Dry-runs get the same answer and store nothing. Where the namespace's
// policy does not stage, MU-26 still denies.
func TestStage(t *testing.T) {
	s := startStageCluster(t)
	for name, sync := range s.syncers() {
		t.Run(name, func(t *testing.T) {
			ns := e2etest.NewNamespace(t, s.c, func() { t.Log("webhook log:\n" + s.c.LogTail(30)) })
			m := milvusManifest{name: "my-release", image: repo + "v2.5.4", cluster: true}
			sync(t, ns, m)
			s.report(t, ns, repo+"v2.5.4", "Healthy")
			rv := at(s.stored(t, ns), "metadata", "resourceVersion")

			m.image = repo + "v2.6.3"
			image, annotation, warnings := s.dryRun(t, name, ns, m)
			assert.Equal(t, repo+"v2.5.16", image, "the dry-run answer is staged too")
			assert.Equal(t, "v2.5.16", annotation)
			assert.Contains(t, warnings, stagedWarning)
			assert.Equal(t, rv, at(s.stored(t, ns), "metadata", "resourceVersion"), "the dry-run stored nothing")
			assert.Nil(t, at(s.stored(t, ns), "metadata", "annotations", stagedAt))

			assert.Contains(t, sync(t, ns, m), stagedWarning)
			obj := s.stored(t, ns)
			assert.Equal(t, repo+"v2.5.16", at(obj, "spec", "components", "image"), "staged at the waypoint")
			assert.Equal(t, "v2.5.16", at(obj, "metadata", "annotations", stagedAt))
			assert.Equal(t, repo+"v2.6.3", at(obj, "metadata", "annotations", stageTarget))
			assert.Equal(t, "cluster", at(obj, "spec", "mode"), "the rest of the manifest applied as it is")

			// Re-syncs while the operator still reports 2.5.4, then 2.5.16
			// not yet healthy: staged again, nothing changes.
			for _, health := range []struct{ image, status string }{{repo + "v2.5.4", "Healthy"}, {repo + "v2.5.16", "Unhealthy"}} {
				s.report(t, ns, health.image, health.status)
				generation := at(s.stored(t, ns), "metadata", "generation")
				warnings := sync(t, ns, m)
				if name == "kubectl apply" {
					assert.Contains(t, warnings, stagedWarning)
				} // Flux's diff finds no drift: it applies nothing
				obj := s.stored(t, ns)
				assert.Equal(t, repo+"v2.5.16", at(obj, "spec", "components", "image"), "still at the waypoint (%s %s)", health.image, health.status)
				assert.Equal(t, "v2.5.16", at(obj, "metadata", "annotations", stagedAt))
				// The spec is unchanged (the resourceVersion may move: when a
				// status write and the apply fall in the same second, the API
				// server re-sorts managedFields by time and stores that).
				assert.Equal(t, generation, at(obj, "metadata", "generation"), "the re-sync changed no spec (%s %s)", health.image, health.status)
			}

			// 2.5.16 runs healthy: the same manifest moves on, the stage cleared.
			s.report(t, ns, repo+"v2.5.16", "Healthy")
			warnings = sync(t, ns, m)
			assert.NotContains(t, warnings, "[MU-26]")
			obj = s.stored(t, ns)
			assert.Equal(t, repo+"v2.6.3", at(obj, "spec", "components", "image"), "git wins")
			annotations, _ := at(obj, "metadata", "annotations").(map[string]any)
			for key := range annotations {
				assert.False(t, strings.HasPrefix(key, "milvus-admission.io/"), "stage cleared, found %s", key)
			}

			// 2.6.3 runs: a re-sync is quiet.
			s.report(t, ns, repo+"v2.6.3", "Healthy")
			assert.NotContains(t, sync(t, ns, m), "MU-26]")
			assert.Equal(t, repo+"v2.6.3", at(s.stored(t, ns), "spec", "components", "image"))
		})
	}

	// A tenant with rights on milvuses in one namespace only (none on
	// milvusupgrades): the stage works for them as for an admin, and the
	// stage annotations are not theirs to set.
	t.Run("a namespaced tenant", func(t *testing.T) {
		ns := e2etest.NewNamespace(t, s.c, func() { t.Log("webhook log:\n" + s.c.LogTail(30)) })
		s.kubectl(t, e2etest.TenantRBAC(ns), "apply", "-f", "-")
		m := milvusManifest{name: "my-release", image: repo + "v2.5.4", cluster: true}
		s.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-", "--as", "alice")
		s.report(t, ns, repo+"v2.5.4", "Healthy")

		m.image = repo + "v2.6.3"
		_, stderr := s.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-", "--as", "alice")
		assert.Contains(t, stderr, stagedWarning)
		assert.Equal(t, repo+"v2.5.16", at(s.stored(t, ns), "spec", "components", "image"), "staged for the tenant too")

		// A stage the webhook would never make (another waypoint) is not
		// the tenant's to write. (Another target is: applying it would
		// stage the same, so MU-INTENT accepts that replay.)
		_, stderr, err := s.c.Kubectl(context.Background(), nil, "-n", ns, "annotate", "milvus", "my-release", "--overwrite",
			stagedAt+"=v2.5.10", "--as", "alice")
		require.Error(t, err, "a forged waypoint is denied")
		assert.Contains(t, stderr, "[MU-INTENT]")
		assert.Equal(t, "v2.5.16", at(s.stored(t, ns), "metadata", "annotations", stagedAt), "the stage as the webhook set it")
	})

	t.Run("a namespace whose policy does not stage denies", func(t *testing.T) {
		s.kubectl(t, nil, "create", "namespace", strictNS)
		t.Cleanup(func() {
			_, _, _ = s.c.Kubectl(context.Background(), nil, "delete", "namespace", strictNS, "--wait=false")
		})
		m := milvusManifest{name: "my-release", image: repo + "v2.5.4", cluster: true}
		s.kubectl(t, m.yaml(), "-n", strictNS, "apply", "-f", "-")
		m.image = repo + "v2.6.3"
		_, stderr, err := s.c.Kubectl(context.Background(), m.yaml(), "-n", strictNS, "apply", "-f", "-")
		require.Error(t, err)
		assert.Contains(t, stderr, "spec.components.image")
		assert.Contains(t, stderr, "[MU-26]")
		assert.Contains(t, stderr, "v2.5.16", "the denial names the waypoint")
		assert.NotContains(t, stderr, "staged")
		obj := s.stored(t, strictNS)
		assert.Equal(t, repo+"v2.5.4", at(obj, "spec", "components", "image"))
		assert.Nil(t, at(obj, "metadata", "annotations", stagedAt))
	})
}
