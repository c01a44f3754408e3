// Package ha runs the webhook as a Deployment would: several replicas, each
// a separate process with leader election on, behind one address that
// plays the Service (internal/cluster's balancer), against a real
// kube-apiserver and etcd with the shipped webhook configurations. It stops,
// kills and restarts replicas, so it has a control plane of its own and
// never disturbs test/e2e.
package ha

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
)

// env is the control plane every test shares; each test works in its own
// namespace and starts again whatever replicas it stopped.
var env *cluster.HA

// drain is the replicas' --shutdown-drain here: long enough for the
// balancer (polling /readyz every 200ms) to move new connections away, short
// enough for a quick rolling restart.
const drain = "2s"

// drainFor is drain as a duration.
const drainFor = 2 * time.Second

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	env, err = cluster.StartHA(context.Background(), cluster.HAOptions{
		Replicas:    2,
		WebhookArgs: []string{"--shutdown-drain=" + drain},
	})
	if err != nil {
		// Never skip: a missing prerequisite fails the run with how to fix it.
		fmt.Fprintln(os.Stderr, "ha: cannot start the control plane:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "ha: stopping the control plane:", err)
		}
	}()
	return m.Run()
}
