package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testMeta = metadata{version: "v9.8.7-test", revision: "0123456789abcdef", source: "https://example.com/milvus-admission"}

// registry is an in-memory registry (go-containerregistry's) for the test.
func registry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// The image built for this machine's platform, read back from the tarball:
// non-root, /webhook the entrypoint, the OCI labels, and a binary that
// answers --version with the stamped release. --push puts the same image in
// a registry.
func TestImageRunsTheStampedWebhook(t *testing.T) {
	host := runtime.GOOS + "/" + runtime.GOARCH
	tarPath := filepath.Join(t.TempDir(), "out", "image.tar")
	tag := registry(t) + "/team/milvus-admission:v9.8.7-test"
	var stdout bytes.Buffer
	require.NoError(t, run(context.Background(), options{
		platforms: host, tag: tag, out: tarPath, push: true, meta: testMeta,
	}, &stdout))

	top := readLayout(t, tarPath)
	im, err := top.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1, "index.json lists the one image")
	desc := im.Manifests[0]
	assert.Equal(t, types.OCIManifestSchema1, desc.MediaType)
	assert.Equal(t, map[string]string{
		refNameAnnotation:  "v9.8.7-test",
		containerImageName: tag,
	}, desc.Annotations)
	require.NotNil(t, desc.Platform)
	assert.Equal(t, host, desc.Platform.OS+"/"+desc.Platform.Architecture)
	assert.Contains(t, stdout.String(), desc.Digest.String(), "the tool reports the digest it wrote")
	ref, err := name.NewTag(tag)
	require.NoError(t, err)
	pushed, err := remote.Head(ref)
	require.NoError(t, err, "pushed to %s", tag)
	assert.Equal(t, desc.Digest, pushed.Digest, "the registry holds the image the tarball holds")

	img, err := top.Image(desc.Digest)
	require.NoError(t, err)
	require.NoError(t, validate.Image(img), "digests, sizes and diff IDs agree")
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, runtime.GOOS, cfg.OS)
	assert.Equal(t, runtime.GOARCH, cfg.Architecture)
	assert.Equal(t, "65532:65532", cfg.Config.User, "the user the Deployment's runAsUser requires")
	assert.Equal(t, []string{"/webhook"}, cfg.Config.Entrypoint)
	assert.Empty(t, cfg.Config.Cmd)
	assert.Equal(t, map[string]string{
		"org.opencontainers.image.title":    "milvus-admission",
		"org.opencontainers.image.source":   "https://example.com/milvus-admission",
		"org.opencontainers.image.version":  "v9.8.7-test",
		"org.opencontainers.image.revision": "0123456789abcdef",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}, cfg.Config.Labels)
	assert.Equal(t, "layers", cfg.RootFS.Type)

	files := layerFiles(t, img)
	webhook, ok := files["webhook"]
	require.True(t, ok, "the layer holds /webhook; it holds %v", slices.Sorted(maps.Keys(files)))
	assert.Equal(t, byte(tar.TypeReg), webhook.hdr.Typeflag)
	assert.Equal(t, int64(0o755), webhook.hdr.Mode)
	assert.Contains(t, files["etc/passwd"].contents, "\nnonroot:x:65532:65532:")
	assert.Contains(t, files["etc/group"].contents, "\nnonroot:x:65532:")
	assert.Equal(t, int64(0o1777), files["tmp/"].hdr.Mode, "a world-writable /tmp with the sticky bit")

	bin := filepath.Join(t.TempDir(), "webhook")
	require.NoError(t, os.WriteFile(bin, []byte(webhook.contents), 0o755))
	out, err := exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err, "/webhook --version: %s", out)
	assert.Regexp(t, `^milvus-admission v9\.8\.7-test \(commit \S+, go\S+ `+regexp.QuoteMeta(host)+`\)\n$`, string(out))
}

// Several platforms make an image index, each entry the image of its
// platform with its own binary; the same input gives the same bytes.
func TestMultiPlatformIndex(t *testing.T) {
	ref, err := name.NewTag("registry.example.com/milvus-admission:v9.8.7-test")
	require.NoError(t, err)
	platforms, err := parsePlatforms("linux/amd64,linux/arm64")
	require.NoError(t, err)
	var images []platformImage
	for _, p := range platforms {
		img, err := image(p, []byte("binary for "+p.Architecture), testMeta)
		require.NoError(t, err)
		images = append(images, platformImage{p, img})
	}
	dir := t.TempDir()
	first, second := filepath.Join(dir, "1.tar"), filepath.Join(dir, "2.tar")
	require.NoError(t, writeLayout(first, ref, images))
	require.NoError(t, writeLayout(second, ref, images))
	a, err := os.ReadFile(first)
	require.NoError(t, err)
	b, err := os.ReadFile(second)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(a, b), "two writes of the same images differ")

	top := readLayout(t, first)
	im, err := top.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1, "index.json lists the one image index")
	assert.Equal(t, types.OCIImageIndex, im.Manifests[0].MediaType)
	assert.Equal(t, "v9.8.7-test", im.Manifests[0].Annotations[refNameAnnotation])
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	require.NoError(t, err)
	require.NoError(t, validate.Index(idx))
	want, err := index(images).Digest()
	require.NoError(t, err)
	assert.Equal(t, want, im.Manifests[0].Digest, "the index written is the one pushed")
	pushRef, err := name.NewTag(registry(t) + "/milvus-admission:v9.8.7-test")
	require.NoError(t, err)
	require.NoError(t, push(context.Background(), pushRef, images))
	pushed, err := remote.Index(pushRef)
	require.NoError(t, err)
	require.NoError(t, validate.Index(pushed))
	got, err := pushed.Digest()
	require.NoError(t, err)
	assert.Equal(t, want, got, "the registry holds the index the tarball holds")

	m, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, m.Manifests, 2)
	for i, desc := range m.Manifests {
		require.NotNil(t, desc.Platform)
		assert.Equal(t, platforms[i], *desc.Platform)
		img, err := idx.Image(desc.Digest)
		require.NoError(t, err)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, platforms[i].Architecture, cfg.Architecture)
		assert.Equal(t, "binary for "+platforms[i].Architecture, layerFiles(t, img)["webhook"].contents)
	}
}

// The tool compiles as the Makefile's GO_BUILD does.
func TestBuildMatchesMakefile(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^GO_BUILD\s*:=\s*CGO_ENABLED=0 go (build -trimpath) -ldflags="([^"]*)"$`).FindSubmatch(makefile)
	require.NotNil(t, m, `the Makefile's GO_BUILD is CGO_ENABLED=0 go build -trimpath -ldflags="..."; if it changed, change goBuildArgs too`)
	want := append(strings.Fields(string(m[1])), "-ldflags="+strings.ReplaceAll(string(m[2]), "$(VERSION)", "v1.2.3"))
	assert.Equal(t, want, goBuildArgs("v1.2.3"))
}

func TestParsePlatforms(t *testing.T) {
	got, err := parsePlatforms(" linux/amd64, linux/arm/v7 ")
	require.NoError(t, err)
	assert.Equal(t, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}}, got)
	for _, bad := range []string{"", ",", "linux", "/amd64"} {
		_, err := parsePlatforms(bad)
		assert.ErrorContains(t, err, "--platforms", "%q", bad)
	}
}

// readLayout unpacks the OCI layout tarball and opens its index.json.
func readLayout(t *testing.T, tarPath string) v1.ImageIndex {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(tarPath)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.True(t, filepath.IsLocal(h.Name), "tar entry %q escapes the layout", h.Name)
		path := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(path, 0o755))
			continue
		}
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, data, 0o644))
	}
	idx, err := layout.ImageIndexFromPath(dir)
	require.NoError(t, err, "an OCI image layout")
	return idx
}

// entry is one file of a layer.
type entry struct {
	hdr      *tar.Header
	contents string
}

// layerFiles reads the image's only layer.
func layerFiles(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1, "one layer")
	mt, err := layers[0].MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCILayer, mt)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer func() { _ = rc.Close() }()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = entry{h, string(data)}
	}
}
