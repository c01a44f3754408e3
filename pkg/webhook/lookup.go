package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// manager's cache, holding both kinds as their pkg/milvus views.
type CacheLookup struct {
	Reader client.Reader
}

var _ Lookup = CacheLookup{}

// Milvus implements Lookup.
func (l CacheLookup) Milvus(ctx context.Context, namespace, name string) (*milvus.Milvus, error) {
	m := &milvus.Milvus{}
	if err := l.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return m, nil
}

// UpgradesFor implements Lookup. It asks the UpgradeTargetField index
// (IndexUpgrades), which holds the few upgrades of this Milvus, instead of
// listing every upgrade of the namespace. A reader without the index (the
// API server, a client in a test) rejects the field selector; the
// namespace is then listed.
func (l CacheLookup) UpgradesFor(ctx context.Context, namespace, name string) ([]milvus.MilvusUpgrade, error) {
	key := namespace + "/" + name
	list := &milvus.MilvusUpgradeList{}
	// The cache's own objects: only the matching ones are copied below.
	err := l.Reader.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFields{UpgradeTargetField: key}, client.UnsafeDisableDeepCopy)
	if err != nil {
		list = &milvus.MilvusUpgradeList{}
		if err := l.Reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
	}
	var out []milvus.MilvusUpgrade
	for i := range list.Items {
		u := &list.Items[i]
		if target := UpgradeTarget(u); len(target) == 0 || target[0] != key {
			continue // listed without the index: another Milvus's
		}
		out = append(out, *u.DeepCopy())
	}
	return out, nil
}
