package check

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// reportOf judges the seed's cases: a warning, a hold, a denial, an
// unchanged object.
func reportOf(t *testing.T) *Report {
	t.Helper()
	base := milvusYAML("from-220", "milvusdb/milvus:v2.2.0") + "---\n" + milvusYAML("from-214", "milvusdb/milvus:v2.1.4") +
		"---\n" + milvusYAML("same", "milvusdb/milvus:v2.4.23")
	change := milvusYAML("from-220", "milvusdb/milvus:v2.4.23") + "---\n" + milvusYAML("from-214", "milvusdb/milvus:v2.4.23") +
		"---\n" + milvusYAML("same", "milvusdb/milvus:v2.4.23") + "---\n" + string(webhooktest.UpgradeManifest("straight", "from-214", "v2.1.4", "v2.4.23"))
	return judge(t, base, change)
}

func write(t *testing.T, r *Report, format string) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, r.Write(&b, format))
	return b.String()
}

func TestText(t *testing.T) {
	out := write(t, reportOf(t), FormatText)
	for _, want := range []string{
		"f.yaml:1: Milvus default/from-220 UPDATE: allowed\n  Warning: [MU-ROLLING] spec.components.image: ",
		"f.yaml:14: Milvus default/from-214 UPDATE: held\n  Warning: [MU-META] spec.components.image: held; MilvusUpgrade from-214-migrate-v2-2-16",
		"      name: from-214-migrate-v2-2-16\n",
		"    spec:\n",
		"f.yaml:27: Milvus default/same: unchanged (kubectl sends nothing)\n",
		"f.yaml:40: MilvusUpgrade default/straight CREATE: denied\n  The MilvusUpgrade \"straight\" is invalid: spec.targetVersion: Invalid value: \"v2.4.23\": [MU-META-RANGE] ",
		"  at f.yaml:48: spec.targetVersion (MU-META-RANGE)\n",
		"\n4 objects: 1 allowed, 1 held, 1 denied, 1 unchanged\n",
	} {
		assert.Contains(t, out, want)
	}
}

func TestJSONSchema(t *testing.T) {
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(write(t, reportOf(t), FormatJSON)), &doc))
	assert.Equal(t, ReportAPIVersion, doc["apiVersion"])
	assert.Equal(t, ReportKind, doc["kind"])
	assert.Equal(t, map[string]any{"allowed": 1.0, "held": 1.0, "denied": 1.0, "unchanged": 1.0}, doc["summary"])
	results := doc["results"].([]any)
	require.Len(t, results, 4)
	denied := results[3].(map[string]any)
	for _, key := range []string{"file", "line", "apiVersion", "kind", "namespace", "name", "operation", "decision", "rules",
		"reason", "message", "serverMessage", "fieldErrors", "warnings", "patch"} {
		assert.Contains(t, denied, key)
	}
	fe := denied["fieldErrors"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"field": "spec.targetVersion", "type": "FieldValueInvalid", "rule": "MU-META-RANGE", "line": 48.0, "message": fe["message"]}, fe)
	held := results[1].(map[string]any)
	assert.Equal(t, "held", held["decision"])
	assert.Contains(t, held, "generated")
	w := held["warnings"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{"MU-META", "spec.components.image", 23.0}, []any{w["rule"], w["field"], w["line"]})
}

func TestGitHub(t *testing.T) {
	out := write(t, reportOf(t), FormatGitHub)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	assert.Contains(t, lines[0], "::warning file=f.yaml,line=10,title=MU-ROLLING::Milvus default/from-220: [MU-ROLLING] spec.components.image: ")
	assert.Contains(t, out, "::warning file=f.yaml,line=23,title=MU-META::Milvus default/from-214: [MU-META] spec.components.image: held")
	assert.Contains(t, out, "::error file=f.yaml,line=48,title=MU-META-RANGE::MilvusUpgrade default/straight: spec.targetVersion: Invalid value: ")
	assert.Equal(t, "milvus-admission check: 4 objects: 1 allowed, 1 held, 1 denied, 1 unchanged", lines[len(lines)-1])
	for _, l := range lines[:len(lines)-1] {
		assert.True(t, strings.HasPrefix(l, "::"), "one workflow command per line: %q", l)
	}

	// Messages and properties are escaped as the Actions toolkit does.
	var b strings.Builder
	githubCommand(&b, finding{level: "error", rule: "R", file: "a,b:c.yaml", line: 3, message: "50% of\nlines"})
	assert.Equal(t, "::error file=a%2Cb%3Ac.yaml,line=3,title=R::50%25 of%0Alines\n", b.String())
	b.Reset()
	githubCommand(&b, finding{level: "warning", rule: "R", file: StdinName, line: 3, message: "m"})
	assert.Equal(t, "::warning title=R::m\n", b.String(), "stdin is no file of the repository")
}

func TestSARIF(t *testing.T) {
	var log sarifLog
	require.NoError(t, json.Unmarshal([]byte(write(t, reportOf(t), FormatSARIF)), &log))
	assert.Equal(t, "2.1.0", log.Version)
	require.Len(t, log.Runs, 1)
	run := log.Runs[0]
	var ids []string
	for _, r := range run.Tool.Driver.Rules {
		ids = append(ids, r.ID)
	}
	assert.ElementsMatch(t, []string{"MU-ROLLING", "MU-META", "MU-META-RANGE"}, ids)
	var levels []string
	for _, r := range run.Results {
		levels = append(levels, r.RuleID+":"+r.Level)
		require.Len(t, r.Locations, 1)
		assert.Equal(t, "f.yaml", r.Locations[0].PhysicalLocation.ArtifactLocation.URI)
	}
	assert.Contains(t, levels, "MU-META-RANGE:error")
	assert.Contains(t, levels, "MU-ROLLING:warning")
}

func TestUnknownFormat(t *testing.T) {
	assert.ErrorContains(t, reportOf(t).Write(&bytes.Buffer{}, "yaml"), `unknown output format "yaml"`)
}
