package validate

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/plan"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// Messages that advise a version change take the step and the path from the
// planner (pkg/plan), so that advice from two rules never contradicts and
// following it always works: the next step plus the full path, one line.

// planFor is the planner's path for t, from the Milvus as it is stored.
func (r *milvusReview) planFor(t transition) (plan.Plan, error) {
	return plan.Path(t.from, t.to.Version, r.planOptions(), r.policy)
}

// planOptions describe the stored Milvus to the planner, in the mode and
// heading for the message queue the new spec asks for.
func (r *milvusReview) planOptions() plan.Options {
	opts := plan.OptionsFor(r.Old)
	opts.Mode = r.New.Spec.Mode
	opts.ToMsgStreamType = r.New.Spec.Dependencies.MsgStreamType
	return opts
}

// advice is the planner's answer for a message: "next: <step>; path:
// <path>", or why no path exists.
func advice(pl plan.Plan, err error) string {
	var no *plan.Unreachable
	switch {
	case errors.As(err, &no):
		return fmt.Sprintf("no path leads there: [%s] %s", no.Rule, no.Why)
	case err != nil:
		return err.Error()
	case len(pl.Hops) == 0:
		return "it is there already"
	}
	return "next: " + pl.Next().String() + "; path: " + pl.String()
}

// detour reports a path that is more than the change itself: a metadata
// migration, or more than one version hop.
func detour(pl plan.Plan) bool {
	n := 0
	for _, h := range pl.Hops {
		switch h.By {
		case plan.BySpec:
		case plan.ByMilvusUpgrade:
			return true
		default:
			n++
		}
	}
	return n > 1
}

// firstMigration is the MilvusUpgrade hop of pl, if any.
func firstMigration(pl plan.Plan) (plan.Hop, bool) {
	for _, h := range pl.Hops {
		if h.By == plan.ByMilvusUpgrade {
			return h, true
		}
	}
	return plan.Hop{}, false
}

// withPath appends the path to v's short text, or when the warning could not
// hold that uncut, the plan command that prints it; nothing when neither fits
// or the planner found no path (err).
func withPath(v *Violation, pl plan.Plan, err error) *Violation {
	if err != nil {
		return v
	}
	if short := firstFitting(v.Rule, v.Err.Field, v.Short+"; "+pl.String(), v.Short+"; run "+plan.Command(pl.From, pl.To)); short != "" {
		v.Short = short
	}
	return v
}

// HoldPath is the warning that goes with a hold of the change need (MU-META
// generate): the whole path, so that the steps after the migration show too
// (the 2.5.16 gate on the way to 2.6, say), or the plan command where it does
// not fit; "" without a need. m is the Milvus asking, whose mode, mixCoord
// and message queue the later steps depend on.
func HoldPath(fieldPath string, need *migration.Need, m *milvus.Milvus, p *policy.Policy) string {
	if need == nil {
		return ""
	}
	pl, err := plan.Path(need.From, need.To, plan.OptionsFor(m), p)
	if err != nil {
		return ""
	}
	short := firstFitting(policy.MuMeta, fieldPath, "path "+pl.String(), "path: run "+plan.Command(pl.From, pl.To))
	if short == "" {
		return ""
	}
	return Notice(policy.MuMeta, fieldPath, short)
}

// firstFitting is the first of shorts that makes the warning about rule at
// field shorter than MaxWarningLen, so that Notice never cuts it; "" for none.
func firstFitting(rule policy.RuleID, field string, shorts ...string) string {
	for _, s := range shorts {
		if utf8.RuneCountInString(fmt.Sprintf("[%s] %s: %s", rule, field, s)) < MaxWarningLen {
			return s
		}
	}
	return ""
}
