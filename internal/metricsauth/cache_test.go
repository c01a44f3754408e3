package metricsauth

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// key is the cache key of s.
func key(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// clock is a time that a test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// A stranger sending ever new tokens fills the cache to its limit and no
// further, and the newest answer is still kept.
func TestCacheStaysWithinItsLimit(t *testing.T) {
	const limit = 16
	c := newCache[bool](limit)
	for i := range 10 * limit {
		c.add(key(fmt.Sprint("token", i)), true, time.Minute)
		require.LessOrEqual(t, len(c.entries), limit, "after %d additions", i+1)
	}
	assert.Equal(t, limit, len(c.entries), "a full cache stays full")
	last, ok := c.get(key(fmt.Sprint("token", 10*limit-1)))
	assert.True(t, ok && last, "the newest entry is kept")
}

// Making room drops expired entries before live ones.
func TestCacheEvictsExpiredEntriesFirst(t *testing.T) {
	clk := &clock{t: time.Unix(1_000_000, 0)}
	c := newCache[string](4)
	c.now = clk.now
	c.add(key("short1"), "short1", time.Second)
	c.add(key("short2"), "short2", time.Second)
	c.add(key("long1"), "long1", time.Hour)
	c.add(key("long2"), "long2", time.Hour)
	clk.t = clk.t.Add(time.Minute)
	_, ok := c.get(key("short1"))
	assert.False(t, ok, "an expired entry is not returned")

	c.add(key("new"), "new", time.Hour)
	assert.Equal(t, 3, len(c.entries), "both expired entries dropped, nothing else")
	for _, k := range []string{"long1", "long2", "new"} {
		v, ok := c.get(key(k))
		assert.True(t, ok && v == k, "%s is kept", k)
	}

	// Replacing an entry of a full cache evicts nothing.
	c.add(key("fourth"), "fourth", time.Hour)
	c.add(key("long1"), "long1 again", time.Hour)
	assert.Equal(t, 4, len(c.entries), "replaced, not added")
	v, _ := c.get(key("long1"))
	assert.Equal(t, "long1 again", v)
}

// Concurrent scrapes share the caches; run with -race.
func TestCacheIsSafeForConcurrentUse(t *testing.T) {
	const limit = 8
	c := newCache[int](limit)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := key(fmt.Sprint(g, i%20))
				c.add(k, i, time.Minute)
				c.get(k)
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, len(c.entries), limit)
}
