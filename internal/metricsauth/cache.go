package metricsauth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// cache maps SHA-256 sums to values that expire, holding at most limit
// entries: when full, an addition first drops the expired entries, then
// any. Fixed-size keys keep an entry's size independent of what was hashed.
// Safe for concurrent use.
type cache[V any] struct {
	mu      sync.Mutex
	limit   int
	now     func() time.Time // time.Now; a test's clock
	entries map[[sha256.Size]byte]cached[V]
}

// cached is one entry of a cache.
type cached[V any] struct {
	value   V
	expires time.Time
}

// newCache returns an empty cache of at most limit entries.
func newCache[V any](limit int) *cache[V] {
	return &cache[V]{limit: limit, now: time.Now, entries: map[[sha256.Size]byte]cached[V]{}}
}

// get returns the value under key unless it is missing or expired.
func (c *cache[V]) get(key [sha256.Size]byte) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		var none V
		return none, false
	}
	return e.value, true
}

// add sets key to value for ttl, making room if the cache is full.
func (c *cache[V]) add(key [sha256.Size]byte, value V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, replacing := c.entries[key]; !replacing && len(c.entries) >= c.limit {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		// Map order is random, so a flood of new keys evicts no entry in
		// particular.
		for k := range c.entries {
			if len(c.entries) < c.limit {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cached[V]{value: value, expires: now.Add(ttl)}
}
