package webhook

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/validate"
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

// HandOffs counts the operator's hand-off writes that passed: the image a
// MilvusUpgrade sets once the metadata is migrated (or restores on rollback),
// by whether the writer is one of the policy's operatorIdentities ("listed")
// or not ("unlisted": operatorIdentities is probably wrong, MU-UP-IDENTITY).
var HandOffs = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "milvus_admission_operator_handoffs_total",
	Help: "The Milvus Operator's image writes that execute a MilvusUpgrade, by identity: listed or unlisted in operatorIdentities.",
}, []string{"identity"})

func init() { metrics.Registry.MustRegister(Decisions, Exemptions, HandOffs) }

// countHandOff counts a write that is the operator's hand-off.
func countHandOff(change validate.MilvusChange, pol *policy.Policy) {
	if validate.HandOffVersion(change, pol) == "" {
		return
	}
	identity := "unlisted"
	if pol.IsOperator(change.User) {
		identity = "listed"
	}
	HandOffs.WithLabelValues(identity).Inc()
}

// Milvus states of milvus_admission_milvuses.
const (
	StateHeld            = "held"             // a hold's intent: waits for the generated migration
	StateStaged          = "staged"           // set at a gate's waypoint (policy action stage)
	StateMigrationFailed = "migration_failed" // the generated migration failed (the controller's record)
)

// stateAnnotations are the annotations that put a Milvus in each state.
var stateAnnotations = map[string]string{
	StateHeld:            migration.AnnotationPlannedUpgrade,
	StateStaged:          migration.AnnotationStagedAt,
	StateMigrationFailed: migration.AnnotationMigrationFailed,
}

// stateCollector reports milvus_admission_milvuses from the informer cache
// at each scrape, so that every replica, leader or not, tells how many holds
// and stages are in progress and how many migrations failed, without state
// of its own to keep right.
type stateCollector struct {
	reader client.Reader
	desc   *prometheus.Desc
}

// RegisterMilvusStates registers milvus_admission_milvuses, read from reader
// (the manager's cache, which keeps the milvus-admission.io/ annotations).
func RegisterMilvusStates(reader client.Reader) error {
	return metrics.Registry.Register(newStateCollector(reader))
}

func newStateCollector(reader client.Reader) *stateCollector {
	return &stateCollector{reader: reader, desc: prometheus.NewDesc("milvus_admission_milvuses",
		"Milvus objects held for a metadata migration, staged at a gate's waypoint, or whose generated migration failed.",
		[]string{"state"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. Until the cache has synced (or
// when it cannot be read) it reports nothing rather than a wrong zero.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &milvus.MilvusList{}
	// Read-only: the cache's own objects, not 10,000 copies per scrape.
	if err := c.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	counts := map[string]float64{}
	for _, m := range list.Items {
		annotations := m.GetAnnotations()
		for state, key := range stateAnnotations {
			if _, ok := annotations[key]; ok {
				counts[state]++
			}
		}
	}
	for _, state := range slices.Sorted(maps.Keys(stateAnnotations)) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, counts[state], state)
	}
}

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
