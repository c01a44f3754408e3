package operator

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/internal/operator"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// The seed's 2.1.4 → 2.4.23 as one git change: held, migrated to the 2.2.16
// waypoint by the generated MilvusUpgrade that the real operator executes,
// then the next sync of the same manifest rolls on to 2.4.23.
func TestSeedUpgradeThroughTheOperator(t *testing.T) {
	t.Parallel()
	for _, s := range gitopsSyncers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			p := env
			ns := p.newNamespace(t)
			states := p.states(t, ns)
			m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
			s.sync(t, p, ns, m.yaml())

			m.image = repo + "v2.4.23" // the git change
			stderr, _ := s.sync(t, p, ns, m.yaml())
			if s.name == "kubectl apply" {
				assert.Contains(t, stderr, "Warning: [MU-META] spec.components.image: held; MilvusUpgrade "+plannedName+" migrates to v2.2.16 first")
			}
			assert.Equal(t, repo+"v2.1.4", p.storedImage(t, ns, "my-release"), "held")
			p.waitForUpgrade(t, ns, plannedName)

			require.Equal(t, "Succeeded", p.runs(t, states, ns, plannedName))
			assert.Equal(t, []string{operator.Pending, "OldVersionStopping", "BackupMeta", "UpdatingMeta"}, states.Of(plannedName)[:4])
			stored := p.getJSON(t, ns, "milvus", "my-release")
			assert.Equal(t, repo+"v2.2.16", at(stored, "spec", "components", "image"), "the operator wrote the targetImage")
			assert.Equal(t, float64(1), at(stored, "spec", "components", "standalone", "replicas"), "the operator restored the replicas")
			assert.Nil(t, at(stored, "metadata", "annotations", operator.StoppedAtAnnotation), "the operator removed its stop stamp")
			assert.Empty(t, p.operatorDenials(ns), "every write of the operator passed")
			p.intentCleared(t, ns)
			assert.True(t, hasReason(p.events(t, ns, "my-release"), "MigrationSucceeded"), "%v", p.events(t, ns, "my-release"))

			// The next sync of the same manifest: a rolling upgrade from 2.2.16.
			stderr, _ = s.sync(t, p, ns, m.yaml())
			assert.NotContains(t, stderr, "MU-META")
			assert.Equal(t, repo+"v2.4.23", p.storedImage(t, ns, "my-release"), "git wins")
			assert.Equal(t, []string{plannedName}, p.upgrades(t, ns), "one migration")
			if s.name == "flux ssa" {
				_, cs := s.sync(t, p, ns, m.yaml())
				require.Len(t, cs.Entries, 1)
				assert.Equal(t, ssa.UnchangedAction, cs.Entries[0].Action, "a further sync finds no drift")
			}
		})
	}
}

// The seed document's MilvusUpgrade, applied by hand with a 2.2.x target
// (the webhook fills targetImage and toolImage), executed by the operator.
func TestSeedHandMadeUpgrade(t *testing.T) {
	t.Parallel()
	p := env
	ns := p.newNamespace(t)
	states := p.states(t, ns)
	p.kubectl(t, milvusManifest{name: "my-release", image: repo + "v2.1.4"}.yaml(), "-n", ns, "apply", "-f", "-")
	p.kubectl(t, webhooktest.UpgradeManifest("my-release-upgrade", "my-release", "v2.1.4", "v2.2.16"), "-n", ns, "apply", "-f", "-")
	spec := at(p.getJSON(t, ns, "milvusupgrade", "my-release-upgrade"), "spec").(map[string]any)
	assert.Equal(t, repo+"v2.2.16", spec["targetImage"])
	assert.Equal(t, "milvusdb/meta-migration:v2.2.0", spec["toolImage"])

	require.Equal(t, "Succeeded", p.runs(t, states, ns, "my-release-upgrade"))
	assert.Equal(t, spec["targetImage"], p.storedImage(t, ns, "my-release"), "the stored image is the targetImage")
	assert.Empty(t, p.operatorDenials(ns))
	assert.Equal(t, 1, p.op.Kubelet.TaskPods(ns, "my-release-upgrade", operator.TaskBackupMeta))
	assert.Equal(t, 1, p.op.Kubelet.TaskPods(ns, "my-release-upgrade", operator.TaskUpdateMeta))
}

// The metadata migration fails (the update-meta Pod ends Failed): the
// operator rolls back (rollbackIfFailed, the default) and its writes pass the
// webhook; the database ends on 2.1.4, the upgrade in a terminal state, and
// nothing is retried.
func TestFailedMigrationRollsBack(t *testing.T) {
	t.Parallel()
	p := env
	ns := p.newNamespace(t)
	states := p.states(t, ns)
	p.op.Kubelet.Fail(ns, plannedName+"-"+operator.TaskUpdateMeta)
	m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
	p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	m.image = repo + "v2.4.23"
	p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	p.waitForUpgrade(t, ns, plannedName)
	assert.Equal(t, true, at(p.getJSON(t, ns, "milvusupgrade", plannedName), "spec", "rollbackIfFailed"))

	assert.Equal(t, "RollbackedSucceeded", p.runs(t, states, ns, plannedName))
	assert.Contains(t, states.Of(plannedName), "UpdatingMeta")
	assert.Empty(t, p.operatorDenials(ns), "the operator's rollback writes passed the webhook")

	// The positive signal: the controller has seen the terminal state.
	var events []string
	p.eventually(t, waitTimeout, "the controller reports the failure on the Milvus", func() error {
		if events = p.events(t, ns, "my-release"); !hasReason(events, "MigrationFailed") {
			return fmt.Errorf("events: %v", events)
		}
		return nil
	})
	t.Logf("events of my-release: %q", events)
	failed := slices.IndexFunc(events, func(e string) bool { return strings.HasPrefix(e, "MigrationFailed:") })
	assert.Contains(t, events[failed], plannedName)
	assert.Contains(t, events[failed], "RollbackedSucceeded", "the event says why")

	stored := p.getJSON(t, ns, "milvus", "my-release")
	assert.Equal(t, repo+"v2.1.4", at(stored, "spec", "components", "image"), "the database runs its 2.1.4 image")
	assert.Equal(t, float64(1), at(stored, "spec", "components", "standalone", "replicas"), "started again")
	assert.Equal(t, "RollbackedSucceeded", states.Current(plannedName), "still terminal")
	assert.Equal(t, []string{plannedName}, p.upgrades(t, ns), "nothing planned again")
	assert.Equal(t, 1, p.op.Kubelet.TaskPods(ns, plannedName, operator.TaskBackupMeta), "no second backup")
	assert.Equal(t, 1, p.op.Kubelet.TaskPods(ns, plannedName, operator.TaskUpdateMeta), "no second migration attempt")
	assert.Equal(t, 1, p.op.Kubelet.TaskPods(ns, plannedName, operator.TaskRollbackMeta), "one restore of the backup")
}

// A hand-made MilvusUpgrade succeeds while the Milvus's status.currentVersion
// still says 2.1.4 (the operator's Milvus reconciler is not running, so
// nothing updates it — as in a real cluster for the minutes until it does):
// the routine git sync to 2.4.23 that follows is not held again, and no
// second migration is generated or executed.
func TestLaggingStatusMakesNoSecondMigration(t *testing.T) {
	t.Parallel()
	p := env
	ns := p.newNamespace(t)
	states := p.states(t, ns)
	m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
	p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	// What the operator's status syncer had reported while 2.1.4 ran.
	p.kubectl(t, nil, "-n", ns, "patch", "milvus", "my-release", "--subresource=status", "--type=merge",
		"-p", `{"status":{"currentImage":"milvusdb/milvus:v2.1.4","currentVersion":"v2.1.4"}}`)
	const handMade = "upgrade-by-hand"
	p.kubectl(t, webhooktest.UpgradeManifest(handMade, "my-release", "v2.1.4", "v2.2.16"), "-n", ns, "apply", "-f", "-")
	require.Equal(t, "Succeeded", p.runs(t, states, ns, handMade))
	stored := p.getJSON(t, ns, "milvus", "my-release")
	assert.Equal(t, repo+"v2.2.16", at(stored, "spec", "components", "image"))
	require.Equal(t, "v2.1.4", at(stored, "status", "currentVersion"), "the status lags: nothing updated it")

	m.image = repo + "v2.4.23" // the routine sync
	_, stderr := p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	assert.NotContains(t, stderr, "MU-META")
	assert.Equal(t, repo+"v2.4.23", p.storedImage(t, ns, "my-release"), "not held")

	// Positive signals: the controller plans a change made after the sync
	// (so it has handled the sync), and the operator starts executing that
	// plan (so it has handled what came before).
	sentinel := milvusManifest{name: "sentinel", image: repo + "v2.1.4"}
	p.kubectl(t, sentinel.yaml(), "-n", ns, "apply", "-f", "-")
	sentinel.image = repo + "v2.4.23"
	p.kubectl(t, sentinel.yaml(), "-n", ns, "apply", "-f", "-")
	const sentinelUpgrade = "sentinel-migrate-v2-2-16"
	_, err := states.Wait(t.Context(), sentinelUpgrade, upgradeTimeout, "OldVersionStopping", "BackupMeta")
	require.NoError(t, err)

	assert.Equal(t, []string{sentinelUpgrade, handMade}, p.upgrades(t, ns), "no second migration for my-release")
	assert.Nil(t, at(p.getJSON(t, ns, "milvus", "my-release"), "metadata", "annotations", "milvus-admission.io/planned-upgrade"))
	assert.Equal(t, 1, p.op.Kubelet.TaskPods(ns, handMade, operator.TaskBackupMeta), "the operator backed up once")
	assert.Equal(t, "Succeeded", states.Current(handMade))
	assert.Equal(t, "v2.1.4", at(p.getJSON(t, ns, "milvus", "my-release"), "status", "currentVersion"), "still lagging")
}
