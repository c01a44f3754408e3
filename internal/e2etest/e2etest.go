// Package e2etest holds the helpers the end-to-end suites (test/e2e,
// test/ha, test/operator) share against a control plane: one namespace per
// test, kubectl that fails the test, stored objects read back as JSON.
package e2etest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Cluster is what the helpers need of a control plane: cluster.Cluster and
// cluster.HA both run kubectl against theirs.
type Cluster interface {
	Kubectl(ctx context.Context, stdin []byte, args ...string) (stdout, stderr string, err error)
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// NamespaceName is a fresh namespace name for t: its name, cut to fit, and
// a random suffix.
func NamespaceName(t *testing.T) string {
	name := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	return strings.Trim(fmt.Sprintf("%s-%04d", strings.Trim(name, "-"), rand.IntN(10000)), "-")
}

// NewNamespace creates a namespace for t in c and deletes it when t ends;
// onFailure, if set, runs first when t failed (to log what helps).
func NewNamespace(t *testing.T, c Cluster, onFailure func()) string {
	t.Helper()
	return NewNamespaceNamed(t, c, NamespaceName(t), nil, onFailure)
}

// NewNamespaceNamed is NewNamespace with the name and the labels the
// namespace is created with (set at creation: the API server's webhook
// namespace selector may see a later label change a moment late).
func NewNamespaceNamed(t *testing.T, c Cluster, name string, labels map[string]string, onFailure func()) string {
	t.Helper()
	ns, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": name, "labels": labels},
	})
	require.NoError(t, err)
	Kubectl(t, c, ns, "create", "-f", "-")
	t.Cleanup(func() {
		if t.Failed() && onFailure != nil {
			onFailure()
		}
		_, _, _ = c.Kubectl(context.Background(), nil, "delete", "namespace", name, "--wait=false")
	})
	return name
}

// Kubectl runs kubectl as admin against c and fails t if it fails.
func Kubectl(t *testing.T, c Cluster, stdin []byte, args ...string) (stdout, stderr string) {
	t.Helper()
	out, errOut, err := c.Kubectl(context.Background(), stdin, args...)
	require.NoError(t, err, "kubectl %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out, errOut)
	return out, errOut
}

// GetJSON reads an object as the API server stores it.
func GetJSON(t *testing.T, c Cluster, ns, resource, name string) map[string]any {
	t.Helper()
	out, _ := Kubectl(t, c, nil, "get", "-n", ns, resource, name, "-o", "json")
	var obj map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &obj))
	return obj
}

// At walks obj along path; nil when absent.
func At(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// Eventually retries f every 200 ms until it returns nil, or fails t when
// timeout passes (or ctx ends) with what, f's last error and, when logs is
// set, what it returns (a log tail that tells why). Controllers and informer
// caches see a write a moment after it is made. f runs on the test's
// goroutine, so it may fail the test with require.
func Eventually(ctx context.Context, t *testing.T, timeout time.Duration, what string, f func() error, logs func() string) {
	t.Helper()
	var last error
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = f()
		return last == nil, nil
	}); err != nil {
		msg := fmt.Sprintf("%s: still failing after %s: %v", what, timeout, last)
		if logs != nil {
			msg += "\n" + logs()
		}
		t.Fatal(msg)
	}
}

// TenantUser is the tenant of TenantRBAC, for kubectl --as.
const TenantUser = "alice"

// TenantRBAC is a Role and RoleBinding that let TenantUser do anything with
// milvuses in namespace and nothing with milvusupgrades: a tenant as a
// platform team grants one, for whom the MilvusUpgrade that migrates their
// database is the controller's to create.
func TenantRBAC(namespace string) []byte {
	return fmt.Appendf(nil, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: milvus-owner, namespace: %[1]s}
rules:
  - apiGroups: ["milvus.io"]
    resources: ["milvuses"]
    verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: %[2]s-milvus-owner, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: milvus-owner}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: %[2]s}]
`, namespace, TenantUser)
}
