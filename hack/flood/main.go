// Command flood measures what hostile clients cost the webhook server: it
// serves the real admission handlers in this process and re-runs itself as
// the client, so /proc/self/status shows the server's memory alone. Phases:
//
//	slow     N connections that send headers announcing a 1 MiB body, then
//	         a few bytes a second;
//	large    N requests declaring a body one byte over MaxBodyBytes;
//	chunked  N requests sending that body without Content-Length.
//
// During each phase a probe sends a real AdmissionReview every 500ms, over a
// connection opened before the flood (as the API server keeps one) and over
// a new connection, and reports how long it waited. Loopback only; each phase
// ends after -duration.
package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/milvus-admission/milvus-admission/pkg/policy"
	"github.com/milvus-admission/milvus-admission/pkg/webhook"
	"github.com/milvus-admission/milvus-admission/pkg/webhook/webhooktest"
)

type options struct {
	n        int
	duration time.Duration
	phases   string
	// readTimeout overrides the server's ReadTimeout, to try others.
	readTimeout time.Duration
	// client side, set by the parent
	client string
	addr   string
	caFile string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 2000, "connections or requests per phase")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "time limit of each phase")
	flag.StringVar(&o.phases, "phases", "slow,large,chunked", "phases to run, in order")
	flag.DurationVar(&o.readTimeout, "read-timeout", 0, "server ReadTimeout (0: the default)")
	flag.StringVar(&o.client, "client", "", "internal: run this phase as the client")
	flag.StringVar(&o.addr, "addr", "", "internal: server address")
	flag.StringVar(&o.caFile, "ca", "", "internal: CA bundle")
	flag.Parse()
	if o.n < 1 || o.n > 10000 || o.duration <= 0 || o.duration > 10*time.Minute {
		fmt.Fprintln(os.Stderr, "flood: -n must be in 1..10000 and -duration in (0, 10m]")
		os.Exit(2)
	}
	var err error
	if o.client != "" {
		err = runClient(o)
	} else {
		err = runServer(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

func runServer(o options) error {
	logf.SetLogger(logr.Discard()) // handshake errors would flood stdout
	dir, err := os.MkdirTemp("", "flood")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := webhooktest.WriteServingCert(dir); err != nil {
		return err
	}
	srv := webhook.NewServer(webhook.ServerOptions{Host: "127.0.0.1", CertDir: dir, ReadTimeout: o.readTimeout})
	webhook.Register(srv, policy.Default(), webhooktest.NoLookup{})
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
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("server %s: MaxConnections %d, MaxConcurrentRequests %d, MaxBodyBytes %s, MaxBodyBytesInFlight %s, ReadTimeout %s\n",
		srv.BoundAddr(), webhook.DefaultMaxConnections, webhook.DefaultMaxConcurrentRequests, mib(webhook.DefaultMaxBodyBytes),
		mib(webhook.DefaultMaxBodyBytesInFlight), cmp.Or(o.readTimeout, webhook.DefaultReadTimeout))
	fmt.Printf("n=%d, duration=%s per phase, GOMAXPROCS=%d, GOGC=%q, GOMEMLIMIT=%q\n", o.n, o.duration, runtime.GOMAXPROCS(0), os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"))
	debug.FreeOSMemory()
	fmt.Printf("RSS at start: %s\n", mib(rss()))

	for phase := range strings.SplitSeq(o.phases, ",") {
		base := sockets()
		var peakRSS, peakSockets, peakGoroutines atomic.Int64
		stopSampling := make(chan struct{})
		var sampling sync.WaitGroup
		sampling.Go(func() {
			for {
				storeMax(&peakRSS, rss())
				storeMax(&peakSockets, int64(sockets()-base))
				storeMax(&peakGoroutines, int64(runtime.NumGoroutine()))
				select {
				case <-stopSampling:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
		before := rss()
		start := time.Now()
		cmd := exec.Command(self, "-client", phase, "-addr", srv.BoundAddr(), "-ca", filepath.Join(dir, "ca.crt"),
			"-n", strconv.Itoa(o.n), "-duration", o.duration.String())
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		elapsed := time.Since(start)
		// The client is gone; wait (bounded) for the server to close its side.
		for deadline := time.Now().Add(30 * time.Second); sockets() > base && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		close(stopSampling)
		sampling.Wait()
		if err != nil {
			return fmt.Errorf("phase %s: %w", phase, err)
		}
		after := rss()
		debug.FreeOSMemory()
		fmt.Printf("\n%s (%s): RSS before %s, peak %s, after %s (%s after FreeOSMemory); peak server sockets %d, goroutines %d\n%s",
			phase, elapsed.Round(100*time.Millisecond), mib(before), mib(peakRSS.Load()), mib(after), mib(rss()),
			peakSockets.Load(), peakGoroutines.Load(), out)
	}
	cancel()
	return <-done
}

func storeMax(v *atomic.Int64, x int64) {
	for {
		cur := v.Load()
		if x <= cur || v.CompareAndSwap(cur, x) {
			return
		}
	}
}

// rss is VmRSS from /proc/self/status, in bytes.
func rss() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// sockets counts this process's open sockets: connections the server holds.
func sockets() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range entries {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// clientStats is what the client process reports, as text.
type clientStats struct {
	mu          sync.Mutex
	handshakes  int            // TLS completed: the server accepted the connection
	noHandshake int            // still waiting in the accept queue at the end
	closed      int            // the server closed the connection
	open        int            // still open at the end
	statuses    map[string]int // responses read
	closedAfter []time.Duration
	keptProbe   []time.Duration // -1: failed
	newProbe    []time.Duration
}

func (s *clientStats) add(f func(*clientStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *clientStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  client: %d accepted (TLS done), %d never accepted, %d closed by server, %d still open at end, responses %v\n",
		s.handshakes, s.noHandshake, s.closed, s.open, s.statuses)
	if len(s.closedAfter) > 0 {
		slices.Sort(s.closedAfter)
		fmt.Fprintf(&b, "  closed after: min %s, median %s, max %s\n", s.closedAfter[0].Round(time.Millisecond),
			s.closedAfter[len(s.closedAfter)/2].Round(time.Millisecond), s.closedAfter[len(s.closedAfter)-1].Round(time.Millisecond))
	}
	for _, p := range []struct {
		name string
		d    []time.Duration
	}{{"probe over kept h2 connection", s.keptProbe}, {"probe over new connection", s.newProbe}} {
		ok := slices.DeleteFunc(slices.Clone(p.d), func(d time.Duration) bool { return d < 0 })
		slices.Sort(ok)
		fmt.Fprintf(&b, "  %s: %d/%d answered", p.name, len(ok), len(p.d))
		if len(ok) > 0 {
			fmt.Fprintf(&b, ", median %s, max %s", ok[len(ok)/2].Round(time.Millisecond), ok[len(ok)-1].Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func runClient(o options) error {
	pemBytes, err := os.ReadFile(o.caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	tlsConfig := func(protos ...string) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: protos}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	st := &clientStats{statuses: map[string]int{}}

	kept := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(), ForceAttemptHTTP2: true}}
	if _, err := probe(kept, o.addr); err != nil {
		return fmt.Errorf("warm-up request: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		probeLoop(ctx, o.addr, func() *http.Client { return kept }, func(d time.Duration) {
			st.add(func(s *clientStats) { s.keptProbe = append(s.keptProbe, d) })
		})
	})
	wg.Go(func() {
		fresh := func() *http.Client {
			return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(), ForceAttemptHTTP2: true, DisableKeepAlives: true}}
		}
		probeLoop(ctx, o.addr, fresh, func(d time.Duration) {
			st.add(func(s *clientStats) { s.newProbe = append(s.newProbe, d) })
		})
	})

	const path = webhook.ValidateMilvusPath
	over := webhook.DefaultMaxBodyBytes + 1
	body := make([]byte, 64<<10)
	for i := range o.n {
		wg.Go(func() {
			// Spread the dials over the first 100ms.
			time.Sleep(time.Duration(i) * 100 * time.Millisecond / time.Duration(o.n))
			raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", o.addr)
			if err != nil {
				st.add(func(s *clientStats) { s.noHandshake++ })
				return
			}
			c := tls.Client(raw, tlsConfig("http/1.1"))
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { _ = c.Close() })
			defer stop()
			if err := c.HandshakeContext(ctx); err != nil {
				st.add(func(s *clientStats) { s.noHandshake++ })
				return
			}
			accepted := time.Now()
			st.add(func(s *clientStats) { s.handshakes++ })

			// Read the answer, if any, then wait for the server to close.
			answered, eof := make(chan string, 1), make(chan struct{})
			go func() {
				defer close(eof)
				status := "none"
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					status = strconv.Itoa(resp.StatusCode)
				}
				answered <- status
				_, _ = io.Copy(io.Discard, c)
			}()

			switch o.client {
			case "slow":
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, 1<<20)
				go func() {
					for ctx.Err() == nil {
						if _, err := c.Write([]byte("{   ")); err != nil {
							return
						}
						time.Sleep(time.Second)
					}
				}()
			case "large":
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, over)
				go writeBody(c, body, over, false)
			case "chunked":
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", path)
				go writeBody(c, body, over, true)
			default:
				panic("unknown phase " + o.client)
			}
			var status string
			select {
			case status = <-answered:
			case <-ctx.Done():
				st.add(func(s *clientStats) { s.open++ })
				return
			}
			// An answered connection the server keeps is closed by us after
			// a second; the answer is what counts.
			closed := false
			select {
			case <-eof:
				closed = ctx.Err() == nil
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			st.add(func(s *clientStats) {
				s.statuses[status]++
				if closed {
					s.closed++
					s.closedAfter = append(s.closedAfter, time.Since(accepted))
				} else if ctx.Err() != nil {
					s.open++
				}
			})
		})
	}
	wg.Wait()
	fmt.Print(st)
	return nil
}

// writeBody sends n bytes of body, in chunked encoding when chunked, until
// the server stops reading.
func writeBody(w io.Writer, buf []byte, n int64, chunked bool) {
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		if chunked {
			if _, err := fmt.Fprintf(w, "%x\r\n", len(b)); err != nil {
				return
			}
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		if chunked {
			if _, err := io.WriteString(w, "\r\n"); err != nil {
				return
			}
		}
		n -= int64(len(b))
	}
	if chunked {
		_, _ = io.WriteString(w, "0\r\n\r\n")
	}
}

// probeLoop sends a review every 500ms until ctx ends, over the client
// client returns, and reports each wait (-1: failed).
func probeLoop(ctx context.Context, addr string, client func() *http.Client, report func(time.Duration)) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d, err := probe(client(), addr)
		if err != nil {
			d = -1
		}
		report(d)
	}
}

// probe sends one CREATE review with the API server's default 10s webhook
// timeout and returns how long the answer took.
func probe(c *http.Client, addr string) (time.Duration, error) {
	const review = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"probe","operation":"CREATE",` +
		`"kind":{"group":"milvus.io","version":"v1beta1","kind":"Milvus"},"resource":{"group":"milvus.io","version":"v1beta1","resource":"milvuses"},` +
		`"name":"m","namespace":"default","userInfo":{"username":"probe"},` +
		`"object":{"apiVersion":"milvus.io/v1beta1","kind":"Milvus","metadata":{"name":"m","namespace":"default"},"spec":{"components":{"image":"milvusdb/milvus:v2.4.0"}}}}}`
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+webhook.ValidateMilvusPath, strings.NewReader(review))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct{ Response *json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Response == nil {
		return 0, errors.Join(errors.New(resp.Status), err)
	}
	return time.Since(start), nil
}
