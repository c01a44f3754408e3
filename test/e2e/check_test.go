package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/pkg/check"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// checkCase is one object of the change: its manifest before (none: new)
// and after, one file each, and whether `check` can know its decision
// without the cluster (a status only --live reads).
type checkCase struct {
	file          string
	before, after string
	liveOnly      bool
}

// checkMilvus is a Milvus in cluster mode (pulsar, mixCoord) in namespace ns.
func checkMilvus(ns, name, image string, rollingUpdate bool) string {
	return inNamespace(ns, milvusManifest{name: name, image: image, cluster: true, rollingUpdate: rollingUpdate}.yaml())
}

func checkUpgrade(ns, name, target, source, version string) string {
	return inNamespace(ns, webhooktest.UpgradeManifest(name, target, source, version))
}

// inNamespace sets a manifest's metadata.namespace, as git keeps it.
func inNamespace(ns string, manifest []byte) string {
	return strings.Replace(string(manifest), "metadata:\n", "metadata:\n  namespace: "+ns+"\n", 1)
}

// checkCases are the seed's three procedures, the docs' MilvusUpgrade
// straight to 2.4.23, a bad jump, creations, an unchanged object, and a
// change only the running version (status) makes illegal.
func checkCases(ns string) []checkCase {
	return []checkCase{
		{file: "rolling.yaml", before: checkMilvus(ns, "rolling", "milvusdb/milvus:v2.2.3", true), after: checkMilvus(ns, "rolling", "milvusdb/milvus:v2.4.23", true)},
		{file: "from-220.yaml", before: checkMilvus(ns, "from-220", "milvusdb/milvus:v2.2.0", false), after: checkMilvus(ns, "from-220", "milvusdb/milvus:v2.4.23", false)},
		{file: "from-214.yaml", before: checkMilvus(ns, "from-214", "milvusdb/milvus:v2.1.4", false), after: checkMilvus(ns, "from-214", "milvusdb/milvus:v2.4.23", false)},
		{file: "jump.yaml", before: checkMilvus(ns, "jump", "milvusdb/milvus:v2.4.23", false), after: checkMilvus(ns, "jump", "milvusdb/milvus:v2.6.3", false)},
		{file: "my-release.yaml", before: checkMilvus(ns, "my-release", "harbor.example.com:8443/milvusdb/milvus:v2.1.4", false), after: checkMilvus(ns, "my-release", "harbor.example.com:8443/milvusdb/milvus:v2.1.4", false)},
		{file: "straight.yaml", after: checkUpgrade(ns, "straight", "my-release", "v2.1.4", "v2.4.23")},
		{file: "to-2216.yaml", after: checkUpgrade(ns, "to-2216", "my-release", "v2.1.4", "v2.2.16")},
		{file: "wrong-source.yaml", after: checkUpgrade(ns, "wrong-source", "my-release", "v2.1.3", "v2.2.16")},
		{file: "fresh.yaml", after: checkMilvus(ns, "fresh", "milvusdb/milvus:v2.6.0-rc1", false)},
		{file: "status-lags.yaml", liveOnly: true,
			before: checkMilvus(ns, "status-lags", "milvusdb/milvus:v2.5.16", false), after: checkMilvus(ns, "status-lags", "milvusdb/milvus:v2.6.3", false)},
	}
}

// serverOutcome is what kubectl apply --dry-run=server said about one file.
type serverOutcome struct {
	decision check.Decision
	stderr   string
	warnings []string
	// stored is the object the API server would store (not for a denial).
	stored map[string]any
}

// The same decisions as the real API server with the webhook: the change is
// applied with `kubectl apply --dry-run=server`, one file at a time, over a
// base applied with kubectl; `milvus-admission check` judges the same files
// against the base as a directory, as the previous commit of a git
// repository, and read live from the cluster.
func TestCheckAgreesWithTheAPIServer(t *testing.T) {
	bin := buildCheckCLI(t)
	ns := newNamespace(t)
	cases := checkCases(ns)
	work := t.TempDir()
	baseDir, changeDir := filepath.Join(work, "base"), filepath.Join(work, "change")
	for _, c := range cases {
		if c.before != "" {
			writeFile(t, filepath.Join(baseDir, c.file), c.before)
		}
		writeFile(t, filepath.Join(changeDir, c.file), c.after)
	}
	kubectl(t, nil, "apply", "-f", baseDir)
	// The operator reports status-lags running 2.5.4 (its spec says 2.5.16):
	// MU-26 judges from both, so 2.6.3 is denied — which only --live sees.
	setStatus(t, ns, "status-lags", "milvusdb/milvus:v2.5.4")
	waitForWebhookCache(t, ns)

	server := map[string]serverOutcome{}
	for _, c := range cases {
		server[c.file] = serverApply(t, filepath.Join(changeDir, c.file))
	}
	// The cases cover every decision, so that agreeing means something.
	var decisions []check.Decision
	for _, c := range cases {
		decisions = append(decisions, server[c.file].decision)
	}
	for _, d := range []check.Decision{check.Allowed, check.Denied, check.Held, check.Unchanged} {
		require.Contains(t, decisions, d, "the API server's decisions: %v", decisions)
	}

	compare := func(t *testing.T, report check.Report, live bool) {
		t.Helper()
		byFile := map[string]check.Result{}
		for _, r := range report.Results {
			byFile[filepath.Base(r.File)] = r
		}
		require.Len(t, byFile, len(cases), "one result per file: %+v", report.Results)
		for _, c := range cases {
			got, want := byFile[c.file], server[c.file]
			if c.liveOnly && !live {
				// Without the status the spec's 2.5.16 → 2.6.3 is legal.
				assert.Equal(t, check.Allowed, got.Decision, "%s: judged from the spec alone", c.file)
				require.Equal(t, check.Denied, want.decision, "%s: the API server reads the status", c.file)
				continue
			}
			assertSameOutcome(t, c, got, want)
		}
	}

	t.Run("base directory", func(t *testing.T) {
		out, code := runCheckCLI(t, bin, work, "check", "--base", baseDir, "-o", "json", changeDir)
		assert.Equal(t, 1, code, "a denial exits 1")
		compare(t, decodeReport(t, out), false)
	})

	t.Run("git revision", func(t *testing.T) {
		repo := filepath.Join(work, "repo")
		gitRun(t, "", "init", "-q", repo)
		for _, c := range cases {
			if c.before != "" {
				writeFile(t, filepath.Join(repo, "deploy", "milvus", c.file), c.before)
			}
		}
		gitRun(t, repo, "add", "-A")
		gitRun(t, repo, "commit", "-q", "-m", "base")
		for _, c := range cases {
			writeFile(t, filepath.Join(repo, "deploy", "milvus", c.file), c.after)
		}
		gitRun(t, repo, "add", "-A")
		gitRun(t, repo, "commit", "-q", "-m", "change")

		out, code := runCheckCLI(t, bin, repo, "check", "--base", "HEAD~1", "-o", "json", "deploy")
		assert.Equal(t, 1, code)
		report := decodeReport(t, out)
		assert.Equal(t, "git:HEAD~1", report.Base)
		compare(t, report, false)

		// GitHub annotations point at the line of the denied field.
		out, code = runCheckCLI(t, bin, repo, "check", "--base", "HEAD~1", "-o", "github", "deploy/milvus")
		assert.Equal(t, 1, code)
		imageLine := lineOf(t, cases[3].after, "image:")
		assert.Contains(t, out, fmt.Sprintf("::error file=deploy/milvus/jump.yaml,line=%d,title=MU-26::Milvus %s/jump: spec.components.image: ", imageLine, ns))
		assert.Contains(t, out, fmt.Sprintf("::error file=deploy/milvus/straight.yaml,line=%d,title=MU-META-RANGE::", lineOf(t, cases[5].after, "targetVersion:")))
		assert.Contains(t, out, fmt.Sprintf("::warning file=deploy/milvus/from-220.yaml,line=%d,title=MU-ROLLING::", lineOf(t, cases[1].after, "image:")))

		// The same base, the working tree unchanged: nothing is denied.
		require.NoError(t, os.RemoveAll(filepath.Join(repo, "deploy")))
		gitRun(t, repo, "checkout", "-q", "HEAD~1", "--", "deploy")
		out, code = runCheckCLI(t, bin, repo, "check", "--base", "HEAD~1", "deploy")
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "0 denied")
	})

	t.Run("live", func(t *testing.T) {
		out, code := runCheckCLI(t, bin, work, "check", "--live", "--kubeconfig", env.Kubeconfig, "-o", "json", changeDir)
		assert.Equal(t, 1, code)
		report := decodeReport(t, out)
		assert.Equal(t, "live", report.Base)
		compare(t, report, true)
	})

	t.Run("stdin, no base: every object is a CREATE", func(t *testing.T) {
		var all bytes.Buffer
		for _, c := range cases {
			all.WriteString("---\n" + c.after)
		}
		out, code := runCheckCLIStdin(t, bin, work, all.Bytes(), "check", "-o", "json", "-")
		assert.Equal(t, 1, code, "the MilvusUpgrade straight to 2.4.23 is denied on CREATE too")
		for _, r := range decodeReport(t, out).Results {
			assert.Equal(t, "CREATE", r.Operation, r.Name)
			assert.Equal(t, check.StdinName, r.File)
		}
	})
}

// assertSameOutcome compares check's result with the API server's: the
// decision, the rule IDs and message of a denial, the warnings, and for a
// hold the image and plan the API server would store.
func assertSameOutcome(t *testing.T, c checkCase, got check.Result, want serverOutcome) {
	t.Helper()
	require.Equal(t, want.decision, got.Decision, "%s: check says %s, the API server %s\nkubectl: %s\ncheck: %+v", c.file, got.Decision, want.decision, want.stderr, got)
	var gotWarnings []string
	for _, w := range got.Warnings {
		gotWarnings = append(gotWarnings, w.Text)
	}
	assert.ElementsMatch(t, want.warnings, gotWarnings, "%s: warnings", c.file)
	switch got.Decision {
	case check.Denied:
		assert.Contains(t, want.stderr, got.Message, "%s: the denial as kubectl prints it", c.file)
		var gotRules []string
		for _, fe := range got.FieldErrors {
			gotRules = append(gotRules, fe.Rule)
		}
		assert.ElementsMatch(t, deniedRules(want.stderr), gotRules, "%s: rules of the denial", c.file)
	case check.Held:
		ops := map[string]any{}
		for _, op := range got.Patch {
			ops[op.Path] = op.Value
		}
		assert.Equal(t, at(want.stored, "spec", "components", "image"), ops["/spec/components/image"], "%s: the held image", c.file)
		planned := at(want.stored, "metadata", "annotations", "milvus-admission.io/planned-upgrade")
		assert.NotEmpty(t, planned)
		assert.Equal(t, planned, ops["/metadata/annotations/milvus-admission.io~1planned-upgrade"], "%s: the plan", c.file)
		assert.Equal(t, planned, at(got.Generated, "metadata", "name"), "%s: the generated MilvusUpgrade", c.file)
	case check.Allowed:
		// The defaults the API server stored are check's patch.
		for _, op := range got.Patch {
			path := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
			assert.Equal(t, op.Value, at(want.stored, path...), "%s: %s", c.file, op.Path)
		}
	}
}

var ruleInDenial = regexp.MustCompile(`: \[(MU-[A-Z0-9-]+)\] `)

// deniedRules are the rule IDs of the field errors in kubectl's error
// output (the warning lines left out).
func deniedRules(stderr string) []string {
	var out []string
	for line := range strings.SplitSeq(stderr, "\n") {
		if strings.HasPrefix(line, "Warning: ") {
			continue
		}
		for _, m := range ruleInDenial.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// serverApply applies one file with kubectl apply --dry-run=server.
func serverApply(t *testing.T, file string) serverOutcome {
	t.Helper()
	stdout, stderr, err := tryKubectl(nil, "apply", "--dry-run=server", "-f", file)
	o := serverOutcome{stderr: stderr}
	for line := range strings.SplitSeq(stderr, "\n") {
		if w, ok := strings.CutPrefix(line, "Warning: "); ok {
			o.warnings = append(o.warnings, w)
		}
	}
	switch {
	case err != nil:
		o.decision = check.Denied
		return o
	case strings.Contains(stdout, " unchanged"):
		o.decision = check.Unchanged
		return o
	}
	out, _ := kubectl(t, nil, "apply", "--dry-run=server", "-o", "json", "-f", file)
	require.NoError(t, json.Unmarshal([]byte(out), &o.stored))
	o.decision = check.Allowed
	if at(o.stored, "metadata", "annotations", "milvus-admission.io/planned-upgrade") != nil {
		o.decision = check.Held
	}
	return o
}

// setStatus writes a Milvus status as the operator does once it runs image.
func setStatus(t *testing.T, ns, name, image string) {
	t.Helper()
	version := image[strings.LastIndex(image, ":")+1:]
	patch := fmt.Sprintf(`{"status":{"status":"Healthy","currentImage":%q,"currentVersion":%q}}`, image, version)
	kubectl(t, nil, "-n", ns, "patch", "milvus", name, "--subresource=status", "--type=merge", "-p", patch)
}

// waitForWebhookCache waits until the webhook's informer cache holds the
// last write to a Milvus in ns: a probe Milvus's status, which MU-UP-SRC
// reads through the cache when a MilvusUpgrade names it. Writes to
// Milvuses reach the cache in order, so every earlier one is there too.
func waitForWebhookCache(t *testing.T, ns string) {
	t.Helper()
	kubectl(t, []byte(checkMilvus(ns, "cache-probe", "milvusdb/milvus:v2.1.4", false)), "apply", "-f", "-")
	setStatus(t, ns, "cache-probe", "milvusdb/milvus:v2.1.5")
	probe := []byte(checkUpgrade(ns, "cache-probe", "cache-probe", "v2.1.5", "v2.2.16"))
	eventually(t, "the webhook's cache has the base", func() error {
		_, stderr, err := tryKubectl(probe, "apply", "--dry-run=server", "-f", "-")
		if err != nil || strings.Contains(stderr, "MU-UP-TARGET") {
			return fmt.Errorf("probe: %v: %s", err, stderr)
		}
		return nil
	})
}

// buildCheckCLI builds cmd/milvus-admission as a user would.
func buildCheckCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "milvus-admission")
	build := exec.Command("go", "build", "-o", bin, "./cmd/milvus-admission")
	build.Dir = cluster.RepoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/milvus-admission: %s", out)
	return bin
}

// runCheckCLI runs the CLI in dir and returns its stdout and exit code;
// stderr is logged.
func runCheckCLI(t *testing.T, bin, dir string, args ...string) (string, int) {
	t.Helper()
	return runCheckCLIStdin(t, bin, dir, nil, args...)
}

func runCheckCLIStdin(t *testing.T, bin, dir string, stdin []byte, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent") // only --kubeconfig reaches a cluster
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %s: %v", bin, err)
	}
	if stderr.Len() > 0 {
		t.Logf("milvus-admission %s: stderr: %s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), cmd.ProcessState.ExitCode()
}

func decodeReport(t *testing.T, out string) check.Report {
	t.Helper()
	var r check.Report
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	require.Equal(t, check.ReportAPIVersion, r.APIVersion)
	return r
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=check", "-c", "user.email=check@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
}

// lineOf is the 1-based line of the first line of text containing s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	i := slices.IndexFunc(strings.Split(text, "\n"), func(l string) bool { return strings.Contains(l, s) })
	require.GreaterOrEqual(t, i, 0, "%q not in %s", s, text)
	return i + 1
}

// docBlock is a YAML block of docs/cli.md whose first line names its file,
// with the heading it is under.
type docBlock struct{ section, path, text string }

func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cluster.RepoRoot(), "docs", "cli.md"))
	require.NoError(t, err)
	var out []docBlock
	section := ""
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "#") && !strings.HasPrefix(lines[i], "# ") {
			section = strings.TrimSpace(strings.TrimLeft(lines[i], "#"))
		}
		if lines[i] != "```yaml" || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "# ") {
			continue
		}
		b := docBlock{section: section, path: strings.TrimPrefix(lines[i+1], "# ")}
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			b.text += lines[i] + "\n"
		}
		out = append(out, b)
	}
	return out
}

// block is the block for path in a section whose heading starts with prefix.
func block(t *testing.T, blocks []docBlock, prefix, path string) string {
	t.Helper()
	for _, b := range blocks {
		if strings.HasPrefix(b.section, prefix) && b.path == path {
			return b.text
		}
	}
	t.Fatalf("docs/cli.md has no block %q under a heading %q…", path, prefix)
	return ""
}

// The CI recipes of docs/cli.md work as written: the commands of the GitHub
// and GitLab jobs in a clone whose pull request changes a manifest, and the
// Job, its RBAC and the kustomizations of the --live recipe against the
// cluster, run with the Job's own ServiceAccount.
func TestCheckRecipes(t *testing.T) {
	bin := buildCheckCLI(t)
	blocks := docBlocks(t)
	work := t.TempDir()

	// A repository whose main branch holds a Milvus at 2.4.23, and a
	// clone where a pull request moves it to 2.6.3.
	upstream, clone := filepath.Join(work, "upstream"), filepath.Join(work, "clone")
	gitRun(t, "", "init", "-q", "-b", "main", upstream)
	writeFile(t, filepath.Join(upstream, "deploy", "milvus", "milvus.yaml"), checkMilvus("search", "my-release", "milvusdb/milvus:v2.4.23", false))
	gitRun(t, upstream, "add", "-A")
	gitRun(t, upstream, "commit", "-q", "-m", "main")
	gitRun(t, "", "clone", "-q", upstream, clone)
	gitRun(t, clone, "checkout", "-q", "-b", "pr")
	writeFile(t, filepath.Join(clone, "deploy", "milvus", "milvus.yaml"), checkMilvus("search", "my-release", "milvusdb/milvus:v2.6.3", false))
	gitRun(t, clone, "commit", "-q", "-am", "pr")
	shell := func(t *testing.T, env []string, script string) (string, int) {
		t.Helper()
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir = clone
		cmd.Env = append(os.Environ(), append(env, "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("%s: %v", script, err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	install := "go install github.com/milvus-admission/milvus-admission/cmd/milvus-admission@"

	t.Run("GitHub Actions", func(t *testing.T) {
		// YAML 1.2, as GitHub reads it (YAML 1.1 would make "on" true).
		var wf struct {
			On   map[string]map[string][]string `yaml:"on"`
			Jobs map[string]struct {
				Steps []struct {
					Run  string         `yaml:"run"`
					With map[string]any `yaml:"with"`
				} `yaml:"steps"`
			} `yaml:"jobs"`
		}
		require.NoError(t, yaml3.Unmarshal([]byte(block(t, blocks, "GitHub Actions", ".github/workflows/milvus-check.yaml")), &wf))
		assert.Equal(t, []string{"deploy/milvus/**"}, wf.On["pull_request"]["paths"])
		steps := wf.Jobs["check"].Steps
		require.NotEmpty(t, steps)
		assert.Equal(t, 0, steps[0].With["fetch-depth"], "the target branch is fetched")
		var runs []string
		for _, s := range steps {
			if s.Run != "" {
				runs = append(runs, s.Run)
			}
		}
		require.Len(t, runs, 2)
		assert.True(t, strings.HasPrefix(runs[0], install), runs[0])
		out, code := shell(t, nil, strings.ReplaceAll(runs[1], "${{ github.base_ref }}", "main"))
		assert.Equal(t, 1, code, out)
		line := lineOf(t, checkMilvus("search", "my-release", "milvusdb/milvus:v2.6.3", false), "image:")
		assert.Contains(t, out, fmt.Sprintf("::error file=deploy/milvus/milvus.yaml,line=%d,title=MU-26::", line))
	})

	t.Run("GitLab CI", func(t *testing.T) {
		var ci map[string]struct {
			Script []string `yaml:"script"`
		}
		require.NoError(t, yaml3.Unmarshal([]byte(block(t, blocks, "GitLab CI", ".gitlab-ci.yml")), &ci))
		script := ci["milvus-check"].Script
		require.Len(t, script, 3)
		assert.True(t, strings.HasPrefix(script[0], install), script[0])
		gitRun(t, clone, "update-ref", "-d", "refs/remotes/origin/main") // the fetch must bring it
		out, code := shell(t, []string{"CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main"}, script[1]+"\n"+script[2])
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, "deploy/milvus/milvus.yaml:1: Milvus search/my-release UPDATE: denied")
	})

	t.Run("--live in a PreSync hook or before a Flux Kustomization", func(t *testing.T) {
		ns := newNamespace(t)
		checkYAML := block(t, blocks, "Before a sync", "deploy/milvus/check.yaml")
		// As kept in git: kustomize sets the namespace.
		milvusAt := func(tag string) string {
			return string(milvusManifest{name: "my-release", image: "milvusdb/milvus:" + tag, cluster: true}.yaml())
		}
		// kubectl's kustomize renders each tree, its namespace made the test's.
		render := func(t *testing.T, dir string) string {
			t.Helper()
			out, _ := kubectl(t, nil, "kustomize", dir)
			return strings.ReplaceAll(out, "namespace: search\n", "namespace: "+ns+"\n")
		}

		argo := filepath.Join(work, "argocd", "deploy", "milvus")
		writeFile(t, filepath.Join(argo, "check.yaml"), checkYAML)
		writeFile(t, filepath.Join(argo, "kustomization.yaml"), block(t, blocks, "Argo CD", "deploy/milvus/kustomization.yaml"))
		writeFile(t, filepath.Join(argo, "milvus.yaml"), milvusAt("v2.4.23"))
		rendered := render(t, argo)
		objs := renderedObjects(t, rendered)
		cm := objs["ConfigMap"]
		require.NotNil(t, cm, rendered)
		assert.Equal(t, "PreSync", at(cm, "metadata", "annotations", "argocd.argoproj.io/hook"), "the ConfigMap is a hook too")
		assert.Contains(t, at(cm, "data", "milvus.yaml"), "milvusdb/milvus:v2.4.23")
		assert.Equal(t, at(cm, "metadata", "name"), at(objs["Job"], "spec", "template", "spec", "volumes").([]any)[0].(map[string]any)["configMap"].(map[string]any)["name"])
		assert.Equal(t, ns, at(objs["RoleBinding"], "subjects").([]any)[0].(map[string]any)["namespace"], "kustomize sets the subject's namespace")
		// Everything applies (the Job never runs here: no kubelet), the
		// Milvus too, as a sync would.
		kubectl(t, []byte(rendered), "apply", "-f", "-")

		// The Job's command, with the Job's ServiceAccount, on its mounted files.
		command, _ := at(objs["Job"], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["command"].([]any)[2].(string)
		require.Contains(t, command, "/tmp/go/bin/milvus-admission check --live /manifests")
		kubeconfig, err := env.ServiceAccountKubeconfig(t.Context(), ns, "milvus-admission-check")
		require.NoError(t, err)
		manifests := filepath.Join(work, "manifests")
		writeFile(t, filepath.Join(manifests, "milvus.yaml"), at(cm, "data", "milvus.yaml").(string))
		out, code := runCheckCLI(t, bin, work, "check", "--live", "--kubeconfig", kubeconfig, manifests)
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "Milvus "+ns+"/my-release: unchanged", "the Job's namespace is the default")
		writeFile(t, filepath.Join(manifests, "milvus.yaml"), milvusAt("v2.6.3"))
		out, code = runCheckCLI(t, bin, work, "check", "--live", "--kubeconfig", kubeconfig, manifests)
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, "[MU-26]")

		flux := filepath.Join(work, "flux")
		writeFile(t, filepath.Join(flux, "deploy", "milvus", "check.yaml"), checkYAML)
		writeFile(t, filepath.Join(flux, "deploy", "milvus", "kustomization.yaml"), block(t, blocks, "Flux", "deploy/milvus/kustomization.yaml"))
		writeFile(t, filepath.Join(flux, "deploy", "milvus", "app", "kustomization.yaml"), block(t, blocks, "Flux", "deploy/milvus/app/kustomization.yaml"))
		writeFile(t, filepath.Join(flux, "deploy", "milvus", "app", "milvus.yaml"), milvusAt("v2.4.23"))
		checkObjs := renderedObjects(t, render(t, filepath.Join(flux, "deploy", "milvus")))
		assert.NotContains(t, checkObjs, "Milvus", "the check applies no Milvus")
		assert.Contains(t, at(checkObjs["ConfigMap"], "data", "milvus.yaml"), "milvusdb/milvus:v2.4.23")
		assert.Contains(t, renderedObjects(t, render(t, filepath.Join(flux, "deploy", "milvus", "app"))), "Milvus")
		var ks []map[string]any
		for doc := range strings.SplitSeq(block(t, blocks, "Flux", "clusters/prod/milvus.yaml"), "\n---\n") {
			var k map[string]any
			require.NoError(t, yamlUnmarshal(doc, &k))
			ks = append(ks, k)
		}
		require.Len(t, ks, 2)
		assert.Equal(t, "./deploy/milvus", at(ks[0], "spec", "path"))
		assert.Equal(t, true, at(ks[0], "spec", "wait"))
		assert.Equal(t, "./deploy/milvus/app", at(ks[1], "spec", "path"))
		assert.Equal(t, []any{map[string]any{"name": at(ks[0], "metadata", "name")}}, at(ks[1], "spec", "dependsOn"))
	})
}

// renderedObjects reads kustomize's output by kind (one object each).
func renderedObjects(t *testing.T, rendered string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for doc := range strings.SplitSeq(rendered, "\n---\n") {
		var obj map[string]any
		require.NoError(t, yamlUnmarshal(doc, &obj))
		kind, _ := obj["kind"].(string)
		require.NotContains(t, out, kind, "one %s", kind)
		out[kind] = obj
	}
	return out
}

func yamlUnmarshal(doc string, out any) error { return yaml.Unmarshal([]byte(doc), out) }
