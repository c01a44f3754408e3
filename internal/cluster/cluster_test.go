package cluster

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as a fake webhook process for StartWebhookProcess.
const (
	fakeEnv      = "CLUSTER_TEST_FAKE_WEBHOOK" // file that records each start's --port
	fakeFailEnv  = "CLUSTER_TEST_FAKE_FAILURES"
	fakeCrashEnv = "CLUSTER_TEST_FAKE_CRASH"
)

func TestMain(m *testing.M) {
	if starts := os.Getenv(fakeEnv); starts != "" {
		os.Exit(fakeWebhook(starts))
	}
	os.Exit(m.Run())
}

// fakeWebhook fails its first $CLUSTER_TEST_FAKE_FAILURES starts as a port
// taken by another process would, crashes with another error if
// $CLUSTER_TEST_FAKE_CRASH is set, and otherwise serves /readyz on the probe
// address until interrupted.
func fakeWebhook(starts string) int {
	fs := flag.NewFlagSet("fake-webhook", flag.ContinueOnError)
	port := fs.Int("port", 0, "")
	probe := fs.String("health-probe-bind-address", "", "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	f, err := os.OpenFile(starts, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	fmt.Fprintln(f, *port)
	f.Close()
	data, _ := os.ReadFile(starts)
	n := strings.Count(string(data), "\n")
	var failures int
	fmt.Sscan(os.Getenv(fakeFailEnv), &failures)
	switch {
	case os.Getenv(fakeCrashEnv) != "":
		fmt.Println("milvus-admission: loading kubeconfig: no configuration")
		return 1
	case n <= failures:
		fmt.Printf("milvus-admission: listen tcp :%d: bind: address already in use\n", *port)
		return 1
	}
	l, err := net.Listen("tcp", *probe)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	go func() { _ = http.Serve(l, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	return 0
}

// startFake runs StartWebhookProcess on the fake and returns its result and
// the --port of every start.
func startFake(t *testing.T, env map[string]string) (int, []string, error) {
	t.Helper()
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	t.Setenv(fakeEnv, starts)
	for k, v := range env {
		t.Setenv(k, v)
	}
	c := &Cluster{Dir: filepath.Join(dir, "work"), WebhookLog: filepath.Join(dir, "webhook.log")}
	t.Cleanup(func() { assert.NoError(t, c.Stop()) })
	var log strings.Builder
	port, err := c.StartWebhookProcess(context.Background(), os.Args[0], func(port, probePort int) []string {
		return []string{"--port", fmt.Sprint(port), "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probePort)}
	}, &log)
	data, readErr := os.ReadFile(starts)
	require.NoError(t, readErr)
	return port, strings.Fields(string(data)), err
}

func TestStartWebhookProcessRetriesOnATakenPort(t *testing.T) {
	port, starts, err := startFake(t, map[string]string{fakeFailEnv: "2"})
	require.NoError(t, err)
	require.Len(t, starts, 3, "two starts lost their port, the third ran")
	assert.Equal(t, starts[2], fmt.Sprint(port), "the port of the start that ran")
}

func TestStartWebhookProcessGivesUpOnAPortTakenEveryTime(t *testing.T) {
	_, starts, err := startFake(t, map[string]string{fakeFailEnv: "100"})
	require.ErrorIs(t, err, errPortTaken)
	assert.Contains(t, err.Error(), "address already in use")
	assert.Len(t, starts, webhookStartAttempts)
}

func TestStartWebhookProcessDoesNotRetryOtherFailures(t *testing.T) {
	_, starts, err := startFake(t, map[string]string{fakeCrashEnv: "1"})
	require.Error(t, err)
	assert.NotErrorIs(t, err, errPortTaken)
	assert.Contains(t, err.Error(), "the webhook exited during start")
	assert.Contains(t, err.Error(), "loading kubeconfig: no configuration", "the log tail")
	assert.Len(t, starts, 1)
}

// The harness runs the webhook with the Deployment's environment.
func TestShippedEnv(t *testing.T) {
	env, err := ShippedEnv()
	require.NoError(t, err)
	assert.Contains(t, env, "GOMEMLIMIT=200MiB")
	assert.Contains(t, env, "GOGC=50")
}
