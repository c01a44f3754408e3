// Package validate holds the admission rules: pure functions from the old
// and new object (and what the informer cache knows) to violations, each
// tagged with a stable rule ID. The policy then decides which violations
// deny and which warn. Nothing here does I/O, so every entry point — the
// webhook, a controller, a CLI — gets the same answers.
package validate

import (
	"fmt"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// MaxWarningLen is the longest warning we return; longer ones are cut, as
// kubectl and the Kubernetes warning guidance expect short lines.
const MaxWarningLen = 120

// Violation is one rule broken at one field.
type Violation struct {
	Rule  policy.RuleID
	Path  *field.Path
	Value any
	// Detail says what is wrong and what to do instead; it goes into a denial.
	Detail string
	// Short says the same in a few words; it goes into a warning.
	Short string
}

// Decision is what the policy makes of a list of violations.
type Decision struct {
	// Errors are the denied violations, one field error each.
	Errors field.ErrorList
	// Warnings are the violations whose rule only warns.
	Warnings []string
	// Rules are the IDs of every rule that fired and was not off, in order.
	Rules []policy.RuleID
}

// Allowed reports whether nothing was denied.
func (d Decision) Allowed() bool { return len(d.Errors) == 0 }

// Decide applies each rule's policy action. A rule reported twice at the same
// field (judged from both the spec and the running version) counts once.
func Decide(vs []Violation, p *policy.Policy) Decision {
	var d Decision
	seen := map[string]bool{}
	fired := map[policy.RuleID]bool{}
	for _, v := range vs {
		key := string(v.Rule) + " " + v.Path.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		switch p.ActionFor(v.Rule) {
		case policy.Off:
			continue
		case policy.Warn:
			d.Warnings = append(d.Warnings, Warning(v))
		default:
			d.Errors = append(d.Errors, field.Invalid(v.Path, v.Value, fmt.Sprintf("[%s] %s", v.Rule, v.Detail)))
		}
		if !fired[v.Rule] {
			fired[v.Rule] = true
			d.Rules = append(d.Rules, v.Rule)
		}
	}
	return d
}

// Warning renders a violation as one warning line of at most MaxWarningLen
// characters: "[RULE] field.path: short message".
func Warning(v Violation) string {
	s := fmt.Sprintf("[%s] %s: %s", v.Rule, v.Path, v.Short)
	if utf8.RuneCountInString(s) <= MaxWarningLen {
		return s
	}
	runes := []rune(s)
	return string(runes[:MaxWarningLen-1]) + "…"
}
