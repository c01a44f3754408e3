// Package e2e drives the webhook through a real kube-apiserver and etcd with
// the Milvus Operator's real CRDs and real GitOps clients: kubectl (client-side,
// server-side and dry-run apply) and Flux's apply engine (fluxcd/pkg/ssa).
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
)

// env is the control plane every test shares; each test works in its own namespace.
var env *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Flux's client reports the webhook's warnings through controller-runtime's
	// logger; the tests read them from the API instead. Without a logger it
	// prints a stack trace once the process is 30 s old.
	ctrllog.SetLogger(logr.Discard())
	var err error
	env, err = cluster.Start(context.Background(), cluster.Options{})
	if err != nil {
		// Never skip: a missing prerequisite fails the run with how to fix it.
		fmt.Fprintln(os.Stderr, "e2e: cannot start the control plane:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping the control plane:", err)
		}
	}()
	return m.Run()
}
