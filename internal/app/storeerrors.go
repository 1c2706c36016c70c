package app

import (
	"context"
	"errors"
	"time"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/emit"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/ingest"
)

// The state stores each stage uses are wrapped so that every failed call
// counts in personas_state_store_errors_total{stage}: the stages retry
// such failures (D4), and without this count an SRE would only see the
// retries, not that Redis is what fails. Answers that are part of the
// protocol are not failures: a lost fence (another instance owns the
// partition), a lost emit lease, and calls cut short by shutdown.

func storeFailed(err error) bool {
	return err != nil && !errors.Is(err, aggregate.ErrFenced) && !errors.Is(err, emit.ErrNotLeader) &&
		!errors.Is(err, context.Canceled)
}

type errCounter func()

func (c errCounter) count(err error) error {
	if storeFailed(err) {
		c()
	}
	return err
}

// aggStoreErrors counts the failures of an aggregate.Store.
type aggStoreErrors struct {
	aggregate.Store
	c errCounter
}

func (s aggStoreErrors) Claim(ctx context.Context, partition int) (aggregate.Position, error) {
	p, err := s.Store.Claim(ctx, partition)
	return p, s.c.count(err)
}

func (s aggStoreErrors) LoadVisitors(ctx context.Context, partition int, pseudonyms []string) (map[string][]byte, error) {
	v, err := s.Store.LoadVisitors(ctx, partition, pseudonyms)
	return v, s.c.count(err)
}

func (s aggStoreErrors) Apply(ctx context.Context, token int64, d *aggregate.Delta) error {
	return s.c.count(s.Store.Apply(ctx, token, d))
}

func (s aggStoreErrors) Partitions(ctx context.Context) ([]int, error) {
	p, err := s.Store.Partitions(ctx)
	return p, s.c.count(err)
}

func (s aggStoreErrors) ReadWindow(ctx context.Context, start, end time.Time) (*aggregate.WindowFigures, error) {
	w, err := s.Store.ReadWindow(ctx, start, end)
	return w, s.c.count(err)
}

// emitStoreErrors counts the failures of an emit.Store.
type emitStoreErrors struct {
	emit.Store
	c errCounter
}

func (s emitStoreErrors) Acquire(ctx context.Context, holder string, ttl time.Duration) (int64, bool, error) {
	t, l, err := s.Store.Acquire(ctx, holder, ttl)
	return t, l, s.c.count(err)
}

func (s emitStoreErrors) Release(ctx context.Context, holder string) error {
	return s.c.count(s.Store.Release(ctx, holder))
}

func (s emitStoreErrors) States(ctx context.Context) (map[segment.Key]segment.State, error) {
	st, err := s.Store.States(ctx)
	return st, s.c.count(err)
}

func (s emitStoreErrors) Commit(ctx context.Context, holder string, token int64, states map[segment.Key]segment.State, events []emit.Outboxed, lastSnapshot time.Time) error {
	return s.c.count(s.Store.Commit(ctx, holder, token, states, events, lastSnapshot))
}

func (s emitStoreErrors) Pending(ctx context.Context) ([]emit.Outboxed, error) {
	p, err := s.Store.Pending(ctx)
	return p, s.c.count(err)
}

func (s emitStoreErrors) Done(ctx context.Context, ids []string) error {
	return s.c.count(s.Store.Done(ctx, ids))
}

func (s emitStoreErrors) LastSnapshot(ctx context.Context) (time.Time, error) {
	t, err := s.Store.LastSnapshot(ctx)
	return t, s.c.count(err)
}

// keysErrors counts the failures of the epoch-key store.
type keysErrors struct {
	ingest.Keys
	c errCounter
}

func (k keysErrors) Key(ctx context.Context, epoch int64, expireAt time.Time) ([]byte, error) {
	b, err := k.Keys.Key(ctx, epoch, expireAt)
	return b, k.c.count(err)
}

// rareStoreErrors counts the failures of the rare-value store.
type rareStoreErrors struct {
	ingest.RareStore
	c errCounter
}

func (r rareStoreErrors) Observe(ctx context.Context, period int64, expireAt, nextExpireAt time.Time, s []ingest.Sighting) ([]uint64, error) {
	v, err := r.RareStore.Observe(ctx, period, expireAt, nextExpireAt, s)
	return v, r.c.count(err)
}

// storeErrors returns the counter of a stage.
func (a *App) storeErrors(stage string) errCounter {
	c := a.Metrics.StoreErrors.WithLabelValues(stage)
	return func() { c.Inc() }
}
