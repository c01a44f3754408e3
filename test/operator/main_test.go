// Package operator runs the upgrades of the seed document end to end with
// the real Milvus Operator (built from ../shared/milvus-operator/src by
// hack/operator/build.sh) executing every MilvusUpgrade: a real
// kube-apiserver and etcd, the webhook as a process with the shipped
// webhook configurations, the operator as its own ServiceAccount with its own
// RBAC, and a Kubelet (internal/operator) that plays the node for the
// operator's task Pods. No test writes a MilvusUpgrade's status or the
// operator's image writes.
package operator

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/internal/operator"
)

// env is the control plane most tests share, with the operator running as
// milvus-operator/milvus-operator (listed in the default policy's
// operatorIdentities); each test works in its own namespace.
var env *plane

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests spend their time waiting for the operator's 30 s requeue,
	// not on a CPU: run them all at once unless -parallel says otherwise.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	// Flux's client reports the webhook's warnings through controller-runtime's
	// logger; the tests read them from the API instead.
	ctrllog.SetLogger(logr.Discard())
	// Never skip: a missing prerequisite fails the run with how to fix it.
	dir, err := operator.BuildDir(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/operator:", err)
		return 1
	}
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/operator: cannot start the control plane:", err)
		return 1
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "test/operator: stopping the control plane:", err)
		}
	}()
	op, err := operator.Start(ctx, c, operator.Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/operator: cannot start the Milvus Operator:", err)
		return 1
	}
	defer op.Stop()
	env = &plane{c: c, op: op}
	return m.Run()
}
