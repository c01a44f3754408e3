package milvus

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in                  string
		major, minor, patch uint64
		prerelease, nightly bool
		tag, short          string
	}{
		{"v2.4.23", 2, 4, 23, false, false, "v2.4.23", "2.4.23"},
		{"2.5.11", 2, 5, 11, false, false, "v2.5.11", "2.5.11"},
		{"2.2.16", 2, 2, 16, false, false, "v2.2.16", "2.2.16"},
		{"v2.2.16", 2, 2, 16, false, false, "v2.2.16", "2.2.16"},
		{"V2.2.16", 2, 2, 16, false, false, "v2.2.16", "2.2.16"},
		{"v2.4.13-hotfix", 2, 4, 13, false, false, "v2.4.13-hotfix", "2.4.13"},
		{"v2.5.12-gpu", 2, 5, 12, false, false, "v2.5.12-gpu", "2.5.12"},
		{"v2.3.1-beta1", 2, 3, 1, true, false, "v2.3.1-beta1", "2.3.1"},
		{"2.6.0-rc1", 2, 6, 0, true, false, "v2.6.0-rc1", "2.6.0"},
		{"2.5-20250428-c40e8cf4-amd64", 2, 5, 0, true, true, "v2.5-20250428-c40e8cf4-amd64", "2.5.0"},
		{"v2.5.4-20250101-abcdef12", 2, 5, 4, true, true, "v2.5.4-20250101-abcdef12", "2.5.4"},
		{"1.1.0", 1, 1, 0, false, false, "v1.1.0", "1.1.0"},
		{"3.0.5", 3, 0, 5, false, false, "v3.0.5", "3.0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseVersion(tt.in)
			require.NoError(t, err)
			assert.False(t, v.IsZero())
			assert.Equal(t, tt.major, v.Major(), "Major")
			assert.Equal(t, tt.minor, v.Minor(), "Minor")
			assert.Equal(t, tt.patch, v.Patch(), "Patch")
			assert.Equal(t, tt.prerelease, v.Prerelease(), "Prerelease")
			assert.Equal(t, tt.nightly, v.Nightly(), "Nightly")
			assert.Equal(t, tt.tag, v.Tag(), "Tag")
			assert.Equal(t, tt.short, v.Short(), "Short")
			assert.Equal(t, tt.in, v.String(), "String is the version as written")
		})
	}
}

func TestParseVersionErrors(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		wantErr      string
		unverifiable bool
	}{
		{"empty", "", "empty version", false},
		{"no patch", "2.5", "has no patch number", false},
		{"no patch with v", "v2.4", "has no patch number", false},
		{"not a version", "foo", "is not a Milvus version", false},
		{"surrounding spaces", " v2.4.23", "is not a Milvus version", false},
		{"leading zero", "02.4.0", "is not a Milvus version", false},
		{"latest", "latest", "names no verifiable version", true},
		{"Latest in capitals", "Latest", "names no verifiable version", true},
		{"master nightly", "master-20221016-15878781", "names no verifiable version", true},
		{"nightly word", "nightly", "names no verifiable version", true},
		{"too long", "2.4.23-" + strings.Repeat("a", 130), "more than 128", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseVersion(tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.unverifiable, errors.Is(err, ErrUnverifiable), "errors.Is(err, ErrUnverifiable)")
			assert.True(t, v.IsZero())
		})
	}
}

func TestMustVersion(t *testing.T) {
	assert.Equal(t, "2.4.23", MustVersion("v2.4.23").Short())
	assert.Panics(t, func() { MustVersion("latest") })
}

func TestVersionCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"release candidate before the release", "2.6.0-rc1", "2.6.0", -1},
		{"beta before the release", "v2.3.1-beta1", "2.3.1", -1},
		{"beta before rc", "2.6.0-beta1", "2.6.0-rc1", -1},
		{"nightly before the release", "2.5-20250428-c40e8cf4-amd64", "2.5.0", -1},
		{"hotfix flavour equals plain", "v2.4.13-hotfix", "2.4.13", 0},
		{"gpu flavour equals plain", "v2.5.12-gpu", "v2.5.12", 0},
		{"v prefix ignored", "v2.4.23", "2.4.23", 0},
		{"patch numbers compare numerically", "2.2.3", "2.2.0", 1},
		{"patch 10 after patch 9", "2.2.10", "2.2.9", 1},
		{"minor wins over patch", "2.5.0", "2.4.23", 1},
		{"major wins", "1.9.9", "2.0.0", -1},
		{"release after previous release's rc", "2.6.0-rc1", "2.5.16", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := MustVersion(tt.a), MustVersion(tt.b)
			assert.Equal(t, tt.want, a.Compare(b), "%s vs %s", tt.a, tt.b)
			assert.Equal(t, -tt.want, b.Compare(a), "%s vs %s", tt.b, tt.a)
		})
	}
}

func TestVersionLine(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"same line, different patches", "2.4.23", "2.4.0", 0},
		{"same line, pre-release", "2.6.0-rc1", "v2.6.20", 0},
		{"newer minor", "2.5.0", "2.4.99", 1},
		{"older minor", "2.2.16", "2.3.0", -1},
		{"newer major", "3.0.0", "2.6.20", 1},
		{"older major", "1.1.0", "2.0.0", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, MustVersion(tt.a).Line(MustVersion(tt.b)))
		})
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		v                   string
		major, minor, patch uint64
		want                bool
	}{
		{"2.5.16", 2, 5, 16, true},
		{"2.5.15", 2, 5, 16, false},
		{"2.5.17", 2, 5, 16, true},
		{"2.6.0", 2, 5, 16, true},
		{"2.6.0-rc1", 2, 6, 0, true},
		{"2.2.3", 2, 2, 3, true},
		{"2.2.2", 2, 2, 3, false},
		{"2.3.0", 2, 2, 3, true},
		{"3.0.0", 2, 6, 20, true},
		{"1.9.9", 2, 0, 0, false},
		{"2.1.4", 2, 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			assert.Equal(t, tt.want, MustVersion(tt.v).AtLeast(tt.major, tt.minor, tt.patch),
				"%s AtLeast(%d, %d, %d)", tt.v, tt.major, tt.minor, tt.patch)
		})
	}
}
