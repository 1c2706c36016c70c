package aggregate

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// MemStore is an in-memory Store with exact distinct counts (sets instead of
// sketches). It is the reference implementation of the Store contract and
// serves tests and offline tools; it keeps everything forever.
type MemStore struct {
	mu    sync.Mutex
	parts map[int]*memPartition
}

type memPartition struct {
	pos      Position
	counters map[CounterKey]int64
	sketches map[SketchKey]map[string]struct{}
	visitors map[string][]byte
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore { return &MemStore{parts: map[int]*memPartition{}} }

func (m *MemStore) part(p int) *memPartition {
	mp := m.parts[p]
	if mp == nil {
		mp = &memPartition{
			pos:      Position{Offset: -1, Sources: map[SourceKey]int64{}},
			counters: map[CounterKey]int64{},
			sketches: map[SketchKey]map[string]struct{}{},
			visitors: map[string][]byte{},
		}
		m.parts[p] = mp
	}
	return mp
}

// Claim implements Store.
func (m *MemStore) Claim(_ context.Context, partition int) (Position, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.part(partition)
	mp.pos.Token++
	return Position{Offset: mp.pos.Offset, Sources: maps.Clone(mp.pos.Sources), Token: mp.pos.Token}, nil
}

// LoadVisitors implements Store.
func (m *MemStore) LoadVisitors(_ context.Context, partition int, pseudonyms []string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.part(partition)
	out := make(map[string][]byte, len(pseudonyms))
	for _, p := range pseudonyms {
		if s, ok := mp.visitors[p]; ok {
			out[p] = slices.Clone(s)
		}
	}
	return out, nil
}

// Apply implements Store.
func (m *MemStore) Apply(_ context.Context, token int64, d *Delta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.part(d.Partition)
	if token != mp.pos.Token {
		return ErrFenced
	}
	if d.Offset <= mp.pos.Offset {
		return nil
	}
	for k, v := range d.Counters {
		mp.counters[k] += v
	}
	for k, ids := range d.Sketches {
		set := mp.sketches[k]
		if set == nil {
			set = map[string]struct{}{}
			mp.sketches[k] = set
		}
		for _, id := range ids {
			set[id] = struct{}{}
		}
	}
	for _, v := range d.Visitors {
		mp.visitors[v.Pseudonym] = slices.Clone(v.State)
	}
	for k, v := range d.Sources {
		if v > mp.pos.Sources[k] {
			mp.pos.Sources[k] = v
		}
	}
	mp.pos.Offset = d.Offset
	return nil
}

// Partitions implements Store.
func (m *MemStore) Partitions(context.Context) ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.parts)), nil
}

// ReadWindow implements Store.
func (m *MemStore) ReadWindow(_ context.Context, start, end time.Time) (*WindowFigures, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	from, to := MinuteRange(start, end)
	acc := NewWindowAccumulator(start, end)
	for _, mp := range m.parts {
		for k, v := range mp.counters {
			if k.Minute >= from && k.Minute < to {
				acc.AddCounter(k.Persona, k.Metric, v)
			}
		}
		union := map[SketchKey]map[string]struct{}{}
		for k, set := range mp.sketches {
			if k.Minute < from || k.Minute >= to {
				continue
			}
			w := k
			w.Minute = 0
			u := union[w]
			if u == nil {
				u = map[string]struct{}{}
				union[w] = u
			}
			for id := range set {
				u[id] = struct{}{}
			}
		}
		for k, u := range union {
			acc.AddDistinct(k, int64(len(u)))
		}
	}
	return acc.Figures(), nil
}

// Counter returns one raw counter (tests).
func (m *MemStore) Counter(k CounterKey) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, mp := range m.parts {
		n += mp.counters[k]
	}
	return n
}
