package check

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

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
	return cached[*milvus.Milvus](data)
}

// UpgradesFor implements webhook.Lookup as webhook.CacheLookup does: the
// upgrades in namespace whose target is namespace/name, by name.
func (s store) UpgradesFor(_ context.Context, namespace, name string) ([]milvus.MilvusUpgrade, error) {
	var out []milvus.MilvusUpgrade
	for k, data := range s {
		if k.kind != milvus.MilvusUpgradeKind.Kind || k.namespace != namespace {
			continue
		}
		u, err := cached[*milvus.MilvusUpgrade](data)
		if err != nil {
			return nil, err
		}
		if t := webhook.UpgradeTarget(u); len(t) == 1 && t[0] == namespace+"/"+name {
			out = append(out, *u)
		}
	}
	slices.SortFunc(out, func(a, b milvus.MilvusUpgrade) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// cached is the view the webhook's informer cache would hold of an object.
func cached[T client.Object](data []byte) (T, error) {
	var zero T
	obj, err := webhook.Cached(data)
	if err != nil {
		return zero, err
	}
	view, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("expected %T, the base holds %T", zero, obj)
	}
	return view, nil
}
