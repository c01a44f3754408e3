package webhook

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// Decision labels of milvus_admission_decisions_total.
const (
	DecisionAllowed   = "allowed"
	DecisionWarned    = "warned"
	DecisionDenied    = "denied"
	DecisionHeld      = "held"
	DecisionCancelled = "cancelled"
	// DecisionStaged: a gated upgrade set at the gate's waypoint (policy action stage).
	DecisionStaged = "staged"
)

// Decisions counts what the rules decided, once per rule that fired (rule
// "" when none did). controller-runtime's request metrics count a denial as
// an HTTP 200; this says what it was.
var Decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "milvus_admission_decisions_total",
	Help: "Admission decisions by kind, operation, decision (allowed, warned, denied, held, cancelled, staged) and rule ID.",
}, []string{"kind", "operation", "decision", "rule"})

// Exemptions counts the decisions a namespace's policy override changed
// (policy namespaces.<ns>.rules), by namespace and rule.
var Exemptions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "milvus_admission_exemptions_total",
	Help: "Decisions whose rule action a namespace's policy override changed, by namespace and rule ID.",
}, []string{"namespace", "rule"})

func init() { metrics.Registry.MustRegister(Decisions, Exemptions) }

// exempted counts and logs the fired rules whose action the request's
// namespace overrides: every exception is visible.
func (h *handlers) exempted(ctx context.Context, req admission.Request, fired []policy.RuleID) {
	ex := h.policy.Exempted(req.Namespace, fired)
	for _, r := range ex {
		Exemptions.WithLabelValues(req.Namespace, string(r)).Inc()
	}
	if len(ex) > 0 {
		logf.FromContext(ctx).Info("namespace exemption applied", "namespace", req.Namespace, "name", req.Name,
			"user", req.UserInfo.Username, "rules", policy.Join(ex, ","))
	}
}

// record counts a decision and logs at info every one that is not a plain
// allow, with the object, the user and the rules: what a platform team
// needs without API-server audit logs.
func record(ctx context.Context, req admission.Request, kind, name, decision string, rules []policy.RuleID) {
	if len(rules) == 0 {
		Decisions.WithLabelValues(kind, string(req.Operation), decision, "").Inc()
	}
	for _, r := range rules {
		Decisions.WithLabelValues(kind, string(req.Operation), decision, string(r)).Inc()
	}
	log := logf.FromContext(ctx)
	if decision == DecisionAllowed {
		log.V(1).Info("decided", "decision", decision)
		return
	}
	log.Info("decided", "decision", decision, "kind", kind, "namespace", req.Namespace, "name", name,
		"user", req.UserInfo.Username, "rules", policy.Join(rules, ","))
}
