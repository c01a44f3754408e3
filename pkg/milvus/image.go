package milvus

import (
	"fmt"
	"regexp"
	"strings"
)

// maxImageLen bounds an image reference; real ones are a few hundred bytes at most.
const maxImageLen = 1024

var (
	imageCharsRE = regexp.MustCompile(`^[A-Za-z0-9._:/@+-]+$`)
	tagRE        = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE     = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$`)
)

// Image is a parsed container image reference.
type Image struct {
	// Repository includes the registry, with its port if any:
	// "10.20.12.8:5000/milvusdb/milvus".
	Repository string
	Tag        string
	Digest     string
}

// ParseImage splits an image reference into repository, tag and digest. It
// understands registries with ports (which the operator's own parser does not).
func ParseImage(ref string) (Image, error) { return images.get(ref, parseImage) }

var images = newMemo[Image]()

func parseImage(ref string) (Image, error) {
	if ref == "" {
		return Image{}, fmt.Errorf("empty image reference")
	}
	if len(ref) > maxImageLen {
		return Image{}, fmt.Errorf("image reference is %d characters long, more than %d", len(ref), maxImageLen)
	}
	if !imageCharsRE.MatchString(ref) {
		return Image{}, fmt.Errorf("image reference %q has characters an image name cannot have", ref)
	}
	var img Image
	name := ref
	if at := strings.IndexByte(ref, '@'); at >= 0 {
		name, img.Digest = ref[:at], ref[at+1:]
		if !digestRE.MatchString(img.Digest) {
			return Image{}, fmt.Errorf("image reference %q has a malformed digest %q", ref, img.Digest)
		}
	}
	// A colon after the last slash starts the tag; one before it is a registry port.
	if colon := strings.LastIndexByte(name, ':'); colon > strings.LastIndexByte(name, '/') {
		name, img.Tag = name[:colon], name[colon+1:]
		if !tagRE.MatchString(img.Tag) {
			return Image{}, fmt.Errorf("image reference %q has a malformed tag %q", ref, img.Tag)
		}
	}
	// Only the registry host (the first of several components) may hold a colon, for its port.
	path := name
	if slash := strings.IndexByte(name, '/'); slash >= 0 {
		path = name[slash+1:]
	}
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") || strings.Contains(path, ":") {
		return Image{}, fmt.Errorf("image reference %q has a malformed repository %q", ref, name)
	}
	img.Repository = name
	return img, nil
}

// String reassembles the reference.
func (i Image) String() string {
	s := i.Repository
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// Version is the version the tag names. A bare digest, no tag and "latest"
// return an error wrapping ErrUnverifiable.
func (i Image) Version() (Version, error) {
	if i.Tag == "" {
		if i.Digest != "" {
			return Version{}, fmt.Errorf("image %q is pinned by digest only, which %w", i.String(), ErrUnverifiable)
		}
		// No tag means "latest" to the container runtime.
		return Version{}, fmt.Errorf("image %q has no tag, which means latest and %w", i.String(), ErrUnverifiable)
	}
	return ParseVersion(i.Tag)
}
