package cluster

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Timing of the balancer.
const (
	// readyPollInterval is how often the balancer asks each backend's
	// /readyz, as the endpoints controller follows readiness.
	readyPollInterval = 200 * time.Millisecond
	// backendDialTimeout bounds connecting to one backend.
	backendDialTimeout = 2 * time.Second
)

// balancer plays a Service and its endpoints controller on 127.0.0.1: a TCP
// (L4) proxy that sends each new connection to the next backend, round
// robin, whose /readyz answered 200 at its last poll, and keeps each proxied
// connection until either side closes it. TLS and HTTP/2 pass through it
// untouched, so a backend's "Connection: close" or GOAWAY reaches the client.
type balancer struct {
	ln       net.Listener
	backends []*backend
	next     atomic.Uint64
	stop     chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // open connections, both sides
}

// backend is one replica as the balancer sees it.
type backend struct {
	mu     sync.Mutex
	addr   string // host:port of its webhook server, "" when it has none
	readyz string // URL of its /readyz
	ready  bool   // readyz answered 200 at the last poll

	conns  atomic.Int64 // connections sent to it, in all
	active atomic.Int64 // connections to it open now
}

func (b *backend) set(addr, readyz string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addr, b.readyz, b.ready = addr, readyz, false
}

func (b *backend) state() (addr, readyz string, ready bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr, b.readyz, b.ready
}

// newBalancer listens on 127.0.0.1 for n backends, none of them set yet.
func newBalancer(n int) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lb := &balancer{ln: ln, stop: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	for range n {
		lb.backends = append(lb.backends, &backend{})
	}
	lb.wg.Go(lb.pollReadiness)
	lb.wg.Go(lb.accept)
	return lb, nil
}

// addr is the host:port clients connect to.
func (lb *balancer) addr() string { return lb.ln.Addr().String() }

// pollReadiness asks every backend's /readyz every readyPollInterval until
// the balancer closes.
func (lb *balancer) pollReadiness() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-lb.stop; cancel() }()
	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	for {
		var wg sync.WaitGroup
		for _, b := range lb.backends {
			_, readyz, _ := b.state()
			wg.Go(func() {
				ok := readyz != "" && probe(ctx, readyz)
				b.mu.Lock()
				if b.readyz == readyz { // not replaced while we asked
					b.ready = ok
				}
				b.mu.Unlock()
			})
		}
		wg.Wait()
		select {
		case <-lb.stop:
			return
		case <-tick.C:
		}
	}
}

func (lb *balancer) accept() {
	for {
		conn, err := lb.ln.Accept()
		if err != nil {
			return // closed
		}
		lb.wg.Go(func() { lb.proxy(conn) })
	}
}

// pick is the next ready backend, round robin; nil when none is ready.
func (lb *balancer) pick() *backend {
	n := uint64(len(lb.backends))
	start := lb.next.Add(1)
	for i := range n {
		b := lb.backends[(start+i)%n]
		if _, _, ready := b.state(); ready {
			return b
		}
	}
	return nil
}

// proxy connects client to a ready backend and copies both ways until
// either side closes. Like a Service, it picks one backend and does not
// try another: a connection to a backend that is gone but still listed as
// ready (readiness is polled) fails, as it would with kube-proxy, and so
// does one when no backend is ready.
func (lb *balancer) proxy(client net.Conn) {
	if !lb.track(client) {
		return
	}
	defer lb.untrack(client)
	b := lb.pick()
	if b == nil {
		return
	}
	addr, _, _ := b.state()
	server, err := net.DialTimeout("tcp", addr, backendDialTimeout)
	if err != nil {
		return
	}
	b.conns.Add(1)
	b.active.Add(1)
	defer b.active.Add(-1)
	if !lb.track(server) {
		return
	}
	defer lb.untrack(server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done // one side closed: close both, which ends the other copy
	client.Close()
	server.Close()
	<-done
}

// track records an open connection; false (and conn closed) once the
// balancer is closing.
func (lb *balancer) track(conn net.Conn) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	select {
	case <-lb.stop:
		conn.Close()
		return false
	default:
	}
	lb.conns[conn] = struct{}{}
	return true
}

func (lb *balancer) untrack(conn net.Conn) {
	conn.Close()
	lb.mu.Lock()
	defer lb.mu.Unlock()
	delete(lb.conns, conn)
}

// close stops accepting, closes every proxied connection and waits for the
// balancer's goroutines.
func (lb *balancer) close() {
	lb.mu.Lock()
	select {
	case <-lb.stop:
		lb.mu.Unlock()
		return
	default:
	}
	close(lb.stop)
	for conn := range lb.conns {
		conn.Close()
	}
	lb.mu.Unlock()
	lb.ln.Close()
	lb.wg.Wait()
}
