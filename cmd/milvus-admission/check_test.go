package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const checkManifest = `apiVersion: milvus.io/v1beta1
kind: Milvus
metadata:
  name: m
spec:
  components:
    image: milvusdb/milvus:%s
`

func runCheckArgs(stdin string, args ...string) (code int, stdout, stderr string) {
	return runArgs(stdin, append([]string{"check"}, args...)...)
}

func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	manifest := func(name, tag string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(strings.Replace(checkManifest, "%s", tag, 1)), 0o644))
		return path
	}
	base, jump, legal := manifest("base.yaml", "v2.4.23"), manifest("jump.yaml", "v2.6.3"), manifest("legal.yaml", "v2.5.16")
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: milvus.io/v1beta1\nkind: Milvus\nmetadata: [\n"), 0o644))

	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "allowed", args: []string{"--base", base, legal}, code: exitAllowed, stdout: "Milvus default/m UPDATE: allowed"},
		{name: "denied", args: []string{"--base", base, jump}, code: exitDenied, stdout: "[MU-26]"},
		{name: "flags after the paths", args: []string{jump, "--base", base, "-o", "json"}, code: exitDenied, stdout: `"decision": "denied"`},
		{name: "-- ends the flags", args: []string{"--base", base, "--", jump}, code: exitDenied},
		{name: "stdin", stdin: strings.Replace(checkManifest, "%s", "v2.6.3", 1), args: []string{"--base", base, "-n", "default", "-"}, code: exitDenied, stdout: "<stdin>:1: Milvus default/m UPDATE: denied"},
		{name: "malformed YAML names file and line", args: []string{bad}, code: exitInput, stderr: "bad.yaml:3: "},
		{name: "no paths", code: exitInput, stderr: "no manifests given"},
		{name: "a missing file", args: []string{filepath.Join(dir, "missing.yaml")}, code: exitInput, stderr: "missing.yaml"},
		{name: "unknown output", args: []string{"-o", "yaml", jump}, code: exitInput, stderr: "-o yaml: one of text, json, github, sarif"},
		{name: "unknown flag", args: []string{"--bogus", jump}, code: exitInput, stderr: "flag provided but not defined: -bogus"},
		{name: "--base and --live", args: []string{"--live", "--base", base, jump}, code: exitInput, stderr: "exclude each other"},
		{name: "help", args: []string{"-h"}, code: exitAllowed, stderr: "Usage: milvus-admission check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCheckArgs(tt.stdin, tt.args...)
			assert.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stdout, tt.stdout)
			assert.Contains(t, stderr, tt.stderr)
		})
	}
}

func TestCheckAs(t *testing.T) {
	code, stdout, _ := runCheckArgs(strings.Replace(checkManifest, "%s", "v2.4.23", 1), "--as", "jane", "-o", "json", "-")
	require.Equal(t, exitAllowed, code)
	var report struct{ User string }
	require.NoError(t, json.Unmarshal([]byte(stdout), &report))
	assert.Equal(t, "jane", report.User)
}
