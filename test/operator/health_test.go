package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/milvus-admission/milvus-admission/gitops"
	"github.com/milvus-admission/milvus-admission/internal/operator"
)

// The shipped health checks (gitops/: Argo CD's Lua in gopher-lua, Flux's
// CEL in its own evaluator) on the objects a generated migration really
// leaves in the API server while the real operator executes it: held,
// migrating (the operator has stopped the Milvus), failed (the update-meta
// Pod fails, the operator rolls back, and the controller records the
// failure on the Milvus), converged. Every version of the Milvus and of its
// MilvusUpgrade that a watch delivers is judged, not only the moments the
// test picks.

// The intent annotations of docs/generation.md, and the controller's record
// of a failed migration.
const (
	intentRequestedImage = "milvus-admission.io/requested-image"
	intentPlannedUpgrade = "milvus-admission.io/planned-upgrade"
	migrationFailed      = "milvus-admission.io/migration-failed"
)

// failedStates are the terminal states in which the target was not reached.
var failedStates = []string{"BakupMetaFailed", "UpdateMetaFailed", "RollbackedSucceeded", "RollbackFailed"}

// recording is every version of the Milvus and MilvusUpgrade objects of a
// namespace, in the order a watch delivered them.
type recording struct {
	mu   sync.Mutex
	objs []*unstructured.Unstructured
}

// record watches the Milvus and MilvusUpgrade objects of ns until the test
// ends.
func (p *plane) record(t *testing.T, ns string) *recording {
	t.Helper()
	dyn, err := dynamic.NewForConfig(p.c.Config)
	require.NoError(t, err)
	r := &recording{}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, ns, nil)
	var synced []cache.InformerSynced
	for _, resource := range []string{"milvuses", "milvusupgrades"} {
		inf := f.ForResource(schema.GroupVersionResource{Group: "milvus.io", Version: "v1beta1", Resource: resource}).Informer()
		_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { r.add(obj) },
			UpdateFunc: func(_, obj any) { r.add(obj) },
		})
		require.NoError(t, err)
		synced = append(synced, inf.HasSynced)
	}
	f.Start(t.Context().Done())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.True(t, cache.WaitForCacheSync(ctx.Done(), synced...), "watching %s", ns)
	return r
}

func (r *recording) add(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objs = append(r.objs, u.DeepCopy())
}

// of is every recorded version of kind.
func (r *recording) of(kind string) []*unstructured.Unstructured {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// judge runs both shipped checks on obj.
func judge(t *testing.T, checks *gitops.Checks, obj *unstructured.Unstructured) gitops.Verdict {
	t.Helper()
	v, err := checks.Judge(obj)
	require.NoError(t, err)
	return v
}

// judgeStored reads an object as the API server stores it and judges it.
func (p *plane) judgeStored(t *testing.T, checks *gitops.Checks, ns, resource, name string) gitops.Verdict {
	t.Helper()
	u := &unstructured.Unstructured{Object: p.getJSON(t, ns, resource, name)}
	return judge(t, checks, u)
}

// assertVerdict checks both tools' verdicts, and that Argo CD's message
// carries every one of says.
func assertVerdict(t *testing.T, what string, got gitops.Verdict, argo string, flux status.Status, says ...string) {
	t.Helper()
	assert.Equal(t, argo, got.Argo.Status, "%s: Argo CD (%s)", what, got)
	assert.Equal(t, flux, got.Flux, "%s: Flux (%s)", what, got)
	for _, s := range says {
		assert.Contains(t, got.Argo.Message, s, "%s: Argo CD's message", what)
	}
}

// heldSays is what the Milvus check says of my-release held for git's
// 2.4.23: the image git asked for and the MilvusUpgrade it waits for.
var heldSays = []string{"held by milvus-admission", intentRequestedImage + " " + repo + "v2.4.23", plannedName, "v2.2.16"}

// failedSays is what the Milvus check says of my-release in ns once the
// controller recorded that its migration ended in state.
func failedSays(ns, state string) []string {
	return []string{migrationFailed + ": " + plannedName + " " + state, "the change to " + repo + "v2.4.23 stays held",
		"kubectl describe milvusupgrade -n " + ns + " " + plannedName + ", then delete it to retry"}
}

// milvusVersions counts the recorded versions of the Milvus by what they show.
type milvusVersions struct {
	// migrating: held and stopped by the operator; failed: carrying the
	// controller's failure record.
	migrating, failed int
}

// judgeRecordedMilvus judges every recorded version of my-release in ns,
// none of which carries a status from the operator (its Milvus reconciler
// does not run here). With the failure record (which must say failure, ""
// when none may appear) it is Degraded in Argo CD and Failed in Flux, with
// the upgrade, its state and the command to inspect it; the record comes
// only after the operator started the Milvus again, and stays. Held
// otherwise (the intent annotations are there, also while the operator has
// it stopped) it is Progressing with the reason; without the intent it is
// Progressing, waiting for the operator's status.
func judgeRecordedMilvus(t *testing.T, checks *gitops.Checks, rec *recording, ns, failure string) milvusVersions {
	t.Helper()
	versions := rec.of("Milvus")
	require.NotEmpty(t, versions)
	var counts milvusVersions
	for _, m := range versions {
		what := fmt.Sprintf("Milvus at resourceVersion %s (image %v)", m.GetResourceVersion(), at(m.Object, "spec", "components", "image"))
		require.Nil(t, m.Object["status"], "%s: the operator wrote no status", what)
		v := judge(t, checks, m)
		annotations := m.GetAnnotations()
		_, stopped := annotations[operator.StoppedAtAnnotation]
		if record, recorded := annotations[migrationFailed]; recorded {
			counts.failed++
			require.NotEmpty(t, failure, "%s: no failure may be recorded, found %q", what, record)
			assert.Equal(t, failure, record, "%s: the failure record", what)
			assert.False(t, stopped, "%s: recorded only after the operator started the Milvus again", what)
			state := strings.TrimPrefix(failure, plannedName+" ")
			assertVerdict(t, what, v, gitops.Degraded, status.FailedStatus, failedSays(ns, state)...)
			continue
		}
		require.Zero(t, counts.failed, "%s: the failure record, once written, stays", what)
		if _, held := annotations[intentPlannedUpgrade]; held {
			if stopped {
				counts.migrating++
				what += ", stopped by the operator"
			}
			assertVerdict(t, what, v, gitops.Progressing, status.InProgressStatus, heldSays...)
			continue
		}
		assertVerdict(t, what, v, gitops.Progressing, status.UnknownStatus, "waiting for the operator's status")
	}
	t.Logf("judged %d versions of the Milvus: %d stopped by the operator, %d with the failure record", len(versions), counts.migrating, counts.failed)
	return counts
}

// judgeRecordedUpgrade judges every recorded version of the MilvusUpgrade
// name by its state, and returns the states seen ("-" for no status yet).
func judgeRecordedUpgrade(t *testing.T, checks *gitops.Checks, rec *recording, name string) []string {
	t.Helper()
	var seen []string
	for _, u := range rec.of("MilvusUpgrade") {
		if u.GetName() != name {
			continue
		}
		v := judge(t, checks, u)
		state, hasState, _ := unstructured.NestedString(u.Object, "status", "state")
		_, hasStatus := u.Object["status"]
		what := fmt.Sprintf("MilvusUpgrade %s at resourceVersion %s in state %q", name, u.GetResourceVersion(), state)
		target := "Milvus my-release to v2.2.16"
		switch {
		case !hasStatus:
			seen = append(seen, "-")
			assertVerdict(t, what, v, gitops.Progressing, status.UnknownStatus, "waiting for the Milvus Operator", target)
			continue
		case !hasState || state == "":
			assertVerdict(t, what, v, gitops.Progressing, status.InProgressStatus, "waiting for the Milvus Operator", target)
		case state == "Succeeded":
			assertVerdict(t, what, v, gitops.Healthy, status.CurrentStatus, state, target)
		case slices.Contains(failedStates, state):
			assertVerdict(t, what, v, gitops.Degraded, status.FailedStatus, state, target, "kubectl describe milvusupgrade "+name)
		default:
			assertVerdict(t, what, v, gitops.Progressing, status.InProgressStatus, state, target)
		}
		if len(seen) == 0 || seen[len(seen)-1] != state {
			seen = append(seen, state)
		}
	}
	return seen
}

// operatorReportsHealthy writes, as the operator's ServiceAccount, the
// status the operator's status syncer (UpdateStatusForNewGeneration in
// pkg/controllers/status_cluster.go) writes once every component of the
// Milvus is ready and updated: the one write of this file the operator
// does not make itself here, because its Milvus reconciler would have to
// deploy etcd, MinIO and Milvus, which a bare API server cannot run.
func (p *plane) operatorReportsHealthy(t *testing.T, ns, name string) {
	t.Helper()
	m := p.getJSON(t, ns, "milvus", name)
	now := time.Now().UTC().Format(time.RFC3339)
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"observedGeneration": at(m, "metadata", "generation"),
		"status":             "Healthy",
		"currentImage":       at(m, "spec", "components", "image"),
		"endpoint":           fmt.Sprintf("%s-milvus.%s:19530", name, ns),
		"conditions": []any{
			map[string]any{"type": "MilvusReady", "status": "True", "reason": "ReasonMilvusHealthy", "message": "All Milvus components are healthy", "lastTransitionTime": now},
			map[string]any{"type": "MilvusUpdated", "status": "True", "reason": "MilvusComponentsUpdated", "message": "Milvus components are all updated", "lastTransitionTime": now},
		},
	}})
	require.NoError(t, err)
	p.kubectl(t, nil, "-n", ns, "patch", "milvus", name, "--subresource=status", "--type=merge", "-p", string(patch), "--as", p.op.Identity)
}

func loadChecks(t *testing.T) *gitops.Checks {
	t.Helper()
	checks, err := gitops.Load()
	require.NoError(t, err)
	return checks
}

// Held, migrating and converged: 2.1.4 → 2.4.23 in git, migrated to the
// 2.2.16 waypoint by the generated MilvusUpgrade, then rolled on.
func TestHealthChecksThroughASucceededMigration(t *testing.T) {
	t.Parallel()
	p := env
	checks := loadChecks(t)
	ns := p.newNamespace(t)
	rec, states := p.record(t, ns), p.states(t, ns)
	m, stderr := p.gitAsks2423(t, ns)
	require.Contains(t, stderr, "[MU-META] spec.components.image: held")

	assertVerdict(t, "held", p.judgeStored(t, checks, ns, "milvus", "my-release"), gitops.Progressing, status.InProgressStatus, heldSays...)
	p.waitForUpgrade(t, ns, plannedName)
	require.Equal(t, "Succeeded", p.runs(t, states, ns, plannedName))
	assertVerdict(t, "the succeeded migration", p.judgeStored(t, checks, ns, "milvusupgrade", plannedName),
		gitops.Healthy, status.CurrentStatus, "Succeeded: upgraded Milvus my-release to v2.2.16")
	p.intentCleared(t, ns)

	p.kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-") // the next sync rolls on
	require.Equal(t, repo+"v2.4.23", p.storedImage(t, ns, "my-release"))
	assertVerdict(t, "converged in spec, before the operator reports", p.judgeStored(t, checks, ns, "milvus", "my-release"),
		gitops.Progressing, status.UnknownStatus, "waiting for the operator's status")

	versions := judgeRecordedMilvus(t, checks, rec, ns, "")
	assert.Positive(t, versions.migrating, "a version of the Milvus stopped by the operator was recorded")
	seen := judgeRecordedUpgrade(t, checks, rec, plannedName)
	t.Logf("MilvusUpgrade states judged: %s", strings.Join(seen, " → "))
	assert.Contains(t, seen, "Succeeded")
	assert.True(t, slices.Contains(seen, "BackupMeta") || slices.Contains(seen, "UpdatingMeta"), "a migrating MilvusUpgrade was judged: %v", seen)

	p.operatorReportsHealthy(t, ns, "my-release")
	assertVerdict(t, "converged", p.judgeStored(t, checks, ns, "milvus", "my-release"),
		gitops.Healthy, status.CurrentStatus, "running "+repo+"v2.4.23")
}

// Failed: the update-meta Pod fails, the operator rolls back to 2.1.4 and
// ends the generated MilvusUpgrade in RollbackedSucceeded; the controller
// records that on the Milvus, which turns Degraded (Argo CD) and Failed
// (Flux).
func TestHealthChecksThroughAFailedMigration(t *testing.T) {
	t.Parallel()
	p := env
	ns := p.newNamespace(t)
	p.op.Kubelet.Fail(ns, plannedName+"-"+operator.TaskUpdateMeta)
	rec, states := p.record(t, ns), p.states(t, ns)
	p.gitAsks2423(t, ns)
	p.waitForUpgrade(t, ns, plannedName)
	require.Equal(t, "RollbackedSucceeded", p.runs(t, states, ns, plannedName))
	record := plannedName + " RollbackedSucceeded"
	p.eventually(t, waitTimeout, "the controller records the failure on the Milvus", func() error {
		if got := at(p.getJSON(t, ns, "milvus", "my-release"), "metadata", "annotations", migrationFailed); got != record {
			return fmt.Errorf("%s: %v", migrationFailed, got)
		}
		if events := p.events(t, ns, "my-release"); !hasReason(events, "MigrationFailed") {
			return fmt.Errorf("events: %v", events)
		}
		return nil
	})

	checks := loadChecks(t)
	assertVerdict(t, "the failed migration", p.judgeStored(t, checks, ns, "milvusupgrade", plannedName),
		gitops.Degraded, status.FailedStatus, "RollbackedSucceeded", "kubectl describe milvusupgrade "+plannedName)
	stored := p.getJSON(t, ns, "milvus", "my-release")
	assert.Equal(t, repo+"v2.1.4", at(stored, "spec", "components", "image"), "rolled back, and still held")
	assert.Equal(t, plannedName, at(stored, "metadata", "annotations", intentPlannedUpgrade), "the intent stays for a retry")
	assertVerdict(t, "the Milvus after the failed migration", p.judgeStored(t, checks, ns, "milvus", "my-release"),
		gitops.Degraded, status.FailedStatus, failedSays(ns, "RollbackedSucceeded")...)

	p.eventually(t, waitTimeout, "the watch delivers the recorded failure", func() error {
		for _, m := range rec.of("Milvus") {
			if m.GetAnnotations()[migrationFailed] == record {
				return nil
			}
		}
		return fmt.Errorf("no version of the Milvus with %s: %s", migrationFailed, record)
	})
	versions := judgeRecordedMilvus(t, checks, rec, ns, record)
	assert.Positive(t, versions.migrating, "a version of the Milvus stopped by the operator was recorded")
	assert.Positive(t, versions.failed, "a version of the Milvus with the failure record was recorded")
	seen := judgeRecordedUpgrade(t, checks, rec, plannedName)
	t.Logf("MilvusUpgrade states judged: %s", strings.Join(seen, " → "))
	assert.Contains(t, seen, "RollbackedSucceeded")
	assert.Contains(t, seen, "UpdatingMeta", "the migration was judged while it ran")
}
