package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
)

const plannedName = "my-release-migrate-v2-2-16"

// upgrades lists the MilvusUpgrade names in ns.
func upgrades(t *testing.T, ns string) []string {
	t.Helper()
	out, _ := kubectl(t, nil, "-n", ns, "get", "milvusupgrades", "-o", "jsonpath={.items[*].metadata.name}")
	return strings.Fields(out)
}

func annotation(t *testing.T, ns, key string) any {
	return at(getJSON(t, ns, "milvus", "my-release"), "metadata", "annotations", key)
}

func eventReasons(t *testing.T, ns string) string {
	out, _ := kubectl(t, nil, "-n", ns, "get", "events", "-o", "jsonpath={.items[*].reason}")
	return out
}

// waitForPlanned waits for the controller to create the planned upgrade.
func waitForPlanned(t *testing.T, ns string) {
	t.Helper()
	eventually(t, "the controller creates "+plannedName, func() error {
		if got := upgrades(t, ns); len(got) != 1 || got[0] != plannedName {
			return fmt.Errorf("MilvusUpgrades: %v", got)
		}
		return nil
	})
}

// eventReasonsFor lists the reasons of the Events about the object name in ns.
func eventReasonsFor(t *testing.T, ns, name string) []string {
	t.Helper()
	out, _ := kubectl(t, nil, "-n", ns, "get", "events", "--field-selector", "involvedObject.name="+name, "-o", "jsonpath={.items[*].reason}")
	return strings.Fields(out)
}

func resourceVersion(t *testing.T, ns, name string) string {
	t.Helper()
	rv, _ := at(getJSON(t, ns, "milvus", name), "metadata", "resourceVersion").(string)
	require.NotEmpty(t, rv)
	return rv
}

// controllerCaughtUp makes the controller show that it has handled every
// write in ns so far: it holds a 2.1.4 → 2.4.23 change of another Milvus,
// "sentinel", and waits for the controller to plan its migration (the
// MilvusUpgrade and the MigrationPlanned event). The controller's watch
// delivers writes in the order they were stored, so what it has not done
// for an earlier write by then, it was not going to do. It returns the
// sentinel's MilvusUpgrade.
func controllerCaughtUp(t *testing.T, ns string) string {
	t.Helper()
	const name = "sentinel"
	planned := name + "-migrate-v2-2-16"
	m := milvusManifest{name: name, image: repo + "v2.1.4"}
	kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	m.image = repo + "v2.4.23"
	kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	eventually(t, "the controller plans the sentinel's migration", func() error {
		if got := upgrades(t, ns); !slices.Contains(got, planned) {
			return fmt.Errorf("MilvusUpgrades: %v", got)
		}
		if got := eventReasonsFor(t, ns, name); !slices.Contains(got, "MigrationPlanned") {
			return fmt.Errorf("events of %s: %v", name, got)
		}
		return nil
	})
	return planned
}

// assertNothingCreated checks that the dry-runs of my-release, stored at
// resourceVersion before them, created nothing: once the controller has
// planned a real change made after them, that change's MilvusUpgrade is the
// only one, and my-release is unchanged, without intent and without Events.
func assertNothingCreated(t *testing.T, ns, resourceVersion string) {
	t.Helper()
	sentinel := controllerCaughtUp(t, ns)
	assert.Equal(t, []string{sentinel}, upgrades(t, ns), "only the real change planned a MilvusUpgrade")
	obj := getJSON(t, ns, "milvus", "my-release")
	assert.Equal(t, resourceVersion, at(obj, "metadata", "resourceVersion"), "the dry-runs stored nothing")
	assert.Nil(t, at(obj, "metadata", "annotations", "milvus-admission.io/planned-upgrade"))
	assert.Empty(t, eventReasonsFor(t, ns, "my-release"), "no Events about my-release")
}

// operatorExecutes simulates the Milvus Operator's upgrade controller
// (MU-UP-FLOW) as its service account: stop, migrate, write the target image,
// start, report success.
func operatorExecutes(t *testing.T, ns string) {
	t.Helper()
	status := func(patch string) { operatorStatus(t, ns, plannedName, patch) }
	target, _ := kubectl(t, nil, "-n", ns, "get", "milvusupgrade", plannedName, "-o", "jsonpath={.spec.targetImage}")
	status(`{"status":{"state":"OldVersionStopping","sourceImage":"milvusdb/milvus:v2.1.4"}}`)
	kubectl(t, nil, "-n", ns, "annotate", "milvus", "my-release", "milvus.io/stopped-at=2026-11-29T00:00:00Z", "--as", operatorSA)
	status(`{"status":{"state":"UpdatingMeta"}}`)
	eventually(t, "the operator writes targetImage", func() error {
		_, err := setImage(ns, target, operatorSA)
		return err
	})
	status(`{"status":{"state":"Succeeded"}}`)
}

// gitopsSyncers apply a manifest the way GitOps tools do: kubectl's
// client-side apply (as Argo CD) and Flux's server-side apply engine. Each
// returns what the user sees on stderr ("" for Flux, which logs warnings).
var gitopsSyncers = map[string]func(t *testing.T, ns string, m milvusManifest) string{
	"kubectl apply": func(t *testing.T, ns string, m milvusManifest) string {
		_, stderr := kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
		return stderr
	},
	"flux ssa": func(t *testing.T, ns string, m milvusManifest) string {
		_, err := fluxManager().ApplyAll(context.Background(), readObjects(t, ns, m.yaml()), ssa.DefaultApplyOptions())
		require.NoError(t, err)
		return ""
	},
}

// The seed's 2.1.4 → 2.4.23, synced the GitOps way: held, migrated by one
// generated MilvusUpgrade to the 2.2.x waypoint, then converging on 2.4.23.
func TestGeneratedMigrationConverges(t *testing.T) {
	grantOperator(t)
	for name, sync := range gitopsSyncers {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t)
			m := milvusManifest{name: "my-release", image: repo + "v2.1.4", cluster: true}
			sync(t, ns, m)

			m.image = repo + "v2.4.23"
			stderr := sync(t, ns, m)
			if name == "kubectl apply" {
				assert.Contains(t, stderr, "Warning: [MU-META] spec.components.image: held; MilvusUpgrade "+plannedName+" migrates to v2.2.16 first")
			}
			assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, "my-release"), "held")
			assert.Equal(t, repo+"v2.4.23", annotation(t, ns, "milvus-admission.io/requested-image"))
			waitForPlanned(t, ns)

			up := getJSON(t, ns, "milvusupgrade", plannedName)
			assert.Equal(t, map[string]any{
				"milvus":           map[string]any{"name": "my-release", "namespace": ns},
				"sourceVersion":    "v2.1.4",
				"targetVersion":    "v2.2.16",
				"targetImage":      repo + "v2.2.16",
				"toolImage":        "milvusdb/meta-migration:v2.2.0",
				"operation":        "upgrade",
				"maxRetry":         float64(3),
				"rollbackIfFailed": true,
			}, up["spec"])
			assert.Equal(t, "milvus-admission", at(up, "metadata", "labels", "app.kubernetes.io/managed-by"))
			refs, _ := at(up, "metadata", "ownerReferences").([]any)
			require.Len(t, refs, 1)
			assert.Equal(t, "Milvus", at(refs[0].(map[string]any), "kind"))
			assert.Contains(t, eventReasons(t, ns), "MigrationPlanned")

			// A sync while the migration waits changes nothing and plans nothing more.
			sync(t, ns, m)
			assert.Equal(t, []string{plannedName}, upgrades(t, ns))

			operatorExecutes(t, ns)
			eventually(t, "the controller clears the intent", func() error {
				if a := annotation(t, ns, "milvus-admission.io/planned-upgrade"); a != nil {
					return fmt.Errorf("still planned: %v", a)
				}
				return nil
			})
			assert.Contains(t, eventReasons(t, ns), "MigrationSucceeded")

			// The next sync from the 2.2.16 waypoint is a legal rolling upgrade.
			stderr = sync(t, ns, m)
			assert.NotContains(t, stderr, "MU-META")
			assert.Equal(t, repo+"v2.4.23", storedImage(t, ns, "my-release"), "git wins")
			assert.Equal(t, []string{plannedName}, upgrades(t, ns))
		})
	}
}

// Argo CD's and Flux's dry-runs reach the webhook constantly: they hold the
// image in the answer and create nothing.
func TestDryRunsCreateNothing(t *testing.T) {
	t.Run("kubectl apply --dry-run=server", func(t *testing.T) {
		ns := newNamespace(t)
		m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
		kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
		rv := resourceVersion(t, ns, "my-release")
		m.image = repo + "v2.4.23"
		out, stderr := kubectl(t, m.yaml(), "-n", ns, "apply", "--dry-run=server", "-f", "-", "-o", "jsonpath={.spec.components.image}")
		assert.Equal(t, repo+"v2.1.4", out, "the dry-run answer shows the held image")
		assert.Contains(t, stderr, "[MU-META]")
		assertNothingCreated(t, ns, rv)
	})
	t.Run("flux ssa dry-run diff", func(t *testing.T) {
		ns := newNamespace(t)
		m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
		rm := fluxManager()
		ctx := context.Background()
		_, err := rm.ApplyAll(ctx, readObjects(t, ns, m.yaml()), ssa.DefaultApplyOptions())
		require.NoError(t, err)
		rv := resourceVersion(t, ns, "my-release")
		m.image = repo + "v2.4.23"
		for range 5 {
			_, _, _, err := rm.Diff(ctx, readObjects(t, ns, m.yaml())[0], ssa.DefaultDiffOptions())
			require.NoError(t, err)
		}
		assertNothingCreated(t, ns, rv)
	})
}

func TestConcurrentSyncsCreateOneUpgrade(t *testing.T) {
	ns := newNamespace(t)
	m := milvusManifest{name: "my-release", image: repo + "v2.1.4", cluster: true}
	kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	m.image = repo + "v2.4.23"
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, stderr, err := tryKubectl(m.yaml(), "-n", ns, "apply", "-f", "-"); err != nil {
				errs <- fmt.Errorf("%w: %s", err, stderr)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitForPlanned(t, ns)
	sentinel := controllerCaughtUp(t, ns)
	assert.Equal(t, []string{plannedName, sentinel}, upgrades(t, ns), "still exactly one for my-release")
	planned := slices.DeleteFunc(eventReasonsFor(t, ns, "my-release"), func(r string) bool { return r != "MigrationPlanned" })
	assert.Len(t, planned, 1, "my-release's migration was planned once")
}

// failedMigration holds 2.1.4 → 2.4.23 in a new namespace and has the
// operator's ServiceAccount end the planned upgrade in state: the namespace
// and git's manifest (asking for 2.4.23).
func failedMigration(t *testing.T, state string) (string, milvusManifest) {
	t.Helper()
	grantOperator(t)
	ns := newNamespace(t)
	m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
	kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	m.image = repo + "v2.4.23"
	kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	waitForPlanned(t, ns)
	operatorStatus(t, ns, plannedName, fmt.Sprintf(`{"status":{"state":%q}}`, state))
	return ns, m
}

func TestFailedMigrationIsNotRetriedByItself(t *testing.T) {
	ns, m := failedMigration(t, "UpdateMetaFailed")

	eventually(t, "a sync asking for the same target is denied, naming the failed upgrade", func() error {
		_, stderr, err := tryKubectl(m.yaml(), "-n", ns, "apply", "-f", "-")
		if err == nil {
			return fmt.Errorf("allowed: %s", stderr)
		}
		for _, want := range []string{"[MU-META]", plannedName, "ended in state UpdateMetaFailed", "delete it to retry"} {
			if !strings.Contains(stderr, want) {
				return fmt.Errorf("%q lacks %q", stderr, want)
			}
		}
		return nil
	})
	assert.Equal(t, []string{plannedName}, upgrades(t, ns), "no new upgrade after a failure")
	assert.Contains(t, eventReasons(t, ns), "MigrationFailed")

	// Deleting the failed upgrade is the retry: the intent is still there.
	kubectl(t, nil, "-n", ns, "delete", "milvusupgrade", plannedName)
	eventually(t, "the retry", func() error {
		out, _, err := tryKubectl(nil, "-n", ns, "get", "milvusupgrade", plannedName, "-o", "jsonpath={.status.state}")
		if err != nil || out != "" {
			return fmt.Errorf("state %q, %v", out, err)
		}
		return nil
	})
}

// Reverting git is the other way out of a failed migration, as MU-META-FAILED
// says: the intent goes, the failure record with it, and the failed upgrade
// stays for kubectl describe.
func TestRevertAfterAFailedMigrationCancels(t *testing.T) {
	ns, m := failedMigration(t, "RollbackedSucceeded")
	eventually(t, "the controller records the failure on the Milvus", func() error {
		if annotation(t, ns, migration.AnnotationMigrationFailed) == nil {
			return fmt.Errorf("no %s annotation", migration.AnnotationMigrationFailed)
		}
		return nil
	})

	m.image = repo + "v2.1.4" // git reverted
	_, stderr := kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	assert.Contains(t, stderr, "[MU-META] spec.components.image: migration "+plannedName+" cancelled")
	assert.Nil(t, annotation(t, ns, migration.AnnotationPlannedUpgrade))
	eventually(t, "the failure record goes with the intent", func() error {
		if v := annotation(t, ns, migration.AnnotationMigrationFailed); v != nil {
			return fmt.Errorf("still recorded: %v", v)
		}
		return nil
	})
	assert.Equal(t, []string{plannedName}, upgrades(t, ns), "the failed upgrade stays for kubectl describe")
}

// A revert in git before the operator started cancels cleanly: kubectl's
// client-side apply through the webhook, Flux's server-side apply because it
// owns the intent annotations the webhook added during its own apply.
func TestRevertBeforeTheOperatorStartsCancels(t *testing.T) {
	for name, sync := range gitopsSyncers {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t)
			m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
			sync(t, ns, m)
			m.image = repo + "v2.4.23"
			sync(t, ns, m)
			waitForPlanned(t, ns)

			// Unrelated edits while the migration waits do not cancel it.
			kubectl(t, nil, "-n", ns, "label", "milvus", "my-release", "team=search")
			assert.Equal(t, plannedName, annotation(t, ns, "milvus-admission.io/planned-upgrade"))

			m.image = repo + "v2.1.4" // git reverted
			stderr := sync(t, ns, m)
			if name == "kubectl apply" {
				assert.Contains(t, stderr, "[MU-META] spec.components.image: migration "+plannedName+" cancelled")
			}
			assert.Nil(t, annotation(t, ns, "milvus-admission.io/planned-upgrade"))
			eventually(t, "the unstarted upgrade is deleted", func() error {
				if got := upgrades(t, ns); len(got) != 0 {
					return fmt.Errorf("MilvusUpgrades: %v", got)
				}
				return nil
			})
			assert.Contains(t, eventReasons(t, ns), "MigrationCancelled")
			assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, "my-release"))
		})
	}
}
