package validate

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// funcName is the Go name of fn ("muSrc20") and the repository path of the
// file that declares it ("pkg/validate/milvus.go").
func funcName(t *testing.T, fn any) (name, file string) {
	t.Helper()
	f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer())
	require.NotNil(t, f)
	full := f.Name()
	name = full[strings.LastIndex(full, ".")+1:]
	path, _ := f.FileLine(f.Entry())
	i := strings.LastIndex(path, "/pkg/validate/")
	require.GreaterOrEqual(t, i, 0, "%s is declared in %s", full, path)
	return name, path[i+1:]
}

// goName is the function name the convention gives an ID: MU-SRC-20 → muSrc20.
func goName(id policy.RuleID) string {
	words := strings.Split(strings.ToLower(string(id)), "-")
	for i := 1; i < len(words); i++ {
		words[i] = strings.ToUpper(words[i][:1]) + words[i][1:]
	}
	return strings.Join(words, "")
}

func ruleFunc(r rule) any {
	if r.milvus != nil {
		return r.milvus
	}
	return r.upgrade
}

// Every rule ID of the policy has exactly one function, named after it, and
// every function in the table has an ID of the policy.
func TestRuleTableIsComplete(t *testing.T) {
	var ids []policy.RuleID
	for _, r := range rules {
		ids = append(ids, r.id)
		require.True(t, (r.milvus == nil) != (r.upgrade == nil), "%s: exactly one of milvus, upgrade", r.id)
		name, _ := funcName(t, ruleFunc(r))
		assert.Equal(t, goName(r.id), name, "%s is implemented by a function named after it", r.id)
	}
	assert.Equal(t, policy.Rules, ids, "the table lists policy.Rules, in order, once each")
}

// docs/rules.md lists every rule with its default action and the file and
// function that implement it.
func TestDocsListEveryRuleWithItsCode(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "rules.md"))
	require.NoError(t, err)
	rows := map[policy.RuleID][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "| MU-") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		require.Len(t, cells, 5, "ID | default | what | field | code: %s", line)
		id := policy.RuleID(cells[0])
		require.NotContains(t, rows, id, "%s is listed once", id)
		rows[id] = cells
	}
	def := policy.Default()
	for _, r := range rules {
		row, ok := rows[r.id]
		if !assert.True(t, ok, "docs/rules.md lists %s", r.id) {
			continue
		}
		assert.Equal(t, string(def.ActionFor(r.id)), row[1], "%s: default action", r.id)
		name, file := funcName(t, ruleFunc(r))
		assert.Equal(t, "[`"+name+"`](../"+file+")", row[4], "%s: code column", r.id)
		delete(rows, r.id)
	}
	assert.Empty(t, rows, "docs/rules.md lists no rule the code lacks")
}

// A rule the policy turns off is not even run.
func TestOffRulesAreNotRun(t *testing.T) {
	p, err := policy.Parse([]byte("rules: {MU-META: off, MU-UP-ORDER: off}"))
	require.NoError(t, err)
	vs := Milvus(MilvusChange{Old: newMilvus(repo + "v2.1.4"), New: newMilvus(repo + "v2.4.23")}, p)
	assert.Empty(t, vs)
	vs = MilvusUpgrade(UpgradeChange{New: newUpgrade("v2.1.4", "v2.1.0")}, p)
	assert.Equal(t, []policy.RuleID{policy.MuMetaRange, policy.MuUpTarget}, rulesOf(vs), "no MU-UP-ORDER")
}

func rulesOf(vs []Violation) []policy.RuleID {
	var out []policy.RuleID
	for _, v := range vs {
		out = append(out, v.Rule)
	}
	return out
}
