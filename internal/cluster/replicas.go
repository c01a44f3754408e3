package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Leader election as the replicas run it: the Lease cmd/webhook takes
// (LeaderElectionID) in the namespace StartHA gives them.
const (
	LeaseName      = "milvus-admission"
	LeaseNamespace = "default"
	// acquiredLease is what client-go's leader election logs when a replica
	// becomes leader. The Lease's holderIdentity is hostname_UUID, the same
	// hostname for every replica and a UUID no replica logs, so the log is
	// how a replica is told apart.
	acquiredLease = "Successfully acquired lease"
)

// replicaStopGrace bounds how long StopReplica waits after SIGTERM: the
// drain (--shutdown-drain, 10s by default) plus the graceful shutdown.
const replicaStopGrace = 60 * time.Second

// HAOptions configure StartHA.
type HAOptions struct {
	// KubeBin as in Options.
	KubeBin string
	// Replicas is the number of webhook processes; default 2.
	Replicas int
	// WebhookArgs are extra flags for every replica.
	WebhookArgs []string
	// Log also receives every replica's output.
	Log io.Writer
	// ClientCert makes the API server present a client certificate to the
	// webhooks (ControlPlaneOptions.WebhookClientAuth) and every replica
	// require one signed by its CA (--client-ca-file).
	ClientCert bool
}

// HA is a control plane with webhook replicas, as a Deployment runs them:
// separate processes with leader election on (Lease LeaseName in
// LeaseNamespace), behind one address, the balancer, which plays the
// Service. The registered webhook configurations (manifests/webhooks.yaml)
// point at that address; WebhookURL is it. Each replica logs to a file of
// its own (ReplicaLog); WebhookLog is unused.
type HA struct {
	*Cluster

	bin, certDir string
	args         []string
	log          io.Writer
	lb           *balancer

	mu       sync.Mutex
	replicas []*replica
}

// replica is one webhook process slot; proc is nil before its first start.
type replica struct {
	proc      *process
	addr      string // host:port of its webhook server
	readyz    string // URL of its /readyz
	starts    int
	processes []*process // every start, for Stop
}

// StartHA starts a control plane, o.Replicas webhook replicas and the
// balancer in front of them, registers the shipped webhook configurations
// with the balancer's address and waits until the API server calls them. On
// error nothing is left running.
func StartHA(ctx context.Context, o HAOptions) (h *HA, err error) {
	if o.Replicas <= 0 {
		o.Replicas = 2
	}
	lb, err := newBalancer(o.Replicas)
	if err != nil {
		return nil, err
	}
	cp := ControlPlaneOptions{KubeBin: o.KubeBin}
	if o.ClientCert {
		cp.WebhookClientAuth = lb.addr()
	}
	c, err := StartControlPlane(cp)
	if err != nil {
		lb.close()
		return nil, err
	}
	c.WebhookLog = ""
	h = &HA{Cluster: c, certDir: filepath.Join(c.Dir, "certs"), log: o.Log, lb: lb}
	defer func() {
		if err != nil {
			_ = h.Stop()
			h = nil
		}
	}()
	for range o.Replicas {
		h.replicas = append(h.replicas, &replica{})
	}
	h.args = append([]string{
		"--kubeconfig", c.Kubeconfig,
		"--cert-dir", h.certDir,
		"--metrics-bind-address", "0",
		"--leader-elect=true",
		"--leader-election-namespace", LeaseNamespace, // out of cluster there is no pod namespace
	}, o.WebhookArgs...)
	if o.ClientCert {
		h.args = append(h.args, "--client-ca-file", c.ClientCAFile)
	}
	if c.ca, err = newTestCA(); err != nil {
		return h, err
	}
	if _, err := c.ca.issue(h.certDir); err != nil {
		return h, err
	}
	if h.bin, err = c.BuildWebhook(ctx); err != nil {
		return h, err
	}
	if err := h.StartAll(ctx); err != nil {
		return h, err
	}
	c.WebhookURL = "https://" + lb.addr()
	if err := c.registerWebhooks(ctx, c.ca.pem); err != nil {
		return h, err
	}
	return h, c.waitForAdmission(ctx, h.LogTail)
}

// Replicas is the number of replica slots.
func (h *HA) Replicas() int { return len(h.replicas) }

func (h *HA) replica(i int) (*replica, error) {
	if i < 0 || i >= len(h.replicas) {
		return nil, fmt.Errorf("no replica %d of %d", i, len(h.replicas))
	}
	return h.replicas[i], nil
}

// StartReplica starts replica i (again) on new ports and waits until its
// /readyz answers 200 and the balancer sends it new connections.
func (h *HA) StartReplica(ctx context.Context, i int) error {
	h.mu.Lock()
	r, err := h.replica(i)
	if err == nil && r.proc != nil && !r.proc.exited() {
		err = fmt.Errorf("replica %d is running", i)
	}
	if err != nil {
		h.mu.Unlock()
		return err
	}
	r.starts++
	logPath := filepath.Join(h.Dir, fmt.Sprintf("webhook-%d.%d.log", i, r.starts))
	h.mu.Unlock()

	p, port, probePort, err := startProcess(ctx, h.bin, func(port, probePort int) []string {
		return append(append([]string{}, h.args...),
			"--port", fmt.Sprint(port),
			"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probePort))
	}, nil, logPath, h.log)
	if err != nil {
		return fmt.Errorf("replica %d: %w", i, err)
	}
	h.mu.Lock()
	r.proc = p
	r.processes = append(r.processes, p)
	r.addr = fmt.Sprintf("127.0.0.1:%d", port)
	r.readyz = fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	h.mu.Unlock()
	b := h.lb.backends[i]
	b.set(r.addr, r.readyz)
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, _, ready := b.state()
		return ready, nil
	}); err != nil {
		return fmt.Errorf("replica %d is ready, but the balancer did not see it within 10s: %w", i, err)
	}
	return nil
}

// StartAll starts every replica that is not running, concurrently.
func (h *HA) StartAll(ctx context.Context) error {
	errs := make([]error, len(h.replicas))
	var wg sync.WaitGroup
	for i := range h.replicas {
		if h.Running(i) {
			continue
		}
		wg.Go(func() { errs[i] = h.StartReplica(ctx, i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// StopReplica sends replica i SIGTERM, as the kubelet does, and waits for
// it to exit: it drains for --shutdown-drain, then shuts down. It fails if
// the replica is not running, did not exit within a minute (it is then
// killed) or exited with an error.
func (h *HA) StopReplica(i int) error {
	if err := h.TerminateReplica(i); err != nil {
		return err
	}
	return h.WaitReplica(i, replicaStopGrace)
}

// TerminateReplica sends replica i SIGTERM and returns at once; see
// WaitReplica.
func (h *HA) TerminateReplica(i int) error {
	p, err := h.running(i)
	if err != nil {
		return err
	}
	return p.cmd.Process.Signal(syscall.SIGTERM)
}

// WaitReplica waits up to timeout for replica i's latest process to exit,
// then kills it. It fails if the process had to be killed or exited with an
// error.
func (h *HA) WaitReplica(i int, timeout time.Duration) error {
	h.mu.Lock()
	r, err := h.replica(i)
	var p *process
	if err == nil {
		if p = r.proc; p == nil {
			err = fmt.Errorf("replica %d never started", i)
		}
	}
	h.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("replica %d did not exit within %s; killed", i, timeout)
	}
	if p.err != nil {
		return fmt.Errorf("replica %d exited: %w\n%s", i, p.err, logTail(p.log, 20))
	}
	return nil
}

// KillReplica kills replica i with SIGKILL and waits for it to exit.
func (h *HA) KillReplica(i int) error {
	p, err := h.running(i)
	if err != nil {
		return err
	}
	p.stop(syscall.SIGKILL, replicaStopGrace)
	return nil
}

// running is replica i's process, or an error when it is not running.
func (h *HA) running(i int) (*process, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, err := h.replica(i)
	if err != nil {
		return nil, err
	}
	if r.proc == nil || r.proc.exited() {
		return nil, fmt.Errorf("replica %d is not running", i)
	}
	return r.proc, nil
}

// StopAll stops every running replica with SIGTERM, concurrently.
func (h *HA) StopAll() error {
	errs := make([]error, len(h.replicas))
	var wg sync.WaitGroup
	for i := range h.replicas {
		if h.Running(i) {
			wg.Go(func() { errs[i] = h.StopReplica(i) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Running reports whether replica i's process is running.
func (h *HA) Running(i int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, err := h.replica(i)
	return err == nil && r.proc != nil && !r.proc.exited()
}

// Ready asks replica i's /readyz directly (not the balancer's view).
func (h *HA) Ready(ctx context.Context, i int) bool {
	h.mu.Lock()
	r, err := h.replica(i)
	var readyz string
	if err == nil {
		readyz = r.readyz
	}
	h.mu.Unlock()
	return readyz != "" && probe(ctx, readyz)
}

// ReplicaAddr is the host:port replica i's webhook server last listened on.
func (h *HA) ReplicaAddr(i int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, err := h.replica(i); err == nil {
		return r.addr
	}
	return ""
}

// ReplicaLogPath is the log file of replica i's latest start.
func (h *HA) ReplicaLogPath(i int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, err := h.replica(i); err == nil && r.proc != nil {
		return r.proc.log
	}
	return ""
}

// ReplicaLog is the log of replica i's latest start.
func (h *HA) ReplicaLog(i int) string {
	path := h.ReplicaLogPath(i)
	if path == "" {
		return ""
	}
	data, _ := os.ReadFile(path)
	return string(data)
}

// Connections is how many connections the balancer has sent to replica i
// (all its starts).
func (h *HA) Connections(i int) int64 {
	if i < 0 || i >= len(h.lb.backends) {
		return 0
	}
	return h.lb.backends[i].conns.Load()
}

// ActiveConnections is how many connections through the balancer to
// replica i are open now.
func (h *HA) ActiveConnections(i int) int64 {
	if i < 0 || i >= len(h.lb.backends) {
		return 0
	}
	return h.lb.backends[i].active.Load()
}

// LogTail is the last n lines of every replica's latest log.
func (h *HA) LogTail(n int) string {
	var b strings.Builder
	for i := range h.replicas {
		if path := h.ReplicaLogPath(i); path != "" {
			fmt.Fprintf(&b, "--- replica %d (%s)\n%s\n", i, path, logTail(path, n))
		}
	}
	return b.String()
}

// LeaseHolder is the Lease's spec.holderIdentity: "" when there is no
// Lease or it was released.
func (h *HA) LeaseHolder(ctx context.Context) (string, error) {
	lease := &coordinationv1.Lease{}
	err := h.Client.Get(ctx, types.NamespacedName{Namespace: LeaseNamespace, Name: LeaseName}, lease)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil || lease.Spec.HolderIdentity == nil {
		return "", err
	}
	return *lease.Spec.HolderIdentity, nil
}

// Leader is the running replica that holds the Lease, and the Lease's
// holderIdentity. The Lease must have a holder, and exactly one running
// replica must have logged that it acquired the Lease since it started (a
// replica that loses leadership exits); otherwise Leader fails, saying why.
func (h *HA) Leader(ctx context.Context) (int, string, error) {
	holder, err := h.LeaseHolder(ctx)
	if err != nil {
		return -1, "", err
	}
	if holder == "" {
		return -1, "", errors.New("the Lease has no holder")
	}
	var leaders []int
	for i := range h.replicas {
		if h.Running(i) && strings.Contains(h.ReplicaLog(i), acquiredLease) {
			leaders = append(leaders, i)
		}
	}
	if len(leaders) != 1 {
		return -1, holder, fmt.Errorf("the Lease is held by %s, and the running replicas that logged %q are %v", holder, acquiredLease, leaders)
	}
	return leaders[0], holder, nil
}

// Stop ends every replica, the balancer and the control plane and removes
// the work dir.
func (h *HA) Stop() error {
	var wg sync.WaitGroup
	h.mu.Lock()
	for _, r := range h.replicas {
		for _, p := range r.processes {
			wg.Go(func() { p.stop(syscall.SIGTERM, replicaStopGrace) })
		}
	}
	h.mu.Unlock()
	wg.Wait()
	h.lb.close()
	return h.Cluster.Stop()
}
