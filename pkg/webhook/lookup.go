package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/milvus-admission/milvus-admission/pkg/milvus"
)

// Lookup reads the other objects a decision depends on. The webhook's
// implementation reads the informer cache: nothing on the request path calls
// the API server.
type Lookup interface {
	// Milvus returns the named Milvus, or nil when it does not exist.
	Milvus(ctx context.Context, namespace, name string) (*milvus.Milvus, error)
	// UpgradesFor returns the MilvusUpgrades in namespace that name the Milvus.
	UpgradesFor(ctx context.Context, namespace, name string) ([]milvus.MilvusUpgrade, error)
}

// CacheLookup is a Lookup over a controller-runtime reader, normally the
// manager's cache, holding both kinds as unstructured objects.
type CacheLookup struct {
	Reader client.Reader
}

var _ Lookup = CacheLookup{}

// Milvus implements Lookup.
func (l CacheLookup) Milvus(ctx context.Context, namespace, name string) (*milvus.Milvus, error) {
	return get[milvus.Milvus](ctx, l.Reader, milvus.MilvusKind, namespace, name)
}

// get reads one object into its view type; nil when it does not exist.
func get[T any](ctx context.Context, r client.Reader, gvk schema.GroupVersionKind, namespace, name string) (*T, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpgradesFor implements Lookup. It asks the UpgradeTargetField index
// (IndexUpgrades), which holds the few upgrades of this Milvus, instead of
// listing and converting every upgrade of the namespace. A reader without
// the index (the API server, a client in a test) rejects the field
// selector; the namespace is then listed as before.
func (l CacheLookup) UpgradesFor(ctx context.Context, namespace, name string) ([]milvus.MilvusUpgrade, error) {
	key := namespace + "/" + name
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(milvus.MilvusUpgradeListKind)
	// No deep copy: the items are only converted, never changed.
	err := l.Reader.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFields{UpgradeTargetField: key}, client.UnsafeDisableDeepCopy)
	if err != nil {
		list = &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(milvus.MilvusUpgradeListKind)
		if err := l.Reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
	}
	var out []milvus.MilvusUpgrade
	for i := range list.Items {
		if target := UpgradeTarget(&list.Items[i]); len(target) == 0 || target[0] != key {
			continue // listed without the index: another Milvus's
		}
		var u milvus.MilvusUpgrade
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
