package ha

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// failoverTimeout bounds a leader failover after SIGKILL: the Lease lasts
// 15s (controller-runtime's default) and a candidate retries every 2s.
const failoverTimeout = 30 * time.Second

// reviewDirectly posts a Milvus CREATE review to the mutating path of the
// webhook server at addr, on a connection of its own, as the API server
// would (with certFile/keyFile as its client certificate when set), and
// returns the response.
func reviewDirectly(t *testing.T, addr string, cert *tls.Certificate) (*admissionv1.AdmissionResponse, error) {
	t.Helper()
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(env.ServingCA()))
	return postReview(t, addr, roots, cert)
}

func postReview(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate) (*admissionv1.AdmissionResponse, error) {
	t.Helper()
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tlsConfig.Certificates = []tls.Certificate{*cert}
	}
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true}}
	obj := []byte(`{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"direct","namespace":"default"},"spec":{"components":{"image":"milvusdb/milvus:v2.4.23"}}}`)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("direct-" + t.Name()),
			Kind:      metav1.GroupVersionKind{Group: "milvus.io", Version: "v1beta1", Kind: "Milvus"},
			Resource:  metav1.GroupVersionResource{Group: "milvus.io", Version: "v1beta1", Resource: "milvuses"},
			Name:      "direct",
			Namespace: "default",
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: obj},
		},
	}
	body, err := json.Marshal(review)
	require.NoError(t, err)
	resp, err := httpClient.Post("https://"+addr+"/mutate-milvus-io-v1beta1-milvus", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, data)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	if out.Response == nil {
		return nil, fmt.Errorf("no response in %s", data)
	}
	return out.Response, nil
}

// requireDefaulted checks that a direct review was answered by the
// defaulting webhook: allowed, with the imageUpdateMode default patched in.
func requireDefaulted(t *testing.T, resp *admissionv1.AdmissionResponse, err error) {
	t.Helper()
	require.NoError(t, err)
	assert.Equal(t, types.UID("direct-"+t.Name()), resp.UID)
	assert.True(t, resp.Allowed)
	assert.Contains(t, string(resp.Patch), "rollingUpgrade", "the imageUpdateMode default")
}

// waitForLeader waits until exactly one running replica holds the Lease.
func waitForLeader(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	var leader int
	var holder string
	eventually(t, timeout, "exactly one running replica holds the Lease", func() error {
		var err error
		leader, holder, err = env.Leader(t.Context())
		return err
	})
	return leader, holder
}

// Every replica is Ready and answers reviews, leader or not; only the
// migration controller is leader-elected, and it moves with the Lease when
// the leader dies.
func TestEveryReplicaServes(t *testing.T) {
	ensureReplicas(t)
	t.Cleanup(func() { ensureReplicas(t) }) // the killed leader comes back for later tests

	for i := range env.Replicas() {
		assert.True(t, env.Ready(t.Context(), i), "replica %d: /readyz 200", i)
		resp, err := reviewDirectly(t, env.ReplicaAddr(i), nil)
		requireDefaulted(t, resp, err)
	}
	leader, holder := waitForLeader(t, failoverTimeout)
	t.Logf("replica %d holds the Lease (%s)", leader, holder)
	follower := 1 - leader
	assert.True(t, env.Ready(t.Context(), follower), "the follower is Ready too")

	killed := time.Now()
	require.NoError(t, env.KillReplica(leader))
	var newHolder string
	eventually(t, failoverTimeout, "the other replica takes the Lease", func() error {
		got, h, err := env.Leader(t.Context())
		if err != nil {
			return err
		}
		if got != follower {
			return fmt.Errorf("replica %d holds it", got)
		}
		newHolder = h
		return nil
	})
	t.Logf("leader failover: replica %d took the Lease %s after replica %d was killed (SIGKILL)",
		follower, time.Since(killed).Round(100*time.Millisecond), leader)
	assert.NotEqual(t, holder, newHolder)

	// The controller works on the new leader: a held change gets its MilvusUpgrade.
	ns := newNamespace(t)
	m := milvusManifest{name: "my-release", image: repo + "v2.1.4"}
	kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	m.image = repo + "v2.4.23"
	_, stderr := kubectl(t, m.yaml(), "-n", ns, "apply", "-f", "-")
	assert.Contains(t, stderr, "[MU-META]")
	assert.Equal(t, repo+"v2.1.4", storedImage(t, ns, "my-release"), "held")
	waitForUpgrades(t, ns, "my-release-migrate-v2-2-16")
	assert.Contains(t, env.ReplicaLog(follower), `"created MilvusUpgrade"`, "the new leader created it")
}

// writeLoad updates one Milvus as fast as the API server admits it,
// alternating the image between two patch releases (an upgrade and a
// downgrade the rules allow), each write judged by both webhooks. Each
// write also drops spec.components.imageUpdateMode, which the mutating
// webhook puts back: a stored write without it was not defaulted.
type writeLoad struct {
	mu         sync.Mutex
	ok, failed int
	errs       []string
}

func (l *writeLoad) counts() (ok, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.failed
}

// run writes until ctx ends or after maxWrites writes.
func (l *writeLoad) run(ctx context.Context, c client.Client, ns, name string, maxWrites int) {
	images := []string{repo + "v2.4.22", repo + "v2.4.23"}
	start := time.Now()
	for i := 0; i < maxWrites && ctx.Err() == nil; i++ {
		image := images[i%2]
		patch := fmt.Appendf(nil, `{"spec":{"components":{"image":%q,"imageUpdateMode":null}}}`, image)
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion("milvus.io/v1beta1")
		obj.SetKind("Milvus")
		obj.SetNamespace(ns)
		obj.SetName(name)
		// A write in flight when ctx ends still finishes and counts.
		writeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := c.Patch(writeCtx, obj, client.RawPatch(types.MergePatchType, patch))
		cancel()
		if err == nil {
			got, _, _ := unstructured.NestedString(obj.Object, "spec", "components", "image")
			mode, _, _ := unstructured.NestedString(obj.Object, "spec", "components", "imageUpdateMode")
			if got != image || mode != "rollingUpgrade" {
				err = fmt.Errorf("stored image %q, imageUpdateMode %q: not admitted as asked", got, mode)
			}
		}
		l.mu.Lock()
		if err != nil {
			l.failed++
			l.errs = append(l.errs, fmt.Sprintf("write %d at +%s (%s): %v", i, time.Since(start).Round(time.Millisecond), image, err))
		} else {
			l.ok++
		}
		l.mu.Unlock()
	}
}

// waitForWrites waits until n more writes than before have succeeded.
func (l *writeLoad) waitForWrites(t *testing.T, n int, what string) {
	t.Helper()
	before, _ := l.counts()
	eventually(t, waitTimeout, what, func() error {
		if ok, failed := l.counts(); ok < before+n {
			return fmt.Errorf("%d writes since, %d failed in all", ok-before, failed)
		}
		return nil
	})
}

// A rolling restart (SIGTERM, drain, exit, start, Ready; one replica at a
// time) under a steady stream of admitted writes fails none of them.
func TestRollingRestartUnderLoad(t *testing.T) {
	ensureReplicas(t)
	ns := newNamespace(t)
	const name = "under-load"
	kubectl(t, milvusManifest{name: name, image: repo + "v2.4.23"}.yaml(), "-n", ns, "apply", "-f", "-")

	ctx, stop := context.WithTimeout(t.Context(), 2*time.Minute)
	defer stop()
	load := &writeLoad{}
	var running sync.WaitGroup
	running.Go(func() { load.run(ctx, env.Client, ns, name, 20000) })
	defer running.Wait()
	defer stop()

	load.waitForWrites(t, 10, "the writes run")
	conns := func() []int64 {
		var out []int64
		for i := range env.Replicas() {
			out = append(out, env.Connections(i))
		}
		return out
	}
	before := conns()
	for i := range env.Replicas() {
		stopped := time.Now()
		okBefore, _ := load.counts()
		require.NoError(t, env.TerminateReplica(i))
		// While it drains, the replica is unready and the API server's
		// connections leave it ("Connection: close" / GOAWAY), before it
		// exits.
		var drained error
		require.NoError(t, wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			if !env.Running(i) {
				return false, fmt.Errorf("replica %d exited before it was seen unready with no connection left (last: %v)", i, drained)
			}
			switch {
			case env.Ready(ctx, i):
				drained = errors.New("/readyz still 200")
			case env.ActiveConnections(i) > 0:
				drained = fmt.Errorf("%d connections still open", env.ActiveConnections(i))
			default:
				return true, nil
			}
			return false, nil
		}), "replica %d drains", i)
		require.NoError(t, env.WaitReplica(i, time.Minute), "replica %d exits after the drain", i)
		okAfter, _ := load.counts()
		t.Logf("replica %d drained and exited %s after SIGTERM; %d writes admitted meanwhile", i, time.Since(stopped).Round(100*time.Millisecond), okAfter-okBefore)
		assert.GreaterOrEqual(t, time.Since(stopped), drainFor, "replica %d served through --shutdown-drain", i)
		assert.Positive(t, okAfter-okBefore, "writes went on while replica %d drained", i)

		require.NoError(t, env.StartReplica(t.Context(), i), "replica %d': start and Ready", i)
		assert.True(t, env.Ready(t.Context(), i))
		load.waitForWrites(t, 10, fmt.Sprintf("writes go on after replica %d restarted", i))
	}
	stop()
	running.Wait()

	ok, failed := load.counts()
	after := conns()
	t.Logf("rolling restart: %d writes, %d failed (connections through the balancer per replica: before %v, after %v)", ok+failed, failed, before, after)
	sum := func(c []int64) (n int64) {
		for _, v := range c {
			n += v
		}
		return n
	}
	assert.Greater(t, sum(after), sum(before), "the API server moved to another replica at least once")
	for _, e := range load.errs {
		t.Errorf("failed write: %s", e)
	}
	assert.Zero(t, failed, "failed writes")
	assert.GreaterOrEqual(t, ok+failed, 50, "writes during the restart")
}
