package emit

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/personas-dev/personas/emit/segment"
)

// ErrNotLeader is returned by Commit when the caller's lease is gone: it
// must not publish what it computed.
var ErrNotLeader = errors.New("emit: lease lost; another instance evaluates")

// Outboxed is an event waiting in the outbox.
type Outboxed struct {
	ID    string
	Topic string
	Key   []byte
	Value []byte
}

// Store is the emit stage's state store. Implementations: MemStore (tests,
// the demo) and the Redis store in internal/redisx; both pass the contract
// suite in emit/storetest.
type Store interface {
	// Acquire takes the evaluation lease for holder, or renews it if holder
	// has it. The token grows every time the lease changes hands.
	Acquire(ctx context.Context, holder string, ttl time.Duration) (token int64, leader bool, err error)
	// Release gives the lease up (graceful shutdown), if holder has it.
	Release(ctx context.Context, holder string) error
	// States returns every stored (segment, persona) state.
	States(ctx context.Context) (map[segment.Key]segment.State, error)
	// Commit replaces the states and adds events to the outbox atomically,
	// if holder still holds the lease with token; else ErrNotLeader and
	// nothing changes. An event whose id is already in the outbox is not
	// added again (the same id is the same event); it keeps its place.
	// lastSnapshot moves the snapshot time forward only (zero: no
	// snapshot); it is kept to the millisecond at least.
	Commit(ctx context.Context, holder string, token int64, states map[segment.Key]segment.State, events []Outboxed, lastSnapshot time.Time) error
	// Pending returns the outbox, oldest first.
	Pending(ctx context.Context) ([]Outboxed, error)
	// Done removes published events from the outbox.
	Done(ctx context.Context, ids []string) error
	// LastSnapshot is the time of the last committed snapshot (zero: none).
	LastSnapshot(ctx context.Context) (time.Time, error)
}

// MemStore is an in-memory Store (tests, the demo's reference).
type MemStore struct {
	mu       sync.Mutex
	holder   string
	until    time.Time
	token    int64
	states   map[segment.Key]segment.State
	outbox   []Outboxed
	lastSnap time.Time
	now      func() time.Time
}

// NewMemStore returns an empty store. now is the clock (nil: time.Now).
func NewMemStore(now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	return &MemStore{states: map[segment.Key]segment.State{}, now: now}
}

// Acquire implements Store.
func (m *MemStore) Acquire(_ context.Context, holder string, ttl time.Duration) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	switch {
	case m.holder == holder && now.Before(m.until):
	case m.holder == "" || !now.Before(m.until):
		m.holder = holder
		m.token++
	default:
		return 0, false, nil
	}
	m.until = now.Add(ttl)
	return m.token, true, nil
}

// Release implements Store.
func (m *MemStore) Release(_ context.Context, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holder == holder {
		m.holder = ""
	}
	return nil
}

// States implements Store.
func (m *MemStore) States(context.Context) (map[segment.Key]segment.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.states), nil
}

// Commit implements Store.
func (m *MemStore) Commit(_ context.Context, holder string, token int64, states map[segment.Key]segment.State, events []Outboxed, lastSnapshot time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holder != holder || m.token != token || !m.now().Before(m.until) {
		return ErrNotLeader
	}
	m.states = maps.Clone(states)
	for _, e := range events {
		if !slices.ContainsFunc(m.outbox, func(o Outboxed) bool { return o.ID == e.ID }) {
			m.outbox = append(m.outbox, e)
		}
	}
	if lastSnapshot.After(m.lastSnap) {
		m.lastSnap = lastSnapshot
	}
	return nil
}

// Pending implements Store.
func (m *MemStore) Pending(context.Context) ([]Outboxed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.outbox), nil
}

// Done implements Store.
func (m *MemStore) Done(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outbox = slices.DeleteFunc(m.outbox, func(o Outboxed) bool { return slices.Contains(ids, o.ID) })
	return nil
}

// LastSnapshot implements Store.
func (m *MemStore) LastSnapshot(context.Context) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastSnap, nil
}
