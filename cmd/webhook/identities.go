package main

import (
	"context"
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// authorizedIdentities is the start-up check's result, for alerting.
var authorizedIdentities = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "milvus_admission_operator_identities_authorized",
	Help: "How many of the policy's operatorIdentities may update milvuses (SubjectAccessReview at start-up). 0: the list names no identity the Milvus Operator runs as.",
})

func init() { metrics.Registry.MustRegister(authorizedIdentities) }

// operatorIdentities checks at start-up that at least one of the policy's
// operator identities may update milvuses. When none can, the operator runs
// as someone the policy does not list: its writes are judged as a tenant's,
// and only the hand-off of a migrated image still passes (MU-UP-IDENTITY).
type operatorIdentities struct {
	client client.Client
	policy *policy.Policy
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every
// replica judges the operator's writes, so every replica checks.
func (o *operatorIdentities) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable. A failed review is logged, never fatal:
// the webhook must serve regardless.
func (o *operatorIdentities) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("operator-identities")
	allowed := 0
	for _, user := range o.policy.OperatorIdentities {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: groupsOf(user),
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group: milvus.Group, Version: milvus.APIVersion, Resource: "milvuses", Verb: "update",
			},
		}}
		if err := o.client.Create(ctx, sar); err != nil {
			log.Error(err, "cannot check an operator identity", "user", user)
			return nil
		}
		if sar.Status.Allowed {
			allowed++
		}
		log.Info("operator identity checked", "user", user, "mayUpdateMilvuses", sar.Status.Allowed)
	}
	authorizedIdentities.Set(float64(allowed))
	if allowed == 0 {
		log.Error(errors.New("no operator identity may update milvuses"),
			"WARNING: none of the policy's operatorIdentities may update milvuses, so the Milvus Operator runs as another user: set operatorIdentities to its ServiceAccount (docs/policy.md, \"Finding the operator's identity\")",
			"operatorIdentities", o.policy.OperatorIdentities)
	}
	return nil
}

// groupsOf gives a ServiceAccount user its groups, as the API server would
// when it authenticates the account's token: RBAC may bind those.
func groupsOf(user string) []string {
	groups := []string{"system:authenticated"}
	if parts := strings.Split(user, ":"); len(parts) == 4 && parts[0] == "system" && parts[1] == "serviceaccount" {
		groups = append(groups, "system:serviceaccounts", "system:serviceaccounts:"+parts[2])
	}
	return groups
}
