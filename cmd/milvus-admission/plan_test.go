package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
)

func runPlanArgs(stdin string, args ...string) (code int, stdout, stderr string) {
	return runArgs(stdin, append([]string{"plan"}, args...)...)
}

// planManifest is a Milvus as kubectl get prints it: another document
// before it, server-written fields, a status, fields we do not know, a
// private registry with a port, and a proxy pinned to 2.1.
const planManifest = `apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: milvus.io/v1beta1
kind: Milvus
metadata:
  name: my-release
  namespace: prod
  labels: {app: milvus}
  annotations: {team: search}
  resourceVersion: "42"
  uid: 0b9f4c4e-1111-2222-3333-444455556666
spec:
  mode: cluster
  config: {common: {security: {authorizationEnabled: true}}}
  dependencies: {msgStreamType: pulsar, pulsar: {inCluster: {values: {broker: {replicaCount: 3}}}}}
  components:
    image: harbor.example.com:8443/milvusdb/milvus:v2.1.4
    enableRollingUpdate: true
    resources: {limits: {memory: 8Gi}}
    proxy: {replicas: 2, image: harbor.example.com:8443/milvusdb/milvus:v2.1.3}
    futureField: keep-me
status:
  currentVersion: v2.1.4
  status: Healthy
`

func TestPlanText(t *testing.T) {
	code, stdout, stderr := runPlanArgs("", "--from", "v2.1.4", "--to", "v2.6.3")
	require.Equal(t, exitAllowed, code, stderr)
	assert.Equal(t, `v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3

1. v2.1.4 → v2.2.16 by MilvusUpgrade [MU-META]
   create a MilvusUpgrade with sourceVersion v2.1.4, targetVersion v2.2.16
   (or change the image to v2.2.16: with MU-META: generate the webhook holds it and has this MilvusUpgrade created)
   targetImage: milvusdb/milvus:v2.2.16
   why: 2.2 changed the metadata format and the migration tool only migrates 2.1.x → 2.2.x (MU-META-RANGE)
2. v2.2.16 → v2.5.16 by image (rollingUpgrade) [MU-26]
   change the image to v2.5.16
   image: milvusdb/milvus:v2.5.16
   why: 2.6 can only be reached from 2.5.16 or later
3. v2.5.16 → v2.6.3 by image (rollingUpgrade) [MU-26]
   change the image to v2.6.3 and set spec.components.mixCoord: {replicas: 1}
   image: milvusdb/milvus:v2.6.3
   why: a cluster runs mixCoord on 2.6
   warning: [MU-26-OPERATOR] Milvus 2.6 needs milvus-operator v1.3.0 or later; upgrade the operator first
`, stdout)
	assert.Empty(t, stderr)
}

func TestPlanTextCases(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "milvus.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(planManifest), 0o644))
	policyFile := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(policyFile, []byte("rules: {MU-30: off}\nmigrationWaypoint: v2.2.3\n"), 0o644))
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  []string // lines of stdout, in order
	}{
		{name: "standalone needs no mixCoord", args: []string{"--from", "v2.5.4", "--to", "v2.6.3", "--mode", "standalone"},
			want: []string{"v2.5.4 → v2.5.16 → v2.6.3", "   change the image to v2.6.3\n"}},
		{name: "images name the repository", args: []string{"--from", "reg:5000/m/milvus:v2.4.22", "--to", "reg:5000/m/milvus:v2.4.23"},
			want: []string{"v2.4.22 → v2.4.23", "image: reg:5000/m/milvus:v2.4.23"}},
		{name: "the policy file: MU-30 off, another waypoint", args: []string{"--from", "v2.1.4", "--to", "v3.0.5", "--policy", policyFile},
			want: []string{"v2.1.4 →MilvusUpgrade v2.2.3 → v2.5.16 → v3.0.5"}},
		{name: "a downgrade", args: []string{"--from", "v2.4.23", "--to", "2.4.22"},
			want: []string{"by image (rollingDowngrade) [MU-DOWN-MODE]", "set spec.components.imageUpdateMode: rollingDowngrade"}},
		{name: "nothing to do", args: []string{"--from", "v2.4.23", "--to", "milvusdb/milvus:2.4.23"}, want: []string{"v2.4.23: nothing to change"}},
		{name: "the manifest: pinned proxy, registry, queue change last", args: []string{"-f", manifest, "--to", "v2.6.3", "--msg-stream-type", "woodpecker"},
			want: []string{
				"v2.1.4 →MilvusUpgrade v2.2.16 → v2.5.16 → v2.6.3",
				"1. v2.1.4: spec only [MU-SPLIT-META]", "remove image and version from spec.components.proxy",
				"targetImage: harbor.example.com:8443/milvusdb/milvus:v2.2.16",
				"5. v2.6.3: spec only [MU-26]", "set spec.dependencies.msgStreamType: woodpecker",
			}},
		{name: "the manifest from stdin, --from agreeing", stdin: planManifest, args: []string{"-f", "-", "--from", "2.1.4", "--to", "v2.2.5"},
			want: []string{"v2.1.4 →MilvusUpgrade v2.2.5\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runPlanArgs(tc.stdin, tc.args...)
			require.Equal(t, exitAllowed, code, stderr)
			rest := stdout
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				require.GreaterOrEqual(t, i, 0, "%q in order in:\n%s", w, stdout)
				rest = rest[i+len(w):]
			}
		})
	}
}

// readDocs parses the YAML stream back: each document with the comment
// that leads it.
func readDocs(t *testing.T, stream string) (objs []map[string]any, comments []string) {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, comments
		}
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(doc), "# Step "), "every document is led by a comment naming its step: %s", doc)
		comments = append(comments, strings.SplitN(string(doc), "\n", 2)[0])
		obj, err := decodeYAML(doc)
		require.NoError(t, err)
		objs = append(objs, obj)
	}
}

// decodeInto reads obj into the typed view v.
func decodeInto[T any](t *testing.T, obj map[string]any, v *T) *T {
	t.Helper()
	data, err := json.Marshal(obj)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
	return v
}

// -o yaml: the manifests of each step, parsed back, keep every field of the
// file, and committed one by one pass the webhook's rules.
func TestPlanYAML(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "milvus.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(planManifest), 0o644))
	code, stdout, stderr := runPlanArgs("", "-f", manifest, "--to", "v2.6.3", "--msg-stream-type", "woodpecker", "-o", "yaml")
	require.Equal(t, exitAllowed, code, stderr)
	objs, comments := readDocs(t, stdout)

	var kinds, images []string
	for _, o := range objs {
		kinds = append(kinds, o["kind"].(string))
		img, _, _ := unstructured.NestedString(o, "spec", "components", "image")
		images = append(images, img)
	}
	const reg = "harbor.example.com:8443/milvusdb/milvus:"
	assert.Equal(t, []string{"Milvus", "MilvusUpgrade", "Milvus", "Milvus", "Milvus", "Milvus"}, kinds)
	assert.Equal(t, []string{reg + "v2.1.4", "", reg + "v2.2.16", reg + "v2.5.16", reg + "v2.6.3", reg + "v2.6.3"}, images)
	assert.Equal(t, []string{
		"# Step 1 of 5: v2.1.4: spec only [MU-SPLIT-META]. Commit.",
		"# Step 2 of 5: v2.1.4 → v2.2.16 by MilvusUpgrade [MU-META]. Apply this MilvusUpgrade and wait until its status.state is Succeeded: the operator migrates the metadata and writes the new image itself.",
		"# Step 2 of 5, then: commit the Milvus as the operator left it (image v2.2.16), so that git says what runs.",
		"# Step 3 of 5: v2.2.16 → v2.5.16 by image (rollingUpgrade) [MU-26]. Commit, and wait until status.currentVersion is v2.5.16.",
		"# Step 4 of 5: v2.5.16 → v2.6.3 by image (rollingUpgrade) [MU-26]. Commit, and wait until status.currentVersion is v2.6.3.",
		"# Step 5 of 5: v2.6.3: spec only [MU-26]. Commit.",
	}, comments)

	// The MilvusUpgrade, as the defaulting webhook completes it, and no label of ours.
	up := objs[1]
	assert.Equal(t, map[string]any{
		"milvus":        map[string]any{"name": "my-release", "namespace": "prod"},
		"sourceVersion": "v2.1.4", "targetVersion": "v2.2.16", "targetImage": reg + "v2.2.16",
		"toolImage": policy.Default().ToolImage, "maxRetry": json.Number("3"), "rollbackIfFailed": true, "operation": "upgrade",
	}, up["spec"])
	assert.Equal(t, map[string]any{"name": migration.UpgradeName("my-release", milvus.MustVersion("v2.2.16")), "namespace": "prod"}, up["metadata"])

	for i, o := range objs {
		if o["kind"] != "Milvus" {
			continue
		}
		// Every field of the file stays; what the server writes goes.
		md := o["metadata"].(map[string]any)
		assert.Equal(t, map[string]any{"app": "milvus"}, md["labels"], "doc %d", i)
		assert.Equal(t, map[string]any{"team": "search"}, md["annotations"], "doc %d", i)
		assert.NotContains(t, md, "resourceVersion")
		assert.NotContains(t, md, "uid")
		assert.NotContains(t, o, "status")
		for _, path := range [][]string{{"spec", "components", "futureField"}, {"spec", "config", "common", "security", "authorizationEnabled"},
			{"spec", "dependencies", "pulsar", "inCluster", "values", "broker", "replicaCount"}, {"spec", "components", "resources", "limits", "memory"},
			{"spec", "components", "proxy", "replicas"}} {
			_, found, err := unstructured.NestedFieldNoCopy(o, path...)
			assert.True(t, found && err == nil, "doc %d keeps %s", i, strings.Join(path, "."))
		}
	}
	_, pinned, _ := unstructured.NestedString(objs[0], "spec", "components", "proxy", "image")
	assert.False(t, pinned, "step 1 unpins the proxy")
	_, mixCoord, _ := unstructured.NestedMap(objs[3], "spec", "components", "mixCoord")
	assert.False(t, mixCoord, "no mixCoord before 2.6")
	assert.Equal(t, map[string]any{"replicas": json.Number("1")}, must(unstructured.NestedMap(objs[4], "spec", "components", "mixCoord")))
	mq := []string{}
	for _, o := range objs[2:] {
		v, _, _ := unstructured.NestedString(o, "spec", "dependencies", "msgStreamType")
		mq = append(mq, v)
	}
	assert.Equal(t, []string{"pulsar", "pulsar", "pulsar", "woodpecker"}, mq, "the queue changes once on 2.6")

	commitOneByOne(t, planManifest, objs)
}

func must[T any](v T, _ bool, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// commitOneByOne applies the documents in order through the webhook's rules,
// from the Milvus of the file: each Milvus as an update by a user after the
// operator reported the previous step done, each MilvusUpgrade as a create,
// which the operator then executes and hands over. Nothing is denied.
func commitOneByOne(t *testing.T, file string, objs []map[string]any) {
	t.Helper()
	p := policy.Default()
	old := decodeInto(t, milvusOf(t, file), &milvus.Milvus{})
	var upgrades []milvus.MilvusUpgrade
	for i, o := range objs {
		if o["kind"] == "MilvusUpgrade" {
			u := decodeInto(t, o, &milvus.MilvusUpgrade{})
			d := validate.Decide(validate.MilvusUpgrade(validate.UpgradeChange{New: u, Target: old, TargetUpgrades: upgrades}, p), p)
			require.True(t, d.Allowed(), "doc %d: %v", i, d.Errors)
			u.Status.State, u.Status.SourceImage = migration.StateSucceeded, old.Spec.Components.Image
			upgrades = append(upgrades, *u)
			continue
		}
		cur := decodeInto(t, o, &milvus.Milvus{})
		vs := validate.Milvus(validate.MilvusChange{Old: old, New: cur, User: "alice@example.com", Upgrades: upgrades}, p)
		d := validate.Decide(vs, p)
		require.True(t, d.Allowed(), "doc %d: %v", i, d.Errors)
		require.Nil(t, validate.HeldMigration(vs, p), "doc %d is not held", i)
		cur.Status = milvus.MilvusStatus{CurrentVersion: cur.Spec.Components.Global().Version.Tag(), Health: milvus.StatusHealthy}
		old = cur
	}
}

// milvusOf is the Milvus of a manifest stream.
func milvusOf(t *testing.T, stream string) map[string]any {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	for {
		doc, err := r.Read()
		require.NoError(t, err, "a Milvus in the stream")
		obj, err := decodeYAML(doc)
		require.NoError(t, err)
		if obj["kind"] == "Milvus" {
			return obj
		}
	}
}

func TestPlanFailures(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	manifest := write("milvus.yaml", planManifest)
	noMilvus := write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	latest := write("latest.yaml", "apiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata: {name: x}\nspec: {components: {image: milvusdb/milvus:latest}}\n")
	badPolicy := write("policy.yaml", "rules: {MU-NOPE: deny}\n")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{name: "1.x to 2.x", args: []string{"--from", "v1.1.1", "--to", "v2.4.23"}, code: exitDenied,
			stderr: "milvus-admission plan: no path from v1.1.1 to v2.4.23: [MU-MAJOR] 1.x ↔ 2.x is a data migration"},
		{name: "down across the metadata change", args: []string{"--from", "v2.2.16", "--to", "v2.1.4"}, code: exitDenied, stderr: "[MU-DOWN-META]"},
		{name: "down across minor versions", args: []string{"-f", manifest, "--to", "v2.0.2"}, code: exitDenied, stderr: "[MU-DOWN-MINOR]"},
		{name: "to latest", args: []string{"--from", "v2.4.23", "--to", "milvusdb/milvus:latest"}, code: exitDenied, stderr: "[MU-TARGET-UNKNOWN]"},
		{name: "to a digest", args: []string{"--from", "v2.4.23", "--to", "milvusdb/milvus@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, code: exitDenied,
			stderr: "pinned by digest only"},
		{name: "a manifest running latest", args: []string{"-f", latest, "--to", "v2.4.23"}, code: exitDenied, stderr: "[MU-SOURCE-UNKNOWN]"},
		{name: "a policy denying the downtime hop", args: []string{"--from", "v2.2.0", "--to", "v2.4.23", "--policy", write("rolling.yaml", "rules: {MU-ROLLING: deny}\n")},
			code: exitDenied, stderr: "[MU-ROLLING]"},
		{name: "no --to", args: []string{"--from", "v2.1.4"}, code: exitInput, stderr: "--to is required"},
		{name: "no --from, no -f", args: []string{"--to", "v2.4.23"}, code: exitInput, stderr: "--from is required without -f"},
		{name: "not a version", args: []string{"--from", "v2.x", "--to", "v2.4.23"}, code: exitInput, stderr: `"v2.x" is not a Milvus version`},
		{name: "unknown flag", args: []string{"--bogus"}, code: exitInput, stderr: "flag provided but not defined: -bogus"},
		{name: "unknown output", args: []string{"--from", "v2.1.4", "--to", "v2.4.23", "-o", "json"}, code: exitInput, stderr: "-o json: one of text, yaml"},
		{name: "yaml without a manifest", args: []string{"--from", "v2.1.4", "--to", "v2.4.23", "-o", "yaml"}, code: exitInput, stderr: "-o yaml needs the Milvus manifest"},
		{name: "bad mode", args: []string{"--from", "v2.1.4", "--to", "v2.4.23", "--mode", "cluster2"}, code: exitInput, stderr: "--mode cluster2"},
		{name: "a missing file", args: []string{"-f", filepath.Join(dir, "missing.yaml"), "--to", "v2.4.23"}, code: exitInput, stderr: "missing.yaml"},
		{name: "no Milvus in the file", args: []string{"-f", noMilvus, "--to", "v2.4.23"}, code: exitInput, stderr: "holds no milvus.io/v1beta1 Milvus"},
		{name: "two Milvuses", args: []string{"-f", write("two.yaml", planManifest+"---\n"+planManifest), "--to", "v2.4.23"}, code: exitInput, stderr: "more than one Milvus"},
		{name: "malformed YAML", args: []string{"-f", write("bad.yaml", "apiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata: [\n"), "--to", "v2.4.23"}, code: exitInput, stderr: "bad.yaml"},
		{name: "--from disagrees with the manifest", args: []string{"-f", manifest, "--from", "v2.1.3", "--to", "v2.4.23"}, code: exitInput,
			stderr: "--from v2.1.3, but the Milvus in " + manifest + " runs v2.1.4"},
		{name: "a bad policy", args: []string{"--from", "v2.1.4", "--to", "v2.4.23", "--policy", badPolicy}, code: exitInput, stderr: "rules.MU-NOPE: unknown rule ID"},
		{name: "a stray argument", args: []string{"--from", "v2.1.4", "--to", "v2.4.23", "milvus.yaml"}, code: exitInput, stderr: `unexpected argument "milvus.yaml"`},
		{name: "help", args: []string{"-h"}, code: exitAllowed, stderr: "Usage: milvus-admission plan"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runPlanArgs("", tc.args...)
			assert.Equal(t, tc.code, code, "stderr: %s", stderr)
			assert.Contains(t, stderr, tc.stderr)
			if code != exitAllowed {
				assert.Empty(t, stdout, "no plan on stdout")
			}
		})
	}
}
