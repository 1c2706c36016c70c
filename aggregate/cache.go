package aggregate

import (
	"sync"
	"sync/atomic"
)

// VisitorCache keeps encoded visitor states in memory so that a visitor
// seen again soon costs no Redis read. It is bounded: two generations of
// maps, the older dropped when the newer fills up (an approximate LRU with
// O(1) operations and no per-entry bookkeeping). Entries are per partition,
// and a partition's entries are dropped when the partition is given up:
// another instance may change them from then on.
type VisitorCache struct {
	mu    sync.Mutex
	max   int
	parts map[int]*cacheGen
	// hits and misses count lookups (metrics: cache hit rate). They are
	// atomic because metrics read them without the lock.
	hits, misses atomic.Uint64
}

type cacheGen struct {
	hot, cold map[string][]byte
}

// NewVisitorCache returns a cache holding at most about max states.
func NewVisitorCache(max int) *VisitorCache {
	if max < 2 {
		max = 2
	}
	return &VisitorCache{max: max, parts: map[int]*cacheGen{}}
}

func (c *VisitorCache) limit() int {
	n := len(c.parts)
	if n == 0 {
		n = 1
	}
	return c.max / n / 2
}

// Get returns a cached state.
func (c *VisitorCache) Get(partition int, pseudonym string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.parts[partition]
	if g == nil {
		c.misses.Add(1)
		return nil, false
	}
	if s, ok := g.hot[pseudonym]; ok {
		c.hits.Add(1)
		return s, true
	}
	if s, ok := g.cold[pseudonym]; ok {
		c.hits.Add(1)
		return s, true
	}
	c.misses.Add(1)
	return nil, false
}

// Hits returns how many lookups were served from memory. Safe to call
// from any goroutine (metrics).
func (c *VisitorCache) Hits() uint64 { return c.hits.Load() }

// Misses returns how many lookups needed the store. Safe to call from any
// goroutine (metrics).
func (c *VisitorCache) Misses() uint64 { return c.misses.Load() }

// Put stores a state (after it was written to the store).
func (c *VisitorCache) Put(partition int, pseudonym string, state []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.parts[partition]
	if g == nil {
		g = &cacheGen{hot: map[string][]byte{}}
		c.parts[partition] = g
	}
	if len(g.hot) >= c.limit() {
		g.cold, g.hot = g.hot, make(map[string][]byte, len(g.hot))
	}
	g.hot[pseudonym] = state
	delete(g.cold, pseudonym)
}

// Drop forgets a partition's states.
func (c *VisitorCache) Drop(partition int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.parts, partition)
}

// Len returns the number of cached states.
func (c *VisitorCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, g := range c.parts {
		n += len(g.hot) + len(g.cold)
	}
	return n
}
