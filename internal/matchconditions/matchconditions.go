// Package matchconditions evaluates a webhook's matchConditions as the API
// server does, for tests: its own CEL base environment, the variables
// object, oldObject and request, all conditions ANDed.
package matchconditions

import (
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apiserver/pkg/cel/environment"
)

// Matcher is the compiled matchConditions of one webhook.
type Matcher []cel.Program

// Compile compiles conds in the API server's CEL environment; an expression
// it would refuse fails t.
func Compile(t testing.TB, conds []admissionregistrationv1.MatchCondition) Matcher {
	t.Helper()
	env, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Env(environment.NewExpressions)
	require.NoError(t, err)
	env, err = env.Extend(cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType), cel.Variable("request", cel.DynType))
	require.NoError(t, err)
	var m Matcher
	for _, c := range conds {
		ast, iss := env.Compile(c.Expression)
		require.NoError(t, iss.Err(), "condition %s", c.Name)
		prg, err := env.Program(ast)
		require.NoError(t, err)
		m = append(m, prg)
	}
	return m
}

// Calls reports whether the API server would call the webhook for the
// update old → cur (old nil: a CREATE).
func (m Matcher) Calls(t testing.TB, old, cur map[string]any) bool {
	t.Helper()
	op, oldObj := "UPDATE", any(old)
	if old == nil {
		op, oldObj = "CREATE", nil
	}
	for _, prg := range m {
		out, _, err := prg.Eval(map[string]any{"object": cur, "oldObject": oldObj, "request": map[string]any{"operation": op}})
		require.NoError(t, err)
		if out.Value() != true {
			return false
		}
	}
	return true
}
