// Package mutate computes the patches milvus-admission's defaulting webhook
// returns, as JSON patch operations over the object exactly as it arrived.
// Working on the raw object (not a Go type) means a field the types do not
// know is never dropped.
//
// Defaults only add what is absent: a value the user set — false and 0
// included — is never overwritten. The generation patches do more, and
// only to the fields they own: Hold replaces the global image and version
// with the held ones and records the intent annotations; Cancel removes them;
// Version moves a version pin along with the operator's image hand-off;
// Stage sets a gate's waypoint and records the stage annotations, Unstage
// removes them.
package mutate

import (
	"encoding/json"
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// Defaults users expect on a MilvusUpgrade (MU-UP-DEFAULTS) that are not policy.
const (
	DefaultMaxRetry         int64 = 3
	DefaultRollbackIfFailed       = true
)

// Object is what a patch is computed over: the object decoded as a map, or
// a *Raw, which the webhook passes so that a request needing no patch never
// decodes its object a second time.
type Object interface {
	map[string]any | *Raw
}

// Raw is an object's JSON, decoded into a map the first time an operation
// needs it; every later operation sees the same map, kept in step with the
// operations before it.
type Raw struct {
	data []byte
	view *milvus.Milvus
	obj  map[string]any
	err  error
	done bool
}

// NewRaw returns the Raw of data. view, when not nil, is the same object's
// typed view (decoded from data): Milvus reads it first.
func NewRaw(data []byte, view *milvus.Milvus) *Raw { return &Raw{data: data, view: view} }

// Map decodes the object, once.
func (r *Raw) Map() (map[string]any, error) {
	if !r.done {
		r.done = true
		if err := json.Unmarshal(r.data, &r.obj); err != nil {
			r.err = err
		}
	}
	return r.obj, r.err
}

// newPatcher is a patcher over obj, decoding a *Raw; a decoding error is
// the patcher's error.
func newPatcher[O Object](obj O) patcher {
	switch o := any(obj).(type) {
	case *Raw:
		m, err := o.Map()
		return patcher{root: m, err: err}
	case map[string]any:
		return patcher{root: o}
	}
	panic("unreachable: Object is a map or a *Raw")
}

// Milvus defaults a Milvus: spec.components.imageUpdateMode: rollingUpgrade.
func Milvus[O Object](obj O) ([]jsonpatch.Operation, error) {
	// A non-empty imageUpdateMode in the view is one setDefault keeps (and
	// says spec and components are objects): nothing to decode.
	if r, ok := any(obj).(*Raw); ok && r.view != nil && r.view.Spec.Components.ImageUpdateMode != "" {
		return nil, nil
	}
	p := newPatcher(obj)
	p.setDefault(milvus.UpdateModeRollingUpgrade, "spec", "components", "imageUpdateMode")
	return p.ops, p.err
}

// MilvusUpgrade defaults a MilvusUpgrade created or updated in namespace.
// target is the Milvus it names, from the informer cache, or nil; its image
// repository (private registry included) becomes targetImage's. old is the
// stored upgrade on UPDATE, else nil.
func MilvusUpgrade[O Object](obj O, namespace string, old *milvus.MilvusUpgrade, target *milvus.Milvus, pol *policy.Policy) ([]jsonpatch.Operation, error) {
	p := newPatcher(obj)
	if p.err != nil {
		return nil, p.err
	}
	p.setDefault(pol.ToolImage, "spec", "toolImage")
	p.setDefault(DefaultMaxRetry, "spec", "maxRetry")
	p.setDefault(DefaultRollbackIfFailed, "spec", "rollbackIfFailed")
	p.setDefault(milvus.OperationUpgrade, "spec", "operation")
	if ref, _, _ := unstructured.NestedFieldNoCopy(p.root, "spec", "milvus"); namespace != "" {
		if _, ok := ref.(map[string]any); ok {
			p.setDefault(namespace, "spec", "milvus", "namespace")
		}
	}
	// An unparsable targetVersion gets no targetImage; validation says why.
	tv, _, _ := unstructured.NestedString(p.root, "spec", "targetVersion")
	image := TargetImage(target, tv, pol)
	if image == "" {
		return p.ops, p.err
	}
	// Retargeted before the operator started: a targetImage that we injected
	// for the old targetVersion, and that the request only carried over,
	// follows the new one. One the user chose stays (MU-UP-IMAGE judges it).
	if ti, _, _ := unstructured.NestedString(p.root, "spec", "targetImage"); old != nil && old.Status.State == "" &&
		tv != old.Spec.TargetVersion && ti == old.Spec.TargetImage && ti == TargetImage(target, old.Spec.TargetVersion, pol) {
		p.set(image, "spec", "targetImage")
	}
	p.setDefault(image, "spec", "targetImage")
	return p.ops, p.err
}

// TargetImage is the targetImage injected for version: the repository of
// the target Milvus's image (a private registry kept), else the policy's
// defaultRepository, tagged with version; "" when version does not parse.
func TargetImage(target *milvus.Milvus, version string, pol *policy.Policy) string {
	v, err := milvus.ParseVersion(version)
	if err != nil {
		return ""
	}
	repo := pol.DefaultRepository
	if target != nil {
		if r := target.ImageRepository(); r != "" {
			repo = r
		}
	}
	return repo + ":" + v.Tag()
}

// Hold keeps the old global image and version on a Milvus whose change waits
// for a metadata migration, and records the plan in its annotations.
func Hold[O Object](obj O, plan *migration.Plan) ([]jsonpatch.Operation, error) {
	return setGlobal(obj, plan.HeldImage, plan.HeldVersion, migration.IntentAnnotations, plan.Annotations())
}

// Version sets spec.components.version to version; used only where the
// field is already set (the operator's hand-off, validate.HandOffVersion).
func Version[O Object](obj O, version string) ([]jsonpatch.Operation, error) {
	p := newPatcher(obj)
	p.set(version, "spec", "components", "version")
	return p.ops, p.err
}

// Cancel drops the intent annotations.
func Cancel[O Object](obj O) ([]jsonpatch.Operation, error) {
	return dropAnnotations(obj, migration.IntentAnnotations)
}

// Stage sets the global image and version of a gated upgrade at the gate's
// waypoint (policy action stage) and records the target in the stage
// annotations.
func Stage[O Object](obj O, s *migration.Stage) ([]jsonpatch.Operation, error) {
	return setGlobal(obj, s.Image, s.Version, migration.StageAnnotations, s.Annotations())
}

// Unstage drops the stage annotations.
func Unstage[O Object](obj O) ([]jsonpatch.Operation, error) {
	return dropAnnotations(obj, migration.StageAnnotations)
}

// setGlobal sets the global image and version ("" removes it) and makes
// the annotations among keys equal to values: what Hold and Stage own.
func setGlobal[O Object](obj O, image, version string, keys []string, values map[string]string) ([]jsonpatch.Operation, error) {
	p := newPatcher(obj)
	p.set(image, "spec", "components", "image")
	p.set(version, "spec", "components", "version")
	for _, key := range keys {
		p.set(values[key], "metadata", "annotations", key)
	}
	return p.ops, p.err
}

// dropAnnotations removes the annotations among keys that obj carries.
func dropAnnotations[O Object](obj O, keys []string) ([]jsonpatch.Operation, error) {
	p := newPatcher(obj)
	for _, key := range keys {
		p.set("", "metadata", "annotations", key)
	}
	return p.ops, p.err
}

// patcher collects patch operations, keeping root in step so later
// operations see the parents earlier ones created.
type patcher struct {
	root map[string]any
	ops  []jsonpatch.Operation
	err  error
}

// setDefault sets path to value unless the user set it. Absent, null and,
// for strings, "" count as unset; every other value is the user's.
func (p *patcher) setDefault(value any, path ...string) {
	existing, found := p.get(path)
	if p.err != nil || found && existing != nil && existing != "" {
		return
	}
	p.add(value, path)
}

// set makes the string at path equal value, "" meaning absent: it adds,
// replaces or removes as needed, and does nothing when it already is.
func (p *patcher) set(value string, path ...string) {
	current, found := p.get(path)
	switch {
	case p.err != nil, value == "" && !found, found && current == value:
	case value == "":
		unstructured.RemoveNestedField(p.root, path...)
		p.ops = append(p.ops, jsonpatch.NewOperation("remove", pointer(path), nil))
	default:
		p.add(value, path)
	}
}

// get reads path; a parent that is not an object is an error.
func (p *patcher) get(path []string) (any, bool) {
	if p.err != nil {
		return nil, false
	}
	v, found, err := unstructured.NestedFieldNoCopy(p.root, path...)
	if err == nil {
		return v, found
	}
	// Name the parent that is not an object: "spec.components is a string".
	p.err = err
	for i := 1; i < len(path); i++ {
		parent, _, _ := unstructured.NestedFieldNoCopy(p.root, path[:i]...)
		if _, ok := parent.(map[string]any); !ok && parent != nil {
			p.err = fmt.Errorf("%s is a %T, not an object", strings.Join(path[:i], "."), parent)
			break
		}
	}
	return nil, false
}

// add writes value at path ("add" replaces a member that is there),
// creating missing parents first, each with its own operation.
func (p *patcher) add(value any, path []string) {
	for i := 1; i < len(path); i++ {
		if parent, found := p.get(path[:i]); p.err != nil || found && parent != nil {
			continue // an existing parent; get has checked every one above it
		}
		p.ops = append(p.ops, jsonpatch.NewOperation("add", pointer(path[:i]), map[string]any{}))
		p.must(unstructured.SetNestedField(p.root, map[string]any{}, path[:i]...))
	}
	if p.err != nil {
		return
	}
	p.ops = append(p.ops, jsonpatch.NewOperation("add", pointer(path), value))
	p.must(unstructured.SetNestedField(p.root, value, path...))
}

func (p *patcher) must(err error) {
	if err != nil && p.err == nil {
		p.err = err
	}
}

// pointer is the JSON pointer (RFC 6901) of path.
func pointer(path []string) string {
	var b strings.Builder
	for _, key := range path {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(key))
	}
	return b.String()
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")
