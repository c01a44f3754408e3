// Package operator runs the real Milvus Operator, built from
// ../shared/milvus-operator/src by hack/operator/build.sh, as a process
// against a cluster.Cluster: as its own ServiceAccount with the operator's
// own RBAC (config/rbac/role.yaml), with only its MilvusUpgrade state machine
// running. Kubelet plays the parts of a real cluster that the operator relies
// on and a bare API server lacks; States records the state machine as a test
// sees it.
package operator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/internal/shared"
)

// The ServiceAccount the operator runs as by default: the identity the
// default policy lists in operatorIdentities.
const (
	DefaultNamespace      = "milvus-operator"
	DefaultServiceAccount = "milvus-operator"
)

// BuildHint says how to build the operator.
const BuildHint = "run `make operator-binary` (or `bash hack/operator/build.sh`; about 10-15 minutes the first time on 2 cores)"

// BuildDir is the directory hack/operator/build.sh builds the operator for
// the current source into (the binary `manager` and the working directory
// it needs), or an error that says how to build it when it is missing or
// stale. $MILVUS_OPERATOR_DIR names another build directory.
func BuildDir(ctx context.Context) (string, error) {
	dir := os.Getenv("MILVUS_OPERATOR_DIR")
	if dir == "" {
		if _, err := shared.Dir(); err != nil {
			return "", err
		}
		script := filepath.Join(cluster.RepoRoot(), "hack", "operator", "build.sh")
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "bash", script, "--dir")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s --dir: %v: %s", script, err, stderr.String())
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, f := range []string{"manager", ".stamp", "config/assets/charts/values.yaml", "config/assets/templates"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("the Milvus Operator is not built for the current source (%s is missing): %s", filepath.Join(dir, f), BuildHint)
		}
	}
	return dir, nil
}

// Options configure Start.
type Options struct {
	// Namespace and ServiceAccount name the identity the operator runs as
	// (created, and bound to the operator's manager-role). Default:
	// milvus-operator/milvus-operator.
	Namespace, ServiceAccount string
	// Dir is the build directory. Default: BuildDir.
	Dir string
	// Log, if not nil, also receives the operator's output (it always goes
	// to Operator.LogPath).
	Log io.Writer
	// KubeletLog, if not nil, receives what the Kubelet does, a line each
	// (Kubelet.Actions keeps it per namespace regardless).
	KubeletLog io.Writer
}

// Operator is a running Milvus Operator and the Kubelet that serves it.
type Operator struct {
	// Identity is the user name the operator authenticates as.
	Identity string
	// LogPath is the operator's log file.
	LogPath string
	// Kubelet plays the node for the operator's task Pods.
	Kubelet *Kubelet

	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has exited; nil before it started
	err    error         // how it exited, once done is closed
	cancel context.CancelFunc
}

// Start grants the operator's RBAC to its ServiceAccount, starts the
// Kubelet, then the operator, and waits until its MilvusUpgrade controller
// runs. On error nothing is left running.
func Start(ctx context.Context, c *cluster.Cluster, o Options) (op *Operator, err error) {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.ServiceAccount == "" {
		o.ServiceAccount = DefaultServiceAccount
	}
	if o.Dir == "" {
		if o.Dir, err = BuildDir(ctx); err != nil {
			return nil, err
		}
	}
	if err := Grant(ctx, c, o.Namespace, o.ServiceAccount); err != nil {
		return nil, err
	}
	kubeconfig, err := c.ServiceAccountKubeconfig(ctx, o.Namespace, o.ServiceAccount)
	if err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	op = &Operator{
		Identity: fmt.Sprintf("system:serviceaccount:%s:%s", o.Namespace, o.ServiceAccount),
		LogPath:  filepath.Join(c.Dir, fmt.Sprintf("operator-%s-%s.log", o.Namespace, o.ServiceAccount)),
		cancel:   cancel,
	}
	defer func() {
		if err != nil {
			op.Stop()
			op = nil
		}
	}()
	if op.Kubelet, err = StartKubelet(runCtx, c.Config, o.KubeletLog); err != nil {
		return op, err
	}

	// Flags as in the shared README: only the MilvusUpgrade reconciler runs
	// (no MilvusCluster CRD here, and the Milvus reconciler would deploy
	// etcd, MinIO and Milvus itself); no metrics or probe server (readiness
	// is its controller starting, below), so no port to race for; no leader
	// election.
	cmd := exec.Command(filepath.Join(o.Dir, "manager"),
		"--stop-reconcilers=milvuscluster,milvus",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--leader-elect=false",
		"--namespace", o.Namespace,
		"--name", o.ServiceAccount,
	)
	// It reads config/assets/... relative to its working directory, which
	// hack/operator/build.sh lays out.
	cmd.Dir = o.Dir
	cmd.Env = append(withoutInCluster(os.Environ()), "KUBECONFIG="+kubeconfig)
	logFile, err := os.Create(op.LogPath)
	if err != nil {
		return op, err
	}
	var out io.Writer = logFile
	if o.Log != nil {
		out = io.MultiWriter(logFile, o.Log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return op, fmt.Errorf("starting the Milvus Operator: %w", err)
	}
	op.cmd, op.done = cmd, make(chan struct{})
	go func() {
		op.err = cmd.Wait()
		logFile.Close()
		close(op.done)
	}()

	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if op.exited() {
			return false, fmt.Errorf("the Milvus Operator exited during start (%v):\n%s", op.err, op.LogTail(30))
		}
		data, _ := os.ReadFile(op.LogPath)
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "Starting workers") && strings.Contains(l, "milvusupgrade") {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		if wait.Interrupted(err) && ctx.Err() == nil {
			return op, fmt.Errorf("the Milvus Operator's MilvusUpgrade controller did not start within 60s:\n%s", op.LogTail(30))
		}
		return op, err
	}
	return op, nil
}

// withoutInCluster drops the variables that would make the operator think
// it runs in a pod.
func withoutInCluster(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "KUBERNETES_SERVICE_") && !strings.HasPrefix(e, "KUBECONFIG=") {
			out = append(out, e)
		}
	}
	return out
}

func (op *Operator) exited() bool {
	if op.done == nil {
		return true
	}
	select {
	case <-op.done:
		return true
	default:
		return false
	}
}

// Stop ends the operator (SIGINT, then SIGKILL after 10 s) and the Kubelet.
func (op *Operator) Stop() {
	if !op.exited() {
		_ = op.cmd.Process.Signal(os.Interrupt)
		select {
		case <-op.done:
		case <-time.After(10 * time.Second):
			_ = op.cmd.Process.Kill()
			<-op.done
		}
	}
	op.cancel()
}

// LogTail is the last n lines of the operator's log.
func (op *Operator) LogTail(n int) string {
	data, _ := os.ReadFile(op.LogPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Log is the operator's whole log.
func (op *Operator) Log() string {
	data, _ := os.ReadFile(op.LogPath)
	return string(data)
}

// Grant creates the ServiceAccount namespace/name (and its namespace), the
// operator's own ClusterRole manager-role from
// ../shared/milvus-operator/src/config/rbac/role.yaml, and a
// ClusterRoleBinding of it to the ServiceAccount — what the operator's
// install does for its controller-manager account.
func Grant(ctx context.Context, c *cluster.Cluster, namespace, name string) error {
	role, err := ManagerRole()
	if err != nil {
		return err
	}
	create := func(obj interface{ GetName() string }, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
		return nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := create(ns, c.Client.Create(ctx, ns)); err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := create(sa, c.Client.Create(ctx, sa)); err != nil {
		return err
	}
	if err := create(role, c.Client.Create(ctx, role)); err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("manager-rolebinding-%s-%s", namespace, name)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}},
	}
	return create(binding, c.Client.Create(ctx, binding))
}

// ManagerRole is the operator's ClusterRole as it ships.
func ManagerRole() (*rbacv1.ClusterRole, error) {
	dir, err := shared.Dir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "milvus-operator", "src", "config", "rbac", "role.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	docs, err := shared.YAMLDocuments(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, doc := range docs {
		role := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal(doc, role); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if role.Kind == "ClusterRole" && role.Name == "manager-role" {
			return role, nil
		}
	}
	return nil, fmt.Errorf("%s has no ClusterRole manager-role", path)
}

// Action is one thing the Kubelet did.
type Action struct {
	At   time.Time
	Text string
}

func (a Action) String() string { return a.Text }

// logger writes lines to w (if not nil) and keeps them per namespace, so
// that each test can show what happened in its own.
type logger struct {
	w    io.Writer
	mu   sync.Mutex
	byNS map[string][]Action
}

func (l *logger) logf(namespace, format string, args ...any) {
	a := Action{At: time.Now(), Text: fmt.Sprintf(format, args...)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byNS == nil {
		l.byNS = map[string][]Action{}
	}
	l.byNS[namespace] = append(l.byNS[namespace], a)
	if l.w != nil {
		fmt.Fprintf(l.w, "kubelet: %s: %s\n", namespace, a.Text)
	}
}

func (l *logger) actions(namespace string) []Action {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Action(nil), l.byNS[namespace]...)
}
