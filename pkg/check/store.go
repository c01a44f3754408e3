package check

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
	"github.com/milvus-admission/milvus-admission/pkg/webhook"
)

// store holds the base: the objects as the cluster stores them, by key.
// It is the webhook's Lookup over them, seeing what its informer cache
// would see (the same transforms).
type store map[key][]byte

var _ webhook.Lookup = store(nil)

// Milvus implements webhook.Lookup.
func (s store) Milvus(_ context.Context, namespace, name string) (*milvus.Milvus, error) {
	data, ok := s[key{milvus.MilvusKind.Kind, namespace, name}]
	if !ok {
		return nil, nil
	}
	out := &milvus.Milvus{}
	return out, cached(data, webhook.TransformMilvus, out)
}

// UpgradesFor implements webhook.Lookup as webhook.CacheLookup does: the
// upgrades in namespace whose target is namespace/name, by name.
func (s store) UpgradesFor(_ context.Context, namespace, name string) ([]milvus.MilvusUpgrade, error) {
	var keys []key
	for k, data := range s {
		if k.kind != milvus.MilvusUpgradeKind.Kind || k.namespace != namespace {
			continue
		}
		u, err := unstructuredOf(data)
		if err != nil {
			return nil, err
		}
		if t := webhook.UpgradeTarget(u); len(t) == 1 && t[0] == namespace+"/"+name {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Compare(a.name, b.name) })
	out := make([]milvus.MilvusUpgrade, len(keys))
	for i, k := range keys {
		if err := cached(s[k], webhook.TransformMilvusUpgrade, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cached converts an object into its view as the informer cache holds it.
func cached(data []byte, transform func(any) (any, error), out any) error {
	u, err := unstructuredOf(data)
	if err != nil {
		return err
	}
	t, err := transform(u)
	if err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(t.(*unstructured.Unstructured).Object, out)
}

func unstructuredOf(data []byte) (*unstructured.Unstructured, error) {
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: obj}, nil
}
