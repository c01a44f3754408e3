package ha

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/internal/e2etest"
)

// A tenant who may write milvuses but not milvusupgrades cannot make the
// controller create a MilvusUpgrade of her choosing with its rights: her
// hand-written intent is denied, her image change gets exactly the planned
// migration, and in a namespace the webhooks do not cover (where nothing
// checks the annotations) the controller acts on no intent at all.
func TestTenantCannotBorrowTheController(t *testing.T) {
	ensureReplicas(t)
	const ns = "tenant-a"
	kubectl(t, nil, "create", "namespace", ns)
	t.Cleanup(func() { _, _, _ = env.Kubectl(context.Background(), nil, "delete", "namespace", ns, "--wait=false") })
	kubectl(t, e2etest.TenantRBAC(ns), "apply", "-f", "-")
	alice := func(args ...string) []string { return append(append([]string{"-n", ns}, args...), "--as=alice") }

	eventually(t, waitTimeout, "alice's Role is in force", func() error {
		out, _, _ := env.Kubectl(t.Context(), nil, alice("auth", "can-i", "update", "milvuses")...)
		if strings.TrimSpace(out) != "yes" {
			return fmt.Errorf("can alice update milvuses? %q", out)
		}
		return nil
	})
	out, _, err := env.Kubectl(t.Context(), nil, alice("auth", "can-i", "create", "milvusupgrades")...)
	require.Error(t, err, "alice may not create milvusupgrades")
	require.Equal(t, "no", strings.TrimSpace(out))

	const name = "vector-db"
	planned := name + "-migrate-v2-2-16"
	m := milvusManifest{name: name, image: repo + "v2.1.4"}
	kubectl(t, m.yaml(), alice("apply", "-f", "-")...)

	// (a) On an existing 2.1.4 Milvus, alice writes the intent herself: with
	// kubectl annotate on a Milvus made by kubectl apply (it carries kubectl's
	// last-applied-configuration, as every Milvus kept in git by kubectl or
	// Argo CD does) and on one made by kubectl create, and with kubectl apply
	// of her manifest with the annotations added.
	forgedIntent := map[string]string{
		annPlanned:   "anything",
		annTarget:    "v2.0.0",
		annRequested: repo + "v2.4.23",
	}
	created := milvusManifest{name: "created-db", image: repo + "v2.1.4"}
	kubectl(t, created.yaml(), alice("create", "-f", "-")...)
	annotate := func(target string) func() (string, error) {
		return func() (string, error) {
			args := []string{"annotate", "milvus", target}
			for _, k := range slices.Sorted(maps.Keys(forgedIntent)) {
				args = append(args, k+"="+forgedIntent[k])
			}
			_, stderr, err := tryKubectl(nil, alice(args...)...)
			return stderr, err
		}
	}
	forgeries := []struct {
		how, target string
		write       func() (string, error)
	}{
		{"kubectl annotate on an applied Milvus", name, annotate(name)},
		{"kubectl annotate on a created Milvus", created.name, annotate(created.name)},
		{"kubectl apply with the annotations", name, func() (string, error) {
			_, stderr, err := tryKubectl(milvusManifest{name: name, image: repo + "v2.1.4", annotations: forgedIntent}.yaml(), alice("apply", "-f", "-")...)
			return stderr, err
		}},
	}
	for _, f := range forgeries {
		t.Run("hand-written intent is denied: "+f.how, func(t *testing.T) {
			stderr, err := f.write()
			assert.Empty(t, intentOf(t, ns, f.target), "the hand-written intent is not stored")
			assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, f.target))
			require.Error(t, err, "MU-INTENT must deny a hand-written intent, but the write was admitted with: %s", stderr)
			assert.Contains(t, stderr, "[MU-INTENT]")
		})
	}

	t.Run("an image change gets exactly the planned MilvusUpgrade", func(t *testing.T) {
		m.image = repo + "v2.4.23"
		_, stderr := kubectl(t, m.yaml(), alice("apply", "-f", "-")...)
		assert.Contains(t, stderr, "Warning: [MU-META] spec.components.image: held; MilvusUpgrade "+planned+" migrates to v2.2.16 first")
		assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, name), "held")
		waitForUpgrades(t, ns, planned)
		up := getJSON(t, ns, "milvusupgrade", planned)
		assert.Equal(t, "v2.1.4", at(up, "spec", "sourceVersion"))
		assert.Equal(t, "v2.2.16", at(up, "spec", "targetVersion"))
		assert.Equal(t, repo+"v2.2.16", at(up, "spec", "targetImage"))
		assert.Equal(t, "milvus-admission", at(up, "metadata", "labels", "app.kubernetes.io/managed-by"))
	})

	t.Run("no intent is acted on in an excluded namespace", func(t *testing.T) {
		const excluded = "kube-system"
		// Written by hand, as admin: the webhooks do not cover kube-system,
		// so nothing denies these. One carries the values above, the other
		// exactly the plan the hold would make, so that only the namespace
		// tells it apart from a held change.
		forged := map[string]map[string]string{
			"forged": {
				annPlanned:   "anything",
				annTarget:    "v2.0.0",
				annRequested: repo + "v2.4.23",
			},
			"forged-plan": {
				annPlanned:   "forged-plan-migrate-v2-2-16",
				annTarget:    "v2.2.16",
				annRequested: repo + "v2.4.23",
			},
		}
		for name, anns := range forged {
			kubectl(t, milvusManifest{name: name, image: repo + "v2.1.4", annotations: anns}.yaml(), "-n", excluded, "create", "-f", "-")
			t.Cleanup(func() {
				_, _, _ = env.Kubectl(context.Background(), nil, "-n", excluded, "delete", "milvus", name, "--wait=false")
			})
		}
		for name := range forged {
			eventually(t, waitTimeout, "the controller refuses the intent of "+name, func() error {
				events := eventsFor(t, excluded, name)
				if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, "Warning MigrationInvalid: ") }) {
					return fmt.Errorf("events of %s: %q", name, events)
				}
				return nil
			})
		}
		assert.Contains(t, strings.Join(eventsFor(t, excluded, "forged-plan"), "\n"),
			"namespace kube-system is not covered by the milvus-admission webhooks")
		assert.Empty(t, upgrades(t, excluded), "no MilvusUpgrade in kube-system")
		assert.NotContains(t, strings.Join(eventsFor(t, excluded, "forged-plan"), "\n"), "MigrationPlanned")
	})
}
