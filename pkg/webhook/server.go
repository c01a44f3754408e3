package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/semaphore"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Defaults of ServerOptions. The timeouts fit inside the API server's
// webhook timeout, which is at most 30s; the shipped configurations use 10s,
// so a request still being read after that is not one the API server waits
// for any more, and only holds a handler slot from real reviews.
const (
	DefaultReadHeaderTimeout     = 5 * time.Second
	DefaultReadTimeout           = 10 * time.Second
	DefaultWriteTimeout          = 30 * time.Second
	DefaultIdleTimeout           = 60 * time.Second
	DefaultShutdownTimeout       = 30 * time.Second
	DefaultMaxConnections        = 256
	DefaultMaxConcurrentRequests = 64
	// DefaultMaxBodyBytesInFlight lets four maximal bodies be handled at
	// once; reviews of some KiB are bound by MaxConcurrentRequests instead.
	// Measured with hack/flood, 64 handlers each reading a 7 MiB body peak
	// near 490 MiB RSS: the count alone does not keep the pod in 256 MiB.
	DefaultMaxBodyBytesInFlight int64 = 32 << 20
	// DefaultMaxBodyBytes is controller-runtime's admission.Webhook limit:
	// object and oldObject, each up to the API server's 3 MiB request
	// limit, plus the AdmissionReview envelope.
	DefaultMaxBodyBytes int64 = 7 << 20
)

// Limits that are not options: nothing the API server sends comes near them,
// and each is multiplied by MaxConnections in the worst case.
const (
	// maxHeaderBytes replaces net/http's 1 MiB default, which over 256
	// connections alone could fill the pod's 256 MiB.
	maxHeaderBytes = 64 << 10
	// maxStreams bounds HTTP/2 streams per connection (Go's own default,
	// made explicit so it cannot drift).
	maxStreams = 250
	// h2ReceiveBuffer is the HTTP/2 flow-control window per connection and
	// per stream: what a client may send before a handler reads. Go's 1 MiB
	// default times 256 connections would be the whole pod limit; 256 KiB
	// costs a few extra round trips for a 3 MiB object.
	h2ReceiveBuffer = 256 << 10
)

// ServerOptions configure Server. Zero values take the defaults above.
type ServerOptions struct {
	// Host is the address to listen on; "" means all addresses.
	Host string
	// Port to listen on; 0 picks a free port, reported by BoundAddr.
	Port int

	// CertDir holds the serving certificate and key, reloaded when they
	// change. Defaults to controller-runtime's
	// <tmp>/k8s-webhook-server/serving-certs.
	CertDir string
	// CertName is the certificate file in CertDir; defaults to tls.crt.
	CertName string
	// KeyName is the key file in CertDir; defaults to tls.key.
	KeyName string
	// ClientCAFile, when set, is a PEM bundle; clients must present a
	// certificate it signed (the API server's client certificate). It is
	// read once at Start.
	ClientCAFile string

	// ReadHeaderTimeout bounds reading the headers (and the TLS handshake).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, so a client
	// dribbling its body cannot hold a connection.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of the response.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections without requests.
	IdleTimeout time.Duration

	// MaxBodyBytes is the largest request body; bigger ones get 413.
	MaxBodyBytes int64
	// MaxConnections bounds open connections, handshaking ones included;
	// more wait in the kernel's accept queue.
	MaxConnections int
	// MaxConcurrentRequests bounds handlers running at once; more requests
	// wait for a slot as long as their client waits.
	MaxConcurrentRequests int
	// MaxBodyBytesInFlight bounds the bodies of running handlers, counted
	// as declared (MaxBodyBytes when not declared), since a handler holds
	// its whole body in memory. More requests wait, first come first
	// served, as for MaxConcurrentRequests. Raised to MaxBodyBytes if lower.
	MaxBodyBytesInFlight int64

	// ShutdownTimeout bounds the graceful shutdown after Start's context ends.
	ShutdownTimeout time.Duration
}

func (o *ServerOptions) setDefaults() {
	if o.CertDir == "" {
		o.CertDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	if o.CertName == "" {
		o.CertName = "tls.crt"
	}
	if o.KeyName == "" {
		o.KeyName = "tls.key"
	}
	setDefault(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&o.ReadTimeout, DefaultReadTimeout)
	setDefault(&o.WriteTimeout, DefaultWriteTimeout)
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&o.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&o.MaxConnections, DefaultMaxConnections)
	setDefault(&o.MaxConcurrentRequests, DefaultMaxConcurrentRequests)
	setDefault(&o.MaxBodyBytesInFlight, DefaultMaxBodyBytesInFlight)
	o.MaxBodyBytesInFlight = max(o.MaxBodyBytesInFlight, o.MaxBodyBytes)
}

func setDefault[T time.Duration | int | int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Server serves admission webhooks over TLS like controller-runtime's
// DefaultServer, with every resource a client can make it hold bounded:
// connections, header and body sizes, time per request, running handlers and
// the bodies they hold.
// It sits in the write path with failurePolicy Fail, so running out of
// memory would reject every write to the cluster.
type Server struct {
	opts ServerOptions
	mux  *http.ServeMux

	// slots holds one token per running handler.
	slots chan struct{}
	// bodies holds the declared body bytes of running handlers.
	bodies *semaphore.Weighted
	// waiting counts requests waiting for a slot or body bytes.
	waiting atomic.Int64
	// stopped ends when shutdown gives up, to release waiting requests
	// whose connections were closed under them.
	stopped    context.Context
	forceClose context.CancelFunc

	draining  atomic.Bool
	listening atomic.Bool

	mu      sync.Mutex
	paths   map[string]bool
	srv     *http.Server // set while serving, for SetDraining
	addr    string
	started bool
}

var _ crwebhook.Server = (*Server)(nil)

// NewServer returns a Server with o's zero fields defaulted.
func NewServer(o ServerOptions) *Server {
	o.setDefaults()
	stopped, forceClose := context.WithCancel(context.Background())
	return &Server{
		opts:       o,
		mux:        http.NewServeMux(),
		slots:      make(chan struct{}, o.MaxConcurrentRequests),
		bodies:     semaphore.NewWeighted(o.MaxBodyBytesInFlight),
		stopped:    stopped,
		forceClose: forceClose,
		paths:      map[string]bool{},
	}
}

// NeedLeaderElection returns false: every replica serves.
func (*Server) NeedLeaderElection() bool { return false }

// WebhookMux returns the mux the server serves. Handlers added to it directly
// skip the body limit and the concurrency bound; use Register.
func (s *Server) WebhookMux() *http.ServeMux { return s.mux }

// Register serves hook at path behind the body limit and the concurrency
// bounds. An *admission.Webhook is served through the project's review
// reader (review.go) and gets controller-runtime's
// controller_runtime_webhook_* metrics, as DefaultServer gives it; they see
// a request once it has a slot, so neither 413s nor waiting show there. It
// panics on a duplicate path.
func (s *Server) Register(path string, hook http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paths[path] {
		panic(fmt.Errorf("can't register duplicate path: %v", path))
	}
	s.paths[path] = true
	if wh, ok := hook.(*admission.Webhook); ok {
		hook = instrumented(path, reviewReader{hook: wh, fallbacks: ReviewFallbacks.WithLabelValues(path)})
	}
	s.mux.Handle(path, s.limit(hook))
}

// limit rejects oversized bodies and runs h only with a free slot and room
// for its body.
func (s *Server) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answering before reading leaves the body unread; net/http then
		// closes an HTTP/1 connection rather than drain more than 256 KiB,
		// and resets the HTTP/2 stream.
		if r.ContentLength > s.opts.MaxBodyBytes {
			http.Error(w, fmt.Sprintf("request body of %d bytes exceeds the limit of %d", r.ContentLength, s.opts.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		// A body without Content-Length (chunked, or HTTP/2 without the
		// header) fails to read past the limit instead. The limit goes on a
		// copy of the request: net/http decides whether an HTTP/1
		// connection can be reused by looking at the Body of the request it
		// made, and with that replaced it would read the next request from
		// the unread rest of this body (found with hack/flood).
		body := r.Body
		r = r.WithContext(r.Context())
		r.Body = http.MaxBytesReader(w, body, s.opts.MaxBodyBytes)
		size := r.ContentLength
		if size < 0 {
			size = s.opts.MaxBodyBytes
		}
		if !s.acquire(r.Context(), size) {
			// The client is gone, or shutdown gave up on this request.
			http.Error(w, "no free handler before the request ended", http.StatusServiceUnavailable)
			return
		}
		defer func() {
			<-s.slots
			s.bodies.Release(size)
		}()
		h.ServeHTTP(w, r)
	})
}

// acquire takes size bytes of the body budget, then a handler slot, waiting
// while the request lives. Rejecting at once would fail a write under
// failurePolicy Fail that waiting a little would have admitted; the API
// server's own timeout ends the wait.
func (s *Server) acquire(ctx context.Context, size int64) bool {
	haveBytes := s.bodies.TryAcquire(size)
	if haveBytes {
		select {
		case s.slots <- struct{}{}:
			return true
		default:
		}
	}
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.stopped, cancel)()
	if !haveBytes && s.bodies.Acquire(ctx, size) != nil {
		return false
	}
	select {
	case s.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		s.bodies.Release(size)
		return false
	}
}

// SetDraining makes every later response carry "Connection: close", so
// clients move to other replicas before Shutdown closes idle connections.
// It also disables keep-alives on the running server. What that does, read
// in Go 1.26's net/http:
//   - SetKeepAlivesEnabled(false) closes idle HTTP/1 connections at once and
//     makes later HTTP/1 responses close theirs (server.go).
//   - For HTTP/2 it closes nothing at once (server.go, TODO golang/go#26303);
//     the bundled HTTP/2 server checks the flag when a connection's last
//     stream ends and then sends a graceful GOAWAY (h2_bundle.go,
//     closeStream). A connection idle at the call stays until its next
//     request, IdleTimeout or Shutdown.
//   - The HTTP/2 server strips a handler's "Connection: close" header and
//     starts a graceful GOAWAY instead (h2_bundle.go, writeChunk), so the
//     header drains HTTP/2 connections too, even ones never idle.
//
// Safe to call concurrently and before Start.
func (s *Server) SetDraining() {
	s.draining.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.SetKeepAlivesEnabled(false)
	}
}

// BoundAddr returns the host:port the server listens on, "" before Start.
func (s *Server) BoundAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// StartedChecker is healthy from listening until shutdown begins. It does
// not dial the server: with a client CA required a probe without a
// certificate would fail, and a probe would take one of MaxConnections.
func (s *Server) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		if !s.listening.Load() {
			return errors.New("webhook server is not listening")
		}
		return nil
	}
}

// Start serves until ctx ends, then shuts down gracefully within
// ShutdownTimeout. It returns nil on a clean stop and can run once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("webhook server already started")
	}
	s.started = true
	s.mu.Unlock()
	log := logf.FromContext(ctx).WithName("webhook-server")

	// The watcher outlives ctx until serving ends, so a rotation during
	// the drain is still picked up.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	var watching sync.WaitGroup
	defer func() { stopWatch(); watching.Wait() }()
	cfg, err := s.tlsConfig(watchCtx, log, &watching)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)))
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	// The limit goes under TLS: it then counts handshakes too, and
	// net/http still sees *tls.Conn, which it needs to negotiate h2.
	ln = tls.NewListener(netutil.LimitListener(ln, s.opts.MaxConnections), cfg)

	srv := &http.Server{
		Handler:           s.markDraining(s.mux),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// With TLSConfig nil, Serve configures the bundled HTTP/2 server
		// from these; golang.org/x/net/http2.ConfigureServer is not needed.
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          maxStreams,
			MaxReceiveBufferPerConnection: h2ReceiveBuffer,
			MaxReceiveBufferPerStream:     h2ReceiveBuffer,
		},
		// Unlike DefaultServer, requests do not end with ctx: in-flight
		// reviews finish during the drain instead of failing, which
		// failurePolicy Fail would turn into rejected writes.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    stdlog.New(logWriter{log}, "", 0),
	}

	s.mu.Lock()
	s.srv = srv
	s.addr = ln.Addr().String()
	if s.draining.Load() {
		srv.SetKeepAlivesEnabled(false)
	}
	s.mu.Unlock()
	s.listening.Store(true)
	defer s.listening.Store(false) // also when Serve fails
	log.Info("serving webhooks", "addr", s.BoundAddr(), "maxConnections", s.opts.MaxConnections,
		"maxConcurrentRequests", s.opts.MaxConcurrentRequests, "maxBodyBytes", s.opts.MaxBodyBytes,
		"maxBodyBytesInFlight", s.opts.MaxBodyBytesInFlight)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		_ = srv.Close()
		return fmt.Errorf("webhook server: %w", err)
	case <-ctx.Done():
	}

	// Shutdown closes the listener first; readiness says so at once.
	s.listening.Store(false)
	log.Info("shutting down webhook server", "timeout", s.opts.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if err != nil {
		s.forceClose()
		_ = srv.Close()
		err = fmt.Errorf("webhook server shutdown: %w", err)
	}
	<-served // Serve returns ErrServerClosed once Shutdown closed the listener.
	return err
}

// tlsConfig loads the serving certificate, reloaded by a watcher running
// until ctx ends, and the client CA.
func (s *Server) tlsConfig(ctx context.Context, log logr.Logger, watching *sync.WaitGroup) (*tls.Config, error) {
	cw, err := certwatcher.New(filepath.Join(s.opts.CertDir, s.opts.CertName), filepath.Join(s.opts.CertDir, s.opts.KeyName))
	if err != nil {
		return nil, fmt.Errorf("webhook server certificate: %w", err)
	}
	watching.Go(func() {
		if err := cw.Start(ctx); err != nil {
			log.Error(err, "certificate watcher failed")
		}
	})
	cfg := &tls.Config{
		// The API server speaks HTTP/2 to webhooks; HTTP/1.1 for the rest.
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cw.GetCertificate,
	}
	if s.opts.ClientCAFile != "" {
		pemBytes, err := os.ReadFile(s.opts.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("webhook server client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("webhook server client CA: no certificate in %s", s.opts.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// markDraining adds "Connection: close" to every response once draining,
// unregistered paths included.
func (s *Server) markDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// logWriter sends net/http's error log (TLS handshake failures, mostly) to
// the controller-runtime logger.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}
