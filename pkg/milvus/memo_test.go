package milvus

import (
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoReturnsWhatParseReturns(t *testing.T) {
	calls := map[string]int{}
	var mu sync.Mutex
	parse := func(s string) (string, error) {
		mu.Lock()
		calls[s]++
		mu.Unlock()
		if s == "bad" {
			return "", errors.New("bad input")
		}
		return "parsed " + s, nil
	}
	m := newMemo[string]()

	v, err := m.get("v2.4.23", parse)
	require.NoError(t, err)
	assert.Equal(t, "parsed v2.4.23", v)
	v, err = m.get("v2.4.23", parse)
	require.NoError(t, err)
	assert.Equal(t, "parsed v2.4.23", v)
	assert.Equal(t, 1, calls["v2.4.23"], "a remembered success is not parsed again")

	for range 2 {
		_, err = m.get("bad", parse)
		assert.EqualError(t, err, "bad input")
	}
	assert.Equal(t, 2, calls["bad"], "an error is not remembered")

	// Far more keys than slots: keys that share a slot replace each other,
	// and none gets another's value.
	for round := range 2 {
		for i := range 4 * memoSlots {
			key := strconv.Itoa(i)
			v, err := m.get(key, parse)
			require.NoError(t, err)
			require.Equal(t, "parsed "+key, v, "round %d", round)
		}
	}
}

func TestMemoIsSafeForConcurrentUse(t *testing.T) {
	m := newMemo[Version]()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				s := "v2." + strconv.Itoa((i+g)%3*2) + "." + strconv.Itoa(i%3000)
				v, err := m.get(s, parseVersion)
				if err != nil || v.String() != s {
					t.Errorf("%s: got %v, %v", s, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
