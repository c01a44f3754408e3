package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// ReadGitSources reads the manifests at paths as they are at a git
// revision: each path relative to the repository that holds it, a directory
// with everything below it (git ls-tree), each file with git show. A path
// that does not exist at ref holds nothing there: its objects are new.
func ReadGitSources(ctx context.Context, ref string, paths []string) ([]Source, error) {
	var out []Source
	seen := map[string]bool{}
	for _, p := range paths {
		if p == Stdin {
			return nil, fmt.Errorf("--base %s reads the paths at that revision: stdin has none (give --base DIR or FILE instead)", ref)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			return nil, err
		}
		dir := abs
		if info, err := os.Stat(abs); err == nil && !info.IsDir() {
			dir = filepath.Dir(abs)
		}
		top, err := git(ctx, dir, "rev-parse", "--show-toplevel")
		if err != nil {
			return nil, fmt.Errorf("--base %s: %s is not in a git repository: %w", ref, p, err)
		}
		root := strings.TrimSpace(string(top))
		if _, err := git(ctx, root, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
			return nil, fmt.Errorf("--base %s: not a file, a directory, nor a revision of the git repository %s", ref, root)
		}
		rel, err := filepath.Rel(root, abs)
		if err != nil {
			return nil, err
		}
		list, err := git(ctx, root, "ls-tree", "-r", "-z", "--name-only", ref, "--", filepath.ToSlash(rel))
		if err != nil {
			return nil, fmt.Errorf("--base %s: listing %s: %w", ref, rel, err)
		}
		for name := range strings.SplitSeq(strings.TrimRight(string(list), "\x00"), "\x00") {
			if name == "" || !IsManifest(name) || hidden(name, rel) || seen[root+"\x00"+name] {
				continue
			}
			seen[root+"\x00"+name] = true
			data, err := git(ctx, root, "show", ref+":"+name)
			if err != nil {
				return nil, fmt.Errorf("--base %s: reading %s: %w", ref, name, err)
			}
			out = append(out, Source{Name: ref + ":" + name, Data: data})
		}
	}
	return out, nil
}

// hidden reports a file under a hidden directory below the path given, as
// ReadSources leaves them out.
func hidden(name, given string) bool {
	if name == filepath.ToSlash(given) {
		return false // the file itself was given
	}
	rest := strings.TrimPrefix(name, strings.TrimSuffix(filepath.ToSlash(given), "/")+"/")
	if given == "." {
		rest = name
	}
	parts := strings.Split(rest, "/")
	return slices.ContainsFunc(parts[:len(parts)-1], func(p string) bool { return strings.HasPrefix(p, ".") })
}

// git runs git in dir and returns its output; the error carries its stderr.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("git %s: exit status %d", strings.Join(args, " "), exit.ExitCode())
		}
		return nil, err
	}
	return out, nil
}

// ReadLive reads the Milvuses and MilvusUpgrades of namespaces from a
// cluster, as stored (status included): the base of --live.
func ReadLive(ctx context.Context, client dynamic.Interface, namespaces []string) ([]Object, error) {
	var out []Object
	for _, ns := range namespaces {
		for _, gvk := range []struct {
			kind     string
			resource string
		}{{milvus.MilvusKind.Kind, "milvuses"}, {milvus.MilvusUpgradeKind.Kind, "milvusupgrades"}} {
			gv := milvus.MilvusKind.GroupVersion()
			list, err := client.Resource(gv.WithResource(gvk.resource)).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, fmt.Errorf("listing %s in namespace %s: %w", gvk.resource, ns, err)
			}
			for i := range list.Items {
				item := &list.Items[i]
				item.SetGroupVersionKind(gv.WithKind(gvk.kind))
				data, err := item.MarshalJSON()
				if err != nil {
					return nil, err
				}
				out = append(out, Object{File: "live", GVK: gv.WithKind(gvk.kind), Namespace: ns, Name: item.GetName(), JSON: data})
			}
		}
	}
	return out, nil
}

// Namespaces lists the namespaces of objects, once each, in order.
func Namespaces(objs []Object) []string {
	var out []string
	for _, o := range objs {
		if !slices.Contains(out, o.Namespace) {
			out = append(out, o.Namespace)
		}
	}
	return out
}
