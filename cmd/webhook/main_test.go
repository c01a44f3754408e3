package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// parseFlags parses args with the flag set the binary defines.
func parseFlags(t *testing.T, args ...string) options {
	t.Helper()
	var o options
	fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
	o.addFlags(fs)
	require.NoError(t, fs.Parse(args))
	o.zap = zap.Options{} // controller-runtime's logging flags, not ours
	return o
}

// The defaults are those the shipped Deployment and docs/install.md rely on.
func TestFlagsDefaults(t *testing.T) {
	assert.Equal(t, options{
		certDir:            "/tmp/k8s-webhook-server/serving-certs",
		port:               9443,
		metricsAddr:        ":8443",
		probeAddr:          ":8081",
		leaderElect:        true,
		excludedNamespaces: "kube-system,milvus-admission",
		shutdownDrain:      10 * time.Second,
	}, parseFlags(t))
}

func TestFlagsOverrideDefaults(t *testing.T) {
	assert.Equal(t, options{
		certDir:            "/certs",
		clientCAFile:       "/ca.crt",
		port:               10443,
		metricsAddr:        "0",
		metricsInsecure:    true,
		probeAddr:          "127.0.0.1:9081",
		kubeconfig:         "/kc",
		policyFile:         "/p.yaml",
		leaderElect:        false,
		leaderNS:           "milvus-admission",
		excludedNamespaces: "a,b",
		shutdownDrain:      time.Second,
		version:            true,
	}, parseFlags(t,
		"--version",
		"--client-ca-file", "/ca.crt",
		"--metrics-insecure",
		"--excluded-namespaces", "a,b",
		"--shutdown-drain", "1s",
		"--cert-dir", "/certs",
		"--port", "10443",
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "127.0.0.1:9081",
		"--kubeconfig", "/kc",
		"--policy", "/p.yaml",
		"--leader-elect=false",
		"--leader-election-namespace", "milvus-admission",
	))
}

// A bad policy stops the server before it touches the cluster, naming the key.
func TestBadPolicyFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  MU-METAA: deny\n"), 0o600))
	err := run(context.Background(), nil, options{policyFile: path, kubeconfig: "/nonexistent"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rules.MU-METAA: unknown rule ID")
	assert.Contains(t, err.Error(), path)
}

func TestMissingKubeconfigIsAnError(t *testing.T) {
	err := run(context.Background(), nil, options{kubeconfig: filepath.Join(t.TempDir(), "missing")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "loading kubeconfig")
}
