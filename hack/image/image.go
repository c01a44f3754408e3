package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// webhookPkg is built by import path, so the tool works from any
	// directory of the module (go run ./hack/image, go test).
	webhookPkg = "github.com/milvus-admission/milvus-admission/cmd/webhook"
	// versionVar is what -ldflags -X sets: the release --version prints.
	versionVar = "github.com/milvus-admission/milvus-admission/internal/version.Version"
	// nonRoot is the user and group the Deployment requires (runAsUser 65532),
	// distroless's "nonroot".
	nonRoot = "65532"
	// refNameAnnotation names the image in an OCI layout (its tag, as
	// `docker buildx --output type=oci` writes it); containerImageName is the
	// full reference containerd and `docker load` read.
	refNameAnnotation  = "org.opencontainers.image.ref.name"
	containerImageName = "io.containerd.image.name"
)

// epoch is every timestamp in the image, so that the same source and version
// give the same digest (as ko does).
var epoch = time.Unix(0, 0).UTC()

// goBuildArgs are the Makefile's GO_BUILD arguments after `go` (CGO_ENABLED=0
// is in the environment); image_test.go keeps the two equal.
func goBuildArgs(version string) []string {
	return []string{"build", "-trimpath", fmt.Sprintf("-ldflags=-s -w -X %s=%s", versionVar, version)}
}

// buildWebhook cross-compiles the webhook for p into dir and returns the
// binary.
func buildWebhook(ctx context.Context, dir string, p v1.Platform, version string) ([]byte, error) {
	out := filepath.Join(dir, "webhook-"+p.OS+"-"+p.Architecture+p.Variant)
	args := append(goBuildArgs(version), "-o", out, webhookPkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s for %s: %w\n%s", strings.Join(args, " "), p, err, stderr.String())
	}
	return os.ReadFile(out)
}

// file is one entry of the image's only layer.
type file struct {
	name     string
	mode     int64
	owner    int
	contents string // a directory when the name ends in "/"
}

// rootFS is what a static binary needs besides itself: the nonroot user and
// group for tools that look names up, its home, and a writable /tmp.
var rootFS = []file{
	{name: "etc/", mode: 0o755},
	{name: "etc/passwd", mode: 0o644, contents: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
	{name: "etc/group", mode: 0o644, contents: "root:x:0:\nnonroot:x:65532:\n"},
	{name: "home/", mode: 0o755},
	{name: "home/nonroot/", mode: 0o700, owner: 65532},
	{name: "tmp/", mode: 0o1777},
}

// layer is a tar of rootFS and the binary as /webhook.
func layer(binary []byte) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range append(rootFS, file{name: "webhook", mode: 0o755, contents: string(binary)}) {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.owner, Gid: f.owner, ModTime: epoch, Format: tar.FormatPAX,
			Typeflag: tar.TypeReg, Size: int64(len(f.contents))}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, f.contents); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// metadata describes the image: its OCI labels and its name.
type metadata struct {
	version, revision, source string
}

func (m metadata) labels() map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":    "milvus-admission",
		"org.opencontainers.image.source":   m.source,
		"org.opencontainers.image.version":  m.version,
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	if m.revision != "" {
		l["org.opencontainers.image.revision"] = m.revision
	}
	return l
}

// image is the webhook for one platform on an empty base: OCI media types,
// non-root, /webhook the entrypoint.
func image(p v1.Platform, binary []byte, m metadata) (v1.Image, error) {
	l, err := layer(binary)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		OS: p.OS, Architecture: p.Architecture, Variant: p.Variant,
		Created: v1.Time{Time: epoch},
		RootFS:  v1.RootFS{Type: "layers"}, // Append adds the layer's diff ID
		Config: v1.Config{
			User:       nonRoot + ":" + nonRoot,
			Entrypoint: []string{"/webhook"},
			WorkingDir: "/",
			Labels:     m.labels(),
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(base, mutate.Addendum{Layer: l, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "hack/image: /webhook " + m.version}})
}

// platformImage is the image of one platform.
type platformImage struct {
	platform v1.Platform
	image    v1.Image
}

// index is the multi-platform image index of images.
func index(images []platformImage) v1.ImageIndex {
	adds := make([]mutate.IndexAddendum, len(images))
	for i, pi := range images {
		adds[i] = mutate.IndexAddendum{Add: pi.image, Descriptor: v1.Descriptor{Platform: &pi.platform}}
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

// writeLayout writes an OCI image layout tarball to out: index.json lists one
// entry, named ref, the image itself when there is one platform, else the
// image index of all.
func writeLayout(out string, ref name.Tag, images []platformImage) error {
	dir, err := os.MkdirTemp("", "milvus-admission-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	names := layout.WithAnnotations(map[string]string{refNameAnnotation: ref.TagStr(), containerImageName: ref.Name()})
	if len(images) == 1 {
		err = p.AppendImage(images[0].image, names, layout.WithPlatform(images[0].platform))
	} else {
		err = p.AppendIndex(index(images), names)
	}
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return tarDir(dir, out)
}

// tarDir writes the files under dir to the tar file out, with their paths
// relative to dir.
func tarDir(dir, out string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	// WalkDir visits in lexical order: the same layout gives the same tar.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Format: tar.FormatPAX, Mode: 0o644, Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
