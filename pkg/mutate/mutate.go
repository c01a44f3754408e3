// Package mutate computes the defaults milvus-admission injects, as JSON
// patch operations over the object exactly as it arrived. Working on the raw
// object (not a Go type) means a field the types do not know is never dropped,
// and a patch only ever adds what was absent: a value the user set — false and
// 0 included — is never overwritten.
package mutate

import (
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/milvus-admission/milvus-admission/pkg/migration"
	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/policy"
)

// Defaults users expect on a MilvusUpgrade (MU-UP-DEFAULTS) that are not policy.
const (
	DefaultMaxRetry         int64 = 3
	DefaultRollbackIfFailed       = true
)

// Milvus defaults a Milvus: spec.components.imageUpdateMode: rollingUpgrade.
func Milvus(obj map[string]any) ([]jsonpatch.Operation, error) {
	p := patcher{root: obj}
	p.setDefault(milvus.UpdateModeRollingUpgrade, "spec", "components", "imageUpdateMode")
	return p.ops, p.err
}

// MilvusUpgrade defaults a MilvusUpgrade created or updated in namespace.
// target is the Milvus it names, from the informer cache, or nil; its image
// repository (private registry included) becomes targetImage's.
func MilvusUpgrade(obj map[string]any, namespace string, target *milvus.Milvus, pol *policy.Policy) ([]jsonpatch.Operation, error) {
	p := patcher{root: obj}
	p.setDefault(pol.ToolImage, "spec", "toolImage")
	p.setDefault(DefaultMaxRetry, "spec", "maxRetry")
	p.setDefault(DefaultRollbackIfFailed, "spec", "rollbackIfFailed")
	p.setDefault(milvus.OperationUpgrade, "spec", "operation")
	if _, ok := lookup(obj, "spec", "milvus").(map[string]any); ok && namespace != "" {
		p.setDefault(namespace, "spec", "milvus", "namespace")
	}
	if tv, ok := lookup(obj, "spec", "targetVersion").(string); ok {
		// An unparsable targetVersion gets no targetImage; validation says why.
		if v, err := milvus.ParseVersion(tv); err == nil {
			repo := pol.DefaultRepository
			if target != nil {
				if r := target.ImageRepository(); r != "" {
					repo = r
				}
			}
			p.setDefault(repo+":"+v.Tag(), "spec", "targetImage")
		}
	}
	return p.ops, p.err
}

// patcher collects "add" operations for absent fields, keeping root in step
// so later defaults see the parents earlier ones created.
type patcher struct {
	root map[string]any
	ops  []jsonpatch.Operation
	err  error
}

// setDefault sets path to value unless the user set it. Absent, null and,
// for strings, "" count as unset; every other value is the user's.
func (p *patcher) setDefault(value any, path ...string) { p.add(value, false, path...) }

// forceDefault sets path to value whatever it holds.
func (p *patcher) forceDefault(value any, path ...string) { p.add(value, true, path...) }

// add adds value at path, creating missing parents; unless force, only where
// the field is unset.
func (p *patcher) add(value any, force bool, path ...string) {
	if p.err != nil {
		return
	}
	cur := p.root
	pointer := ""
	for i, key := range path {
		pointer += "/" + escape(key)
		existing, present := cur[key]
		if i == len(path)-1 {
			if !force && present && existing != nil && existing != "" {
				return
			}
			cur[key] = value
			p.ops = append(p.ops, jsonpatch.NewOperation("add", pointer, value))
			return
		}
		switch child := existing.(type) {
		case map[string]any:
			cur = child
		case nil:
			next := map[string]any{}
			cur[key] = next
			p.ops = append(p.ops, jsonpatch.NewOperation("add", pointer, map[string]any{}))
			cur = next
		default:
			p.err = fmt.Errorf("%s is a %T, not an object", strings.Join(path[:i+1], "."), existing)
			return
		}
	}
}

// lookup returns the value at path, or nil.
func lookup(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, key := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[key]
	}
	return cur
}

// pointer is the JSON pointer (RFC 6901) of path.
func pointer(path []string) string {
	s := ""
	for _, key := range path {
		s += "/" + escape(key)
	}
	return s
}

// escape encodes a JSON pointer token (RFC 6901).
func escape(token string) string {
	return pointerEscaper.Replace(token)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// Hold keeps the old global image and version on a Milvus whose change waits
// for a metadata migration, and records the plan in its annotations.
func Hold(obj map[string]any, plan *migration.Plan) ([]jsonpatch.Operation, error) {
	p := patcher{root: obj}
	p.set(plan.HeldImage, "spec", "components", "image")
	p.set(plan.HeldVersion, "spec", "components", "version")
	for _, key := range migration.IntentAnnotations {
		p.set(plan.Annotations()[key], "metadata", "annotations", key)
	}
	return p.ops, p.err
}

// Cancel drops the intent annotations.
func Cancel(obj map[string]any) ([]jsonpatch.Operation, error) {
	p := patcher{root: obj}
	for _, key := range migration.IntentAnnotations {
		p.set("", "metadata", "annotations", key)
	}
	return p.ops, p.err
}

// set makes the string at path equal value, "" meaning absent: it adds,
// replaces or removes as needed, and does nothing when it already is.
func (p *patcher) set(value string, path ...string) {
	if p.err != nil {
		return
	}
	parent, _ := lookup(p.root, path[:len(path)-1]...).(map[string]any)
	key := path[len(path)-1]
	current, present := parent[key]
	switch {
	case value == "" && !present:
	case value == "":
		delete(parent, key)
		p.ops = append(p.ops, jsonpatch.NewOperation("remove", pointer(path), nil))
	case current != value:
		p.forceDefault(value, path...)
	}
}
