// Command image builds the webhook's container image without a Docker
// engine, with go-containerregistry: the webhook cross-compiled as the
// Makefile builds it (version stamped), on an empty base with a nonroot user,
// for one or more platforms. It writes an OCI image layout tarball and can
// push the image (an image index when there are several platforms).
//
//	go run ./hack/image --version v0.1.0 --platforms linux/amd64,linux/arm64 \
//	  --tag ghcr.io/milvus-admission/milvus-admission:v0.1.0 --out bin/image.tar [--push]
//
// `make image` and `make image-push` run it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// options are the command-line settings.
type options struct {
	platforms string
	tag       string
	out       string
	push      bool
	meta      metadata
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.platforms, "platforms", "linux/amd64,linux/arm64", "Comma-separated os/arch[/variant] to build for.")
	fs.StringVar(&o.tag, "tag", "", "Image name and tag; default: ghcr.io/milvus-admission/milvus-admission:<version>.")
	fs.StringVar(&o.out, "out", "bin/image.tar", "Path of the OCI image layout tarball written.")
	fs.BoolVar(&o.push, "push", false, "Also push the image to --tag (credentials from ~/.docker/config.json and its helpers).")
	fs.StringVar(&o.meta.version, "version", "dev", "Release stamped into the binary (--version) and the org.opencontainers.image.version label.")
	fs.StringVar(&o.meta.revision, "revision", "", "Git commit for the org.opencontainers.image.revision label.")
	fs.StringVar(&o.meta.source, "source", "https://github.com/milvus-admission/milvus-admission", "Repository for the org.opencontainers.image.source label.")
}

func main() {
	var o options
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	o.addFlags(fs)
	_ = fs.Parse(os.Args[1:]) // ExitOnError: exits on a bad flag
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// run builds the image for every platform, writes the tarball and, with
// --push, pushes it; it reports the digest on w.
func run(ctx context.Context, o options, w io.Writer) error {
	if o.tag == "" {
		o.tag = "ghcr.io/milvus-admission/milvus-admission:" + o.meta.version
	}
	ref, err := name.NewTag(o.tag)
	if err != nil {
		return fmt.Errorf("--tag: %w", err)
	}
	platforms, err := parsePlatforms(o.platforms)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "milvus-admission-webhook-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	var images []platformImage
	for _, p := range platforms {
		binary, err := buildWebhook(ctx, dir, p, o.meta.version)
		if err != nil {
			return err
		}
		img, err := image(p, binary, o.meta)
		if err != nil {
			return fmt.Errorf("image for %s: %w", p, err)
		}
		images = append(images, platformImage{p, img})
	}
	if err := writeLayout(o.out, ref, images); err != nil {
		return err
	}
	// One platform: the image itself; several: their index.
	var digest v1.Hash
	if len(images) == 1 {
		digest, err = images[0].image.Digest()
	} else {
		digest, err = index(images).Digest()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %s (%s) %s\n", o.out, ref, o.platforms, digest)
	if !o.push {
		return nil
	}
	if err := push(ctx, ref, images); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	fmt.Fprintf(w, "pushed %s@%s\n", ref.Context(), digest)
	return nil
}

// push writes the image, or the index of several, to ref with the
// credentials docker, podman or crane stored.
func push(ctx context.Context, ref name.Tag, images []platformImage) error {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if len(images) == 1 {
		return remote.Write(ref, images[0].image, opts...)
	}
	return remote.WriteIndex(ref, index(images), opts...)
}

// parsePlatforms parses a comma-separated list such as "linux/amd64,linux/arm64".
func parsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := v1.ParsePlatform(item)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("--platforms: %q is not os/arch[/variant]", item)
		}
		out = append(out, *p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--platforms: none given")
	}
	return out, nil
}
