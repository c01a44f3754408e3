package milvus

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ErrUnverifiable marks a tag or reference that names no version we can
// compare (latest, a bare digest, a master nightly build).
var ErrUnverifiable = errors.New("names no verifiable version")

// maxVersionLen bounds what we parse: real tags are far shorter (OCI caps tags at 128).
const maxVersionLen = 128

var (
	// 2.4.23, v2.4.23, v2.4.23-gpu, 2.6.0-rc1, and branch builds like 2.5-20250428-c40e8cf4-amd64.
	versionRE = regexp.MustCompile(`^[vV]?(\d{1,6})\.(\d{1,6})(?:\.(\d{1,9}))?((?:[-.+][0-9A-Za-z_]+)*)$`)
	// Suffix words that name a pre-release: no upgrade guarantee (MU-PRERELEASE).
	prereleaseRE = regexp.MustCompile(`^(rc|beta|alpha|pre|dev|snapshot)\d*$`)
	// An 8-digit date marks a nightly build.
	dateRE = regexp.MustCompile(`^20\d{6}$`)
)

// Version is a Milvus version, parsed from an image tag or a version field.
//
// Flavour suffixes that do not change the code line (-gpu, -hotfix, -amd64)
// are kept out of the comparison; pre-release words (-rc1, -beta1) and nightly
// dates make the version a pre-release, ordered before the release.
type Version struct {
	raw     string
	core    *semver.Version
	nightly bool
}

// ParseVersion parses a version string or image tag. A tag that names no
// version (latest, master-…) returns an error wrapping ErrUnverifiable.
func ParseVersion(s string) (Version, error) { return versions.get(s, parseVersion) }

var versions = newMemo[Version]()

func parseVersion(s string) (Version, error) {
	if s == "" {
		return Version{}, errors.New("empty version")
	}
	if len(s) > maxVersionLen {
		return Version{}, fmt.Errorf("version is %d characters long, more than %d", len(s), maxVersionLen)
	}
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		lower := strings.ToLower(s)
		if lower == "latest" || strings.HasPrefix(lower, "master") || strings.HasPrefix(lower, "nightly") {
			return Version{}, fmt.Errorf("tag %q %w", s, ErrUnverifiable)
		}
		return Version{}, fmt.Errorf("%q is not a Milvus version (expected a tag like v2.4.23)", s)
	}
	patch := m[3]
	var pre []string
	nightly := false
	for _, word := range strings.FieldsFunc(m[4], func(r rune) bool { return r == '-' || r == '.' || r == '+' }) {
		lower := strings.ToLower(word)
		switch {
		case dateRE.MatchString(lower):
			nightly = true
			pre = append(pre, "nightly", lower)
		case prereleaseRE.MatchString(lower):
			pre = append(pre, lower)
		}
		// Anything else (gpu, hotfix, amd64, a commit hash) is a build flavour.
	}
	if patch == "" {
		// A bare major.minor is only meaningful as a dated branch build.
		if !nightly {
			return Version{}, fmt.Errorf("version %q has no patch number: name a full version such as v%s.%s.0", s, m[1], m[2])
		}
		patch = "0"
	}
	coreText := m[1] + "." + m[2] + "." + patch
	if len(pre) > 0 {
		coreText += "-" + strings.Join(pre, ".")
	}
	core, err := semver.StrictNewVersion(coreText)
	if err != nil {
		return Version{}, fmt.Errorf("%q is not a Milvus version: %w", s, err)
	}
	return Version{raw: s, core: core, nightly: nightly}, nil
}

// MustVersion parses a version known at compile time; it panics on error.
func MustVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String is the version as written.
func (v Version) String() string { return v.raw }

// IsZero reports whether v was never parsed.
func (v Version) IsZero() bool { return v.core == nil }

// Major, Minor and Patch are the numeric parts.
func (v Version) Major() uint64 { return v.core.Major() }

// Minor is the minor number.
func (v Version) Minor() uint64 { return v.core.Minor() }

// Patch is the patch number.
func (v Version) Patch() uint64 { return v.core.Patch() }

// Prerelease reports a pre-release or nightly build (MU-PRERELEASE).
func (v Version) Prerelease() bool { return v.core.Prerelease() != "" }

// Nightly reports a dated nightly build.
func (v Version) Nightly() bool { return v.nightly }

// Compare orders versions as semver does, ignoring build flavours: it returns
// -1, 0 or +1.
func (v Version) Compare(o Version) int { return v.core.Compare(o.core) }

// Line compares only major.minor: -1, 0 or +1.
func (v Version) Line(o Version) int {
	if c := cmp.Compare(v.Major(), o.Major()); c != 0 {
		return c
	}
	return cmp.Compare(v.Minor(), o.Minor())
}

// AtLeast reports whether v's release numbers are ≥ major.minor.patch. A
// pre-release of that release counts as reaching it: thresholds in the
// upgrade rules are about the code line, pre-releases are judged separately.
func (v Version) AtLeast(major, minor, patch uint64) bool {
	switch {
	case v.Major() != major:
		return v.Major() > major
	case v.Minor() != minor:
		return v.Minor() > minor
	default:
		return v.Patch() >= patch
	}
}

// Tag is the canonical image tag for this version: "v" + the version as
// written, so "2.2.16" becomes "v2.2.16", "v2.2.16" stays and "V2.2.16"
// becomes "v2.2.16" (Milvus tags use a lower-case v; tags are case-sensitive).
func (v Version) Tag() string {
	return "v" + strings.TrimPrefix(strings.TrimPrefix(v.raw, "v"), "V")
}

// Short is major.minor.patch, for messages.
func (v Version) Short() string {
	return strconv.FormatUint(v.Major(), 10) + "." + strconv.FormatUint(v.Minor(), 10) + "." + strconv.FormatUint(v.Patch(), 10)
}
