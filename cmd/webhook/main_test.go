package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlagsDefaults(t *testing.T) {
	var o options
	fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
	o.addFlags(fs)
	require.NoError(t, fs.Parse([]string{"--cert-dir", "/certs", "--policy", "/p.yaml", "--kubeconfig", "/kc"}))
	assert.Equal(t, "/certs", o.certDir)
	assert.Equal(t, 9443, o.port)
	assert.Equal(t, ":8080", o.metricsAddr)
	assert.Equal(t, ":8081", o.probeAddr)
	assert.Equal(t, "/kc", o.kubeconfig)
	assert.Equal(t, "/p.yaml", o.policyFile)
}

// A bad policy stops the server before it touches the cluster, naming the key.
func TestBadPolicyFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  MU-METAA: deny\n"), 0o600))
	err := run(context.Background(), options{policyFile: path, kubeconfig: "/nonexistent"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rules.MU-METAA: unknown rule ID")
	assert.Contains(t, err.Error(), path)
}

func TestMissingKubeconfigIsAnError(t *testing.T) {
	err := run(context.Background(), options{kubeconfig: filepath.Join(t.TempDir(), "missing")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "loading kubeconfig")
}
