package check

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// milvusYAML is a Milvus manifest as a user keeps it in git.
func milvusYAML(name, image string, extra ...string) string {
	return fmt.Sprintf(`apiVersion: milvus.io/v1beta1
kind: Milvus
metadata:
  name: %s
spec:
  mode: cluster
  dependencies:
    msgStreamType: pulsar
  components:
    image: %s
%s    mixCoord:
      replicas: 1
`, name, image, strings.Join(extra, ""))
}

// parse reads a manifest as file "f.yaml".
func parse(t *testing.T, file, manifest string) []Object {
	t.Helper()
	objs, err := Parse(Source{Name: file, Data: []byte(manifest)}, "default")
	require.NoError(t, err)
	return objs
}

// judge runs check of change over base (manifests; nil: no base).
func judge(t *testing.T, base, change string) *Report {
	t.Helper()
	b := Base{Name: "none"}
	if base != "" {
		b = Base{Name: "base.yaml", Objects: parse(t, "base.yaml", base)}
	}
	r, err := Run(context.Background(), Options{}, b, parse(t, "f.yaml", change))
	require.NoError(t, err)
	return r
}

func rulesOf(fes []FieldError) []string {
	var out []string
	for _, fe := range fes {
		out = append(out, fe.Rule)
	}
	return out
}

func TestJudge(t *testing.T) {
	const rolling = "    enableRollingUpdate: true\n"
	tests := []struct {
		name         string
		base, change string
		decision     Decision
		operation    string
		denied       []string // rules of the field errors
		warned       []string // rules of the warnings
		patched      []string // paths of the mutating patch
		lines        map[string]int
	}{{
		name:   "create: defaulted and allowed",
		change: milvusYAML("m", "milvusdb/milvus:v2.4.23"), decision: Allowed, operation: "CREATE",
		patched: []string{"/spec/components/imageUpdateMode"},
	}, {
		name:   "create: a pre-release warns",
		change: milvusYAML("m", "milvusdb/milvus:v2.6.0-rc1"), decision: Allowed, operation: "CREATE",
		warned: []string{"MU-PRERELEASE"}, patched: []string{"/spec/components/imageUpdateMode"},
		lines: map[string]int{"MU-PRERELEASE": 10},
	}, {
		name: "update: a rolling upgrade 2.2.3 → 2.4.23",
		base: milvusYAML("m", "milvusdb/milvus:v2.2.3", rolling), change: milvusYAML("m", "milvusdb/milvus:v2.4.23", rolling),
		decision: Allowed, operation: "UPDATE",
	}, {
		name: "update: from 2.2.0 warns of downtime, at the image's line",
		base: milvusYAML("m", "milvusdb/milvus:v2.2.0"), change: milvusYAML("m", "milvusdb/milvus:v2.4.23"),
		decision: Allowed, operation: "UPDATE", warned: []string{"MU-ROLLING"}, lines: map[string]int{"MU-ROLLING": 10},
	}, {
		name: "update: a bad jump 2.4.23 → 2.6.3 is denied at the image's line",
		base: milvusYAML("m", "milvusdb/milvus:v2.4.23"), change: milvusYAML("m", "milvusdb/milvus:v2.6.3"),
		decision: Denied, operation: "UPDATE", denied: []string{"MU-26"}, warned: []string{"MU-26-OPERATOR"},
		lines: map[string]int{"MU-26": 10},
	}, {
		name: "update: 2.1.4 → 2.4.23 is held",
		base: milvusYAML("m", "milvusdb/milvus:v2.1.4"), change: milvusYAML("m", "milvusdb/milvus:v2.4.23"),
		decision: Held, operation: "UPDATE", warned: []string{"MU-META", "MU-META"}, // the hold, then the path
		patched: []string{"/spec/components/image", "/metadata/annotations/milvus-admission.io~1requested-image",
			"/metadata/annotations/milvus-admission.io~1planned-upgrade", "/metadata/annotations/milvus-admission.io~1migration-target"},
	}, {
		name: "update: unchanged, kubectl sends nothing",
		base: milvusYAML("m", "milvusdb/milvus:v2.1.4"), change: milvusYAML("m", "milvusdb/milvus:v2.1.4"),
		decision: Unchanged, operation: "UPDATE",
	}, {
		name: "update: nothing the rules read changed, the webhook is not called",
		base: milvusYAML("m", "milvusdb/milvus:v2.1.4"), change: milvusYAML("m", "milvusdb/milvus:v2.1.4", "    replicas: 3\n"),
		decision: Allowed, operation: "UPDATE",
	}, {
		name:     "MilvusUpgrade straight to 2.4.23 is denied at targetVersion's line",
		base:     milvusYAML("my-release", "harbor.example.com:8443/milvusdb/milvus:v2.1.4"),
		change:   string(webhooktest.UpgradeManifest("up", "my-release", "v2.1.4", "v2.4.23")),
		decision: Denied, operation: "CREATE", denied: []string{"MU-META-RANGE"}, lines: map[string]int{"MU-META-RANGE": 9},
		patched: []string{"/spec/toolImage", "/spec/maxRetry", "/spec/rollbackIfFailed", "/spec/operation", "/spec/milvus/namespace", "/spec/targetImage"},
	}, {
		name:   "MilvusUpgrade for a Milvus not in the base warns",
		change: string(webhooktest.UpgradeManifest("up", "my-release", "v2.1.4", "v2.2.16")), decision: Allowed, operation: "CREATE", warned: []string{"MU-UP-TARGET"},
		patched: []string{"/spec/toolImage", "/spec/maxRetry", "/spec/rollbackIfFailed", "/spec/operation", "/spec/milvus/namespace", "/spec/targetImage"},
		lines:   map[string]int{"MU-UP-TARGET": 7},
	}, {
		name:     "MilvusUpgrade: sourceVersion read from the base Milvus",
		base:     milvusYAML("my-release", "milvusdb/milvus:v2.1.4"),
		change:   string(webhooktest.UpgradeManifest("up", "my-release", "v2.1.3", "v2.2.16")),
		decision: Denied, operation: "CREATE", denied: []string{"MU-UP-SRC"}, lines: map[string]int{"MU-UP-SRC": 8},
		patched: []string{"/spec/toolImage", "/spec/maxRetry", "/spec/rollbackIfFailed", "/spec/operation", "/spec/milvus/namespace", "/spec/targetImage"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := judge(t, tt.base, tt.change)
			require.Len(t, r.Results, 1)
			res := r.Results[0]
			assert.Equal(t, tt.decision, res.Decision)
			assert.Equal(t, tt.operation, res.Operation)
			assert.Equal(t, tt.denied, rulesOf(res.FieldErrors), "denied rules")
			var warned, patched []string
			lines := map[string]int{}
			for _, w := range res.Warnings {
				warned = append(warned, w.Rule)
				lines[w.Rule] = w.Line
			}
			for _, fe := range res.FieldErrors {
				lines[fe.Rule] = fe.Line
			}
			for _, op := range res.Patch {
				patched = append(patched, op.Path)
			}
			assert.Equal(t, tt.warned, warned, "warned rules")
			assert.ElementsMatch(t, tt.patched, patched, "patch")
			for rule, line := range tt.lines {
				assert.Equal(t, line, lines[rule], "line of %s", rule)
			}
			assert.Equal(t, tt.decision == Denied, r.Denied())
			if tt.decision == Denied {
				assert.Contains(t, res.ServerMessage, `admission webhook "validate.`)
				assert.Contains(t, res.Message, " is invalid: ")
			}
		})
	}
}

func TestHeldShowsTheGeneratedUpgrade(t *testing.T) {
	r := judge(t, milvusYAML("my-release", "harbor.example.com:8443/milvusdb/milvus:v2.1.4"),
		milvusYAML("my-release", "harbor.example.com:8443/milvusdb/milvus:v2.4.23"))
	res := r.Results[0]
	require.Equal(t, Held, res.Decision)
	assert.Equal(t, []string{"MU-META"}, res.Rules)
	assert.Empty(t, res.GeneratedRefused)
	spec := res.Generated["spec"].(map[string]any)
	assert.Equal(t, "my-release-migrate-v2-2-16", res.Generated["metadata"].(map[string]any)["name"])
	assert.Equal(t, map[string]any{
		"milvus":           map[string]any{"name": "my-release", "namespace": "default"},
		"sourceVersion":    "v2.1.4",
		"targetVersion":    "v2.2.16",
		"targetImage":      "harbor.example.com:8443/milvusdb/milvus:v2.2.16",
		"toolImage":        "milvusdb/meta-migration:v2.2.0",
		"operation":        "upgrade",
		"maxRetry":         float64(3),
		"rollbackIfFailed": true,
	}, spec, "built from the held Milvus, defaulted by the webhook")
	for _, op := range res.Patch {
		if op.Path == "/spec/components/image" {
			assert.Equal(t, "harbor.example.com:8443/milvusdb/milvus:v2.1.4", op.Value, "the stored image is kept")
		}
	}
}

// With MU-META: deny (a policy file) the same change is denied, not held.
func TestPolicyChangesTheDecision(t *testing.T) {
	pol, err := policy.Parse([]byte("rules:\n  MU-META: deny\n"))
	require.NoError(t, err)
	base := Base{Name: "b", Objects: parse(t, "b.yaml", milvusYAML("m", "milvusdb/milvus:v2.1.4"))}
	r, err := Run(context.Background(), Options{Policy: pol}, base, parse(t, "f.yaml", milvusYAML("m", "milvusdb/milvus:v2.4.23")))
	require.NoError(t, err)
	assert.Equal(t, Denied, r.Results[0].Decision)
	assert.Equal(t, []string{"MU-META"}, rulesOf(r.Results[0].FieldErrors))
}

// A live base carries the status: the running version is judged too, and
// an operator identity's writes are what the operator may do.
func TestLiveBaseReadsTheStatus(t *testing.T) {
	live := parse(t, "live", milvusYAML("m", "milvusdb/milvus:v2.5.16"))
	var obj map[string]any
	require.NoError(t, json.Unmarshal(live[0].JSON, &obj))
	obj["status"] = map[string]any{"currentImage": "milvusdb/milvus:v2.5.4", "currentVersion": "v2.5.4"}
	live[0].JSON, _ = json.Marshal(obj)
	change := parse(t, "f.yaml", milvusYAML("m", "milvusdb/milvus:v2.6.3"))

	r, err := Run(context.Background(), Options{}, Base{Name: "live", Live: true, Objects: live}, change)
	require.NoError(t, err)
	assert.Equal(t, Denied, r.Results[0].Decision, "2.5.4 runs: 2.6 is out of reach")
	assert.Contains(t, r.Results[0].FieldErrors[0].Message, "status.currentVersion")

	r, err = Run(context.Background(), Options{}, Base{Name: "files", Objects: parse(t, "b.yaml", milvusYAML("m", "milvusdb/milvus:v2.5.16"))}, change)
	require.NoError(t, err)
	assert.Equal(t, Allowed, r.Results[0].Decision, "manifests carry no status: judged from the spec")
}

// The operator-identity rules read the user name.
func TestUserIsTheRequestsUser(t *testing.T) {
	base := parse(t, "b.yaml", milvusYAML("m", "milvusdb/milvus:v2.2.16")+"---\n"+string(webhooktest.UpgradeManifest("m-up", "m", "v2.1.4", "v2.2.16")))
	// The base upgrade rolls back: as the operator, writing its source image passes.
	var up map[string]any
	require.NoError(t, json.Unmarshal(base[1].JSON, &up))
	up["spec"].(map[string]any)["operation"] = "rollback"
	up["status"] = map[string]any{"state": "RollbackOldVersionStarting", "sourceImage": "milvusdb/milvus:v2.1.4"}
	base[1].JSON, _ = json.Marshal(up)
	for i := range base {
		var o map[string]any
		require.NoError(t, json.Unmarshal(base[i].JSON, &o))
		base[i].JSON, _ = json.Marshal(o)
	}
	change := parse(t, "f.yaml", milvusYAML("m", "milvusdb/milvus:v2.1.4"))
	b := Base{Name: "live", Live: true, Objects: base}

	r, err := Run(context.Background(), Options{User: "jane"}, b, change)
	require.NoError(t, err)
	assert.Equal(t, "jane", r.User)
	asOperator, err := Run(context.Background(), Options{User: "system:serviceaccount:milvus-operator:milvus-operator"}, b, change)
	require.NoError(t, err)
	assert.Equal(t, Allowed, asOperator.Results[0].Decision)
	assert.Empty(t, asOperator.Results[0].Warnings, "a listed identity: no MU-UP-IDENTITY")
	assert.NotEqual(t, asOperator.Results[0].Warnings, r.Results[0].Warnings, "the user name changes the answer")
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, manifest, want string
	}{{
		name:     "malformed YAML: the line in the stream",
		manifest: "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata:\n  name: m\n spec: [\n",
		want:     "f.yaml:7: yaml: did not find expected key",
	}, {
		name:     "another apiVersion of Milvus",
		manifest: "# a comment\napiVersion: milvus.io/v1alpha1\nkind: Milvus\nmetadata:\n  name: m\n",
		want:     `f.yaml:2: apiVersion "milvus.io/v1alpha1" of a Milvus: check judges milvus.io/v1beta1`,
	}, {
		name:     "a MilvusUpgrade without apiVersion",
		manifest: "kind: MilvusUpgrade\nmetadata:\n  name: m\n",
		want:     `f.yaml:1: apiVersion "" of a MilvusUpgrade`,
	}, {
		name:     "a milvus.io object without a kind",
		manifest: "apiVersion: milvus.io/v1beta1\nmetadata:\n  name: m\n",
		want:     "f.yaml:1: apiVersion milvus.io/v1beta1 without a kind",
	}, {
		name:     "no name",
		manifest: "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata:\n  generateName: m-\n",
		want:     "f.yaml:4: Milvus has no metadata.name",
	}, {
		name:     "a field of the wrong type",
		manifest: "apiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata:\n  name: m\nspec:\n  components:\n    image: 42\n",
		want:     "f.yaml:1: Milvus default/m: decoding Milvus: json: cannot unmarshal number",
	}, {
		name:     "a bad document separator",
		manifest: "apiVersion: v1\nkind: ConfigMap\n--- x\n",
		want:     "f.yaml:3: invalid Yaml document separator: x",
	}, {
		name:     "malformed JSON",
		manifest: "{\"apiVersion\": \"milvus.io/v1beta1\",\n \"kind\": }",
		want:     "f.yaml:2: invalid character '}' looking for beginning of value",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "f.yaml", Data: []byte(tt.manifest)}, "default")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParse(t *testing.T) {
	t.Run("other kinds are left out, the namespace is filled in", func(t *testing.T) {
		objs := parse(t, "f.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\n"+milvusYAML("m", "milvusdb/milvus:v2.4.23")+
			"---\napiVersion: milvus.io/v1alpha1\nkind: MilvusCluster\nmetadata:\n  name: old\n---\n# only a comment\n---\n"+
			"apiVersion: example.com/v1\nkind: Milvus\nmetadata:\n  name: someone-elses\n")
		require.Len(t, objs, 1)
		assert.Equal(t, "m", objs[0].Name)
		assert.Equal(t, "default", objs[0].Namespace)
		assert.Equal(t, 6, objs[0].Line)
		assert.Contains(t, string(objs[0].JSON), `"namespace":"default"`)
	})
	t.Run("YAML 1.1 as kubectl reads it", func(t *testing.T) {
		objs := parse(t, "f.yaml", milvusYAML("m", "milvusdb/milvus:v2.4.23", "    enableRollingUpdate: yes\n"))
		assert.Contains(t, string(objs[0].JSON), `"enableRollingUpdate":true`)
	})
	t.Run("a List, as kubectl get -o yaml writes it", func(t *testing.T) {
		list := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: milvus.io/v1beta1\n  kind: Milvus\n  metadata:\n    name: a\n    namespace: ns\n" +
			"- apiVersion: milvus.io/v1beta1\n  kind: MilvusUpgrade\n  metadata:\n    name: b\n  spec:\n    targetVersion: v2.2.16\n"
		objs := parse(t, "f.yaml", list)
		require.Len(t, objs, 2)
		assert.Equal(t, []int{4, 9}, []int{objs[0].Line, objs[1].Line})
		assert.Equal(t, "ns", objs[0].Namespace)
		assert.Equal(t, 14, objs[1].FieldLine("spec.targetVersion"))
	})
	t.Run("JSON, with CRLF line ends", func(t *testing.T) {
		js := "{\r\n \"apiVersion\": \"milvus.io/v1beta1\",\r\n \"kind\": \"Milvus\",\r\n \"metadata\": {\"name\": \"m\"},\r\n \"spec\": {\r\n  \"components\": {\r\n   \"image\": \"x:v2.4.23\"}}}\r\n" +
			"{\"apiVersion\": \"milvus.io/v1beta1\", \"kind\": \"Milvus\", \"metadata\": {\"name\": \"n\"}}"
		objs := parse(t, "f.json", js)
		require.Len(t, objs, 2)
		assert.Equal(t, 7, objs[0].FieldLine("spec.components.image"))
		assert.Equal(t, 8, objs[1].Line)
	})
}

func TestFieldLine(t *testing.T) {
	manifest := `# leading comment
---
apiVersion: milvus.io/v1beta1
kind: Milvus
metadata:
  name: m
  annotations:
    milvus-admission.io/planned-upgrade: x
defaults: &img
  image: milvusdb/milvus:v2.4.23
spec:
  components:
    image: milvusdb/milvus:v2.4.23
    proxy: *img
    env:
    - name: A
    - name: B
`
	objs, err := Parse(Source{Name: "f.yaml", Data: []byte(manifest)}, "default")
	require.NoError(t, err)
	o := objs[0]
	assert.Equal(t, 3, o.Line, "the object starts at its first key")
	for path, want := range map[string]int{
		"spec.components.image": 13,
		"metadata.annotations[milvus-admission.io/planned-upgrade]": 8,
		"spec.components.env[1].name":                               17,
		"spec.components.proxy.image":                               10, // through the alias
		"spec.components.mixCoord":                                  12, // absent: its parent
		"spec.components.mixCoord.image":                            12,
		"status.currentVersion":                                     3, // nothing set: the object
		"":                                                          3,
	} {
		assert.Equal(t, want, o.FieldLine(path), path)
	}
}

func TestSplitPath(t *testing.T) {
	assert.Equal(t, []string{"a", "b", "k.x/y", "0", "c"}, splitPath("a.b[k.x/y][0].c"))
	assert.Equal(t, []string{"a", "unterminated"}, splitPath("a[unterminated"))
}

func TestReadSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("a.yaml", "a")
	write("sub/b.yml", "b")
	write("sub/c.json", "c")
	write("sub/readme.md", "not a manifest")
	write(".git/config.yaml", "hidden")
	write("sub/..data/d.yaml", "a ConfigMap volume's own copy")

	srcs, err := ReadSources([]string{dir, filepath.Join(dir, "a.yaml"), "-", "-"}, strings.NewReader("from stdin"))
	require.NoError(t, err)
	var names, data []string
	for _, s := range srcs {
		names = append(names, strings.TrimPrefix(s.Name, dir+"/"))
		data = append(data, string(s.Data))
	}
	assert.Equal(t, []string{"a.yaml", "sub/b.yml", "sub/c.json", StdinName}, names, "each file once, stdin once")
	assert.Equal(t, []string{"a", "b", "c", "from stdin"}, data)

	_, err = ReadSources([]string{filepath.Join(dir, "missing.yaml")}, nil)
	assert.ErrorContains(t, err, "missing.yaml")
}

// --base REF reads the same paths at that revision, relative to the
// repository that holds them.
func TestReadGitSources(t *testing.T) {
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	write := func(name, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(repo, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644))
	}
	git("init", "-q")
	write("deploy/prod/m.yaml", milvusYAML("m", "milvusdb/milvus:v2.1.4"))
	write("deploy/prod/.hidden/x.yaml", "hidden")
	write("deploy/other/o.yaml", milvusYAML("o", "milvusdb/milvus:v2.1.4"))
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	write("deploy/prod/m.yaml", milvusYAML("m", "milvusdb/milvus:v2.4.23"))
	write("deploy/prod/new.yaml", milvusYAML("new", "milvusdb/milvus:v2.4.23"))
	git("add", "-A")
	git("commit", "-q", "-m", "two")

	srcs, err := ReadGitSources(context.Background(), "HEAD~1", []string{filepath.Join(repo, "deploy", "prod"), filepath.Join(repo, "deploy", "prod", "new.yaml")})
	require.NoError(t, err)
	require.Len(t, srcs, 1, "the directory as it was (hidden ones left out); new.yaml did not exist")
	assert.Equal(t, "HEAD~1:deploy/prod/m.yaml", srcs[0].Name)
	assert.Contains(t, string(srcs[0].Data), "v2.1.4")

	change, err := ReadSources([]string{filepath.Join(repo, "deploy", "prod")}, nil)
	require.NoError(t, err)
	objs, err := ParseAll(change, "default")
	require.NoError(t, err)
	base, err := ParseAll(srcs, "default")
	require.NoError(t, err)
	r, err := Run(context.Background(), Options{}, Base{Name: "git:HEAD~1", Objects: base}, objs)
	require.NoError(t, err)
	decisions := map[string]Decision{}
	for _, res := range r.Results {
		decisions[res.Name] = res.Decision
	}
	assert.Equal(t, map[string]Decision{"m": Held, "new": Allowed}, decisions)

	_, err = ReadGitSources(context.Background(), "no-such-ref", []string{repo})
	assert.ErrorContains(t, err, "--base no-such-ref: not a file, a directory, nor a revision")
	_, err = ReadGitSources(context.Background(), "HEAD", []string{t.TempDir()})
	assert.ErrorContains(t, err, "is not in a git repository")
	_, err = ReadGitSources(context.Background(), "HEAD", []string{Stdin})
	assert.ErrorContains(t, err, "stdin has none")
}

func TestExecute(t *testing.T) {
	dir := t.TempDir()
	base, change := filepath.Join(dir, "base.yaml"), filepath.Join(dir, "change.yaml")
	require.NoError(t, os.WriteFile(base, []byte(milvusYAML("m", "milvusdb/milvus:v2.4.23")), 0o644))
	require.NoError(t, os.WriteFile(change, []byte(milvusYAML("m", "milvusdb/milvus:v2.6.3")), 0o644))

	r, err := Execute(context.Background(), Config{Paths: []string{change}, Base: base})
	require.NoError(t, err)
	assert.Equal(t, base, r.Base)
	assert.True(t, r.Denied())

	r, err = Execute(context.Background(), Config{Paths: []string{Stdin}, Stdin: strings.NewReader(milvusYAML("m", "milvusdb/milvus:v2.6.3")), Namespace: "team"})
	require.NoError(t, err)
	assert.Equal(t, "none", r.Base)
	assert.Equal(t, "team", r.Results[0].Namespace)
	assert.Equal(t, StdinName, r.Results[0].File)
	assert.False(t, r.Denied(), "a CREATE of 2.6.3 is legal")

	for cfg, want := range map[*Config]string{
		{}: "no manifests given",
		{Paths: []string{change}, Base: base, Live: true}:                           "--base and --live exclude each other",
		{Paths: []string{change}, PolicyFile: filepath.Join(dir, "missing.yaml")}:   "reading policy",
		{Paths: []string{change}, Live: true, Kubeconfig: filepath.Join(dir, "no")}: "--live: ",
	} {
		_, err := Execute(context.Background(), *cfg)
		assert.ErrorContains(t, err, want)
	}
}
