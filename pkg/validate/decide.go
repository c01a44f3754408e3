// Package validate holds the admission rules: pure functions from the old
// and new object (and what the informer cache knows) to violations, each
// tagged with a stable rule ID. The policy then decides which violations
// deny and which warn. Nothing here does I/O, so every entry point — the
// webhook, a controller, a CLI — gets the same answers.
//
// Each rule ID has one function named after it (MU-SRC-20 → muSrc20), listed
// in the table of rules.go; docs/rules.md gives the same table.
package validate

import (
	"fmt"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// MaxWarningLen is the longest warning we return; longer ones are cut, as
// kubectl and the Kubernetes warning guidance expect short lines.
const MaxWarningLen = 120

// Violation is one rule broken at one field.
type Violation struct {
	Rule policy.RuleID
	// Err is what a denial reports: the error type (Forbidden, Required,
	// NotSupported, else Invalid), the field, the bad value, and a detail
	// that says what is wrong and what to do instead.
	Err *field.Error
	// Short says the same in a few words; it goes into a warning.
	Short string
	// Migration is set on MU-META at the global image or version: the
	// metadata migration that makes the change legal (pkg/migration plans it).
	Migration *migration.Need
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
// Generate denies too: a change that could be held never reaches validation
// unheld (see HeldMigration).
func Decide(vs []Violation, p *policy.Policy) Decision {
	var d Decision
	seen := map[string]bool{}
	fired := map[policy.RuleID]bool{}
	for _, v := range vs {
		key := string(v.Rule) + " " + v.Err.Field
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
			d.Errors = append(d.Errors, v.denial())
		}
		if !fired[v.Rule] {
			fired[v.Rule] = true
			d.Rules = append(d.Rules, v.Rule)
		}
	}
	return d
}

// denial is the field error of a denied violation, its detail led by the rule ID.
func (v Violation) denial() *field.Error {
	e := *v.Err
	e.Detail = fmt.Sprintf("[%s] %s", v.Rule, e.Detail)
	return &e
}

// Warning renders a violation as one warning line of at most MaxWarningLen
// characters: "[RULE] field.path: short message".
func Warning(v Violation) string { return Notice(v.Rule, v.Err.Field, v.Short) }

// Notice is a warning line about rule at field, cut to MaxWarningLen.
func Notice(rule policy.RuleID, field, short string) string {
	s := fmt.Sprintf("[%s] %s: %s", rule, field, short)
	if utf8.RuneCountInString(s) <= MaxWarningLen {
		return s
	}
	runes := []rune(s)
	return string(runes[:MaxWarningLen-1]) + "…"
}

// HeldMigration is the migration the defaulting webhook holds an update for:
// MU-META's action is generate, MU-META fired only at the global image or
// version, and no rule that keeps a migration from completing (MU-META-FAILED,
// MU-META-BUSY, MU-SPLIT-META) denies. Otherwise nil, and the validating
// webhook denies the update with those rules' messages.
func HeldMigration(vs []Violation, p *policy.Policy) *migration.Need {
	if p.ActionFor(policy.MuMeta) != policy.Generate {
		return nil
	}
	var need *migration.Need
	for _, v := range vs {
		switch v.Rule {
		case policy.MuMeta:
			if v.Migration == nil {
				return nil // a component override alone: no plan covers it
			}
			need = v.Migration
		case policy.MuMetaFailed, policy.MuMetaBusy, policy.MuSplitMeta:
			// The plan could not complete: the operator's write of the
			// target image would leave a component on 2.1 (MU-SPLIT-META),
			// or another upgrade is at work. Deny up front instead.
			if a := p.ActionFor(v.Rule); a != policy.Warn && a != policy.Off {
				return nil
			}
		}
	}
	return need
}
