package milvus

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseImage(t *testing.T) {
	tests := []struct {
		name string
		ref  string
		want Image
	}{
		{"v-prefixed release", "milvusdb/milvus:v2.4.23", Image{Repository: "milvusdb/milvus", Tag: "v2.4.23"}},
		{"release without v", "milvusdb/milvus:2.5.11", Image{Repository: "milvusdb/milvus", Tag: "2.5.11"}},
		{"hotfix flavour", "milvusdb/milvus:v2.4.13-hotfix", Image{Repository: "milvusdb/milvus", Tag: "v2.4.13-hotfix"}},
		{"gpu flavour", "milvusdb/milvus:v2.5.12-gpu", Image{Repository: "milvusdb/milvus", Tag: "v2.5.12-gpu"}},
		{"beta pre-release", "milvusdb/milvus:v2.3.1-beta1", Image{Repository: "milvusdb/milvus", Tag: "v2.3.1-beta1"}},
		{"release candidate", "milvusdb/milvus:2.6.0-rc1", Image{Repository: "milvusdb/milvus", Tag: "2.6.0-rc1"}},
		{"master nightly", "milvusdb/milvus:master-20221016-15878781", Image{Repository: "milvusdb/milvus", Tag: "master-20221016-15878781"}},
		{"dated branch build", "milvusdb/milvus:2.5-20250428-c40e8cf4-amd64", Image{Repository: "milvusdb/milvus", Tag: "2.5-20250428-c40e8cf4-amd64"}},
		{"latest", "milvusdb/milvus:latest", Image{Repository: "milvusdb/milvus", Tag: "latest"}},
		{"no tag", "milvusdb/milvus", Image{Repository: "milvusdb/milvus"}},
		{"registry with port and tag", "10.20.12.8:5000/milvusdb/milvus:v2.6.0", Image{Repository: "10.20.12.8:5000/milvusdb/milvus", Tag: "v2.6.0"}},
		{"private registry", "harbor.example.com/milvusdb/milvus:v2.4.23", Image{Repository: "harbor.example.com/milvusdb/milvus", Tag: "v2.4.23"}},
		{"registry with port and no tag", "localhost:5000/milvus", Image{Repository: "localhost:5000/milvus"}},
		{"digest only", "milvusdb/milvus@" + testDigest, Image{Repository: "milvusdb/milvus", Digest: testDigest}},
		{"tag and digest", "milvusdb/milvus:v2.4.23@" + testDigest, Image{Repository: "milvusdb/milvus", Tag: "v2.4.23", Digest: testDigest}},
		{"registry with port, tag and digest", "10.20.12.8:5000/milvusdb/milvus:v2.6.0@" + testDigest, Image{Repository: "10.20.12.8:5000/milvusdb/milvus", Tag: "v2.6.0", Digest: testDigest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseImage(tt.ref)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.ref, got.String(), "String() must round-trip")
		})
	}
}

func TestParseImageErrors(t *testing.T) {
	tests := []struct {
		name    string
		ref     string
		wantErr string
	}{
		{"empty", "", "empty image reference"},
		{"spaces", "milvusdb/milvus: v2.4.0", "has characters an image name cannot have"},
		{"empty tag", "milvusdb/milvus:", `malformed tag ""`},
		{"tag without repository", ":v2.4.0", `malformed repository ""`},
		{"empty path component", "a//b:v1.0.0", `malformed repository "a//b"`},
		{"leading slash", "/milvusdb/milvus:v1.0.0", `malformed repository "/milvusdb/milvus"`},
		{"trailing slash", "milvusdb/milvus/", `malformed repository "milvusdb/milvus/"`},
		{"two tags", "milvusdb/milvus:v2.4.0:latest", `malformed repository "milvusdb/milvus:v2.4.0"`},
		{"colon in a path component", "registry/a:b/c:v1", `malformed repository "registry/a:b/c"`},
		{"tag starting with a dot", "milvusdb/milvus:.v1", `malformed tag ".v1"`},
		{"digest not hex", "milvusdb/milvus@sha256:xyz", `malformed digest "sha256:xyz"`},
		{"digest too short", "milvusdb/milvus@sha256:abc123", `malformed digest "sha256:abc123"`},
		{"digest without algorithm", "milvusdb/milvus@0123456789abcdef0123456789abcdef", "malformed digest"},
		{"empty digest", "milvusdb/milvus:v2.4.23@", `malformed digest ""`},
		{"too long", "milvusdb/milvus:" + strings.Repeat("a", 1020), "more than 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseImage(tt.ref)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestImageVersion(t *testing.T) {
	t.Run("known versions", func(t *testing.T) {
		tests := []struct {
			ref   string
			short string
		}{
			{"milvusdb/milvus:v2.4.23", "2.4.23"},
			{"milvusdb/milvus:2.5.11", "2.5.11"},
			{"milvusdb/milvus:v2.4.13-hotfix", "2.4.13"},
			{"milvusdb/milvus:2.6.0-rc1", "2.6.0"},
			{"milvusdb/milvus:2.5-20250428-c40e8cf4-amd64", "2.5.0"},
			{"10.20.12.8:5000/milvusdb/milvus:v2.6.0", "2.6.0"},
			{"milvusdb/milvus:v2.4.23@" + testDigest, "2.4.23"},
		}
		for _, tt := range tests {
			t.Run(tt.ref, func(t *testing.T) {
				img, err := ParseImage(tt.ref)
				require.NoError(t, err)
				v, err := img.Version()
				require.NoError(t, err)
				assert.Equal(t, tt.short, v.Short())
				assert.Equal(t, img.Tag, v.String())
			})
		}
	})

	t.Run("unverifiable", func(t *testing.T) {
		tests := []struct {
			name    string
			ref     string
			wantMsg string
		}{
			{"latest tag", "milvusdb/milvus:latest", `"latest"`},
			{"no tag means latest", "milvusdb/milvus", "no tag"},
			{"registry with port and no tag", "localhost:5000/milvus", "no tag"},
			{"digest only", "milvusdb/milvus@" + testDigest, "pinned by digest only"},
			{"master nightly", "milvusdb/milvus:master-20221016-15878781", "master-20221016-15878781"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				img, err := ParseImage(tt.ref)
				require.NoError(t, err)
				v, err := img.Version()
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrUnverifiable), "want ErrUnverifiable, got %v", err)
				assert.Contains(t, err.Error(), tt.wantMsg)
				assert.True(t, v.IsZero())
			})
		}
	})

	t.Run("malformed tag is not unverifiable", func(t *testing.T) {
		img, err := ParseImage("milvusdb/milvus:foo")
		require.NoError(t, err)
		_, err = img.Version()
		require.Error(t, err)
		assert.False(t, errors.Is(err, ErrUnverifiable))
	})
}
