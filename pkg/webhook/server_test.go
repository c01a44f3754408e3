package webhook

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// testPKI is a CA with a serving certificate for 127.0.0.1 in dir (tls.crt,
// tls.key, and the CA as ca.crt) and a client certificate it signed.
// internal/cluster has a CA too, but unexported and serving-only.
type testPKI struct {
	dir    string
	caFile string
	roots  *x509.CertPool
	client tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "server test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(serial int64, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "server test"},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}

	p := &testPKI{dir: t.TempDir(), roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	p.caFile = filepath.Join(p.dir, "ca.crt")
	srvCert, srvKey := issue(2, x509.ExtKeyUsageServerAuth)
	for name, data := range map[string][]byte{
		"tls.crt": srvCert,
		"tls.key": srvKey,
		"ca.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	} {
		require.NoError(t, os.WriteFile(filepath.Join(p.dir, name), data, 0o600))
	}
	p.client, err = tls.X509KeyPair(issue(3, x509.ExtKeyUsageClientAuth))
	require.NoError(t, err)
	return p
}

// tlsConfig is a client configuration trusting the CA, offering protos.
func (p *testPKI) tlsConfig(withCert bool, protos ...string) *tls.Config {
	cfg := &tls.Config{RootCAs: p.roots, NextProtos: protos, ServerName: "127.0.0.1"}
	if withCert {
		cfg.Certificates = []tls.Certificate{p.client}
	}
	return cfg
}

// httpClient speaks HTTP/2 when h2, else HTTP/1.1 only.
func (p *testPKI) httpClient(t *testing.T, h2, withCert bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: p.tlsConfig(withCert), ForceAttemptHTTP2: h2}
	if !h2 {
		// A non-nil empty map turns HTTP/2 off.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// dial opens an HTTP/1.1 TLS connection and completes the handshake.
func (p *testPKI) dial(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, p.tlsConfig(true, "http/1.1"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startServer runs a Server with routes on 127.0.0.1 until the test ends,
// then asserts a clean stop.
func startServer(t *testing.T, p *testPKI, o ServerOptions, routes map[string]http.Handler) *Server {
	t.Helper()
	o.Host, o.CertDir = "127.0.0.1", p.dir
	s := NewServer(o)
	for path, h := range routes {
		s.Register(path, h)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Start did not return after cancel")
		}
	})
	require.Eventually(t, func() bool { return s.BoundAddr() != "" }, 5*time.Second, 10*time.Millisecond)
	return s
}

func url(s *Server, path string) string { return "https://" + s.BoundAddr() + path }

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprint(w, r.Proto)
	})
}

// readResponse reads one HTTP/1.1 response from c within 5s.
func readResponse(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestServerServesH2AndHTTP1(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, ServerOptions{}, nil)
	assert.False(t, s.NeedLeaderElection())
	// The admission paths as the manager registers them; the mux takes
	// paths while serving.
	Register(s, policy.Default(), &fakeLookup{})
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"DELETE",` +
		`"kind":{"group":"milvus.io","version":"v1beta1","kind":"Milvus"},"resource":{"group":"milvus.io","version":"v1beta1","resource":"milvuses"}}}`

	for _, h2 := range []bool{true, false} {
		resp, err := p.httpClient(t, h2, false).Post(url(s, ValidateMilvusPath), "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, map[bool]int{true: 2, false: 1}[h2], resp.ProtoMajor)
		var out admissionv1.AdmissionReview
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.NotNil(t, out.Response)
		assert.True(t, out.Response.Allowed)
	}
}

func TestServerRejectsLargeBodies(t *testing.T) {
	p := newTestPKI(t)
	var calls atomic.Int32
	var readErr atomic.Value
	s := startServer(t, p, ServerOptions{MaxBodyBytes: 1024}, map[string]http.Handler{
		"/hook": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if _, err := io.ReadAll(r.Body); err != nil {
				readErr.Store(err)
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			}
		}),
	})

	t.Run("declared length, HTTP/1.1", func(t *testing.T) {
		c := p.dial(t, s.BoundAddr())
		// 10 MiB announced, 10 bytes sent: the answer cannot wait for the body.
		_, err := fmt.Fprintf(c, "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n0123456789", 10<<20)
		require.NoError(t, err)
		resp := readResponse(t, c)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.True(t, resp.Close, "the unread body must not be drained")
	})
	t.Run("declared length, HTTP/2", func(t *testing.T) {
		resp, err := p.httpClient(t, true, false).Post(url(s, "/hook"), "application/json", strings.NewReader(strings.Repeat("x", 2048)))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, 2, resp.ProtoMajor)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})
	assert.Zero(t, calls.Load(), "the handler must not run for a declared oversized body")

	t.Run("chunked", func(t *testing.T) {
		// Hiding the reader's length makes the client send chunks.
		body := struct{ io.Reader }{strings.NewReader(strings.Repeat("x", 2048))}
		resp, err := p.httpClient(t, false, false).Post(url(s, "/hook"), "application/json", body)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		var tooLarge *http.MaxBytesError
		err, _ = readErr.Load().(error)
		require.ErrorAs(t, err, &tooLarge)
		assert.Equal(t, int64(1024), tooLarge.Limit)
	})
}

func TestServerCutsSlowBodies(t *testing.T) {
	p := newTestPKI(t)
	readErr := make(chan error, 1)
	// Every other timeout is longer than the wait below, so only
	// ReadTimeout can close the connection, and only if the server does not
	// go on to read the rest of the body as a next request.
	o := ServerOptions{ReadTimeout: 300 * time.Millisecond, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second}
	s := startServer(t, p, o, map[string]http.Handler{
		"/hook": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Close and answer, as admission.Webhook does.
			defer r.Body.Close()
			_, err := io.ReadAll(r.Body)
			readErr <- err
			http.Error(w, fmt.Sprint(err), http.StatusBadRequest)
		}),
	})
	c := p.dial(t, s.BoundAddr())
	// More body announced than net/http drains after a handler (256 KiB).
	_, err := fmt.Fprintf(c, "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nx", 1<<20)
	require.NoError(t, err)

	// Dribble a byte every 50ms, well inside any per-read timeout, until
	// the server closes the connection.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c) // ends on EOF or reset
		close(closed)
	}()

	require.Eventually(t, func() bool {
		select {
		case <-closed:
			return true
		default:
			return false
		}
	}, 3*time.Second, 20*time.Millisecond)
	err = <-readErr
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	assert.True(t, netErr.Timeout(), "body read should time out: %v", err)
}

func TestServerClientCA(t *testing.T) {
	p := newTestPKI(t)
	var calls atomic.Int32
	s := startServer(t, p, ServerOptions{ClientCAFile: p.caFile}, map[string]http.Handler{
		"/hook": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }),
	})

	// TLS 1.2: the client sees the handshake fail.
	cfg := p.tlsConfig(false, "http/1.1")
	cfg.MaxVersion = tls.VersionTLS12
	_, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.BoundAddr(), cfg)
	require.Error(t, err)

	// TLS 1.3: the client finishes first and reads the server's alert.
	_, err = p.httpClient(t, false, false).Get(url(s, "/hook"))
	require.ErrorContains(t, err, "certificate required")
	_, err = p.httpClient(t, true, false).Get(url(s, "/hook"))
	require.Error(t, err)
	assert.Zero(t, calls.Load())

	for _, h2 := range []bool{true, false} {
		resp, err := p.httpClient(t, h2, true).Get(url(s, "/hook"))
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, int32(2), calls.Load())
}

func TestServerDraining(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, ServerOptions{}, map[string]http.Handler{"/hook": okHandler()})

	// get reports whether the response closes its connection, and the
	// connection it came on.
	get := func(c *http.Client) (bool, net.Conn) {
		var conn net.Conn
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conn = i.Conn }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, url(s, "/hook"), nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		// The client consumes "Connection: close" into resp.Close.
		return resp.Close, conn
	}

	h1, h2 := p.httpClient(t, false, false), p.httpClient(t, true, false)
	closes, _ := get(h1)
	assert.False(t, closes)
	_, h2Conn := get(h2)

	s.SetDraining()
	closes, _ = get(h1)
	assert.True(t, closes, "Connection: close once draining")

	// HTTP/2 has no Connection header; net/http turns it into GOAWAY, so
	// requests move to a new connection.
	_, c := get(h2)
	assert.Equal(t, h2Conn, c, "the first request after SetDraining still uses the old connection")
	require.Eventually(t, func() bool {
		_, c := get(h2)
		return c != h2Conn
	}, 5*time.Second, 20*time.Millisecond)
}

func TestServerMaxConnections(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, ServerOptions{MaxConnections: 2, ReadHeaderTimeout: 30 * time.Second}, nil)
	addr := s.BoundAddr()

	// handshake dials addr and reports whether TLS completes within d; the
	// kernel accepts the TCP connection either way.
	handshake := func(d time.Duration) error {
		raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		c := tls.Client(raw, p.tlsConfig(true, "http/1.1"))
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(d)))
		return c.Handshake()
	}

	first := p.dial(t, addr)
	p.dial(t, addr)
	err := handshake(300 * time.Millisecond)
	var netErr net.Error
	require.ErrorAs(t, err, &netErr, "a third connection must wait while two are open")
	assert.True(t, netErr.Timeout())

	require.NoError(t, first.Close())
	require.Eventually(t, func() bool { return handshake(time.Second) == nil }, 10*time.Second, 50*time.Millisecond)
}

func TestServerConcurrencyBounds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  ServerOptions
		bodyA string
		bodyB io.Reader
	}{{
		name:  "MaxConcurrentRequests",
		opts:  ServerOptions{MaxConcurrentRequests: 1},
		bodyA: "a",
		bodyB: strings.NewReader("b"),
	}, {
		name:  "MaxBodyBytesInFlight",
		opts:  ServerOptions{MaxBodyBytes: 1000, MaxBodyBytesInFlight: 1000},
		bodyA: strings.Repeat("a", 600),
		bodyB: strings.NewReader(strings.Repeat("b", 600)),
	}, {
		name:  "undeclared length counts as MaxBodyBytes",
		opts:  ServerOptions{MaxBodyBytes: 1000, MaxBodyBytesInFlight: 1000},
		bodyA: "a",
		bodyB: struct{ io.Reader }{strings.NewReader("b")},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPKI(t)
			var mu sync.Mutex
			var events []string
			record := func(e string) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, e)
			}
			entered, release := make(chan struct{}), make(chan struct{})
			s := startServer(t, p, tc.opts, map[string]http.Handler{
				"/hook": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, err := io.ReadAll(r.Body)
					if err != nil {
						http.Error(w, err.Error(), http.StatusBadRequest)
						return
					}
					name := string(body[:1])
					record("enter " + name)
					if name == "a" {
						close(entered)
						<-release
					}
					record("exit " + name)
				}),
			})
			client := p.httpClient(t, false, false)
			results := make(chan error, 2)
			send := func(body io.Reader) {
				resp, err := client.Post(url(s, "/hook"), "application/json", body)
				if err == nil {
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = errors.New(resp.Status)
					}
				}
				results <- err
			}

			go send(strings.NewReader(tc.bodyA))
			<-entered
			go send(tc.bodyB)
			require.Eventually(t, func() bool { return s.waiting.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
			mu.Lock()
			assert.Equal(t, []string{"enter a"}, events)
			mu.Unlock()

			close(release)
			require.NoError(t, <-results)
			require.NoError(t, <-results)
			assert.Equal(t, []string{"enter a", "exit a", "enter b", "exit b"}, events)
		})
	}
}

func TestServerLifecycle(t *testing.T) {
	p := newTestPKI(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var handlerCtxErr atomic.Value
	s := NewServer(ServerOptions{Host: "127.0.0.1", CertDir: p.dir})
	s.Register("/hook", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		handlerCtxErr.Store(fmt.Sprint(r.Context().Err()))
	}))
	assert.Panics(t, func() { s.Register("/hook", okHandler()) })
	assert.Empty(t, s.BoundAddr())
	assert.Error(t, s.StartedChecker()(nil))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	require.Eventually(t, func() bool { return s.StartedChecker()(nil) == nil }, 5*time.Second, 10*time.Millisecond)
	_, port, err := net.SplitHostPort(s.BoundAddr())
	require.NoError(t, err)
	assert.NotEqual(t, "0", port)
	assert.Error(t, s.Start(ctx), "a second Start")

	// A request in flight when ctx ends still gets its answer.
	answered := make(chan int, 1)
	go func() {
		resp, err := p.httpClient(t, true, false).Get(url(s, "/hook"))
		if err != nil {
			answered <- 0
			return
		}
		_ = resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-entered
	cancel()
	require.Eventually(t, func() bool { return s.StartedChecker()(nil) != nil }, 5*time.Second, 10*time.Millisecond,
		"not ready once shutting down, with the request in flight")
	close(release)
	assert.Equal(t, http.StatusOK, <-answered)
	assert.Equal(t, "<nil>", handlerCtxErr.Load(), "the request context outlives Start's")
	require.NoError(t, <-done)
	assert.Error(t, s.StartedChecker()(nil))
}
