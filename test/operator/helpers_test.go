package operator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/internal/e2etest"
	"github.com/milvus-admission/milvus-admission/internal/operator"
)

const (
	repo        = "milvusdb/milvus:"
	plannedName = "my-release-migrate-v2-2-16"
	// waitTimeout bounds what the webhook and its controller do.
	waitTimeout = 20 * time.Second
	// upgradeTimeout bounds a whole MilvusUpgrade: the operator requeues
	// every 30 s, and waits one requeue after stopping the Milvus even with
	// the stop back-dated.
	upgradeTimeout = 150 * time.Second
)

// terminal are the states the operator's state machine ends in.
var terminal = []string{"Succeeded", "BakupMetaFailed", "UpdateMetaFailed", "RollbackedSucceeded", "RollbackFailed"}

// plane is a control plane with the webhook and the real operator.
type plane struct {
	c  *cluster.Cluster
	op *operator.Operator
}

// newNamespace creates a namespace for one test and deletes it afterwards;
// when the test failed, it logs the ends of the operator's and the webhook's
// logs.
func (p *plane) newNamespace(t *testing.T) string {
	t.Helper()
	return e2etest.NewNamespace(t, p.c, func() {
		t.Logf("operator log (%s):\n%s", p.op.LogPath, p.op.LogTail(40))
		t.Logf("webhook log:\n%s", p.c.LogTail(40))
	})
}

// kubectl runs kubectl as admin and fails the test if it fails.
func (p *plane) kubectl(t *testing.T, stdin []byte, args ...string) (stdout, stderr string) {
	t.Helper()
	return e2etest.Kubectl(t, p.c, stdin, args...)
}

// getJSON reads an object as the API server stores it.
func (p *plane) getJSON(t *testing.T, ns, resource, name string) map[string]any {
	t.Helper()
	return e2etest.GetJSON(t, p.c, ns, resource, name)
}

// at walks obj along path (internal/e2etest).
var at = e2etest.At

func (p *plane) storedImage(t *testing.T, ns, name string) any {
	return at(p.getJSON(t, ns, "milvus", name), "spec", "components", "image")
}

// upgrades lists the MilvusUpgrade names in ns.
func (p *plane) upgrades(t *testing.T, ns string) []string {
	t.Helper()
	out, _ := p.kubectl(t, nil, "-n", ns, "get", "milvusupgrades", "-o", "jsonpath={.items[*].metadata.name}")
	return strings.Fields(out)
}

// events lists "reason: message" of the Events about the object name in ns.
func (p *plane) events(t *testing.T, ns, name string) []string {
	t.Helper()
	out, _ := p.kubectl(t, nil, "-n", ns, "get", "events", "--field-selector", "involvedObject.name="+name,
		"-o", `jsonpath={range .items[*]}{.reason}: {.message}{"\n"}{end}`)
	return strings.Split(strings.TrimSpace(out), "\n")
}

func hasReason(events []string, reason string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, reason+":") {
			return true
		}
	}
	return false
}

// states records the state machine of the MilvusUpgrades in ns.
func (p *plane) states(t *testing.T, ns string) *operator.States {
	t.Helper()
	s, err := operator.RecordStates(t.Context(), p.c.Config, ns)
	require.NoError(t, err)
	return s
}

// runs waits for the operator to take the MilvusUpgrade name to a terminal
// state, logs the states the test saw and what the Kubelet did, and returns
// the final state.
func (p *plane) runs(t *testing.T, states *operator.States, ns, name string) string {
	t.Helper()
	final, err := states.Wait(t.Context(), name, upgradeTimeout, terminal...)
	t.Logf("MilvusUpgrade %s, states seen: %s", name, states.String(name))
	for _, a := range p.op.Kubelet.Actions(ns) {
		t.Logf("  kubelet: %s", a)
	}
	require.NoError(t, err)
	return final
}

// operatorDenials are the lines of the operator's log where the API server
// refused one of its writes in ns.
func (p *plane) operatorDenials(ns string) []string {
	var out []string
	for _, l := range strings.Split(p.op.Log(), "\n") {
		if strings.Contains(l, ns) && strings.Contains(l, "denied the request") {
			out = append(out, l)
		}
	}
	return out
}

// milvusManifest is a Milvus as a user keeps it in git: standalone, with
// the replicas the operator's state machine scales (its Milvus reconciler,
// which would default them, does not run here).
type milvusManifest struct {
	name, image string
}

func (m milvusManifest) yaml() []byte {
	return fmt.Appendf(nil, `apiVersion: milvus.io/v1beta1
kind: Milvus
metadata:
  name: %s
spec:
  mode: standalone
  components:
    image: %s
    standalone:
      replicas: 1
`, m.name, m.image)
}

// gitAsks2423 creates my-release at 2.1.4 in ns, then applies git's 2.4.23
// (the seed's change, which the webhook holds), both with kubectl; it
// returns the manifest and what kubectl printed on stderr for the change.
func (p *plane) gitAsks2423(t *testing.T, ns string) (milvusManifest, string) {
	t.Helper()
	m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
	p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	m.image = repo + "v2.4.23"
	_, stderr := p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	return m, stderr
}

// fluxManager is Flux's apply engine, against this plane.
func (p *plane) fluxManager() *ssa.ResourceManager { return e2etest.FluxManager(p.c.Client) }

var readObjects = e2etest.ReadObjects

// syncer applies a manifest the way a GitOps tool does and returns what
// the user sees on stderr ("" for Flux, which logs warnings) and, for Flux,
// the change set.
type syncer func(t *testing.T, p *plane, ns string, manifest []byte) (string, *ssa.ChangeSet)

// gitopsSyncers: kubectl's client-side apply (as Argo CD) and Flux's
// server-side apply engine.
var gitopsSyncers = []struct {
	name string
	sync syncer
}{
	{"kubectl apply", func(t *testing.T, p *plane, ns string, manifest []byte) (string, *ssa.ChangeSet) {
		_, stderr := p.kubectl(t, manifest, "-n", ns, "apply", "-f", "-")
		return stderr, nil
	}},
	{"flux ssa", func(t *testing.T, p *plane, ns string, manifest []byte) (string, *ssa.ChangeSet) {
		cs, err := p.fluxManager().ApplyAll(context.Background(), readObjects(t, ns, manifest), ssa.DefaultApplyOptions())
		require.NoError(t, err)
		return "", cs
	}},
}

// eventually retries f until it returns nil or timeout passes.
func (p *plane) eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	e2etest.Eventually(t.Context(), t, timeout, what, f, nil)
}

// waitForUpgrade waits for the MilvusUpgrade name to exist in ns.
func (p *plane) waitForUpgrade(t *testing.T, ns, name string) {
	t.Helper()
	p.eventually(t, waitTimeout, "MilvusUpgrade "+name+" exists", func() error {
		_, _, err := p.c.Kubectl(context.Background(), nil, "-n", ns, "get", "milvusupgrade", name)
		return err
	})
}

// intentCleared waits for the controller to clear the migration intent of
// my-release once the upgrade succeeded.
func (p *plane) intentCleared(t *testing.T, ns string) {
	t.Helper()
	p.eventually(t, waitTimeout, "the controller clears the intent", func() error {
		if a := at(p.getJSON(t, ns, "milvus", "my-release"), "metadata", "annotations", "milvus-admission.io/planned-upgrade"); a != nil {
			return fmt.Errorf("still planned: %v", a)
		}
		return nil
	})
}
