// Command demo runs milvus-admission locally against a real control plane and
// walks through the upgrade procedures of the Milvus Operator docs: what was
// applied, what the webhook said, what was stored. The cluster then stays up
// for your own manifests until Ctrl-C.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/internal/operator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	start := time.Now()
	say("Starting etcd and kube-apiserver %s (built from source), the Milvus Operator CRDs, and the webhook…", cluster.KubeVersion)
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		return err
	}
	defer func() {
		say("Stopping the webhook, kube-apiserver and etcd…")
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stopping:", err)
		}
	}()
	say("Ready in %s. The webhook serves %s with the configurations from manifests/webhooks.yaml.\n", time.Since(start).Round(time.Second), c.WebhookURL)
	d := &demo{c: c, ctx: ctx}
	defer func() {
		if d.op != nil {
			say("Stopping the Milvus Operator…")
			d.op.Stop()
		}
	}()
	d.walkthrough()
	if d.err != nil {
		return d.err
	}

	say("\nThe cluster stays up for your own manifests:")
	say("  export KUBECONFIG=%s", c.Kubeconfig)
	say("  %s/kubectl apply -f ../shared/milvus-operator/samples/milvus_cluster_default.yaml", cluster.KubeBinDir())
	say("Webhook log: %s", c.WebhookLog)
	if d.op != nil {
		say("The Milvus Operator executes your MilvusUpgrades too (log: %s).", d.op.LogPath)
	}
	say("Press Ctrl-C to stop; everything is torn down.")
	<-ctx.Done()
	return nil
}

type demo struct {
	c   *cluster.Cluster
	op  *operator.Operator // the real Milvus Operator, from step 5
	ctx context.Context
	err error
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func (d *demo) step(title string) { say("\n━━ %s", title) }

// apply shows a manifest (or, for a change, only what changed in git),
// applies it and shows what kubectl printed.
func (d *demo) apply(manifest, change string) bool {
	if d.err != nil {
		return false
	}
	if change == "" {
		say("%s", indent(manifest, "   │ "))
	} else {
		say("   git change: %s", change)
	}
	return d.kubectl([]byte(manifest), "apply", "-f", "-")
}

// kubectl runs a command and prints it with its output; false when it failed.
func (d *demo) kubectl(stdin []byte, args ...string) bool {
	say("   $ kubectl %s", strings.Join(args, " "))
	out, stderr, err := d.c.Kubectl(d.ctx, stdin, args...)
	for _, s := range []string{out, stderr} {
		if s = strings.TrimSpace(s); s != "" {
			say("%s", indent(s, "     "))
		}
	}
	if err != nil {
		say("   ✗ rejected")
		return false
	}
	say("   ✓ accepted")
	return true
}

// show prints fields of the stored object.
func (d *demo) show(resource, name string, fields ...string) {
	out, _, err := d.c.Kubectl(d.ctx, nil, "get", resource, name, "-o", "json")
	if err != nil {
		d.err = fmt.Errorf("reading %s %s: %w", resource, name, err)
		return
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		d.err = err
		return
	}
	say("   stored in etcd:")
	for _, f := range fields {
		var cur any = obj
		for _, k := range strings.Split(f, ".") {
			m, _ := cur.(map[string]any)
			cur = m[k]
		}
		say("     %-32s %v", f, cur)
	}
}

// showIntent prints the migration intent annotations of a Milvus.
func (d *demo) showIntent(name string) {
	out, _, err := d.c.Kubectl(d.ctx, nil, "get", "milvus", name, "-o", "json")
	if err != nil {
		d.err = err
		return
	}
	var obj struct {
		Metadata struct{ Annotations map[string]string } `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		d.err = err
		return
	}
	found := false
	for _, k := range slices.Sorted(maps.Keys(obj.Metadata.Annotations)) {
		if strings.HasPrefix(k, "milvus-admission.io/") {
			say("     %-40s %s", k, obj.Metadata.Annotations[k])
			found = true
		}
	}
	if !found {
		say("     (no migration intent annotations)")
	}
}

// expect records a demo step whose outcome differs from the docs.
func (d *demo) expect(ok, want bool, what string) {
	if d.err == nil && ok != want {
		d.err = fmt.Errorf("unexpected outcome: %s", what)
	}
}

func milvus(name, image, extra string) string {
	return fmt.Sprintf("apiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  mode: cluster\n  dependencies: {msgStreamType: pulsar}\n  components:\n    image: %s\n    mixCoord: {replicas: 1}\n%s", name, image, extra)
}

// components gives every component of a cluster with mixCoord its replicas.
const components = "    proxy: {replicas: 1}\n    dataNode: {replicas: 1}\n    queryNode: {replicas: 1}\n    indexNode: {replicas: 1}\n    standalone: {replicas: 0}\n"

func (d *demo) walkthrough() {
	d.step("1. Rolling upgrade 2.2.3 → 2.4.23 with enableRollingUpdate (Milvus docs, procedure 1)")
	rolling := "    enableRollingUpdate: true\n"
	d.expect(d.apply(milvus("rolling", "milvusdb/milvus:v2.2.3", rolling), ""), true, "create rolling")
	d.show("milvus", "rolling", "spec.components.image", "spec.components.imageUpdateMode")
	say("   (imageUpdateMode was injected by the mutating webhook)")
	d.expect(d.apply(milvus("rolling", "milvusdb/milvus:v2.4.23", rolling), "spec.components.image → v2.4.23"), true, "rolling upgrade")

	d.step("2. Image change from 2.2.0: allowed, with a downtime warning (procedure 2)")
	d.expect(d.apply(milvus("legacy-220", "milvusdb/milvus:v2.2.0", ""), ""), true, "create 2.2.0")
	d.expect(d.apply(milvus("legacy-220", "milvusdb/milvus:v2.4.23", ""), "spec.components.image → v2.4.23"), true, "2.2.0 → 2.4.23")

	d.step("3. 2.1.4 → 2.4.23 by image would lose the indexes: the webhook holds it (procedure 3)")
	say("   (every component's replicas are set: the operator's upgrade scales them to 0 and back; its Milvus\n    reconciler, which would default them and deploy Milvus, does not run here)")
	d.expect(d.apply(milvus("my-release", "milvusdb/milvus:v2.1.4", components), ""), true, "create 2.1.4")
	d.expect(d.apply(milvus("my-release", "milvusdb/milvus:v2.4.23", components), "spec.components.image → v2.4.23"), true, "2.1.4 → 2.4.23 held")
	d.show("milvus", "my-release", "spec.components.image")
	d.showIntent("my-release")
	say("   The controller (acting on the stored object, never on a request) creates the planned MilvusUpgrade:")
	const planned = "my-release-migrate-v2-2-16"
	d.waitFor("milvusupgrade", planned)
	d.show("milvusupgrade", planned, "spec.sourceVersion", "spec.targetVersion", "spec.targetImage", "spec.toolImage", "spec.maxRetry", "spec.rollbackIfFailed", "metadata.ownerReferences")

	d.step("4. The docs' own MilvusUpgrade straight to 2.4.23 would fail in the migration tool: denied")
	d.expect(d.apply(`apiVersion: milvus.io/v1beta1
kind: MilvusUpgrade
metadata:
  name: by-hand
  namespace: default
spec:
  milvus: {name: my-release}
  sourceVersion: v2.1.4
  targetVersion: v2.4.23
`, ""), false, "upgrade to 2.4.23 denied")

	d.step("5. The real Milvus Operator executes the MilvusUpgrade, as its own ServiceAccount")
	d.runOperator(planned)
	d.show("milvus", "my-release", "spec.components.image", "spec.components.mixCoord.replicas")
	say("   The controller sees the upgrade Succeeded and clears the intent:")
	d.waitForNoAnnotation("milvus", "my-release", "milvus-admission.io/planned-upgrade")
	d.showIntent("my-release")
	d.kubectl(nil, "get", "events", "--field-selector", "involvedObject.name=my-release", "-o", "custom-columns=REASON:.reason,MESSAGE:.message")

	d.step("6. The next sync of git's 2.4.23 is a legal rolling upgrade from 2.2.16: git wins")
	d.expect(d.apply(milvus("my-release", "milvusdb/milvus:v2.4.23", components), "none: git still says v2.4.23, synced again"), true, "2.2.16 → 2.4.23")
	d.show("milvus", "my-release", "spec.components.image")

	d.step("7. Before the cluster: the same rules in CI (check) and the whole path (plan)")
	d.expect(d.cli("check", milvus("my-release", "milvusdb/milvus:v2.6.3", components), "--live", "--kubeconfig", d.c.Kubeconfig), false, "check 2.4.23 → 2.6.3 denied")
	d.expect(d.cli("plan", "", "--from", "v2.4.23", "--to", "v2.6.3"), true, "plan 2.4.23 → 2.6.3")
}

// cli runs bin/milvus-admission (make demo builds it) with args, the manifest
// (if any) written to a file and passed last; false when it exits non-zero.
func (d *demo) cli(sub, manifest string, args ...string) bool {
	if d.err != nil {
		return false
	}
	args = append([]string{sub}, args...)
	shown := slices.Clone(args)
	if manifest != "" {
		file := filepath.Join(d.c.Dir, "git-change.yaml")
		if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
			d.err = err
			return false
		}
		say("   git change: spec.components.image → v2.6.3 (file %s)", file)
		args = append(args, file)
		shown = append(shown, "git-change.yaml")
	}
	for i, a := range shown {
		if a == d.c.Kubeconfig {
			shown[i] = "$KUBECONFIG"
		}
	}
	say("   $ bin/milvus-admission %s", strings.Join(shown, " "))
	out, err := exec.CommandContext(d.ctx, filepath.Join("bin", "milvus-admission"), args...).CombinedOutput()
	say("%s", indent(strings.TrimSpace(string(out)), "     "))
	var exit *exec.ExitError
	switch {
	case err == nil:
		say("   ✓ exit 0")
		return true
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		say("   ✗ exit 1: denied, before any cluster saw it")
		return false
	default:
		d.err = fmt.Errorf("bin/milvus-admission %s: %w (make demo builds it)", sub, err)
		return false
	}
}

// runOperator builds the real Milvus Operator (hack/operator/build.sh:
// cached after the first time), starts it as its own ServiceAccount and
// prints its MilvusUpgrade state machine advancing on upgrade.
func (d *demo) runOperator(upgrade string) {
	if d.err != nil {
		return
	}
	say("   Building it from ../shared/milvus-operator/src with hack/operator/build.sh (cached after the first time)…")
	build := exec.CommandContext(d.ctx, "bash", filepath.Join(cluster.RepoRoot(), "hack", "operator", "build.sh"))
	build.Stderr = os.Stderr
	out, err := build.Output()
	if err != nil {
		d.err = fmt.Errorf("building the Milvus Operator: %w", err)
		return
	}
	start := time.Now()
	states, err := operator.RecordStates(d.ctx, d.c.Config, "default")
	if err != nil {
		d.err = err
		return
	}
	if d.op, err = operator.Start(d.ctx, d.c, operator.Options{Dir: strings.TrimSpace(string(out))}); err != nil {
		d.err = err
		return
	}
	say("   It runs as %s, bound to its own ClusterRole manager-role (config/rbac/role.yaml),", d.op.Identity)
	say("   with only its MilvusUpgrade controller (--stop-reconcilers=milvuscluster,milvus). Log: %s", d.op.LogPath)
	say("   No node runs here: a stand-in kubelet ends the operator's task Pods Succeeded, and back-dates")
	say("   milvus.io/stopped-at so that the one-minute wait for stopped components to deregister passes")
	say("   at the operator's next 30 s requeue. The state machine, as a watch sees it:")
	var seenStates, seenActions int
	final := ""
	d.poll(3*time.Minute, func() bool {
		// What happened since the last look, in the order it happened.
		type line struct {
			at   time.Time
			text string
		}
		var lines []line
		for _, t := range states.Transitions(upgrade)[seenStates:] {
			lines = append(lines, line{t.At, t.State})
			seenStates++
		}
		for _, a := range d.op.Kubelet.Actions("default")[seenActions:] {
			lines = append(lines, line{a.At, "  kubelet: " + a.Text})
			seenActions++
		}
		slices.SortStableFunc(lines, func(a, b line) int { return a.at.Compare(b.at) })
		for _, l := range lines {
			say("     %5.1fs  %s", l.at.Sub(start).Seconds(), l.text)
		}
		final = states.Current(upgrade)
		return slices.Contains([]string{"Succeeded", "BakupMetaFailed", "UpdateMetaFailed", "RollbackedSucceeded", "RollbackFailed"}, final)
	}, "the operator to finish "+upgrade)
	if d.err == nil && final != "Succeeded" {
		d.err = fmt.Errorf("the operator ended %s in state %s (conditions: %s); log: %s", upgrade, final, states.Conditions(upgrade), d.op.LogPath)
	}
}

// waitFor waits up to 15 s for an object to exist.
func (d *demo) waitFor(resource, name string) {
	d.poll(15*time.Second, func() bool {
		_, _, err := d.c.Kubectl(d.ctx, nil, "get", resource, name)
		return err == nil
	}, resource+" "+name+" to appear")
}

// waitForNoAnnotation waits up to 15 s for an annotation to be gone.
func (d *demo) waitForNoAnnotation(resource, name, key string) {
	d.poll(15*time.Second, func() bool {
		out, _, err := d.c.Kubectl(d.ctx, nil, "get", resource, name, "-o", "jsonpath={.metadata.annotations}")
		return err == nil && !strings.Contains(out, key)
	}, key+" to be cleared")
}

func (d *demo) poll(timeout time.Duration, done func() bool, what string) {
	if d.err != nil {
		return
	}
	err := wait.PollUntilContextTimeout(d.ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return done(), nil
	})
	switch {
	case err == nil:
	case d.ctx.Err() != nil:
		d.err = d.ctx.Err()
	default:
		d.err = fmt.Errorf("waited %s for %s", timeout, what)
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
