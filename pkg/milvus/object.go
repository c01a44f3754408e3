package milvus

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The views are runtime objects so that the webhook's informer cache can
// hold them instead of unstructured maps: the API server's JSON is decoded
// straight into a view, whatever the view does not know is never allocated,
// and a cached Milvus costs a few hundred bytes instead of kilobytes. They
// are still only read: nothing encodes a view into a write.

// AddToScheme registers the views as milvus.io/v1beta1 Milvus and
// MilvusUpgrade, with their lists.
func AddToScheme(s *runtime.Scheme) error {
	gv := MilvusKind.GroupVersion()
	s.AddKnownTypes(gv, &Milvus{}, &MilvusList{}, &MilvusUpgrade{}, &MilvusUpgradeList{})
	metav1.AddToGroupVersion(s, gv)
	return nil
}

// MilvusList is a list of Milvus views.
type MilvusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Milvus `json:"items"`
}

// MilvusUpgradeList is a list of MilvusUpgrade views.
type MilvusUpgradeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MilvusUpgrade `json:"items"`
}

// DeepCopyInto copies m into out, sharing nothing that can change.
func (m *Milvus) DeepCopyInto(out *Milvus) {
	*out = *m
	m.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	c := &out.Spec.Components
	if c.EnableRollingUpdate != nil {
		c.EnableRollingUpdate = new(*c.EnableRollingUpdate)
	}
	for _, slot := range c.slots() {
		if *slot.block != nil {
			*slot.block = new(**slot.block)
		}
	}
}

// DeepCopy returns a copy of m sharing nothing that can change.
func (m *Milvus) DeepCopy() *Milvus {
	if m == nil {
		return nil
	}
	out := new(Milvus)
	m.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (m *Milvus) DeepCopyObject() runtime.Object { return m.DeepCopy() }

// DeepCopyInto copies u into out, sharing nothing that can change.
func (u *MilvusUpgrade) DeepCopyInto(out *MilvusUpgrade) {
	*out = *u
	u.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	s := &out.Spec
	if s.MaxRetry != nil {
		s.MaxRetry = new(*s.MaxRetry)
	}
	if s.RollbackIfFailed != nil {
		s.RollbackIfFailed = new(*s.RollbackIfFailed)
	}
}

// DeepCopy returns a copy of u sharing nothing that can change.
func (u *MilvusUpgrade) DeepCopy() *MilvusUpgrade {
	if u == nil {
		return nil
	}
	out := new(MilvusUpgrade)
	u.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (u *MilvusUpgrade) DeepCopyObject() runtime.Object { return u.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (l *MilvusList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &MilvusList{TypeMeta: l.TypeMeta, Items: copyItems(l.Items)}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *MilvusUpgradeList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &MilvusUpgradeList{TypeMeta: l.TypeMeta, Items: copyItems(l.Items)}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	return out
}

// copyItems deep-copies a list's items; nil stays nil.
func copyItems[T any, P interface {
	*T
	DeepCopyInto(*T)
}](items []T) []T {
	if items == nil {
		return nil
	}
	out := make([]T, len(items))
	for i := range items {
		P(&items[i]).DeepCopyInto(&out[i])
	}
	return out
}
