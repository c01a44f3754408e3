package plan

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// Edit is one change to a Milvus object that a hop makes besides its image:
// it sets Path to Value, or, with Remove, removes those fields of the object
// at Path.
type Edit struct {
	Path   []string
	Value  any
	Remove []string
}

// Paths of the fields hops edit.
var (
	updateModePath = []string{"spec", "components", "imageUpdateMode"}
	mixCoordPath   = []string{"spec", "components", "mixCoord"}
	msgStreamPath  = []string{"spec", "dependencies", "msgStreamType"}
)

// pinFields are what makes a component run its own version.
var pinFields = []string{"image", "version"}

func componentPath(name string) []string { return []string{"spec", "components", name} }

// String is the edit as an instruction: "set spec.components.mixCoord: {replicas: 1}".
func (e Edit) String() string {
	path := strings.Join(e.Path, ".")
	if len(e.Remove) > 0 {
		return fmt.Sprintf("remove %s from %s", strings.Join(e.Remove, " and "), path)
	}
	return fmt.Sprintf("set %s: %s", path, flow(e.Value))
}

// flow renders a value as YAML flow style, as messages quote manifests.
func flow(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+": "+flow(m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Apply makes the edit on obj, a Milvus decoded as a map.
func (e Edit) Apply(obj map[string]any) error {
	for _, f := range e.Remove {
		unstructured.RemoveNestedField(obj, append(slices.Clone(e.Path), f)...)
	}
	if len(e.Remove) > 0 {
		return nil
	}
	if err := unstructured.SetNestedField(obj, e.Value, e.Path...); err != nil {
		return fmt.Errorf("%s: %w", e, err)
	}
	return nil
}

// Apply makes obj, a Milvus decoded as a map, what it is after the hop: its
// edits made and, unless the hop only edits the spec, the global image set to
// repository with the hop's target tag (what the operator writes after a
// MilvusUpgrade, too), and spec.components.version, when set, moved with it.
// Every other field is kept.
func (h Hop) Apply(obj map[string]any, repository string) error {
	if h.By != BySpec {
		if repository == "" {
			return fmt.Errorf("no image repository to tag %s in", h.To.Tag())
		}
		if err := unstructured.SetNestedField(obj, repository+":"+h.To.Tag(), "spec", "components", "image"); err != nil {
			return err
		}
		// The version field wins over the tag: it moves too.
		if v, _, _ := unstructured.NestedString(obj, "spec", "components", "version"); v != "" {
			if err := unstructured.SetNestedField(obj, h.To.Tag(), "spec", "components", "version"); err != nil {
				return err
			}
		}
	}
	for _, e := range h.Edits {
		if err := e.Apply(obj); err != nil {
			return err
		}
	}
	return nil
}

// View is the read-only view of a Milvus decoded as a map, as hops edit it.
func View(obj map[string]any) (*milvus.Milvus, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	m := &milvus.Milvus{}
	return m, milvus.Decode(data, milvus.MilvusKind, m)
}
