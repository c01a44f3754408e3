package milvus

import (
	"hash/maphash"
	"sync/atomic"
)

// memoSlots is the size of each parse memo. A cluster names a few dozen
// images and versions; the slots are many more so that collisions are rare.
const memoSlots = 1024

// memo remembers the successful parses of a pure function of a string. An
// admission request parses the same few images and tags several times (the
// global image, each component, the old and the new object, the status), and
// every request of a fleet parses the same ones again.
//
// It is a direct-mapped table: a key has one slot and a later key that hashes
// there replaces it, so it is bounded whatever strings tenants write, and it
// is safe for concurrent use without locks. A value is shared by every
// caller that gets it, so it must not be changed.
type memo[V any] struct {
	seed  maphash.Seed
	slots [memoSlots]atomic.Pointer[memoEntry[V]]
}

type memoEntry[V any] struct {
	key string
	val V
}

func newMemo[V any]() *memo[V] { return &memo[V]{seed: maphash.MakeSeed()} }

func (m *memo[V]) slot(key string) *atomic.Pointer[memoEntry[V]] {
	return &m.slots[maphash.String(m.seed, key)%memoSlots]
}

// get returns what parse returns for key, remembering a success.
func (m *memo[V]) get(key string, parse func(string) (V, error)) (V, error) {
	slot := m.slot(key)
	if e := slot.Load(); e != nil && e.key == key {
		return e.val, nil
	}
	v, err := parse(key)
	if err == nil {
		slot.Store(&memoEntry[V]{key: key, val: v})
	}
	return v, err
}
