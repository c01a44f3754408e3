package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/milvus-admission/milvus-admission/internal/version"
)

// runArgs runs the command line args with stdin, as main would.
func runArgs(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTopLevel(t *testing.T) {
	code, out, _ := runArgs("", "--version")
	assert.Equal(t, exitAllowed, code)
	assert.Equal(t, version.String()+"\n", out)

	code, _, errOut := runArgs("")
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut, "Usage:")

	code, _, errOut = runArgs("", "apply")
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut, `unknown subcommand "apply"`)
}
