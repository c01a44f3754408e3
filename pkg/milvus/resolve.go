package milvus

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resolved is what one place of a Milvus spec runs: an image and the version
// it declares. Version is zero when it cannot be verified; Reason says why.
type Resolved struct {
	// Path is the field that declares the version: the version field when
	// set (it wins over the tag), otherwise the image field.
	Path *field.Path
	// Declared is the content of Path as written (inherited when the block
	// sets neither field).
	Declared string
	Image    string
	Version  Version
	Reason   string
}

// Known reports whether the version could be determined.
func (r Resolved) Known() bool { return !r.Version.IsZero() }

// Global resolves spec.components.image / spec.components.version.
func (c *Components) Global() Resolved {
	return resolve(ComponentsPath, c.Component, Resolved{Reason: "no image is set, so the operator's default image runs"})
}

// ComponentResolved is one component's effective image and version.
type ComponentResolved struct {
	Name string
	// Inherited is true when the component sets neither image nor version and
	// so runs the global one.
	Inherited bool
	Resolved
}

// Effective gives each component block present in the spec its effective
// image and version: its own override, or global (c.Global()).
func (c *Components) Effective(global Resolved) []ComponentResolved {
	var out []ComponentResolved
	for _, nc := range c.Named() {
		if nc.Component == nil {
			continue
		}
		if nc.Image == "" && nc.Version == "" {
			out = append(out, ComponentResolved{Name: nc.Name, Inherited: true, Resolved: global})
			continue
		}
		out = append(out, ComponentResolved{Name: nc.Name, Resolved: resolve(ComponentsPath.Child(nc.Name), *nc.Component, global)})
	}
	return out
}

// resolve applies "version field wins over the image tag" to one block,
// falling back to inherit for what the block leaves unset.
func resolve(base *field.Path, c Component, inherit Resolved) Resolved {
	r := Resolved{Path: base.Child("image"), Declared: c.Image, Image: c.Image}
	if r.Image == "" {
		r.Image = inherit.Image
	}
	switch {
	case c.Version != "":
		r.Path, r.Declared = base.Child("version"), c.Version
		v, err := ParseVersion(c.Version)
		if err != nil {
			r.Reason = fmt.Sprintf("%s: %v", r.Path, err)
			return r
		}
		r.Version = v
	case c.Image != "":
		r.Version, r.Reason = versionOfImage(c.Image)
	default:
		r.Version, r.Reason = inherit.Version, inherit.Reason
	}
	return r
}

func versionOfImage(ref string) (Version, string) {
	img, err := ParseImage(ref)
	if err != nil {
		return Version{}, err.Error()
	}
	v, err := img.Version()
	if err != nil {
		return Version{}, err.Error()
	}
	return v, ""
}

// Running is the version the operator reports as really running:
// status.currentVersion, else the tag of status.currentImage. ok is false
// when the status names no verifiable version (a new or not-ready cluster).
func (s MilvusStatus) Running() (v Version, ok bool) {
	if s.CurrentVersion != "" {
		if v, err := ParseVersion(s.CurrentVersion); err == nil {
			return v, true
		}
	}
	if s.CurrentImage != "" {
		if v, reason := versionOfImage(s.CurrentImage); reason == "" {
			return v, true
		}
	}
	return Version{}, false
}

// Versions is everything one Milvus declares and runs, resolved once per
// request so that no rule parses an image again.
type Versions struct {
	// Global is spec.components.image / spec.components.version.
	Global Resolved
	// Components are the component blocks present in the spec, each with
	// its effective image and version.
	Components []ComponentResolved
	// Running is what the status reports as running; zero when it names none.
	Running Version
}

// Resolve resolves the versions m declares and runs.
func (m *Milvus) Resolve() Versions {
	global := m.Spec.Components.Global()
	running, _ := m.Status.Running()
	return Versions{Global: global, Components: m.Spec.Components.Effective(global), Running: running}
}

// RunningVersion is the version the Milvus runs: what its status reports,
// else, for a cluster that has not reported yet, the version its spec
// declares. The error says why neither is known.
func (v Versions) RunningVersion() (Version, error) {
	if !v.Running.IsZero() {
		return v.Running, nil
	}
	if !v.Global.Known() {
		return Version{}, errors.New(v.Global.Reason)
	}
	return v.Global.Version, nil
}

// ImageRepository is the repository (registry included) of the Milvus's
// image: spec.components.image, else status.currentImage. Empty when neither
// parses.
func (m *Milvus) ImageRepository() string {
	for _, ref := range []string{m.Spec.Components.Image, m.Status.CurrentImage} {
		if img, err := ParseImage(ref); err == nil {
			return img.Repository
		}
	}
	return ""
}
