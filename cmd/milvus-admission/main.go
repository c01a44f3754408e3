// Command milvus-admission runs the webhook's rules before the cluster does:
// `check` judges manifests in CI, `plan` prints the legal path from one
// Milvus version to another (docs/cli.md).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/milvus-admission/milvus-admission/internal/version"
)

// Exit codes of every subcommand.
const (
	exitAllowed = 0 // every change allowed (warnings and holds included)
	exitDenied  = 1 // at least one change denied, or no legal path
	exitInput   = 2 // bad input: flags, files, manifests, policy, cluster access
)

// subcommands maps a name to its entry point; each parses its own flags.
var subcommands = map[string]func(args []string, stdin io.Reader, stdout, stderr io.Writer) int{
	"check": runCheck,
	"plan":  runPlan,
}

const usage = `milvus-admission: the upgrade rules of the milvus-admission webhook, before the cluster.

Usage:
  milvus-admission check [--base DIR|FILE|GIT-REF | --live] [--policy FILE] [-o text|json|github] PATH...
  milvus-admission plan [--from VERSION|IMAGE] --to VERSION|IMAGE [-f milvus.yaml] [-o text|yaml] [--policy FILE]
  milvus-admission --version

Run a subcommand with -h for its flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitInput
	}
	switch args[0] {
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, version.String())
		return exitAllowed
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitAllowed
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "milvus-admission: unknown subcommand %q\n\n%s", args[0], usage)
		return exitInput
	}
	return cmd(args[1:], stdin, stdout, stderr)
}

// newFlagSet is a subcommand's flag set: errors and -h go to stderr, headed
// by the subcommand's usage, and the caller decides the exit code.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("milvus-admission "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}
