package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/milvus-admission/milvus-admission/pkg/check"
)

const checkUsage = `Usage: milvus-admission check [--base DIR|FILE|GIT-REF | --live] [--policy FILE] [-o text|json|github|sarif] PATH...

Judges the Milvus and MilvusUpgrade manifests in PATH (files, directories,
or - for stdin) with the webhook's own handlers, as the API server would
call them for kubectl apply: a CREATE when the base has no such object,
else an UPDATE of the base object. Exit status: 0 allowed (warnings and
holds included), 1 denied, 2 bad input. See docs/cli.md.

Flags:
`

// checkOptions are the flags of check.
type checkOptions struct {
	cfg    check.Config
	output string
}

func (o *checkOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.cfg.Base, "base", "", "What the cluster holds before the change: a manifest file or directory, else a git revision (e.g. origin/main) at which the same PATHs are read.")
	fs.BoolVar(&o.cfg.Live, "live", false, "Read the base from the cluster (objects and status) through the kubeconfig.")
	fs.StringVar(&o.cfg.Kubeconfig, "kubeconfig", "", "With --live: path to a kubeconfig; default: $KUBECONFIG, then ~/.kube/config.")
	fs.StringVar(&o.cfg.Context, "context", "", "With --live: the kubeconfig context; default: its current context.")
	fs.StringVar(&o.cfg.PolicyFile, "policy", "", "Policy YAML read on top of the built-in default, as the webhook's --policy (docs/policy.md).")
	fs.StringVar(&o.cfg.User, "as", check.DefaultUser, "User name of the admission requests; the operator-identity rules read it. Nothing is impersonated.")
	for _, name := range []string{"n", "namespace"} {
		fs.StringVar(&o.cfg.Namespace, name, "", `Namespace of manifests that name none; default "default", or with --live the context's.`)
	}
	for _, name := range []string{"o", "output"} {
		fs.StringVar(&o.output, name, check.FormatText, "Output format: "+strings.Join(check.Formats, ", ")+".")
	}
}

// runCheck is the check subcommand.
func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := checkOptions{cfg: check.Config{Stdin: stdin}}
	fs := newFlagSet("check", checkUsage, stderr)
	o.addFlags(fs)
	paths, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitAllowed
	}
	if err != nil {
		return exitInput // the flag package has said why
	}
	o.cfg.Paths = paths
	if !slices.Contains(check.Formats, o.output) {
		fmt.Fprintf(stderr, "milvus-admission check: -o %s: one of %s\n", o.output, strings.Join(check.Formats, ", "))
		return exitInput
	}
	report, err := check.Execute(context.Background(), o.cfg)
	if err != nil {
		fmt.Fprintln(stderr, "milvus-admission check:", err)
		return exitInput
	}
	if err := report.Write(stdout, o.output); err != nil {
		fmt.Fprintln(stderr, "milvus-admission check:", err)
		return exitInput
	}
	if report.Denied() {
		return exitDenied
	}
	return exitAllowed
}

// parseInterspersed parses flags before, between and after the arguments
// (check PATH -o json works as check -o json PATH); "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if len(args) > len(left) && args[len(args)-len(left)-1] == "--" {
			return append(rest, left...), nil
		}
		rest, args = append(rest, left[0]), left[1:]
	}
}
