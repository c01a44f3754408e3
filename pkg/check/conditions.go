package check

import (
	"encoding/json"
	"reflect"
	"strings"

	"k8s.io/utils/ptr"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// The shipped webhook configurations (manifests/webhooks.yaml) carry
// matchConditions: the API server does not call the webhooks for an update
// that changes nothing the rules read, and then nothing is judged. These
// functions say the same for the two calls; TestConditionsMatchManifests
// evaluates the shipped CEL expressions on the same cases.

// intentPrefix starts the annotations of the generation intent.
const intentPrefix = "milvus-admission.io/"

// mutatingCalled reports whether the API server calls the mutating webhook
// for an update of old (nil: a CREATE) to cur.
func mutatingCalled(gvk string, old, cur []byte) bool {
	if deleting(cur) {
		return false
	}
	if old == nil {
		return true
	}
	if gvk == milvus.MilvusKind.Kind {
		var m milvus.Milvus
		if json.Unmarshal(cur, &m) == nil && m.Spec.Components.ImageUpdateMode == "" {
			return true // the default is missing
		}
		return milvusChanged(old, cur)
	}
	return specChanged(old, cur)
}

// validatingCalled reports the same for the validating webhook, given the
// object as the mutating webhook left it.
func validatingCalled(gvk string, old, mutated []byte) bool {
	switch {
	case deleting(mutated):
		return false
	case old == nil:
		return true
	case gvk == milvus.MilvusKind.Kind:
		return milvusChanged(old, mutated)
	}
	return specChanged(old, mutated)
}

// milvusChanged: a field the Milvus view reads changed, or either object
// carries intent annotations.
func milvusChanged(old, cur []byte) bool {
	var a, b milvus.Milvus
	if json.Unmarshal(old, &a) != nil || json.Unmarshal(cur, &b) != nil {
		return true // the webhook is called and says what is wrong
	}
	if hasIntent(&a) || hasIntent(&b) {
		return true
	}
	// The conditions read enableRollingUpdate as false when absent.
	a.Spec.Components.EnableRollingUpdate = ptr.To(a.Spec.Components.RollingUpdate())
	b.Spec.Components.EnableRollingUpdate = ptr.To(b.Spec.Components.RollingUpdate())
	return !reflect.DeepEqual(a.Spec, b.Spec)
}

func hasIntent(m *milvus.Milvus) bool {
	for k := range m.Annotations {
		if strings.HasPrefix(k, intentPrefix) {
			return true
		}
	}
	return false
}

// specChanged: the spec (of a MilvusUpgrade) differs.
func specChanged(old, cur []byte) bool {
	var a, b struct {
		Spec any `json:"spec"`
	}
	if json.Unmarshal(old, &a) != nil || json.Unmarshal(cur, &b) != nil {
		return true
	}
	return !reflect.DeepEqual(a.Spec, b.Spec)
}

func deleting(obj []byte) bool {
	var o struct {
		Metadata struct {
			DeletionTimestamp *string `json:"deletionTimestamp"`
		} `json:"metadata"`
	}
	return json.Unmarshal(obj, &o) == nil && o.Metadata.DeletionTimestamp != nil
}
