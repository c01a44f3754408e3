package milvus

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds any string to every parser of the package as an image
// reference, a tag and a version field: none may panic, a parsed image must
// round-trip through String, and a resolved version must be usable.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"v2.4.23", "2.5.11", "v2.4.13-hotfix", "v2.5.12-gpu", "v2.3.1-beta1", "2.6.0-rc1",
		"master-20221016-15878781", "2.5-20250428-c40e8cf4-amd64", "latest", "V2.2.16", "2.5", "foo", "",
		"milvusdb/milvus:v2.4.23", "milvusdb/milvus:2.5.11", "milvusdb/milvus:v2.4.13-hotfix",
		"milvusdb/milvus:v2.5.12-gpu", "milvusdb/milvus:v2.3.1-beta1", "milvusdb/milvus:2.6.0-rc1",
		"milvusdb/milvus:master-20221016-15878781", "milvusdb/milvus:2.5-20250428-c40e8cf4-amd64",
		"milvusdb/milvus:latest", "milvusdb/milvus", "10.20.12.8:5000/milvusdb/milvus:v2.6.0",
		"harbor.example.com/milvusdb/milvus:v2.4.23", "localhost:5000/milvus", "localhost:5000",
		"milvusdb/milvus@" + testDigest, "milvusdb/milvus:v2.4.23@" + testDigest,
		"milvusdb/milvus:", ":v2.4.0", "a//b:v1.0.0", "milvusdb/milvus@sha256:xyz", "a:b:c",
		"milvusdb/milvus:" + strings.Repeat("a", 1020),
	} {
		f.Add(s)
	}
	fixed := MustVersion("v2.5.16")

	f.Fuzz(func(t *testing.T, s string) {
		img, err := ParseImage(s)
		if err == nil {
			if got := img.String(); got != s {
				t.Fatalf("ParseImage(%q).String() = %q", s, got)
			}
			again, err := ParseImage(img.String())
			if err != nil {
				t.Fatalf("ParseImage(%q) ok, but its String %q does not re-parse: %v", s, img.String(), err)
			}
			if again != img {
				t.Fatalf("ParseImage(%q) = %#v, re-parsed %#v", s, img, again)
			}
			if img.Repository == "" {
				t.Fatalf("ParseImage(%q) has an empty repository", s)
			}
			if v, err := img.Version(); err == nil {
				checkVersion(t, v, fixed)
			} else if !v.IsZero() {
				t.Fatalf("Image(%q).Version() failed with a non-zero version", s)
			}
		}

		v, err := ParseVersion(s)
		switch {
		case err == nil:
			checkVersion(t, v, fixed)
		case !v.IsZero():
			t.Fatalf("ParseVersion(%q) failed with a non-zero version", s)
		case errors.Is(err, ErrUnverifiable):
			// Only tags that name no version at all are unverifiable.
			lower := strings.ToLower(s)
			if lower != "latest" && !strings.HasPrefix(lower, "master") && !strings.HasPrefix(lower, "nightly") {
				t.Fatalf("ParseVersion(%q) is unverifiable: %v", s, err)
			}
		}

		// The string as image and as version of the global block and of components.
		c := Components{
			Component: Component{Image: s},
			Proxy:     &Component{Version: s},
			QueryNode: &Component{},
			DataNode:  &Component{Image: s, Version: s},
		}
		checkResolved(t, s, c.Global())
		for _, r := range c.Effective(c.Global()) {
			checkResolved(t, s, r.Resolved)
		}
		c = Components{Component: Component{Version: s}, MixCoord: &Component{Image: s}, Standalone: &Component{}}
		checkResolved(t, s, c.Global())
		for _, r := range c.Effective(c.Global()) {
			checkResolved(t, s, r.Resolved)
		}

		if v, ok := (MilvusStatus{CurrentVersion: s, CurrentImage: s}).Running(); ok {
			checkVersion(t, v, fixed)
		}
		m := &Milvus{}
		m.Spec.Components.Image = s
		if repo := m.ImageRepository(); repo != "" && !strings.HasPrefix(s, repo) {
			t.Fatalf("ImageRepository of %q = %q, not a prefix", s, repo)
		}
	})
}

// checkVersion exercises every method of a successfully parsed version.
func checkVersion(t *testing.T, v, fixed Version) {
	t.Helper()
	if v.IsZero() {
		t.Fatalf("parsed version %q is zero", v.String())
	}
	if c := v.Compare(fixed); c < -1 || c > 1 || fixed.Compare(v) != -c {
		t.Fatalf("Compare(%q, %q) = %d, reversed %d", v, fixed, c, fixed.Compare(v))
	}
	if v.Compare(v) != 0 {
		t.Fatalf("%q does not equal itself", v)
	}
	if l := v.Line(fixed); l < -1 || l > 1 || fixed.Line(v) != -l {
		t.Fatalf("Line(%q, %q) = %d, reversed %d", v, fixed, l, fixed.Line(v))
	}
	_ = v.AtLeast(2, 5, 16)
	_ = v.Prerelease()
	_ = v.Nightly()
	_ = v.Short()
	tag := v.Tag()
	if !strings.HasPrefix(tag, "v") {
		t.Fatalf("Tag of %q = %q, want a v prefix", v, tag)
	}
	if len(tag) <= maxVersionLen {
		again, err := ParseVersion(tag)
		if err != nil {
			t.Fatalf("Tag %q of %q does not parse: %v", tag, v, err)
		}
		if again.Compare(v) != 0 {
			t.Fatalf("Tag %q of %q parses to a different version", tag, v)
		}
	}
}

// checkResolved asserts a Resolved is either known or says why not.
func checkResolved(t *testing.T, s string, r Resolved) {
	t.Helper()
	if r.Path == nil {
		t.Fatalf("%q: resolved with no path", s)
	}
	if r.Known() == (r.Reason != "") {
		t.Fatalf("%q: Known() = %v with reason %q", s, r.Known(), r.Reason)
	}
	if r.Known() {
		_ = r.Version.Short()
		_ = r.Version.Compare(MustVersion("2.2.3"))
	}
}
