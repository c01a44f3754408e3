package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"
)

// fakeBackend greets each connection with its name and then echoes lines;
// its /readyz answers 200 while ready is set.
type fakeBackend struct {
	name   string
	ln     net.Listener
	readyz *httptest.Server
	ready  atomic.Bool
}

func newFakeBackend(t *testing.T, name string) *fakeBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeBackend{name: name, ln: ln}
	f.ready.Store(true)
	f.readyz = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !f.ready.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(func() { ln.Close(); f.readyz.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				fmt.Fprintln(conn, name)
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
	return f
}

// dial connects through lb and returns the backend's greeting ("" when the
// balancer closed the connection) and the connection.
func dial(t *testing.T, lb *balancer) (string, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", lb.addr())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), conn
}

func waitReady(t *testing.T, lb *balancer, i int, want bool) {
	t.Helper()
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		_, _, ready := lb.backends[i].state()
		return ready == want, nil
	}), "backend %d ready=%v", i, want)
}

func TestBalancerSendsNewConnectionsOnlyToReadyBackends(t *testing.T) {
	lb, err := newBalancer(2)
	require.NoError(t, err)
	t.Cleanup(lb.close)
	a, b := newFakeBackend(t, "a"), newFakeBackend(t, "b")
	for i, f := range []*fakeBackend{a, b} {
		lb.backends[i].set(f.ln.Addr().String(), f.readyz.URL+"/readyz")
		waitReady(t, lb, i, true)
	}

	seen := map[string]int{}
	for range 4 {
		name, conn := dial(t, lb)
		seen[name]++
		conn.Close()
	}
	assert.Equal(t, map[string]int{"a": 2, "b": 2}, seen, "round robin over the ready backends")

	// A connection to a keeps working after a turns unready; new ones go to b.
	name, kept := dial(t, lb)
	if name != "a" {
		kept.Close()
		name, kept = dial(t, lb)
	}
	require.Equal(t, "a", name)
	a.ready.Store(false)
	waitReady(t, lb, 0, false)
	for range 3 {
		name, conn := dial(t, lb)
		assert.Equal(t, "b", name)
		conn.Close()
	}
	_, err = fmt.Fprintln(kept, "still there")
	require.NoError(t, err)
	echo, err := bufio.NewReader(kept).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "still there\n", echo)
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return lb.backends[0].active.Load() == 1 && lb.backends[1].active.Load() == 0, nil
	}), "only the kept connection stays open")

	// No ready backend: the connection is closed at once.
	b.ready.Store(false)
	waitReady(t, lb, 1, false)
	name, _ = dial(t, lb)
	assert.Empty(t, name)

	// A backend closing its side closes the client's.
	kept.(*net.TCPConn).CloseWrite() // the echo ends, so a closes
	_, err = bufio.NewReader(kept).ReadString('\n')
	assert.ErrorIs(t, err, io.EOF)
}
