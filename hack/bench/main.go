// Command bench measures the served throughput of the admission handlers
// against a no-op controller-runtime webhook, all behind the same server:
// one pkg/webhook.Server, TLS on loopback, the project's four handlers and
// no-op handlers (admission.Allowed, admission.Patched with no patch)
// registered side by side. Each no-op is served twice: as controller-runtime
// serves a webhook (its admission.Webhook reading the review), the floor the
// project is measured against, and as the project's paths are served
// (pkg/webhook's own review reader), which leaves the cost of the handlers
// alone. wrk drives one path at a time with the same AdmissionReview: a
// Milvus UPDATE as the API server sends it for a production-sized object
// (pkg/webhook/webhooktest). Each round runs the project's path and the two
// no-ops back to back, in an order that rotates; the medians of the rounds'
// req/s and of their ratios are printed, and the server's CPU time per
// request, which other load on the machine disturbs less.
//
// The handlers read an in-memory lookup here: the informer cache's cost is
// what hack/benchscale measures, against a real API server.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/milvus-admission/milvus-admission/internal/cluster"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/webhook"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

// The no-op paths, served by the same server as the project's: read by
// controller-runtime, and by the project's review reader.
const (
	noopValidatePath    = "/noop-validate"
	noopMutatePath      = "/noop-mutate"
	ownNoopValidatePath = "/noop-validate-own-reader"
	ownNoopMutatePath   = "/noop-mutate-own-reader"
)

type options struct {
	rounds      int
	duration    time.Duration
	connections int
	threads     int
	cpuProfile  string
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 9, "rounds; each runs every path once, the project and the no-ops in an order that rotates")
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "wrk duration of one path in one round, whole seconds")
	flag.IntVar(&o.connections, "connections", 16, "wrk connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the server over the timed rounds to this file")
	flag.Parse()
	if o.rounds < 1 || o.rounds > 51 || o.duration < time.Second || o.duration > time.Minute || o.connections < 1 || o.connections > 256 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be in 1..51, -duration in [1s, 1m] (whole seconds), -connections in 1..256")
		os.Exit(2)
	}
	// The server runs with the Go runtime settings of the shipped Deployment
	// (GOGC, GOMEMLIMIT), which the runtime reads at start: start again
	// with them when they are not set.
	if env, err := cluster.ShippedEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	} else if !hasEnv(env) {
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		var exit *exec.ExitError
		if cmd.Env, err = cluster.ProcessEnv(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		if err := cmd.Run(); errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	} else {
		fmt.Printf("server process environment as shipped: %s\n", strings.Join(env, " "))
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return errors.New("wrk is not installed (Debian/Ubuntu: apt-get install wrk); the served benchmark needs it")
	}
	logf.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "milvus-admission-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caPEM, err := webhooktest.WriteServingCert(dir)
	if err != nil {
		return err
	}

	srv := webhook.NewServer(webhook.ServerOptions{Host: "127.0.0.1", CertDir: dir})
	webhook.Register(srv, policy.Default(), webhooktest.NoLookup{})
	noopValidate := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})
	noopMutate := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Patched("")
	})
	// Server.Register serves an *admission.Webhook through the project's
	// review reader; any other handler as it is, here the webhook with
	// controller-runtime's metrics as controller-runtime's own server
	// registers it.
	for path, h := range map[string]admission.Handler{noopValidatePath: noopValidate, noopMutatePath: noopMutate} {
		hook, err := admission.StandaloneWebhook(&admission.Webhook{Handler: h}, admission.StandaloneOptions{MetricsPath: path})
		if err != nil {
			return err
		}
		srv.Register(path, hook)
	}
	srv.Register(ownNoopValidatePath, &admission.Webhook{Handler: noopValidate})
	srv.Register(ownNoopMutatePath, &admission.Webhook{Handler: noopMutate})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	for srv.BoundAddr() == "" {
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
	base := "https://" + srv.BoundAddr()

	body := webhooktest.UpdateReview("tenant-a", "search", "milvusdb/milvus:v2.4.22", "milvusdb/milvus:v2.4.23", "alice")
	bodyFile := filepath.Join(dir, "review.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		return err
	}
	script := filepath.Join(dir, "post.lua")
	if err := os.WriteFile(script, fmt.Appendf(nil, luaScript, bodyFile), 0o600); err != nil {
		return err
	}

	fmt.Printf("served benchmark: pkg/webhook.Server, TLS on 127.0.0.1, wrk %d threads %d connections HTTP/1.1, %s per path per round, %d rounds\n",
		o.threads, o.connections, o.duration, o.rounds)
	fmt.Printf("review: Milvus UPDATE milvusdb/milvus:v2.4.22 → v2.4.23, %d bytes (object and oldObject %d bytes each); GOMAXPROCS=%d, %s\n",
		len(body), len(body)/2, runtime.GOMAXPROCS(0), runtime.Version())

	// For each operation, the project's path, the no-op read by
	// controller-runtime (the floor) and the no-op read as the project's
	// paths are.
	type trio struct{ name, project, noop, ownNoop string }
	trios := []trio{
		{"validate", webhook.ValidateMilvusPath, noopValidatePath, ownNoopValidatePath},
		{"mutate", webhook.MutateMilvusPath, noopMutatePath, ownNoopMutatePath},
	}
	var paths []string
	for _, p := range trios {
		paths = append(paths, p.project, p.noop, p.ownNoop)
	}
	// Each path must answer the review as intended before it is timed.
	if err := check(base, caPEM, body, paths); err != nil {
		return err
	}
	// Warm up every path (TLS sessions, the heap, the CPU's caches).
	for _, path := range paths {
		if _, err := runWrk(wrk, options{duration: time.Second, connections: o.connections, threads: o.threads}, script, base+path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// Per path, each round's req/s and CPU per request; per operation and
	// comparison, each round's ratios.
	rates, cpus := map[string][]float64{}, map[string][]float64{}
	ratios, cpuRatios := map[string][]float64{}, map[string][]float64{}
	ratio := func(name, project, noop string) {
		n := len(rates[project]) - 1
		ratios[name] = append(ratios[name], rates[project][n]/rates[noop][n])
		cpuRatios[name] = append(cpuRatios[name], cpus[noop][n]/cpus[project][n])
	}
	last := func(path string) float64 { return rates[path][len(rates[path])-1] }
	for r := range o.rounds {
		for _, p := range trios {
			order := []string{p.noop, p.project, p.ownNoop}
			for range r % len(order) {
				order = append(order[1:], order[0])
			}
			for _, path := range order {
				res, err := runWrk(wrk, o, script, base+path)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				rates[path] = append(rates[path], res.rps)
				cpus[path] = append(cpus[path], float64(res.cpuReq.Microseconds()))
			}
			ratio(p.name, p.project, p.noop)
			ratio(p.name+" handler", p.project, p.ownNoop)
		}
		fmt.Printf("round %d:", r+1)
		for _, p := range trios {
			fmt.Printf("  %s %.0f vs no-op %.0f req/s (%.2f×), %.0f own reader (%.2f×)", p.name, last(p.project), last(p.noop),
				last(p.project)/last(p.noop), last(p.ownNoop), last(p.project)/last(p.ownNoop))
		}
		fmt.Println()
	}
	fmt.Println()
	fmt.Printf("%-18s %14s %14s %8s %16s %16s %8s\n", "path vs no-op", "project req/s", "no-op req/s", "ratio", "project CPU/req", "no-op CPU/req", "ratio")
	row := func(name, project, noop string) {
		fmt.Printf("%-18s %14.0f %14.0f %7.2f× %14.0fµs %14.0fµs %7.2f×\n", name, median(rates[project]), median(rates[noop]), median(ratios[name]),
			median(cpus[project]), median(cpus[noop]), median(cpuRatios[name]))
	}
	for _, p := range trios {
		row(p.name, p.project, p.noop)
	}
	for _, p := range trios {
		row(p.name+" handler", p.project, p.ownNoop)
	}
	fmt.Println("(medians over the rounds; ratio: the median of each round's project / no-op, the two measured back to back;")
	fmt.Println(" \"validate\", \"mutate\": against the no-op webhook as controller-runtime serves it, which reads the review")
	fmt.Println(" itself, the goal's floor; \"handler\": against the no-op behind the project's review reader, the cost of the")
	fmt.Println(" handlers alone. CPU/req: the server process's user+system time per request, its ratio no-op / project,")
	fmt.Println(" what a CPU-bound server would reach: less sensitive to other load on the machine)")
	return nil
}

// luaScript makes wrk POST the review in the file %q.
const luaScript = `local f = assert(io.open(%q, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
`

var (
	rpsLine    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	countLine  = regexp.MustCompile(`([0-9]+) requests in`)
	errorsLine = regexp.MustCompile(`(Non-2xx or 3xx responses|Socket errors):.*`)
)

// result is one wrk run: requests per second, and this process's CPU time
// (the server's: wrk is another process) per request.
type result struct {
	rps    float64
	cpuReq time.Duration
}

func runWrk(wrk string, o options, script, url string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+30*time.Second)
	defer cancel()
	cpu0 := cpuTime()
	out, err := exec.CommandContext(ctx, wrk, "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
		"-d", fmt.Sprintf("%ds", int(o.duration.Seconds())), "-s", script, url).CombinedOutput()
	cpu := cpuTime() - cpu0
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if e := errorsLine.Find(out); e != nil {
		return result{}, fmt.Errorf("wrk reports %s\n%s", e, out)
	}
	m, n := rpsLine.FindSubmatch(out), countLine.FindSubmatch(out)
	if m == nil || n == nil {
		return result{}, fmt.Errorf("no request count or Requests/sec in wrk's output:\n%s", out)
	}
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return result{}, err
	}
	count, err := strconv.Atoi(string(n[1]))
	if err != nil || count == 0 {
		return result{}, fmt.Errorf("wrk completed no request:\n%s", out)
	}
	return result{rps: rps, cpuReq: cpu / time.Duration(count)}, nil
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// check posts the review once to every path and verifies the answer: every
// path allows it, and the project's paths say they decided.
func check(base string, caPEM, body []byte, paths []string) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, path := range paths {
		resp, err := client.Post(base+path, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(data, &review); err != nil || review.Response == nil {
			return fmt.Errorf("%s: not an AdmissionReview (%v): %s", path, err, data)
		}
		r := review.Response
		if !r.Allowed || len(r.Patch) > 0 || len(r.Warnings) > 0 {
			return fmt.Errorf("%s: expected a plain allow, got %s", path, data)
		}
		if !strings.HasPrefix(path, "/noop") && r.AuditAnnotations[webhook.AuditDecision] == "" {
			return fmt.Errorf("%s: no decision in the audit annotations: %s", path, data)
		}
		if n := testutil.ToFloat64(webhook.ReviewFallbacks.WithLabelValues(path)); n != 0 {
			return fmt.Errorf("%s: the review reader left %v reviews to controller-runtime", path, n)
		}
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// hasEnv reports whether every NAME=value of env is set so.
func hasEnv(env []string) bool {
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if os.Getenv(name) != value {
			return false
		}
	}
	return true
}
