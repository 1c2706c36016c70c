// Package storetest is the contract test suite of emit.Store. Every
// implementation runs it: emit.MemStore, and the Redis store on a standalone
// Redis and on a Redis Cluster, so they are interchangeable under the emit
// loop (internal/stage).
//
// The contract, as the emit loop relies on it:
//
//   - Acquire gives the lease to one holder at a time. The holder renews it
//     with the same token; when the lease changes hands (expiry, Release)
//     the token grows, for the same holder too.
//   - Commit is all or nothing and fenced: it succeeds only for the current
//     holder with the current token; otherwise it returns emit.ErrNotLeader
//     and nothing changes.
//   - The outbox keeps commit order across commits and holders; Done removes
//     exactly the ids given; an id already pending is not added twice.
//   - States round trip exactly and are replaced by each Commit.
//   - LastSnapshot only moves forward, to the millisecond at least.
//
// The lease tests wait for real lease expiry with a short TTL; they poll
// with generous deadlines and never assert how fast anything is.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/personas-dev/personas/emit"
	"github.com/personas-dev/personas/emit/segment"
)

// Factory returns a fresh, empty store for one test.
type Factory func(t *testing.T) emit.Store

// Run runs the contract against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	t.Run("LeaseAcquireRenew", func(t *testing.T) { testAcquireRenew(t, newStore(t)) })
	t.Run("LeaseExpiryHandsOverWithGrowingToken", func(t *testing.T) { testExpiry(t, newStore(t)) })
	t.Run("LeaseReleaseHandsOver", func(t *testing.T) { testRelease(t, newStore(t)) })
	t.Run("LeaseOneLeaderUnderContention", func(t *testing.T) { testContention(t, newStore(t)) })
	t.Run("CommitRefusedForStaleToken", func(t *testing.T) { testStaleCommit(t, newStore(t)) })
	t.Run("OutboxOrderAndDone", func(t *testing.T) { testOutbox(t, newStore(t)) })
	t.Run("OutboxSurvivesHandOver", func(t *testing.T) { testOutboxHandOver(t, newStore(t)) })
	t.Run("StatesRoundTripAndReplace", func(t *testing.T) { testStates(t, newStore(t)) })
	t.Run("LastSnapshotMovesForward", func(t *testing.T) { testLastSnapshot(t, newStore(t)) })
}

// long is a lease TTL no test outlives; short one that tests wait out.
const (
	long  = time.Minute
	short = 300 * time.Millisecond
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func acquire(t *testing.T, s emit.Store, holder string, ttl time.Duration) (int64, bool) {
	t.Helper()
	tok, ok, err := s.Acquire(ctx(t), holder, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", holder, err)
	}
	return tok, ok
}

func mustLead(t *testing.T, s emit.Store, holder string, ttl time.Duration) int64 {
	t.Helper()
	tok, ok := acquire(t, s, holder, ttl)
	if !ok {
		t.Fatalf("%s did not get the lease", holder)
	}
	if tok <= 0 {
		t.Fatalf("%s got the lease with token %d; tokens are positive", holder, tok)
	}
	return tok
}

// waitLead polls until holder gets the lease (the previous one expired).
func waitLead(t *testing.T, s emit.Store, holder string, ttl time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if tok, ok := acquire(t, s, holder, ttl); ok {
			return tok
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not get the lease within 30s of the holder's %s TTL", holder, short)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ev(id string) emit.Outboxed {
	return emit.Outboxed{
		ID:    id,
		Topic: "personas.segment-changes.v1",
		Key:   []byte("researcher"),
		// A '|' and non-ASCII text: the value must come back byte for byte.
		Value: []byte(`{"event_id":"` + id + `","note":"a|b ü"}`),
	}
}

func ids(os []emit.Outboxed) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.ID
	}
	return out
}

func pending(t *testing.T, s emit.Store) []emit.Outboxed {
	t.Helper()
	p, err := s.Pending(ctx(t))
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return p
}

func states(t *testing.T, s emit.Store) map[segment.Key]segment.State {
	t.Helper()
	st, err := s.States(ctx(t))
	if err != nil {
		t.Fatalf("States: %v", err)
	}
	return st
}

func lastSnap(t *testing.T, s emit.Store) time.Time {
	t.Helper()
	ls, err := s.LastSnapshot(ctx(t))
	if err != nil {
		t.Fatalf("LastSnapshot: %v", err)
	}
	return ls
}

func testAcquireRenew(t *testing.T, s emit.Store) {
	a := mustLead(t, s, "a", long)
	if again := mustLead(t, s, "a", long); again != a {
		t.Fatalf("renewal changed the token from %d to %d; it must stay while the holder keeps the lease", a, again)
	}
	if _, ok := acquire(t, s, "b", long); ok {
		t.Fatal("b got the lease while a holds it")
	}
	if err := s.Commit(ctx(t), "a", a, nil, []emit.Outboxed{ev("e1")}, time.Time{}); err != nil {
		t.Fatalf("commit by the holder: %v", err)
	}

	// Renewing extends the lease by the TTL given: c takes a lease for 2s
	// and at once renews it for a minute; 2.5s later it still holds it.
	if err := s.Release(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	c := mustLead(t, s, "c", 2*time.Second)
	if again := mustLead(t, s, "c", long); again != c {
		t.Fatalf("renewal changed the token from %d to %d", c, again)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, ok := acquire(t, s, "b", long); ok {
		t.Fatal("b got the lease after the first TTL although c renewed it for longer")
	}
	if again := mustLead(t, s, "c", long); again != c {
		t.Fatalf("c's token changed from %d to %d although it never lost the lease", c, again)
	}
}

func testExpiry(t *testing.T, s emit.Store) {
	a := mustLead(t, s, "a", short)
	b := waitLead(t, s, "b", long)
	if b <= a {
		t.Fatalf("token after expiry and hand-over is %d, not above %d", b, a)
	}
	if _, ok := acquire(t, s, "a", long); ok {
		t.Fatal("a got the lease back while b holds it")
	}
	if err := s.Commit(ctx(t), "a", a, nil, []emit.Outboxed{ev("zombie")}, time.Time{}); !errors.Is(err, emit.ErrNotLeader) {
		t.Fatalf("commit by the expired holder: got %v, want ErrNotLeader", err)
	}
	if p := pending(t, s); len(p) != 0 {
		t.Fatalf("a refused commit left %v in the outbox", ids(p))
	}
	// The same holder whose lease expired gets a new token when it takes
	// the lease again, so its old token stays fenced.
	if err := s.Release(ctx(t), "b"); err != nil {
		t.Fatal(err)
	}
	a2 := mustLead(t, s, "a", long)
	if a2 <= b {
		t.Fatalf("a's token on coming back is %d, not above %d", a2, b)
	}
	if err := s.Commit(ctx(t), "a", a, nil, nil, time.Time{}); !errors.Is(err, emit.ErrNotLeader) {
		t.Fatalf("commit with a's token from before the expiry: got %v, want ErrNotLeader", err)
	}
}

func testRelease(t *testing.T, s emit.Store) {
	a := mustLead(t, s, "a", long)
	if err := s.Release(ctx(t), "b"); err != nil { // not the holder: no effect
		t.Fatalf("Release by a non-holder: %v", err)
	}
	if again := mustLead(t, s, "a", long); again != a {
		t.Fatalf("a lost its token (%d → %d) when b released", a, again)
	}
	if err := s.Release(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	b := mustLead(t, s, "b", long) // at once: no waiting for the TTL
	if b <= a {
		t.Fatalf("token after release and hand-over is %d, not above %d", b, a)
	}
	if err := s.Release(ctx(t), "b"); err != nil {
		t.Fatal(err)
	}
	a2 := mustLead(t, s, "a", long)
	if a2 <= b {
		t.Fatalf("a's token on taking the lease again is %d, not above %d", a2, b)
	}
	if err := s.Commit(ctx(t), "a", a, nil, nil, time.Time{}); !errors.Is(err, emit.ErrNotLeader) {
		t.Fatalf("commit with a's token from before the release: got %v, want ErrNotLeader", err)
	}
	if err := s.Commit(ctx(t), "a", a2, nil, nil, time.Time{}); err != nil {
		t.Fatalf("commit with a's new token: %v", err)
	}
}

func testContention(t *testing.T, s emit.Store) {
	const n = 8
	var wg sync.WaitGroup
	leaders := make(chan string, n)
	errs := make(chan error, n)
	c := ctx(t)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := fmt.Sprintf("h%d", i)
			_, ok, err := s.Acquire(c, h, long)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				leaders <- h
			}
		}()
	}
	wg.Wait()
	close(leaders)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got []string
	for h := range leaders {
		got = append(got, h)
	}
	if len(got) != 1 {
		t.Fatalf("%d holders got the lease at once: %v; want exactly one", len(got), got)
	}
}

func testStaleCommit(t *testing.T, s emit.Store) {
	k := segment.Key{Segment: "surge", Persona: "researcher"}
	a := mustLead(t, s, "a", long)
	if err := s.Release(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	b := mustLead(t, s, "b", long)
	snap := time.UnixMilli(1_800_000_000_000)
	stale := map[segment.Key]segment.State{k: {In: true, Since: snap, Seq: 1}}
	for _, tc := range []struct {
		holder string
		token  int64
		why    string
	}{
		{"a", a, "the old holder with its old token"},
		{"a", b, "the old holder with the current token"},
		{"b", a, "the current holder with an old token"},
		{"b", b + 1, "the current holder with a token from the future"},
	} {
		err := s.Commit(ctx(t), tc.holder, tc.token, stale, []emit.Outboxed{ev("stale")}, snap)
		if !errors.Is(err, emit.ErrNotLeader) {
			t.Fatalf("commit by %s: got %v, want ErrNotLeader", tc.why, err)
		}
	}
	if st := states(t, s); len(st) != 0 {
		t.Fatalf("refused commits changed the states: %v", st)
	}
	if p := pending(t, s); len(p) != 0 {
		t.Fatalf("refused commits added to the outbox: %v", ids(p))
	}
	if ls := lastSnap(t, s); !ls.IsZero() {
		t.Fatalf("refused commits moved the snapshot time to %v", ls)
	}
	if err := s.Commit(ctx(t), "b", b, stale, []emit.Outboxed{ev("fresh")}, snap); err != nil {
		t.Fatalf("commit by the current holder: %v", err)
	}
	if p := pending(t, s); !reflect.DeepEqual(ids(p), []string{"fresh"}) {
		t.Fatalf("outbox = %v, want [fresh]", ids(p))
	}
}

func testOutbox(t *testing.T, s emit.Store) {
	tok := mustLead(t, s, "a", long)
	commit := func(evs ...emit.Outboxed) {
		t.Helper()
		if err := s.Commit(ctx(t), "a", tok, nil, evs, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if p := pending(t, s); len(p) != 0 {
		t.Fatalf("fresh outbox holds %v", ids(p))
	}
	// More than ten, so an order by id text or by a counter compared as
	// text would show.
	var first []emit.Outboxed
	for i := range 12 {
		first = append(first, ev(fmt.Sprintf("z%02d", 12-i)))
	}
	commit(first...)
	commit(ev("b"), ev("a"))
	want := append(ids(first), "b", "a")
	got := pending(t, s)
	if !reflect.DeepEqual(ids(got), want) {
		t.Fatalf("outbox order = %v, want commit order %v", ids(got), want)
	}
	if !reflect.DeepEqual(got[0], first[0]) {
		t.Fatalf("outboxed event changed on the way: %+v, want %+v", got[0], first[0])
	}
	snapEv := emit.Outboxed{ID: "s", Topic: "personas.snapshots.v1", Key: []byte("1h"), Value: []byte(`{}`)}
	commit(snapEv, ev("z12")) // z12 is pending already: kept once, in place
	want = append(want, "s")
	got = pending(t, s)
	if !reflect.DeepEqual(ids(got), want) {
		t.Fatalf("after committing a pending id again: outbox = %v, want %v", ids(got), want)
	}
	if !reflect.DeepEqual(got[len(got)-1], snapEv) {
		t.Fatalf("snapshot event = %+v, want %+v", got[len(got)-1], snapEv)
	}
	if err := s.Done(ctx(t), []string{"z11", "a", "unknown"}); err != nil {
		t.Fatalf("Done: %v", err)
	}
	if err := s.Done(ctx(t), nil); err != nil {
		t.Fatalf("Done(nil): %v", err)
	}
	want = []string{"z12", "z10", "z09", "z08", "z07", "z06", "z05", "z04", "z03", "z02", "z01", "b", "s"}
	if got := ids(pending(t, s)); !reflect.DeepEqual(got, want) {
		t.Fatalf("after Done: outbox = %v, want %v", got, want)
	}
	// A removed id may come back (a later commit of the same event is a
	// new outbox entry): it goes to the end.
	commit(ev("a"))
	want = append(want, "a")
	if got := ids(pending(t, s)); !reflect.DeepEqual(got, want) {
		t.Fatalf("after re-adding a: outbox = %v, want %v", got, want)
	}
	if err := s.Done(ctx(t), want); err != nil {
		t.Fatal(err)
	}
	if p := pending(t, s); len(p) != 0 {
		t.Fatalf("outbox after Done of everything: %v", ids(p))
	}
}

func testOutboxHandOver(t *testing.T, s emit.Store) {
	a := mustLead(t, s, "a", long)
	if err := s.Commit(ctx(t), "a", a, nil, []emit.Outboxed{ev("1"), ev("2")}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// a crashes before publishing; its lease runs out (or is released).
	if err := s.Release(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	b := mustLead(t, s, "b", long)
	if got := ids(pending(t, s)); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Fatalf("new leader sees outbox %v, want [1 2]", got)
	}
	if err := s.Commit(ctx(t), "b", b, nil, []emit.Outboxed{ev("3")}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := ids(pending(t, s)); !reflect.DeepEqual(got, []string{"1", "2", "3"}) {
		t.Fatalf("outbox = %v, want [1 2 3]: the old leader's events first", got)
	}
}

func testStates(t *testing.T, s emit.Store) {
	if st := states(t, s); len(st) != 0 {
		t.Fatalf("fresh store has states %v", st)
	}
	tok := mustLead(t, s, "a", long)
	since := time.Date(2026, 11, 3, 10, 4, 5, 123456789, time.UTC)
	in := map[segment.Key]segment.State{
		{Segment: "electronics_surge", Persona: "researcher"}:      {In: true, Since: since, Seq: 7},
		{Segment: "electronics_surge", Persona: "tech_enthusiast"}: {In: false, Since: since.Add(-time.Hour), Seq: 2},
		{Segment: "deep_research", Persona: "researcher"}:          {},
	}
	if err := s.Commit(ctx(t), "a", tok, in, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	equalStates(t, states(t, s), in)

	// Each commit replaces the states: what the evaluation no longer
	// returns is gone.
	next := map[segment.Key]segment.State{
		{Segment: "electronics_surge", Persona: "researcher"}: {In: false, Since: since.Add(time.Minute), Seq: 8},
	}
	if err := s.Commit(ctx(t), "a", tok, next, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	equalStates(t, states(t, s), next)
	if err := s.Commit(ctx(t), "a", tok, nil, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if st := states(t, s); len(st) != 0 {
		t.Fatalf("states after committing none: %v", st)
	}
}

func equalStates(t *testing.T, got, want map[segment.Key]segment.State) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("states = %v, want %v", got, want)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || g.In != w.In || g.Seq != w.Seq || !g.Since.Equal(w.Since) {
			t.Fatalf("state %s = %+v (present %v), want %+v", k, g, ok, w)
		}
	}
}

func testLastSnapshot(t *testing.T, s emit.Store) {
	if ls := lastSnap(t, s); !ls.IsZero() {
		t.Fatalf("fresh store: last snapshot %v, want zero", ls)
	}
	tok := mustLead(t, s, "a", long)
	t1 := time.Date(2026, 11, 3, 10, 4, 5, 678_000_000, time.UTC)
	for _, tc := range []struct {
		commit, want time.Time
	}{
		{t1, t1},
		{time.Time{}, t1},          // no snapshot in this commit
		{t1.Add(-time.Minute), t1}, // never backwards (a leader with a slow clock)
		{t1.Add(1500 * time.Millisecond), t1.Add(1500 * time.Millisecond)},
	} {
		if err := s.Commit(ctx(t), "a", tok, nil, nil, tc.commit); err != nil {
			t.Fatal(err)
		}
		if got := lastSnap(t, s); !got.Equal(tc.want) {
			t.Fatalf("after committing snapshot time %v: last snapshot %v, want %v", tc.commit, got, tc.want)
		}
	}
}
