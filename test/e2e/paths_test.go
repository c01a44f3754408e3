package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// The paths a held change can take before and while the operator executes
// it: git retargets it, non-apply writes leave it alone, a component pinned
// to 2.1 refuses it up front, a version pin converges with it, and one
// MilvusUpgrade at a time works on a Milvus.

// The intent annotations of docs/generation.md.
const (
	intentRequestedImage   = "milvus-admission.io/requested-image"
	intentRequestedVersion = "milvus-admission.io/requested-version"
	intentPlannedUpgrade   = "milvus-admission.io/planned-upgrade"
	intentMigrationTarget  = "milvus-admission.io/migration-target"
)

// plannedTo225 is my-release's MilvusUpgrade when git asks for 2.2.5.
const plannedTo225 = "my-release-migrate-v2-2-5"

// pathSyncer applies manifests the way one GitOps tool does. apply returns
// what the user sees on stderr ("" for Flux, which logs warnings) and the
// error the tool reports, the denial included.
type pathSyncer struct {
	name  string
	apply func(t *testing.T, ns string, manifest []byte) (string, error)
}

var pathSyncers = []pathSyncer{
	{name: "kubectl apply", apply: func(t *testing.T, ns string, manifest []byte) (string, error) {
		_, stderr, err := tryKubectl(manifest, "-n", ns, "apply", "-f", "-")
		if err != nil {
			return stderr, fmt.Errorf("%w: %s", err, stderr)
		}
		return stderr, nil
	}},
	{name: "flux ssa", apply: func(t *testing.T, ns string, manifest []byte) (string, error) {
		_, err := fluxManager().ApplyAll(context.Background(), readObjects(t, ns, manifest), ssa.DefaultApplyOptions())
		return "", err
	}},
}

// mustApply applies manifest with s and fails the test on an error.
func (s pathSyncer) mustApply(t *testing.T, ns string, manifest []byte) string {
	t.Helper()
	stderr, err := s.apply(t, ns, manifest)
	require.NoError(t, err, "%s", s.name)
	return stderr
}

// pinnedMilvus is a Milvus with, when set, spec.components.version and a
// proxy pinned to its own image.
func pinnedMilvus(name, image, version, proxyImage string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata:\n  name: %s\nspec:\n  components:\n    image: %s\n", name, image)
	if version != "" {
		fmt.Fprintf(&b, "    version: %s\n", version)
	}
	if proxyImage != "" {
		fmt.Fprintf(&b, "    proxy:\n      image: %s\n", proxyImage)
	}
	return []byte(b.String())
}

// intentOn is the intent annotations my-release carries.
func intentOn(t *testing.T, ns string) map[string]any {
	t.Helper()
	out := map[string]any{}
	annotations, _ := at(getJSON(t, ns, "milvus", "my-release"), "metadata", "annotations").(map[string]any)
	for k, v := range annotations {
		if strings.HasPrefix(k, "milvus-admission.io/") {
			out[k] = v
		}
	}
	return out
}

// awaitUpgrades waits until the MilvusUpgrades in ns are exactly want.
func awaitUpgrades(t *testing.T, ns string, want ...string) {
	t.Helper()
	slices.Sort(want)
	eventually(t, fmt.Sprintf("the MilvusUpgrades are exactly %v", want), func() error {
		got := upgrades(t, ns)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("MilvusUpgrades: %v", got)
		}
		return nil
	})
}

// uidOf is the UID of the object; a deleted and recreated one has another.
func uidOf(t *testing.T, ns, resource, name string) string {
	t.Helper()
	uid, _ := at(getJSON(t, ns, resource, name), "metadata", "uid").(string)
	require.NotEmpty(t, uid)
	return uid
}

// milvusEvent is one Event about a Milvus, as kubectl shows it.
type milvusEvent struct {
	Reason, Message, Related string
}

func (e milvusEvent) String() string { return e.Reason + " (" + e.Related + "): " + e.Message }

// eventsAbout lists the Events about the object name in ns.
func eventsAbout(t *testing.T, ns, name string) []milvusEvent {
	t.Helper()
	out, _ := kubectl(t, nil, "-n", ns, "get", "events", "--field-selector", "involvedObject.name="+name, "-o", "json")
	var list struct {
		Items []struct {
			Reason, Message string
			Related         struct{ Name string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	var evs []milvusEvent
	for _, it := range list.Items {
		evs = append(evs, milvusEvent{Reason: it.Reason, Message: it.Message, Related: it.Related.Name})
	}
	return evs
}

// eventsWith are the Events about name with reason whose message names upgrade.
func eventsWith(t *testing.T, ns, name, reason, upgrade string) []milvusEvent {
	t.Helper()
	var out []milvusEvent
	for _, e := range eventsAbout(t, ns, name) {
		if e.Reason == reason && (e.Related == upgrade || strings.Contains(e.Message, upgrade)) {
			out = append(out, e)
		}
	}
	return out
}

// awaitEvent waits for an Event about name with reason naming upgrade.
func awaitEvent(t *testing.T, ns, name, reason, upgrade string) {
	t.Helper()
	eventually(t, fmt.Sprintf("an Event %s about %s naming %s", reason, name, upgrade), func() error {
		if len(eventsWith(t, ns, name, reason, upgrade)) == 0 {
			return fmt.Errorf("events of %s: %v", name, eventsAbout(t, ns, name))
		}
		return nil
	})
}

// operatorStatus patches a MilvusUpgrade's status as the operator.
func operatorStatus(t *testing.T, ns, upgrade, patch string) {
	t.Helper()
	kubectl(t, nil, "-n", ns, "patch", "milvusupgrade", upgrade, "--subresource=status", "--type=merge", "-p", patch, "--as", operatorSA)
}

// Git retargets a held change before the operator started: each new legal
// target is held with a new plan, the stale generated MilvusUpgrade is
// deleted (MigrationCancelled) and exactly one, for the new target, exists.
func TestRetargetBeforeStart(t *testing.T) {
	for _, s := range pathSyncers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			m := func(tag string) []byte { return pinnedMilvus("my-release", repo+tag, "", "") }
			s.mustApply(t, ns, m("v2.1.4"))
			s.mustApply(t, ns, m("v2.4.23"))
			awaitUpgrades(t, ns, plannedName)
			awaitEvent(t, ns, "my-release", "MigrationPlanned", plannedName)
			first := uidOf(t, ns, "milvusupgrade", plannedName)

			// retarget applies git's tag and checks that the change is held
			// again for the planned upgrade to target, the stale plan
			// cancelled.
			retarget := func(tag, planned, target, cancelled string) {
				t.Helper()
				stderr := s.mustApply(t, ns, m(tag))
				if s.name == "kubectl apply" {
					assert.Contains(t, stderr, "Warning: [MU-META] spec.components.image: held; MilvusUpgrade "+planned+" migrates to "+target+" first")
				}
				assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, "my-release"), "still held")
				assert.Equal(t, map[string]any{
					intentRequestedImage:  repo + tag,
					intentPlannedUpgrade:  planned,
					intentMigrationTarget: target,
				}, intentOn(t, ns), "re-held with the new plan")
				awaitUpgrades(t, ns, planned)
				awaitEvent(t, ns, "my-release", "MigrationCancelled", cancelled)
				spec := at(getJSON(t, ns, "milvusupgrade", planned), "spec").(map[string]any)
				assert.Equal(t, "v2.1.4", spec["sourceVersion"])
				assert.Equal(t, target, spec["targetVersion"])
				assert.Equal(t, repo+target, spec["targetImage"])
			}

			// 2.2.5: a 2.2.x target is migrated to directly.
			retarget("v2.2.5", plannedTo225, "v2.2.5", plannedName)
			awaitEvent(t, ns, "my-release", "MigrationPlanned", plannedTo225)

			// 2.5.4: back to the waypoint, a MilvusUpgrade of the first name
			// but made anew, and the intent names 2.5.4.
			retarget("v2.5.4", plannedName, "v2.2.16", plannedTo225)
			assert.NotEqual(t, first, uidOf(t, ns, "milvusupgrade", plannedName), "a new MilvusUpgrade, not the first one")
			assert.Equal(t, repo+"v2.5.4", annotation(t, ns, intentRequestedImage))

			// Retargeting is no failure: the controller never reports one.
			for _, e := range eventsAbout(t, ns, "my-release") {
				assert.NotEqual(t, "MigrationInvalid", e.Reason, "%s", e)
			}
		})
	}
}

// Only an apply can revert a hold: kubectl label, annotate and patch of
// other fields leave the intent and the generated MilvusUpgrade alone, even
// though the Milvus's last applied configuration (kubectl) or applied image
// (Flux) still names 2.1.4.
func TestNonApplyWritesDoNotCancel(t *testing.T) {
	for _, s := range pathSyncers {
		t.Run("created by "+s.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			s.mustApply(t, ns, pinnedMilvus("my-release", repo+"v2.1.4", "", ""))

			// The seed's procedure: a merge patch of the image.
			_, stderr := kubectl(t, nil, "-n", ns, "patch", "milvus", "my-release", "--type", "merge",
				"-p", `{"spec":{"components":{"image":"`+repo+`v2.4.23"}}}`)
			assert.Contains(t, stderr, "[MU-META] spec.components.image: held; MilvusUpgrade "+plannedName)
			held := map[string]any{
				intentRequestedImage:  repo + "v2.4.23",
				intentPlannedUpgrade:  plannedName,
				intentMigrationTarget: "v2.2.16",
			}
			require.Equal(t, held, intentOn(t, ns))
			awaitUpgrades(t, ns, plannedName)
			awaitEvent(t, ns, "my-release", "MigrationPlanned", plannedName)
			uid := uidOf(t, ns, "milvusupgrade", plannedName)

			writes := []struct {
				name string
				args []string
				// done reads the write's own change from the stored Milvus.
				done func(obj map[string]any) bool
			}{
				{"kubectl label", []string{"label", "milvus", "my-release", "team=search"},
					func(obj map[string]any) bool { return at(obj, "metadata", "labels", "team") == "search" }},
				{"kubectl annotate", []string{"annotate", "milvus", "my-release", "example.com/owner=search-team"},
					func(obj map[string]any) bool {
						return at(obj, "metadata", "annotations", "example.com/owner") == "search-team"
					}},
				{"kubectl patch of another field", []string{"patch", "milvus", "my-release", "--type", "merge",
					"-p", `{"spec":{"components":{"proxy":{"replicas":2}}}}`},
					func(obj map[string]any) bool { return at(obj, "spec", "components", "proxy", "replicas") == float64(2) }},
				{"kubectl patch of a label", []string{"patch", "milvus", "my-release", "--type", "json",
					"-p", `[{"op":"add","path":"/metadata/labels/tier","value":"gold"}]`},
					func(obj map[string]any) bool { return at(obj, "metadata", "labels", "tier") == "gold" }},
			}
			for _, w := range writes {
				before := resourceVersion(t, ns, "my-release")
				_, stderr := kubectl(t, nil, append([]string{"-n", ns}, w.args...)...)
				assert.NotContains(t, stderr, "cancelled", w.name)
				obj := getJSON(t, ns, "milvus", "my-release")
				require.NotEqual(t, before, at(obj, "metadata", "resourceVersion"), "%s was stored", w.name)
				require.True(t, w.done(obj), "%s: its change is stored", w.name)
				assert.Equal(t, held, intentOn(t, ns), "%s leaves the intent", w.name)
				assert.Equal(t, repo+"v2.1.4", at(obj, "spec", "components", "image"), "%s leaves the image held", w.name)
			}

			// The controller has handled every write above once it has
			// planned a later change; the plan is still the first one.
			sentinel := controllerCaughtUp(t, ns)
			got := upgrades(t, ns)
			slices.Sort(got)
			assert.Equal(t, []string{plannedName, sentinel}, got)
			assert.Equal(t, uid, uidOf(t, ns, "milvusupgrade", plannedName), "never deleted and recreated")
			assert.Empty(t, eventsWith(t, ns, "my-release", "MigrationCancelled", plannedName))
			assert.Equal(t, held, intentOn(t, ns))
		})
	}
}

// A component pinned to 2.1 cannot follow the global image across the
// metadata boundary: the change is denied up front (MU-SPLIT-META) and
// nothing is generated. A pin moved across the boundary with the image is
// denied too (only the global image is planned for, docs/generation.md);
// without the pin the change is held and generated.
func TestComponentPinAcrossTheBoundary(t *testing.T) {
	for _, s := range pathSyncers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			s.mustApply(t, ns, pinnedMilvus("my-release", repo+"v2.1.4", "", repo+"v2.1.4"))
			rv := resourceVersion(t, ns, "my-release")

			_, err := s.apply(t, ns, pinnedMilvus("my-release", repo+"v2.4.23", "", repo+"v2.1.4"))
			require.Error(t, err, "a proxy left on 2.1 is denied")
			for _, want := range []string{
				`spec.components.proxy.image: Invalid value: "` + repo + `v2.1.4": [MU-SPLIT-META] component proxy runs v2.1.4 but the cluster runs v2.4.23`,
				`spec.components.image: Invalid value: "` + repo + `v2.4.23": [MU-META]`,
			} {
				assert.Contains(t, err.Error(), want)
			}

			_, err = s.apply(t, ns, pinnedMilvus("my-release", repo+"v2.4.23", "", repo+"v2.4.23"))
			require.Error(t, err, "a pin moved across the boundary is not held")
			assert.Contains(t, err.Error(), `spec.components.proxy.image: Invalid value: "`+repo+`v2.4.23": [MU-META] v2.1.4 → v2.4.23`)
			assert.NotContains(t, err.Error(), "MU-SPLIT-META")

			sentinel := controllerCaughtUp(t, ns)
			assert.Equal(t, []string{sentinel}, upgrades(t, ns), "nothing generated for my-release")
			assert.Equal(t, rv, resourceVersion(t, ns, "my-release"), "nothing stored")
			assert.Empty(t, intentOn(t, ns))
			assert.Empty(t, eventsAbout(t, ns, "my-release"))

			// Without the pin: held and generated.
			stderr := s.mustApply(t, ns, pinnedMilvus("my-release", repo+"v2.4.23", "", ""))
			if s.name == "kubectl apply" {
				assert.Contains(t, stderr, "Warning: [MU-META] spec.components.image: held; MilvusUpgrade "+plannedName+" migrates to v2.2.16 first")
			}
			obj := getJSON(t, ns, "milvus", "my-release")
			assert.Equal(t, repo+"v2.1.4", at(obj, "spec", "components", "image"), "held")
			assert.Nil(t, at(obj, "spec", "components", "proxy", "image"), "the pin is gone")
			assert.Equal(t, repo+"v2.4.23", annotation(t, ns, intentRequestedImage))
			awaitUpgrades(t, ns, plannedName, sentinel)
			awaitEvent(t, ns, "my-release", "MigrationPlanned", plannedName)
		})
	}
}

// A Milvus pinned by spec.components.version converges: held (image and
// version kept), migrated by the operator, whose hand-off of the target
// image moves the pin with it; then git's manifest rolls on and stays in sync.
func TestVersionPinConverges(t *testing.T) {
	grantOperator(t)
	const (
		from    = "registry.internal/milvus:build-7a1"
		to      = "registry.internal/milvus:build-9c3"
		handOff = "registry.internal/milvus:v2.2.16"
	)
	for _, s := range pathSyncers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			s.mustApply(t, ns, pinnedMilvus("my-release", from, "v2.1.4", ""))
			// The operator reports what runs; it lags behind until every
			// component is Ready again.
			kubectl(t, nil, "-n", ns, "patch", "milvus", "my-release", "--subresource=status", "--type=merge", "--as", operatorSA,
				"-p", `{"status":{"currentImage":"`+from+`","currentVersion":"v2.1.4"}}`)

			manifest := pinnedMilvus("my-release", to, "v2.4.23", "")
			stderr := s.mustApply(t, ns, manifest)
			if s.name == "kubectl apply" {
				assert.Contains(t, stderr, "Warning: [MU-META] spec.components.version: held; MilvusUpgrade "+plannedName+" migrates to v2.2.16 first")
			}
			obj := getJSON(t, ns, "milvus", "my-release")
			assert.Equal(t, from, at(obj, "spec", "components", "image"), "image held")
			assert.Equal(t, "v2.1.4", at(obj, "spec", "components", "version"), "version held")
			assert.Equal(t, map[string]any{
				intentRequestedImage:   to,
				intentRequestedVersion: "v2.4.23",
				intentPlannedUpgrade:   plannedName,
				intentMigrationTarget:  "v2.2.16",
			}, intentOn(t, ns))
			awaitUpgrades(t, ns, plannedName)
			spec := at(getJSON(t, ns, "milvusupgrade", plannedName), "spec").(map[string]any)
			assert.Equal(t, "v2.1.4", spec["sourceVersion"])
			assert.Equal(t, "v2.2.16", spec["targetVersion"])
			require.Equal(t, handOff, spec["targetImage"], "in the Milvus's own registry")

			// The operator executes it and hands the migrated image over.
			operatorStatus(t, ns, plannedName, `{"status":{"state":"OldVersionStopping","sourceImage":"`+from+`"}}`)
			operatorStatus(t, ns, plannedName, `{"status":{"state":"UpdatingMeta"}}`)
			operatorStatus(t, ns, plannedName, `{"status":{"state":"NewVersionStarting"}}`)
			eventually(t, "the operator writes targetImage", func() error {
				_, err := setImage(ns, handOff, operatorSA)
				return err
			})
			obj = getJSON(t, ns, "milvus", "my-release")
			assert.Equal(t, handOff, at(obj, "spec", "components", "image"))
			assert.Equal(t, "v2.2.16", at(obj, "spec", "components", "version"), "the pin moves with the hand-off")
			operatorStatus(t, ns, plannedName, `{"status":{"state":"Succeeded"}}`)
			eventually(t, "the controller clears the intent", func() error {
				if in := intentOn(t, ns); len(in) != 0 {
					return fmt.Errorf("intent: %v", in)
				}
				return nil
			})
			awaitEvent(t, ns, "my-release", "MigrationSucceeded", plannedName)

			// Git's manifest, synced again while status.currentVersion still
			// says v2.1.4: a rolling upgrade from the migrated v2.2.16.
			stderr = s.mustApply(t, ns, manifest)
			assert.NotContains(t, stderr, "MU-META")
			obj = getJSON(t, ns, "milvus", "my-release")
			assert.Equal(t, to, at(obj, "spec", "components", "image"), "git wins")
			assert.Equal(t, "v2.4.23", at(obj, "spec", "components", "version"), "git wins")
			assert.Empty(t, intentOn(t, ns), "not held again")
			assert.Equal(t, []string{plannedName}, upgrades(t, ns))

			// And it stays in sync.
			if s.name == "flux ssa" {
				cs, err := fluxManager().ApplyAll(context.Background(), readObjects(t, ns, manifest), ssa.DefaultApplyOptions())
				require.NoError(t, err)
				for _, e := range cs.Entries {
					assert.Equal(t, ssa.UnchangedAction, e.Action, "second sync of %s", e.Subject)
				}
			} else {
				out, _ := kubectl(t, manifest, "-n", ns, "apply", "-f", "-")
				assert.Contains(t, out, "unchanged")
			}
			obj = getJSON(t, ns, "milvus", "my-release")
			assert.Equal(t, to, at(obj, "spec", "components", "image"))
			assert.Equal(t, "v2.4.23", at(obj, "spec", "components", "version"))
		})
	}
}

// A MilvusUpgrade re-applied with another targetVersion before the operator
// starts gets the targetImage of the new version, which the webhook had
// injected for the old one.
func TestMilvusUpgradeRetargetBeforeStart(t *testing.T) {
	for _, s := range pathSyncers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			kubectl(t, pinnedMilvus("my-release", repo+"v2.1.4", "", ""), "-n", ns, "apply", "-f", "-")
			s.mustApply(t, ns, webhooktest.UpgradeManifest("my-upgrade", "my-release", "v2.1.4", "v2.2.16"))
			assert.Equal(t, repo+"v2.2.16", at(getJSON(t, ns, "milvusupgrade", "my-upgrade"), "spec", "targetImage"))

			s.mustApply(t, ns, webhooktest.UpgradeManifest("my-upgrade", "my-release", "v2.1.4", "v2.2.5"))
			spec := at(getJSON(t, ns, "milvusupgrade", "my-upgrade"), "spec")
			assert.Equal(t, "v2.2.5", at(spec.(map[string]any), "targetVersion"))
			assert.Equal(t, repo+"v2.2.5", at(spec.(map[string]any), "targetImage"), "the injected image follows the version")
		})
	}
}

// MU-UP-ONE: a MilvusUpgrade that has not started is refused while another
// of the same Milvus is unfinished, generated or made by hand.
func TestOneUpgradeAtATime(t *testing.T) {
	denied := func(t *testing.T, ns, name, target, atWork, state string) {
		t.Helper()
		for _, s := range pathSyncers {
			eventually(t, s.name+" of "+name+" is denied", func() error {
				_, err := s.apply(t, ns, webhooktest.UpgradeManifest(name, "my-release", "v2.1.4", target))
				if err == nil {
					return fmt.Errorf("allowed")
				}
				for _, want := range []string{"[MU-UP-ONE]", "MilvusUpgrade " + ns + "/" + atWork + " already works on Milvus my-release (" + state + ")"} {
					if !strings.Contains(err.Error(), want) {
						return fmt.Errorf("%q lacks %q", err, want)
					}
				}
				return nil
			})
		}
	}
	t.Run("a generated one that has not started", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		kubectl(t, pinnedMilvus("my-release", repo+"v2.1.4", "", ""), "-n", ns, "apply", "-f", "-")
		kubectl(t, pinnedMilvus("my-release", repo+"v2.4.23", "", ""), "-n", ns, "apply", "-f", "-")
		awaitUpgrades(t, ns, plannedName)
		denied(t, ns, "by-hand", "v2.2.16", plannedName, "not started yet")
		assert.Equal(t, []string{plannedName}, upgrades(t, ns))
	})
	t.Run("a hand-made one that has started", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		kubectl(t, pinnedMilvus("my-release", repo+"v2.1.4", "", ""), "-n", ns, "apply", "-f", "-")
		kubectl(t, webhooktest.UpgradeManifest("first", "my-release", "v2.1.4", "v2.2.16"), "-n", ns, "apply", "-f", "-")
		kubectl(t, nil, "-n", ns, "patch", "milvusupgrade", "first", "--subresource=status", "--type=merge",
			"-p", `{"status":{"state":"BackupMeta"}}`)
		denied(t, ns, "second", "v2.2.5", "first", "state BackupMeta")
		assert.Equal(t, []string{"first"}, upgrades(t, ns))
	})
}

// kubectl apply --server-side --force-conflicts takes a Milvus over from
// client-side apply with a change that is held. kubectl then sends a PATCH
// that moves the ownership of the fields; that is no revert, so the one
// generated MilvusUpgrade is never deleted.
func TestServerSideTakeover(t *testing.T) {
	ns := newNamespace(t)
	kubectl(t, pinnedMilvus("my-release", repo+"v2.1.4", "", ""), "-n", ns, "apply", "-f", "-")
	_, stderr := kubectl(t, pinnedMilvus("my-release", repo+"v2.4.23", "", ""), "-n", ns, "apply", "--server-side", "--force-conflicts", "-f", "-")
	assert.Contains(t, stderr, "Warning: [MU-META] spec.components.image: held; MilvusUpgrade "+plannedName+" migrates to v2.2.16 first")
	assert.NotContains(t, stderr, "cancelled")
	assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, "my-release"), "held")
	held := map[string]any{
		intentRequestedImage:  repo + "v2.4.23",
		intentPlannedUpgrade:  plannedName,
		intentMigrationTarget: "v2.2.16",
	}
	assert.Equal(t, held, intentOn(t, ns))

	// kubectl did take the fields over: client-side apply owns nothing now.
	out, _ := kubectl(t, nil, "-n", ns, "get", "milvus", "my-release", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}")
	managers := strings.Fields(out)
	assert.Contains(t, managers, "kubectl", "server-side apply owns fields")
	assert.NotContains(t, managers, "kubectl-client-side-apply", "ownership moved to server-side apply")

	awaitUpgrades(t, ns, plannedName)
	awaitEvent(t, ns, "my-release", "MigrationPlanned", plannedName)
	uid := uidOf(t, ns, "milvusupgrade", plannedName)

	sentinel := controllerCaughtUp(t, ns)
	got := upgrades(t, ns)
	slices.Sort(got)
	assert.Equal(t, []string{plannedName, sentinel}, got)
	assert.Equal(t, uid, uidOf(t, ns, "milvusupgrade", plannedName), "never deleted and recreated")
	assert.Empty(t, eventsWith(t, ns, "my-release", "MigrationCancelled", plannedName))
	assert.Equal(t, held, intentOn(t, ns))
}
