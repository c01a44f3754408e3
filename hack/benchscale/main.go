// Command benchscale measures the webhook against a fleet on a real API
// server (internal/cluster: etcd and kube-apiserver, the webhook built from
// cmd/webhook and run as its own process, the shipped webhook
// configurations). It prints:
//
//   - the webhook's RSS (VmRSS, and the peak VmHWM) with an empty cache and
//     with the fleet: -milvuses Milvus (production-sized, with status) and
//     -upgrades MilvusUpgrades spread over -namespaces namespaces;
//   - the latency of judged Milvus UPDATEs (image upgrades, through both
//     webhooks) as a client sees it, p50 and p90, with the empty cache and
//     with the fleet, each in alternating rounds with the same updates
//     without the webhook configurations: what the API server alone does
//     with the fleet, and what the webhooks add;
//   - the latency of replicas-only updates, which the configurations'
//     matchConditions keep away from the webhook, with and without the
//     webhook configurations registered, in alternating rounds;
//   - the RSS of a second webhook process started with the fleet in place
//     (its initial list), once ready and once settled.
//
// Every phase is bounded in count and time; loopback only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

type options struct {
	milvuses, upgrades, namespaces int
	probes, workers                int
	timeout                        time.Duration
	compare                        string
}

func main() {
	var o options
	flag.IntVar(&o.milvuses, "milvuses", 10000, "Milvus objects in the fleet")
	flag.IntVar(&o.upgrades, "upgrades", 2500, "MilvusUpgrades in the fleet, each of its own Milvus (at most a quarter of -milvuses)")
	flag.IntVar(&o.namespaces, "namespaces", 100, "namespaces the fleet spreads over")
	flag.IntVar(&o.probes, "probes", 40, "Milvus whose image is upgraded step by step in each latency phase (18 updates each)")
	flag.IntVar(&o.workers, "workers", 32, "parallel creates")
	flag.DurationVar(&o.timeout, "timeout", 40*time.Minute, "bound on the whole run")
	flag.StringVar(&o.compare, "compare", "", "another webhook binary (say, built from an older commit) whose RSS as a new replica is measured too")
	flag.Parse()
	if o.milvuses < 1 || o.milvuses > 20000 || o.upgrades < 0 || o.upgrades*4 > o.milvuses || o.namespaces < 1 ||
		o.namespaces > o.milvuses || o.probes < 1 || o.probes > 200 || o.workers < 1 || o.workers > 128 {
		fmt.Fprintln(os.Stderr, "benchscale: -milvuses in 1..20000, -upgrades at most a quarter of them, -namespaces in 1..milvuses, -probes in 1..200, -workers in 1..128")
		os.Exit(2)
	}
	logf.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

// Images of the fleet: a quarter still on 2.1.4 (each with a MilvusUpgrade
// to 2.2.16), the rest spread over current releases. The probes start at
// probeFrom and go up one patch release at a time to v2.4.23.
const (
	legacyImage = "milvusdb/milvus:v2.1.4"
	probeFrom   = 5
	probeTo     = 23
)

var currentImages = []string{"milvusdb/milvus:v2.4.13", "milvusdb/milvus:v2.4.17", "milvusdb/milvus:v2.5.4", "milvusdb/milvus:v2.5.10"}

func probeImage(patch int) string { return fmt.Sprintf("milvusdb/milvus:v2.4.%d", patch) }

// phase is what one phase measured.
type phase struct {
	mem memory
	gc  gcReading
	lat []time.Duration
	// latAlone are the same updates without the webhook configurations.
	latAlone []time.Duration
	calls    map[string]callStats // the API server's calls of our webhooks
	// handled are the webhook's own handler times, by path
	// (controller_runtime_webhook_latency_seconds).
	handled map[string]callStats
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	// The webhook's GC trace (in its log) gives the live heap behind the
	// RSS; its metrics over plain HTTP, the handler's own time per review.
	c, err := cluster.Start(ctx, cluster.Options{Metrics: true, WebhookArgs: []string{"--metrics-insecure"},
		WebhookEnv: []string{"GODEBUG=gctrace=1"}})
	if err != nil {
		return err
	}
	defer c.Stop() //nolint:errcheck // best effort at exit
	pid, err := processOf(filepath.Join(c.Dir, "webhook"))
	if err != nil {
		return err
	}
	apiserver, _ := processOf(filepath.Join(cluster.KubeBinDir(), "kube-apiserver"))
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: the creates are bounded by -workers
	cl, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return err
	}
	metrics, err := newScraper(cfg, strings.TrimSuffix(cfg.Host, "/")+"/metrics")
	if err != nil {
		return err
	}
	handlerMetrics := &scraper{client: http.DefaultClient, url: "http://" + strings.TrimPrefix(c.MetricsURL, "https://")}
	fmt.Printf("control plane and webhook (pid %d) up in %s; webhook built from cmd/webhook, shipped configurations registered\n", pid, time.Since(start).Round(time.Second))
	settle(ctx, pid)
	idle := phase{mem: rss(pid), gc: lastGC(c.WebhookLog)}

	// measure settles the webhook and the API server, then runs the judged
	// updates of probes.
	measure := func(probes []types.NamespacedName) (phase, phase, error) {
		settle(ctx, pid)
		settleCPU(ctx, apiserver)
		before := phase{mem: rss(pid), gc: lastGC(c.WebhookLog)}
		calls0, err := metrics.sums(ctx, apiserverCalls)
		if err != nil {
			return phase{}, phase{}, err
		}
		handled0, err := handlerMetrics.sums(ctx, handlerCalls)
		if err != nil {
			return phase{}, phase{}, err
		}
		if before.lat, before.latAlone, err = imageRounds(ctx, cl, probes); err != nil {
			return phase{}, phase{}, err
		}
		calls1, err := metrics.sums(ctx, apiserverCalls)
		if err != nil {
			return phase{}, phase{}, err
		}
		handled1, err := handlerMetrics.sums(ctx, handlerCalls)
		if err != nil {
			return phase{}, phase{}, err
		}
		before.calls, before.handled = delta(calls1, calls0), delta(handled1, handled0)
		return before, phase{mem: rss(pid), gc: lastGC(c.WebhookLog)}, nil
	}

	// Empty cache: only the probes.
	if err := createNamespace(ctx, cl, "probe"); err != nil {
		return err
	}
	emptyProbes := make([]types.NamespacedName, o.probes)
	for i := range emptyProbes {
		emptyProbes[i] = types.NamespacedName{Namespace: "probe", Name: fmt.Sprintf("probe-%d", i)}
		if err := createMilvus(ctx, cl, emptyProbes[i], probeImage(probeFrom), i); err != nil {
			return err
		}
	}
	empty, afterEmpty, err := measure(emptyProbes)
	if err != nil {
		return err
	}

	// The fleet.
	began := time.Now()
	probes, err := createFleet(ctx, cl, o)
	if err != nil {
		return err
	}
	created := time.Since(began)
	sample, err := storedSize(ctx, cl, probes[0])
	if err != nil {
		return err
	}
	fleet, afterFleet, err := measure(probes)
	if err != nil {
		return err
	}

	// Replicas-only updates, with the webhook configurations and without,
	// in alternating rounds: the API server and etcd drift over minutes
	// (compaction, their own GC), which back-to-back phases would put on
	// one side.
	withHooks, withoutHooks, err := alternate(ctx, cl, replicaRoundCount, func(int) ([]time.Duration, error) {
		return replicaUpdates(ctx, cl, probes, replicaPasses)
	})
	if err != nil {
		return err
	}

	// A replica started with the fleet in place.
	restart, err := restartedRSS(ctx, c, filepath.Join(c.Dir, "webhook"))
	if err != nil {
		return err
	}
	var compared restartReading
	if o.compare != "" {
		if compared, err = restartedRSS(ctx, c, o.compare); err != nil {
			return err
		}
	}

	fmt.Println()
	fmt.Printf("fleet: %d Milvus (%d bytes of JSON each as stored, status and managed fields included) and %d MilvusUpgrades in %d namespaces, created in %s\n",
		o.milvuses, sample, o.upgrades, o.namespaces, created.Round(time.Second))
	fmt.Printf("%d judged UPDATEs per phase (mutating and validating webhook) and %d without the webhook configurations, in %d alternating rounds:\n",
		len(empty.lat), len(empty.latAlone), imageRoundCount)
	fmt.Printf("%d Milvus, each upgraded v2.4.%d → v2.4.%d one patch release at a time\n", o.probes, probeFrom, probeTo)
	fmt.Println()
	row := func(name string, p phase) {
		fmt.Printf("%-36s %10s %10s %10s %10s %10s", name, mib(p.mem.rss), mib(p.mem.anon), mib(p.mem.hwm), p.gc.live, p.gc.goal)
		if p.lat != nil {
			fmt.Printf(" %9s %9s %9s %10s %9s %9s", ms(pct(p.lat, 50)), ms(pct(p.lat, 90)), ms(mean(p.calls)), ms(mean(p.handled)),
				ms(pct(p.latAlone, 50)), ms(pct(p.latAlone, 90)))
		}
		fmt.Println()
	}
	fmt.Printf("%-36s %10s %10s %10s %10s %10s %9s %9s %9s %10s %9s %9s\n", "webhook", "RSS", "anon RSS", "peak RSS", "live heap", "heap goal",
		"p50", "p90", "in hook", "in handler", "p50 alone", "p90 alone")
	row("started, nothing cached", idle)
	row("empty cache (probes only)", empty)
	row("  after its updates", afterEmpty)
	row("with the fleet", fleet)
	row("  after its updates", afterFleet)
	row("new replica, fleet in place: ready", phase{mem: restart.ready, gc: restart.readyGC})
	row("  settled", phase{mem: restart.settled, gc: restart.settledGC})
	if o.compare != "" {
		row("  "+filepath.Base(o.compare)+": ready", phase{mem: compared.ready, gc: compared.readyGC})
		row("  "+filepath.Base(o.compare)+": settled", phase{mem: compared.settled, gc: compared.settledGC})
	}
	fmt.Println("(RSS = VmRSS, anon = RssAnon: the rest is the binary's mapped pages; peak = VmHWM; live heap and goal from the")
	fmt.Println(" last GC (GODEBUG=gctrace=1); p50/p90: a judged UPDATE as the client sees it; in hook: the API server's mean")
	fmt.Println(" time per call of our two Milvus webhooks, apiserver_admission_webhook_admission_duration_seconds; in handler:")
	fmt.Println(" the webhook's own mean time per review of those two paths, controller_runtime_webhook_latency_seconds;")
	fmt.Println(" alone: the same updates without the webhook configurations, the API server by itself)")
	fmt.Println()
	fmt.Printf("UPDATE latency with the fleet / empty cache: p50 %.2f×, p90 %.2f×; time in our webhooks per call %.2f×, in the handler %.2f×\n",
		pct(fleet.lat, 50)/pct(empty.lat, 50), pct(fleet.lat, 90)/pct(empty.lat, 90), mean(fleet.calls)/mean(empty.calls), mean(fleet.handled)/mean(empty.handled))
	fmt.Printf("  the API server alone, the same updates without the webhooks: p50 %.2f×, p90 %.2f×\n",
		pct(fleet.latAlone, 50)/pct(empty.latAlone, 50), pct(fleet.latAlone, 90)/pct(empty.latAlone, 90))
	fmt.Printf("  what the webhooks add to the p50 (with − alone): %s with the empty cache, %s with the fleet\n",
		ms(pct(empty.lat, 50)-pct(empty.latAlone, 50)), ms(pct(fleet.lat, 50)-pct(fleet.latAlone, 50)))
	fmt.Printf("RSS per 1,000 Milvus (with %d MilvusUpgrades): %s settled, %s after the updates, %s in a new replica\n", o.upgrades*1000/o.milvuses,
		perThousand(fleet.mem.rss, empty.mem.rss, o.milvuses), perThousand(afterFleet.mem.rss, afterEmpty.mem.rss, o.milvuses),
		perThousand(restart.settled.rss, empty.mem.rss, o.milvuses))
	fmt.Printf("replicas-only update p50 (%d updates each): %s with the webhook configurations, %s without (%.2f×)\n",
		len(withHooks), ms(pct(withHooks, 50)), ms(pct(withoutHooks, 50)), pct(withHooks, 50)/pct(withoutHooks, 50))
	fmt.Printf("total %s\n", time.Since(start).Round(time.Second))
	return nil
}

func createNamespace(ctx context.Context, cl client.Client, name string) error {
	return cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// createMilvus creates a production-sized Milvus as kubectl apply would,
// and gives it the status the operator writes once it runs image.
func createMilvus(ctx context.Context, cl client.Client, key types.NamespacedName, image string, i int) error {
	u := &unstructured.Unstructured{Object: webhooktest.Milvus(key.Namespace, key.Name, image, i)}
	if err := cl.Create(ctx, u, client.FieldOwner("kubectl-client-side-apply")); err != nil {
		return fmt.Errorf("creating Milvus %s: %w", key, err)
	}
	u.Object["status"] = webhooktest.Status(image, i)
	if err := cl.Status().Update(ctx, u, client.FieldOwner("manager")); err != nil {
		return fmt.Errorf("status of Milvus %s: %w", key, err)
	}
	return nil
}

// createFleet creates the namespaces, the Milvus and the upgrades with
// o.workers parallel clients, and returns the probes of the fleet phase:
// Milvus at probeFrom in namespaces that hold upgrades (of other Milvus).
func createFleet(ctx context.Context, cl client.Client, o options) ([]types.NamespacedName, error) {
	for n := range o.namespaces {
		if err := createNamespace(ctx, cl, fmt.Sprintf("fleet-%03d", n)); err != nil {
			return nil, err
		}
	}
	ns := o.namespaces
	key := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: fmt.Sprintf("fleet-%03d", i%ns), Name: fmt.Sprintf("db-%05d", i)}
	}
	// Every namespace gets its share of legacy Milvus (and so of upgrades):
	// upgrade j acts on Milvus legacyOf(j); the probes come from other blocks.
	legacyOf := func(j int) int { return (j/ns)*4*ns + j%ns }
	legacy := func(i int) bool { return (i/ns)%4 == 0 && (i/ns/4)*ns+i%ns < o.upgrades }
	if o.upgrades > 0 && legacyOf(o.upgrades-1) >= o.milvuses {
		return nil, fmt.Errorf("%d upgrades do not fit %d Milvus in %d namespaces: use fewer upgrades or namespaces", o.upgrades, o.milvuses, ns)
	}
	probes := map[types.NamespacedName]bool{}
	for i := range o.milvuses {
		if len(probes) < o.probes && (i/ns)%4 == 1 {
			probes[key(i)] = true
		}
	}
	if len(probes) < o.probes {
		return nil, fmt.Errorf("the fleet is too small for %d probes", o.probes)
	}
	image := func(i int) string {
		switch {
		case legacy(i):
			return legacyImage
		case probes[key(i)]:
			return probeImage(probeFrom)
		}
		return currentImages[i%len(currentImages)]
	}
	var done atomic.Int64
	progress := func(what string, total int) func() {
		done.Store(0)
		t := time.NewTicker(10 * time.Second)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-t.C:
					fmt.Printf("  %s: %d/%d\n", what, done.Load(), total)
				case <-stop:
					t.Stop()
					return
				}
			}
		}()
		return func() { close(stop) }
	}
	stop := progress("Milvus", o.milvuses)
	err := parallel(ctx, o.workers, o.milvuses, func(i int) error {
		defer done.Add(1)
		return createMilvus(ctx, cl, key(i), image(i), i)
	})
	stop()
	if err != nil {
		return nil, err
	}
	stop = progress("MilvusUpgrades", o.upgrades)
	err = parallel(ctx, o.workers, o.upgrades, func(j int) error {
		defer done.Add(1)
		target := key(legacyOf(j))
		u := &unstructured.Unstructured{Object: webhooktest.MilvusUpgrade(target.Namespace, target.Name+"-migrate-v2-2-16", target.Name)}
		if err := cl.Create(ctx, u); err != nil {
			return fmt.Errorf("creating MilvusUpgrade for %s: %w", target, err)
		}
		return nil
	})
	stop()
	var out []types.NamespacedName
	for k := range probes {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b types.NamespacedName) int { return strings.Compare(a.String(), b.String()) })
	return out, err
}

// parallel runs f(0..n-1) on workers goroutines; the first error stops it.
func parallel(ctx context.Context, workers, n int, f func(int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// imageRounds upgrades each probe from probeFrom to probeTo one patch
// release at a time, one request after the other, in imageRoundCount
// rounds of alternate, and returns the latency of each update with the
// webhook configurations and without.
func imageRounds(ctx context.Context, cl client.Client, probes []types.NamespacedName) (with, without []time.Duration, err error) {
	const stepsPerRun = (probeTo - probeFrom) / (2 * imageRoundCount)
	return alternate(ctx, cl, imageRoundCount, func(run int) ([]time.Duration, error) {
		first := probeFrom + 1 + run*stepsPerRun
		return patchEach(ctx, cl, probes, stepsPerRun, func(step int) string {
			return fmt.Sprintf(`{"spec":{"components":{"image":%q}}}`, probeImage(first+step))
		})
	})
}

// imageRoundCount rounds of image upgrades, each side three patch
// releases of every probe per round.
const imageRoundCount = 3

// alternate runs side rounds times with the webhook configurations and
// rounds times without, alternating which comes first, and returns the
// latencies of each. The API server and etcd drift over minutes
// (compaction, their own GC), which back-to-back phases would put on one
// side. side gets the number of its run, 0 to 2×rounds−1.
func alternate(ctx context.Context, cl client.Client, rounds int, side func(run int) ([]time.Duration, error)) (with, without []time.Duration, err error) {
	for round := range rounds {
		for i := range 2 {
			registered := (round+i)%2 == 0
			var restore func(context.Context) error
			if !registered {
				if restore, err = unregister(ctx, cl); err != nil {
					return nil, nil, err
				}
			}
			// The API server's configuration informers follow in
			// milliseconds; a second makes sure.
			time.Sleep(time.Second)
			lat, err := side(2*round + i)
			if restore != nil {
				err = errors.Join(err, restore(ctx))
			}
			if err != nil {
				return nil, nil, err
			}
			if registered {
				with = append(with, lat...)
			} else {
				without = append(without, lat...)
			}
		}
	}
	return with, without, nil
}

// replicaRoundCount rounds of alternate, of replicaPasses passes over the
// probes: 480 replicas-only updates on each side with the default 40 probes.
const replicaRoundCount, replicaPasses = 4, 3

// replicaUpdates changes the queryNode replicas of each probe, passes
// times, and returns the latency of each update.
func replicaUpdates(ctx context.Context, cl client.Client, probes []types.NamespacedName, passes int) ([]time.Duration, error) {
	return patchEach(ctx, cl, probes, passes, func(step int) string {
		return fmt.Sprintf(`{"spec":{"components":{"queryNode":{"replicas":%d}}}}`, 1+step%3)
	})
}

// patchEach merge-patches every probe with patch(step) for each of steps
// steps, one request after the other, and returns the latency of each.
func patchEach(ctx context.Context, cl client.Client, probes []types.NamespacedName, steps int, patch func(step int) string) ([]time.Duration, error) {
	var lat []time.Duration
	for step := range steps {
		body := patch(step)
		for _, p := range probes {
			d, err := patchMilvus(ctx, cl, p, body)
			if err != nil {
				return nil, err
			}
			lat = append(lat, d)
		}
	}
	return lat, nil
}

func patchMilvus(ctx context.Context, cl client.Client, key types.NamespacedName, patch string) (time.Duration, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(milvus.MilvusKind)
	u.SetNamespace(key.Namespace)
	u.SetName(key.Name)
	began := time.Now()
	if err := cl.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldOwner("kubectl-edit")); err != nil {
		return 0, fmt.Errorf("patching Milvus %s with %s: %w", key, patch, err)
	}
	return time.Since(began), nil
}

// unregister deletes the webhook configurations and returns what puts them
// back as they were.
func unregister(ctx context.Context, cl client.Client) (func(context.Context) error, error) {
	mutating := &admissionregistrationv1.MutatingWebhookConfigurationList{}
	validating := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	if err := cl.List(ctx, mutating); err != nil {
		return nil, err
	}
	if err := cl.List(ctx, validating); err != nil {
		return nil, err
	}
	var objs []client.Object
	for i := range mutating.Items {
		objs = append(objs, &mutating.Items[i])
	}
	for i := range validating.Items {
		objs = append(objs, &validating.Items[i])
	}
	for _, obj := range objs {
		if err := cl.Delete(ctx, obj); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context) error {
		for _, obj := range objs {
			obj.SetResourceVersion("")
			obj.SetUID("")
			if err := cl.Create(ctx, obj); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func storedSize(ctx context.Context, cl client.Client, key types.NamespacedName) (int, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(milvus.MilvusKind)
	if err := cl.Get(ctx, key, u); err != nil {
		return 0, err
	}
	data, err := json.Marshal(u.Object)
	return len(data), err
}

// memory is a reading of /proc/<pid>/status, in bytes.
type memory struct{ rss, anon, hwm uint64 }

func rss(pid int) memory {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}
	}
	var m memory
	for line := range strings.SplitSeq(string(data), "\n") {
		field, value, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch field {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		}
	}
	return m
}

// settle waits until the process's RSS has changed by less than 1 MiB over
// ten seconds (its informers have caught up and a GC has run), at most two
// minutes.
func settle(ctx context.Context, pid int) {
	last := rss(pid).rss
	stable := 0
	_ = wait.PollUntilContextTimeout(ctx, 2*time.Second, 2*time.Minute, false, func(context.Context) (bool, error) {
		now := rss(pid).rss
		if diff := int64(now) - int64(last); diff < 1<<20 && diff > -(1<<20) {
			stable++
		} else {
			stable = 0
		}
		last = now
		return stable >= 5, nil
	})
}

// processOf finds the process running the binary bin (the webhook
// internal/cluster started).
func processOf(bin string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if argv0, _, _ := strings.Cut(string(cmdline), "\x00"); argv0 == bin {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process runs %s", bin)
}

type restartReading struct {
	ready, settled     memory
	readyGC, settledGC gcReading
}

// restartedRSS starts bin as a second webhook process on the running
// cluster (not registered, not a leader candidate), waits until it is ready
// (its cache synced with the fleet), reads its RSS, lets it settle, reads
// it again and stops it.
func restartedRSS(ctx context.Context, c *cluster.Cluster, bin string) (restartReading, error) {
	port, err := cluster.FreePort()
	if err != nil {
		return restartReading{}, err
	}
	probePort, err := cluster.FreePort()
	if err != nil {
		return restartReading{}, err
	}
	cmd := exec.Command(bin, "--kubeconfig", c.Kubeconfig, "--cert-dir", filepath.Join(c.Dir, "certs"),
		"--port", strconv.Itoa(port), "--metrics-bind-address", "0", "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probePort),
		"--leader-elect=false")
	log, err := os.Create(filepath.Join(c.Dir, "restarted-"+filepath.Base(bin)+".log"))
	if err != nil {
		return restartReading{}, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	// As the harness runs the first.
	if cmd.Env, err = cluster.ProcessEnv("GODEBUG=gctrace=1"); err != nil {
		return restartReading{}, err
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return restartReading{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		return ready(ctx, readyz), nil
	}); err != nil {
		return restartReading{}, fmt.Errorf("the second webhook process was not ready: %w", err)
	}
	var r restartReading
	r.ready, r.readyGC = rss(cmd.Process.Pid), lastGC(log.Name())
	fmt.Printf("second webhook process (%s) ready, its cache synced with the fleet, in %s\n", bin, time.Since(began).Round(100*time.Millisecond))
	settle(ctx, cmd.Process.Pid)
	r.settled, r.settledGC = rss(cmd.Process.Pid), lastGC(log.Name())
	return r, nil
}

// gcReading is the live heap after the last GC and the heap goal it set,
// from a gctrace log line ("…, 30->31->15 MB, 32 MB goal, …").
type gcReading struct{ live, goal string }

var gcLine = regexp.MustCompile(`->(\d+) MB, (\d+) MB goal`)

func lastGC(logPath string) gcReading {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return gcReading{"?", "?"}
	}
	all := gcLine.FindAllSubmatch(data, -1)
	if len(all) == 0 {
		return gcReading{"-", "-"}
	}
	m := all[len(all)-1]
	return gcReading{string(m[1]) + " MB", string(m[2]) + " MB"}
}

// settleCPU waits until the process (the API server) uses less than a
// fifth of a core over two seconds, three times in a row; at most three
// minutes. pid 0 waits for nothing.
func settleCPU(ctx context.Context, pid int) {
	if pid == 0 {
		return
	}
	last, calm := cpuTicks(pid), 0
	_ = wait.PollUntilContextTimeout(ctx, 2*time.Second, 3*time.Minute, false, func(context.Context) (bool, error) {
		now := cpuTicks(pid)
		if now-last < 2*100/5 { // clock ticks are 1/100 s
			calm++
		} else {
			calm = 0
		}
		last = now
		return calm >= 3, nil
	})
}

func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

// callStats sums apiserver_admission_webhook_admission_duration_seconds
// for one webhook.
type callStats struct {
	sum   float64
	count float64
}

// mean is the mean time in ms over all of calls.
func mean(calls map[string]callStats) float64 {
	var sum, count float64
	for _, c := range calls {
		sum, count = sum+c.sum, count+c.count
	}
	if count == 0 {
		return 0
	}
	return sum / count * 1000 // ms per call
}

func delta(after, before map[string]callStats) map[string]callStats {
	out := map[string]callStats{}
	for k, a := range after {
		b := before[k]
		out[k] = callStats{sum: a.sum - b.sum, count: a.count - b.count}
	}
	return out
}

// scraper reads a Prometheus endpoint.
type scraper struct {
	client *http.Client
	url    string
}

// newScraper reads url with cfg's credentials.
func newScraper(cfg *rest.Config, url string) (*scraper, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &scraper{client: hc, url: url}, nil
}

// histogram picks the series of one histogram: name is its metric, keep
// names a series by its labels, "" to leave it out.
type histogram struct {
	line *regexp.Regexp // <name>_(sum|count){labels} value
	keep func(labels string) string
}

// apiserverCalls are the API server's calls of our two Milvus webhooks on
// UPDATE, by webhook name.
var apiserverCalls = histogram{
	line: regexp.MustCompile(`^apiserver_admission_webhook_admission_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$`),
	keep: func(labels string) string {
		if !strings.Contains(labels, `.milvus.milvus-admission.io"`) || !strings.Contains(labels, `operation="UPDATE"`) {
			return ""
		}
		return label(labels, "name")
	},
}

// handlerCalls are the webhook's own reviews on its two Milvus paths.
var handlerCalls = histogram{
	line: regexp.MustCompile(`^controller_runtime_webhook_latency_seconds_(sum|count)\{([^}]*)\} (\S+)$`),
	keep: func(labels string) string {
		if path := label(labels, "webhook"); strings.HasSuffix(path, "-milvus-io-v1beta1-milvus") {
			return path
		}
		return ""
	},
}

// label is the value of name in a Prometheus label set, "" if absent.
func label(labels, name string) string {
	_, v, ok := strings.Cut(labels, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}

// sums reads the sums and counts of h's series.
func (m *scraper) sums(ctx context.Context, h histogram) (map[string]callStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", m.url, resp.Status)
	}
	out := map[string]callStats{}
	for line := range strings.SplitSeq(string(data), "\n") {
		g := h.line.FindStringSubmatch(line)
		if g == nil {
			continue
		}
		name := h.keep(g[2])
		if name == "" {
			continue
		}
		v, _ := strconv.ParseFloat(g[3], 64)
		c := out[name]
		if g[1] == "sum" {
			c.sum += v
		} else {
			c.count += v
		}
		out[name] = c
	}
	return out, nil
}

func ready(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100]) / float64(time.Millisecond)
}

func ms(v float64) string { return fmt.Sprintf("%.1fms", v) }

// perThousand is what the fleet adds to an RSS, per 1,000 Milvus.
func perThousand(with, without uint64, milvuses int) string {
	return fmt.Sprintf("%.2f MiB", (float64(with)-float64(without))/(1<<20)*1000/float64(milvuses))
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
