package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// Config is what the check command is asked to do.
type Config struct {
	// Paths are files, directories and "-" (stdin).
	Paths []string
	Stdin io.Reader
	// Base is a file or directory of manifests, else a git revision; ""
	// with Live false: no base, every object is a CREATE.
	Base string
	// Live reads the base from the cluster of Kubeconfig and Context
	// (standard loading rules when both are empty).
	Live                bool
	Kubeconfig, Context string
	// Namespace is the namespace of manifests that name none; "" is
	// "default", or with Live the kubeconfig context's namespace.
	Namespace string
	// PolicyFile is read on top of the embedded default policy, as the
	// webhook's --policy.
	PolicyFile string
	// User is the requests' user name; "" is DefaultUser.
	User string
}

// Execute reads the change and the base and judges the change. Every error
// is bad input: flags, files, manifests, policy or cluster access.
func Execute(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Paths) == 0 {
		return nil, errors.New("no manifests given: name files, directories, or - for stdin")
	}
	if cfg.Live && cfg.Base != "" {
		return nil, errors.New("--base and --live exclude each other")
	}
	pol, err := policy.Load(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	var client dynamic.Interface
	if cfg.Live {
		var ns string
		if client, ns, err = liveClient(cfg.Kubeconfig, cfg.Context); err != nil {
			return nil, err
		}
		if cfg.Namespace == "" {
			cfg.Namespace = ns
		}
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	srcs, err := ReadSources(cfg.Paths, cfg.Stdin)
	if err != nil {
		return nil, err
	}
	change, err := ParseAll(srcs, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	base := Base{Name: "none"}
	switch {
	case cfg.Live:
		base.Name, base.Live = "live", true
		if base.Objects, err = ReadLive(ctx, client, Namespaces(change)); err != nil {
			return nil, err
		}
	case cfg.Base != "":
		if base.Objects, base.Name, err = readBase(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return Run(ctx, Options{Policy: pol, User: cfg.User}, base, change)
}

// readBase reads --base: a file or directory when one exists at that path,
// else the same paths at that git revision.
func readBase(ctx context.Context, cfg Config) ([]Object, string, error) {
	name := cfg.Base
	var srcs []Source
	var err error
	if _, statErr := os.Stat(cfg.Base); statErr == nil {
		srcs, err = ReadSources([]string{cfg.Base}, nil)
	} else {
		name = "git:" + cfg.Base
		srcs, err = ReadGitSources(ctx, cfg.Base, cfg.Paths)
	}
	if err != nil {
		return nil, "", err
	}
	objs, err := ParseAll(srcs, cfg.Namespace)
	if err != nil {
		return nil, "", fmt.Errorf("base: %w", err)
	}
	return objs, name, nil
}

// liveClient is a client of the cluster a kubeconfig names, with kubectl's
// loading rules, and the namespace of its context.
func liveClient(kubeconfig, context string) (dynamic.Interface, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("--live: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("--live: %w", err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("--live: %w", err)
	}
	return client, ns, nil
}
