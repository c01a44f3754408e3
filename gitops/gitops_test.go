// Package gitops_test runs the GitOps integration files in this folder the
// way Argo CD and Flux run them (package gitops: the Argo CD health checks
// in gopher-lua with the libraries Argo CD opens for custom checks, the
// Flux healthCheckExprs with Flux's own CEL status evaluator), on Milvus and
// MilvusUpgrade objects shaped like those the webhook, its migration
// controller and the Milvus Operator produce (checked against the operator's
// CRD schemas). It also holds argocd-cm.yaml to the .lua files and checks the
// sync waves of the kustomize base.
package gitops_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	fluxcel "github.com/fluxcd/pkg/runtime/cel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/gitops"
	"github.com/milvus-admission/milvus-admission/internal/shared"
	"github.com/milvus-admission/milvus-admission/pkg/migration"
)

var update = flag.Bool("update", false, "rewrite argocd/argocd-cm.yaml from the .lua files")

// Argo CD health status codes (package gitops).
const (
	healthy     = gitops.Healthy
	progressing = gitops.Progressing
	degraded    = gitops.Degraded
	suspended   = gitops.Suspended
)

// The intent annotations the webhook's hold writes, and the controller's
// record of a failed migration: the objects below carry the keys the code
// writes, so the checks' literal keys must match them.
const (
	annRequestedImage   = migration.AnnotationRequestedImage
	annRequestedVersion = migration.AnnotationRequestedVersion
	annPlannedUpgrade   = migration.AnnotationPlannedUpgrade
	annMigrationTarget  = migration.AnnotationMigrationTarget
	annMigrationFailed  = migration.AnnotationMigrationFailed
	annStagedAt         = migration.AnnotationStagedAt
	annStageTarget      = migration.AnnotationStageTargetImage
)

// ---- Argo CD ----

func luaScript(t *testing.T, kind string) string {
	t.Helper()
	script, err := gitops.LuaScript(kind)
	require.NoError(t, err)
	return script
}

// argoHealth runs a health script as Argo CD runs it (gitops.ArgoHealth).
func argoHealth(t *testing.T, script string, obj *unstructured.Unstructured) gitops.Health {
	t.Helper()
	h, err := gitops.ArgoHealth(script, obj)
	require.NoError(t, err)
	return h
}

// ---- Flux ----

// fluxEvaluators builds Flux's status evaluator for each kind from the
// healthCheckExprs of gitops/flux/milvus.yaml.
func fluxEvaluators(t *testing.T) map[string]*fluxcel.StatusEvaluator {
	t.Helper()
	evs, err := gitops.FluxEvaluators()
	require.NoError(t, err)
	return evs
}

// fluxStatus is what Flux's health check makes of obj (gitops.FluxStatus).
func fluxStatus(t *testing.T, ev *fluxcel.StatusEvaluator, obj *unstructured.Unstructured) status.Status {
	t.Helper()
	return gitops.FluxStatus(ev, obj)
}

// ---- the objects ----

// crdValidator validates against the operator's v1beta1 schema in a CRD file.
func crdValidator(t *testing.T, file string) crdvalidation.SchemaValidator {
	t.Helper()
	schema, err := shared.CRDSchema(file, "v1beta1")
	require.NoError(t, err)
	var internal apiextensions.JSONSchemaProps
	require.NoError(t, apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(schema, &internal, nil))
	validator, _, err := crdvalidation.NewSchemaValidator(&internal)
	require.NoError(t, err)
	return validator
}

// sample reads one object of the operator's samples.
func sample(t *testing.T, file string) map[string]any {
	t.Helper()
	docs, err := shared.Samples()
	require.NoError(t, err)
	for _, d := range docs {
		if d.File == file {
			var obj map[string]any
			require.NoError(t, json.Unmarshal(d.JSON, &obj))
			return obj
		}
	}
	t.Fatalf("no sample %s", file)
	return nil
}

// object decodes JSON as the API server's objects arrive in Argo CD and
// Flux (unstructured: integers are int64), after checking it against the
// operator's CRD schema, so that every state below is one the API server
// would store.
func object(t *testing.T, validator crdvalidation.SchemaValidator, obj map[string]any) *unstructured.Unstructured {
	t.Helper()
	js, err := json.Marshal(obj)
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(js))
	errs := crdvalidation.ValidateCustomResource(field.NewPath(""), u.Object, validator)
	require.Empty(t, errs, "the object fits the operator's CRD schema:\n%s", js)
	return u
}

// set sets the field at path of a test object, making the maps on the way.
func set(obj map[string]any, value any, path ...string) {
	if err := unstructured.SetNestedField(obj, value, path...); err != nil {
		panic(err) // a test's own object: its fixture is wrong
	}
}

const (
	oldImage     = "milvusdb/milvus:v2.1.4"
	waypoint     = "milvusdb/milvus:v2.2.16"
	gitImage     = "milvusdb/milvus:v2.4.23"
	upgradeName  = "my-release-migrate-v2-2-16"
	waypointVers = "v2.2.16"
)

// milvus is the operator's cluster sample as a stored Milvus running image
// (status written by the operator, generation observed), edited by edit.
func milvus(t *testing.T, image string, edit func(m map[string]any)) *unstructured.Unstructured {
	t.Helper()
	m := sample(t, "milvus_cluster_default.yaml")
	set(m, "default", "metadata", "namespace")
	set(m, int64(3), "metadata", "generation")
	set(m, image, "spec", "components", "image")
	set(m, "rollingUpgrade", "spec", "components", "imageUpdateMode")
	set(m, map[string]any{
		"status":             "Healthy",
		"currentImage":       image,
		"currentVersion":     strings.TrimPrefix(image, "milvusdb/milvus:"),
		"observedGeneration": int64(3),
		"endpoint":           "my-release-milvus.default:19530",
		"conditions": []any{
			map[string]any{"type": "MilvusReady", "status": "True", "reason": "ReasonMilvusHealthy", "message": "All Milvus components are healthy"},
			map[string]any{"type": "MilvusUpdated", "status": "True", "reason": "MilvusComponentsUpdated", "message": "Milvus components are all updated"},
		},
	}, "status")
	if edit != nil {
		edit(m)
	}
	return object(t, crdValidator(t, "milvus.io_milvuses.yaml"), m)
}

// held is what the webhook's hold leaves on the Milvus when git asks for
// 2.4.23 while 2.1.4 runs: the old image kept, the intent recorded.
func held(m map[string]any) {
	set(m, map[string]any{
		annRequestedImage:  gitImage,
		annPlannedUpgrade:  upgradeName,
		annMigrationTarget: waypointVers,
	}, "metadata", "annotations")
}

// upgrade is the generated MilvusUpgrade (the operator's sample, as the
// controller and the defaulting webhook complete it) in state.
func upgrade(t *testing.T, state string) *unstructured.Unstructured {
	t.Helper()
	u := sample(t, "milvusupgrade.yaml")
	set(u, upgradeName, "metadata", "name")
	set(u, "default", "metadata", "namespace")
	set(u, map[string]any{"app.kubernetes.io/managed-by": "milvus-admission"}, "metadata", "labels")
	set(u, waypointVers, "spec", "targetVersion")
	set(u, waypoint, "spec", "targetImage")
	set(u, "milvusdb/meta-migration:v2.2.0", "spec", "toolImage")
	set(u, int64(3), "spec", "maxRetry")
	set(u, true, "spec", "rollbackIfFailed")
	set(u, "upgrade", "spec", "operation")
	if state != "-" { // "-": not reconciled yet, no status at all
		st := map[string]any{"retriedTimes": int64(0)}
		if state != "" {
			st["state"] = state
			st["sourceImage"] = oldImage
			cond := map[string]any{"type": "Upgraded", "status": "False", "reason": state, "message": "", "lastTransitionTime": "2026-11-29T16:00:00Z"}
			if state == "Succeeded" {
				cond["status"] = "True"
			}
			if strings.HasSuffix(state, "Failed") {
				cond["message"] = "pod " + upgradeName + "-update-meta failed"
			}
			st["conditions"] = []any{cond}
		}
		set(u, st, "status")
	}
	return object(t, crdValidator(t, "milvus.io_milvusupgrades.yaml"), u)
}

// ---- the tests ----

// The Milvus states of a generated migration, from git's 2.4.23 being held on
// a 2.1.4 cluster to convergence, and what Argo CD and Flux make of each.
func TestMilvusHealth(t *testing.T) {
	script := luaScript(t, "Milvus")
	flux := fluxEvaluators(t)["Milvus"]

	for _, tc := range []struct {
		name    string
		obj     *unstructured.Unstructured
		argo    string
		flux    status.Status
		message []string // substrings of Argo CD's message
	}{
		{
			// The hold: 2.1.4 kept, the intent recorded; the controller has
			// created the MilvusUpgrade, which the operator has not started.
			name: "held", obj: milvus(t, oldImage, held),
			argo: progressing, flux: status.InProgressStatus,
			message: []string{annRequestedImage, gitImage, annPlannedUpgrade, upgradeName, waypointVers},
		},
		{
			// The operator executes the upgrade (state UpdatingMeta): it has
			// stopped the cluster; the intent is still there.
			name: "migrating", obj: milvus(t, oldImage, func(m map[string]any) {
				held(m)
				set(m, "Stopped", "status", "status")
				set(m, "2026-11-29T16:00:00Z", "metadata", "annotations", "milvus.io/stopped-at")
			}),
			argo: progressing, flux: status.InProgressStatus,
			message: []string{annRequestedImage, annPlannedUpgrade, upgradeName},
		},
		{
			// The migration failed and the operator rolled back (its
			// MilvusUpgrade RollbackedSucceeded, Degraded in
			// TestMilvusUpgradeHealth): 2.1.4 runs Healthy again, still
			// held, and the controller has recorded the failure.
			name: "migration failed", obj: milvus(t, oldImage, func(m map[string]any) {
				held(m)
				set(m, upgradeName+" RollbackedSucceeded", "metadata", "annotations", annMigrationFailed)
			}),
			argo: degraded, flux: status.FailedStatus,
			message: []string{annMigrationFailed + ": " + upgradeName + " RollbackedSucceeded", "the change to " + gitImage + " stays held",
				"kubectl describe milvusupgrade -n default " + upgradeName + ", then delete it to retry"},
		},
		{
			// Failed before the operator wrote a status, or with the
			// cluster still stopped: the record decides, in Flux too.
			name: "migration failed, no status", obj: milvus(t, oldImage, func(m map[string]any) {
				held(m)
				set(m, upgradeName+" UpdateMetaFailed", "metadata", "annotations", annMigrationFailed)
				delete(m, "status")
			}),
			argo: degraded, flux: status.FailedStatus,
			message: []string{upgradeName + " UpdateMetaFailed", "kubectl describe milvusupgrade -n default " + upgradeName},
		},
		{
			// Flux judges an unobserved generation in progress before any
			// expression; Argo CD's check reads the record first.
			name: "migration failed, generation not observed yet", obj: milvus(t, oldImage, func(m map[string]any) {
				held(m)
				set(m, upgradeName+" RollbackedSucceeded", "metadata", "annotations", annMigrationFailed)
				set(m, int64(4), "metadata", "generation")
			}),
			argo: degraded, flux: status.InProgressStatus,
			message: []string{upgradeName + " RollbackedSucceeded"},
		},
		{
			// The intent was removed by hand; the controller clears the
			// record at once. Until then the command lists the upgrades.
			name: "a failure record without the intent", obj: milvus(t, oldImage, func(m map[string]any) {
				set(m, upgradeName+" RollbackedSucceeded", "metadata", "annotations", annMigrationFailed)
			}),
			argo: degraded, flux: status.FailedStatus,
			message: []string{upgradeName + " RollbackedSucceeded", "kubectl describe milvusupgrades -n default"},
		},
		{
			// The operator wrote the waypoint image; the intent is cleared,
			// and the operator has not reported it running yet.
			name: "at the waypoint, starting", obj: milvus(t, waypoint, func(m map[string]any) {
				set(m, oldImage, "status", "currentImage")
				set(m, "Unhealthy", "status", "status")
			}),
			argo: progressing, flux: status.InProgressStatus,
			message: []string{"rolls from " + oldImage + " to " + waypoint},
		},
		{
			name: "converged", obj: milvus(t, gitImage, nil),
			argo: healthy, flux: status.CurrentStatus,
			message: []string{"running " + gitImage},
		},
		{
			name: "converged, generation not observed yet", obj: milvus(t, gitImage, func(m map[string]any) {
				set(m, int64(4), "metadata", "generation")
			}),
			argo: progressing, flux: status.InProgressStatus,
			message: []string{"observe generation 4"},
		},
		{
			name: "converged but Unhealthy", obj: milvus(t, gitImage, func(m map[string]any) {
				set(m, "Unhealthy", "status", "status")
				set(m, []any{map[string]any{"type": "MilvusReady", "status": "False", "reason": "MilvusComponentNotHealthy", "message": "[querynode] not healthy"}}, "status", "conditions")
			}),
			argo: degraded, flux: status.FailedStatus,
			message: []string{"Unhealthy", "[querynode] not healthy"},
		},
		{
			name: "created, Pending", obj: milvus(t, gitImage, func(m map[string]any) {
				set(m, "Pending", "status", "status")
				delete(m["status"].(map[string]any), "conditions")
			}),
			argo: progressing, flux: status.InProgressStatus,
			message: []string{"Pending"},
		},
		{
			name: "stopped by its owner", obj: milvus(t, gitImage, func(m map[string]any) {
				set(m, "Stopped", "status", "status")
			}),
			argo: suspended, flux: status.CurrentStatus,
		},
		{
			// Just created: the operator has written no status. Flux cannot
			// evaluate status.* and keeps waiting (Unknown), as for
			// in-progress objects.
			name: "no status yet", obj: milvus(t, gitImage, func(m map[string]any) { delete(m, "status") }),
			argo: progressing, flux: status.UnknownStatus,
			message: []string{"waiting for the operator's status"},
		},
		{
			// Staged (policy action stage): git asks for 2.6.3, the stored
			// image is the waypoint, which the operator already runs
			// Healthy; the next sync sets 2.6.3, so this is not converged.
			name: "staged at the waypoint, running it", obj: milvus(t, "milvusdb/milvus:v2.5.16", func(m map[string]any) {
				set(m, map[string]any{annStagedAt: "v2.5.16", annStageTarget: "milvusdb/milvus:v2.6.3"}, "metadata", "annotations")
			}),
			argo: progressing, flux: status.InProgressStatus,
			message: []string{"staged", annStagedAt, "v2.5.16", "milvusdb/milvus:v2.6.3", "next sync"},
		},
		{
			// Held with no status yet: the intent decides, Flux needs no status.
			name: "held, no status yet", obj: milvus(t, oldImage, func(m map[string]any) { held(m); delete(m, "status") }),
			argo: progressing, flux: status.InProgressStatus,
			message: []string{annRequestedImage},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := argoHealth(t, script, tc.obj)
			assert.Equal(t, tc.argo, h.Status, "Argo CD: %s", h.Message)
			for _, s := range tc.message {
				assert.Contains(t, h.Message, s)
			}
			assert.Equal(t, tc.flux, fluxStatus(t, flux, tc.obj), "Flux")
		})
	}
}

// Every state of the operator's MilvusUpgrade state machine
// (milvusupgrade_types.go), in Argo CD and Flux.
func TestMilvusUpgradeHealth(t *testing.T) {
	script := luaScript(t, "MilvusUpgrade")
	flux := fluxEvaluators(t)["MilvusUpgrade"]

	type want struct {
		argo string
		flux status.Status
	}
	inProgress := want{progressing, status.InProgressStatus}
	failed := want{degraded, status.FailedStatus}
	for state, w := range map[string]want{
		"":                           inProgress, // created, the operator has not started
		"OldVersionStopping":         inProgress,
		"BackupMeta":                 inProgress,
		"UpdatingMeta":               inProgress, // migrating
		"NewVersionStarting":         inProgress,
		"RollbackNewVersionStopping": inProgress,
		"RollbackRestoringOldMeta":   inProgress,
		"RollbackOldVersionStarting": inProgress,
		"Succeeded":                  {healthy, status.CurrentStatus},
		"BakupMetaFailed":            failed,
		"UpdateMetaFailed":           failed,
		"RollbackFailed":             failed,
		"RollbackedSucceeded":        failed, // rolled back: the target was not reached
	} {
		t.Run(strconv.Quote(state), func(t *testing.T) {
			obj := upgrade(t, state)
			h := argoHealth(t, script, obj)
			assert.Equal(t, w.argo, h.Status, "Argo CD: %s", h.Message)
			assert.Contains(t, h.Message, "Milvus my-release to "+waypointVers)
			if state != "" {
				assert.Contains(t, h.Message, state)
			}
			if w.argo == degraded {
				assert.Contains(t, h.Message, "kubectl describe milvusupgrade "+upgradeName)
			}
			if state == "UpdateMetaFailed" {
				assert.Contains(t, h.Message, "update-meta failed", "the operator's reason")
			}
			assert.Equal(t, w.flux, fluxStatus(t, flux, obj), "Flux")
		})
	}

	t.Run("no status yet", func(t *testing.T) {
		obj := upgrade(t, "-")
		h := argoHealth(t, script, obj)
		assert.Equal(t, progressing, h.Status)
		assert.Contains(t, h.Message, "waiting for the Milvus Operator")
		assert.Equal(t, status.UnknownStatus, fluxStatus(t, flux, obj), "Flux keeps waiting")
	})
	t.Run("the Milvus does not exist yet", func(t *testing.T) {
		u := upgrade(t, "")
		require.NoError(t, unstructured.SetNestedSlice(u.Object, []any{map[string]any{
			"type": "CheckingUpgrationState", "status": "False", "reason": "GetMilvusFailed",
			"message": `milvuses.milvus.io "my-release" not found`, "lastTransitionTime": "2026-11-29T16:00:00Z",
		}}, "status", "conditions"))
		h := argoHealth(t, script, u)
		assert.Equal(t, progressing, h.Status)
		assert.Contains(t, h.Message, `"my-release" not found`)
	})
}

// The scripts run within Argo CD's limits on objects with nearly nothing
// set: they yield Progressing, never a script error.
func TestHealthScriptsTolerateOddObjects(t *testing.T) {
	for _, kind := range []string{"Milvus", "MilvusUpgrade"} {
		script := luaScript(t, kind)
		for name, o := range map[string]map[string]any{
			"empty":   {"apiVersion": "milvus.io/v1beta1", "kind": kind, "metadata": map[string]any{"name": "x"}},
			"no meta": {"apiVersion": "milvus.io/v1beta1", "kind": kind},
		} {
			t.Run(kind+"/"+name, func(t *testing.T) {
				h := argoHealth(t, script, &unstructured.Unstructured{Object: o})
				assert.Equal(t, progressing, h.Status, h.Message)
			})
		}
	}
}

// What Argo CD refuses of a health script, ArgoHealth refuses too: a
// script that fails, calls a library Argo CD does not open, runs past the
// time limit, or returns no table or an unknown status.
func TestArgoHealthRefusesWhatArgoCDRefuses(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{"kind": "Milvus"}}
	for name, script := range map[string]string{
		"an error":           `error("boom")`,
		"the string library": `return {status = string.upper("healthy")}`,
		"an endless loop":    `while true do end`,
		"no table":           `return "Healthy"`,
		"an unknown status":  `return {status = "Fine"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gitops.ArgoHealth(script, obj)
			assert.Error(t, err)
		})
	}
}

// Checks.Judge runs the checks of the object's kind, and refuses a kind
// it has none for.
func TestJudgeRunsTheChecksOfTheKind(t *testing.T) {
	checks, err := gitops.Load()
	require.NoError(t, err)
	v, err := checks.Judge(upgrade(t, "UpdateMetaFailed"))
	require.NoError(t, err)
	assert.Equal(t, degraded, v.Argo.Status, v.String())
	assert.Equal(t, status.FailedStatus, v.Flux)
	v, err = checks.Judge(milvus(t, gitImage, nil))
	require.NoError(t, err)
	assert.Equal(t, healthy, v.Argo.Status, v.String())
	assert.Equal(t, status.CurrentStatus, v.Flux)

	_, err = checks.Judge(&unstructured.Unstructured{Object: map[string]any{"kind": "MilvusCluster"}})
	assert.ErrorContains(t, err, `no health check for kind "MilvusCluster"`)
}

// argocd-cm.yaml carries the .lua files byte for byte under the keys Argo CD
// reads (resource.customizations.health.<group>_<kind>).
func TestArgoCDConfigMapCarriesTheScripts(t *testing.T) {
	path := filepath.Join("argocd", "argocd-cm.yaml")
	want := map[string]string{
		"resource.customizations.health.milvus.io_Milvus":        luaScript(t, "Milvus"),
		"resource.customizations.health.milvus.io_MilvusUpgrade": luaScript(t, "MilvusUpgrade"),
	}
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(argocdCM(want)), 0o644))
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var cm corev1.ConfigMap
	require.NoError(t, yaml.UnmarshalStrict(data, &cm))
	assert.Equal(t, "argocd-cm", cm.Name)
	assert.Equal(t, "argocd", cm.Namespace)
	assert.Equal(t, want, cm.Data, "argocd-cm.yaml is out of date with the .lua files; run:\n  go test ./gitops/ -run TestArgoCDConfigMapCarriesTheScripts -update")
}

func argocdCM(scripts map[string]string) string {
	var b strings.Builder
	b.WriteString(`# GENERATED from gitops/argocd/milvus.io/*/health.lua by
#   go test ./gitops/ -run TestArgoCDConfigMapCarriesTheScripts -update
# Argo CD health checks for Milvus and MilvusUpgrade (docs/gitops.md). Merge
# into Argo CD's argocd-cm:
#   kubectl -n argocd patch configmap argocd-cm --patch-file gitops/argocd/argocd-cm.yaml
# or set the same keys in the Argo CD Helm chart's configs.cm.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`)
	for _, k := range []string{"resource.customizations.health.milvus.io_Milvus", "resource.customizations.health.milvus.io_MilvusUpgrade"} {
		fmt.Fprintf(&b, "  %s: |\n", k)
		for line := range strings.SplitSeq(strings.TrimSuffix(scripts[k], "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
			} else {
				b.WriteString("    " + line + "\n")
			}
		}
	}
	return b.String()
}

// The example Argo CD Applications say what docs/gitops.md says: the
// milvus-admission one leaves cert-manager's caBundle alone in diffs and
// syncs, the Milvus one diffs server-side with the mutating webhook.
func TestArgoCDApplications(t *testing.T) {
	var app struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			IgnoreDifferences []struct {
				Group             string   `json:"group"`
				Kind              string   `json:"kind"`
				JQPathExpressions []string `json:"jqPathExpressions"`
			} `json:"ignoreDifferences"`
			SyncPolicy struct {
				SyncOptions []string `json:"syncOptions"`
			} `json:"syncPolicy"`
		} `json:"spec"`
	}
	data, err := os.ReadFile(filepath.Join("argocd", "milvus-admission-application.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &app))
	assert.Equal(t, "Application", app.Kind)
	var ignored []string
	for _, d := range app.Spec.IgnoreDifferences {
		assert.Equal(t, "admissionregistration.k8s.io", d.Group)
		assert.Equal(t, []string{".webhooks[]?.clientConfig.caBundle"}, d.JQPathExpressions)
		ignored = append(ignored, d.Kind)
	}
	assert.ElementsMatch(t, []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}, ignored)
	assert.Contains(t, app.Spec.SyncPolicy.SyncOptions, "RespectIgnoreDifferences=true")

	data, err = os.ReadFile(filepath.Join("argocd", "milvus-application.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &app))
	assert.Equal(t, "ServerSideDiff=true,IncludeMutationWebhook=true", app.Metadata.Annotations["argocd.argoproj.io/compare-options"])
}

// The Flux Kustomizations: Milvus objects wait for milvus-admission, which
// waits for its own objects to be healthy.
func TestFluxKustomizations(t *testing.T) {
	type ks struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Wait      bool `json:"wait"`
			DependsOn []struct {
				Name string `json:"name"`
			} `json:"dependsOn"`
			Path string `json:"path"`
		} `json:"spec"`
	}
	read := func(file string) []ks {
		data, err := os.ReadFile(filepath.Join("flux", file))
		require.NoError(t, err)
		docs, err := shared.YAMLDocuments(bytes.NewReader(data))
		require.NoError(t, err)
		var out []ks
		for _, d := range docs {
			var k ks
			require.NoError(t, yaml.Unmarshal(d, &k))
			if k.Kind == "Kustomization" {
				out = append(out, k)
			}
		}
		return out
	}
	admission := read("milvus-admission.yaml")
	require.Len(t, admission, 1)
	assert.True(t, admission[0].Spec.Wait, "milvus-admission is Ready only once its objects are healthy")
	assert.Equal(t, "./manifests", admission[0].Spec.Path)
	milvus := read("milvus.yaml")
	require.Len(t, milvus, 1)
	assert.True(t, milvus[0].Spec.Wait, "the Milvus Kustomization health-checks its objects")
	require.Len(t, milvus[0].Spec.DependsOn, 1)
	assert.Equal(t, admission[0].Metadata.Name, milvus[0].Spec.DependsOn[0].Name)
}

// ---- sync waves ----

func kubectlPath() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return filepath.Join(dir, "kubectl")
	}
	return filepath.Join("..", "bin", "kube", "v1.37.2", "kubectl")
}

// Argo CD applies the webhook configurations last: their sync wave is higher
// than every other object's in the kustomize base, so the Deployment (and
// the Service, RBAC and cert-manager objects) are healthy before the API
// server starts calling the webhook. Every object has a wave.
func TestWebhookConfigurationsHaveTheHighestSyncWave(t *testing.T) {
	kubectl := kubectlPath()
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl not found at %s (%v): run `make kube-binaries`, or point KUBEBUILDER_ASSETS at a folder holding kubectl", kubectl, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", filepath.Join("..", "manifests"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	docs, err := shared.YAMLDocuments(&stdout)
	require.NoError(t, err)

	webhookKinds := map[string]bool{"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true}
	lowestWebhookWave, highestOtherWave := 1<<30, -1<<30
	waves := map[string]int{}
	for _, doc := range docs {
		var u unstructured.Unstructured
		js, err := yaml.YAMLToJSON(doc)
		require.NoError(t, err)
		require.NoError(t, u.UnmarshalJSON(js))
		id := u.GetKind() + "/" + u.GetName()
		w, ok := u.GetAnnotations()["argocd.argoproj.io/sync-wave"]
		if !assert.True(t, ok, "%s has an argocd.argoproj.io/sync-wave", id) {
			continue
		}
		wave, err := strconv.Atoi(w)
		require.NoError(t, err, "%s: wave %q", id, w)
		waves[id] = wave
		if webhookKinds[u.GetKind()] {
			lowestWebhookWave = min(lowestWebhookWave, wave)
		} else {
			highestOtherWave = max(highestOtherWave, wave)
		}
	}
	require.Len(t, waves, len(docs))
	assert.Greater(t, lowestWebhookWave, highestOtherWave, "the webhook configurations come after everything else: %v", waves)
	assert.Greater(t, waves["Deployment/milvus-admission"], waves["Namespace/milvus-admission"], "the Deployment after its namespace")
	for id, w := range waves {
		if strings.HasPrefix(id, "Certificate/") || strings.HasPrefix(id, "Issuer/") || strings.HasPrefix(id, "ClusterRole") || strings.HasPrefix(id, "ServiceAccount/") {
			assert.Less(t, w, waves["Deployment/milvus-admission"], "%s before the Deployment", id)
		}
	}
}
