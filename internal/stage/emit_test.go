package stage

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/emit"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/schemas"
)

// Unit tests of the emit loop (Emitter.Tick) with emit.MemStore, scripted
// persona figures, a fake Kafka writer and a fake clock: the crash windows
// of the outbox, a leader that lost its lease, and a hand-over to a new
// leader. Crashes are modelled as a Write or Done that fails and an
// Emitter that is thrown away; the next leader is a new Emitter (a new
// holder id, as after a restart) that gets the lease once the old one ran
// out on the fake clock.

const (
	testChanges   = "changes"
	testSnapshots = "snapshots"
	leaseTTL      = 15 * time.Second
)

var testSegments = []byte(`
version: "unit-1"
segments:
  - name: surge
    window: 1h
    personas: [researcher]
    enter: visitors >= 200
    exit: visitors < 150
`)

// clock is a fake clock shared by the store and the emitters.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// figures is an aggregate.Store that serves scripted figures: the visitors
// of each persona over any window that ends now; older windows (the
// "previous" ones) are empty.
type figures struct {
	aggregate.Store // only ReadWindow is used by the emit loop
	clock           *clock
	mu              sync.Mutex
	visitors        map[string]int64
}

func (f *figures) set(persona string, visitors int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.visitors[persona] = visitors
}

func (f *figures) ReadWindow(_ context.Context, start, end time.Time) (*aggregate.WindowFigures, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &aggregate.WindowFigures{Window: end.Sub(start), Start: start, End: end,
		Personas: map[string]*aggregate.PersonaFigures{}, Flows: map[aggregate.FlowKey]int64{}}
	if !end.Equal(f.clock.Now().UTC()) {
		return w, nil
	}
	for p, v := range f.visitors {
		w.Personas[p] = &aggregate.PersonaFigures{Persona: p, Visitors: v, Events: 10 * v,
			ByType: map[string]int64{"track": 10 * v}, ByCategory: map[string]int64{}}
	}
	return w, nil
}

// writer is a fake Kafka writer: it records what it was asked to write and
// fails the next failNext calls (writing nothing).
type writer struct {
	mu       sync.Mutex
	msgs     []kafka.Message
	failNext int
}

var errBroker = errors.New("fake broker: not enough in-sync replicas")

func (w *writer) Write(_ context.Context, msgs []kafka.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failNext > 0 {
		w.failNext--
		return errBroker
	}
	w.msgs = append(w.msgs, msgs...)
	return nil
}

func (w *writer) all() []kafka.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// hookStore wraps a store to inject failures and interleavings.
type hookStore struct {
	emit.Store
	mu       sync.Mutex
	failDone int
	onStates func()
}

var errRedis = errors.New("fake redis: connection reset")

func (h *hookStore) Done(ctx context.Context, ids []string) error {
	h.mu.Lock()
	fail := h.failDone > 0
	if fail {
		h.failDone--
	}
	h.mu.Unlock()
	if fail {
		return errRedis
	}
	return h.Store.Done(ctx, ids)
}

func (h *hookStore) States(ctx context.Context) (map[segment.Key]segment.State, error) {
	h.mu.Lock()
	f := h.onStates
	h.onStates = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Store.States(ctx)
}

type world struct {
	t     *testing.T
	clock *clock
	figs  *figures
	mem   *emit.MemStore
	store *hookStore
	w     *writer
	segs  *segment.Config
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
	segs, err := segment.Parse(testSegments, segment.Options{Windows: []time.Duration{time.Hour}, Personas: []string{"researcher", "casual_browser"}})
	if err != nil {
		t.Fatal(err)
	}
	mem := emit.NewMemStore(c.Now)
	return &world{
		t: t, clock: c, segs: segs, mem: mem,
		figs:  &figures{clock: c, visitors: map[string]int64{"casual_browser": 1000}},
		store: &hookStore{Store: mem},
		w:     &writer{},
	}
}

// emitter is a fresh instance (a new holder id, like a restarted process).
func (wd *world) emitter(leader *[]bool) *Emitter {
	return wd.emitterWith(leader, nil)
}

func (wd *world) emitterWith(leader *[]bool, log *zap.Logger) *Emitter {
	hooks := EmitHooks{}
	if leader != nil {
		hooks.Leader = func(l bool) { *leader = append(*leader, l) }
	}
	return NewEmitter(nil, wd.w, EmitConfig{
		Figures:        wd.figs,
		State:          wd.store,
		Segments:       wd.segs,
		Personas:       []string{"researcher", "casual_browser"},
		ModelVersion:   "webshop-test",
		Windows:        []time.Duration{time.Hour},
		K:              10,
		Tick:           time.Second,
		SnapshotEvery:  time.Hour, // one snapshot in these tests: the first tick's
		LeaseTTL:       leaseTTL,
		Epoch:          24 * time.Hour,
		ChangesTopic:   testChanges,
		SnapshotsTopic: testSnapshots,
		Now:            wd.clock.Now,
		Hooks:          hooks,
		Logger:         log,
	})
}

func (wd *world) tick(e *Emitter) error {
	wd.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.Tick(ctx)
}

func (wd *world) mustTick(e *Emitter) {
	wd.t.Helper()
	if err := wd.tick(e); err != nil {
		wd.t.Fatalf("tick: %v", err)
	}
}

func (wd *world) pending() []string {
	wd.t.Helper()
	p, err := wd.mem.Pending(context.Background())
	if err != nil {
		wd.t.Fatal(err)
	}
	out := make([]string, len(p))
	for i, o := range p {
		out[i] = o.ID
	}
	return out
}

// change decodes a message of the changes topic and checks its schema, its
// key and its event_id header.
func change(t *testing.T, m kafka.Message) schemas.SegmentChange {
	t.Helper()
	if m.Topic != testChanges {
		t.Fatalf("message on %s where a segment change was expected", m.Topic)
	}
	if err := schemas.ValidateJSON(schemas.SegmentChangeSchema, m.Value); err != nil {
		t.Fatalf("segment change does not match its schema: %v\n%s", err, m.Value)
	}
	var c schemas.SegmentChange
	if err := json.Unmarshal(m.Value, &c); err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != c.Persona {
		t.Errorf("key %q, want the persona %q", m.Key, c.Persona)
	}
	if id := header(m, "event_id"); id != c.EventID {
		t.Errorf("event_id header %q, body %q", id, c.EventID)
	}
	return c
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func onTopic(ms []kafka.Message, topic string) []kafka.Message {
	return slices.DeleteFunc(slices.Clone(ms), func(m kafka.Message) bool { return m.Topic != topic })
}

func idsOf(ms []kafka.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = header(m, "event_id")
	}
	return out
}

// A crash between Commit and publish (the write fails, the process dies):
// the change is in the outbox; the next leader publishes it first, with the
// same id, and does not decide it again.
func TestEmitCrashBetweenCommitAndPublish(t *testing.T) {
	wd := newWorld(t)
	wd.figs.set("researcher", 300)
	wd.w.failNext = 1
	e1 := wd.emitter(nil)
	if err := wd.tick(e1); !errors.Is(err, errBroker) {
		t.Fatalf("tick with a failing write: got %v, want the write error", err)
	}
	if got := wd.w.all(); len(got) != 0 {
		t.Fatalf("%d messages written although the write failed", len(got))
	}
	committed := wd.pending()
	if len(committed) != 2 { // the change and the snapshot
		t.Fatalf("outbox after the failed publish holds %v, want the change and the snapshot", committed)
	}
	wantID := segment.EventID("surge", "researcher", 1, schemas.SegmentEntered)
	if committed[0] != wantID {
		t.Fatalf("outbox[0] = %s, want the entered change %s", committed[0], wantID)
	}

	// e1 is gone (crash); its lease runs out; a new instance takes over.
	wd.clock.Add(leaseTTL + time.Second)
	e2 := wd.emitter(nil)
	wd.mustTick(e2)
	got := wd.w.all()
	if ids := idsOf(got); !slices.Equal(ids, committed) {
		t.Fatalf("new leader published %v, want exactly the outbox %v in order (and nothing decided again)", ids, committed)
	}
	c := change(t, got[0])
	if c.Type != schemas.SegmentEntered || c.Sequence != 1 || c.EventID != wantID {
		t.Fatalf("published %s seq %d id %s", c.Type, c.Sequence, c.EventID)
	}
	if p := wd.pending(); len(p) != 0 {
		t.Fatalf("outbox after publishing: %v", p)
	}
	// Later ticks with the same figures announce nothing.
	for range 3 {
		wd.clock.Add(time.Second)
		wd.mustTick(e2)
	}
	if n := len(wd.w.all()); n != len(committed) {
		t.Fatalf("%d messages after more ticks, want still %d", n, len(committed))
	}
}

// The same instance retries after a failed write (no crash): the outbox
// goes out on the next tick, once.
func TestEmitRetryAfterFailedWrite(t *testing.T) {
	wd := newWorld(t)
	wd.figs.set("researcher", 300)
	wd.w.failNext = 1
	e := wd.emitter(nil)
	if err := wd.tick(e); err == nil {
		t.Fatal("tick with a failing write returned nil")
	}
	committed := wd.pending()
	wd.clock.Add(time.Second)
	wd.mustTick(e)
	if ids := idsOf(wd.w.all()); !slices.Equal(ids, committed) {
		t.Fatalf("published %v, want %v", ids, committed)
	}
}

// A crash after publish and before Done: the next leader publishes the
// outbox again: the same events with the same ids, and nothing else.
func TestEmitCrashAfterPublishBeforeDone(t *testing.T) {
	wd := newWorld(t)
	wd.figs.set("researcher", 300)
	wd.store.failDone = 1
	e1 := wd.emitter(nil)
	if err := wd.tick(e1); !errors.Is(err, errRedis) {
		t.Fatalf("tick with a failing Done: got %v, want the store error", err)
	}
	first := wd.w.all()
	if len(first) != 2 {
		t.Fatalf("first publish wrote %d messages, want the change and the snapshot", len(first))
	}
	wd.clock.Add(leaseTTL + time.Second)
	e2 := wd.emitter(nil)
	wd.mustTick(e2)
	wd.clock.Add(time.Second)
	wd.mustTick(e2)

	all := wd.w.all()
	if len(all) != 4 {
		t.Fatalf("%d messages in all, want the 2 published twice: %v", len(all), idsOf(all))
	}
	if again := idsOf(all[2:]); !slices.Equal(again, idsOf(first)) {
		t.Fatalf("re-published %v, want the same ids %v", again, idsOf(first))
	}
	for i := range first {
		if string(all[2+i].Value) != string(first[i].Value) || string(all[2+i].Key) != string(first[i].Key) {
			t.Fatalf("re-published message %d differs from the first publication", i)
		}
	}
	changes := onTopic(all, testChanges)
	byID := map[string]int{}
	for _, m := range changes {
		byID[change(t, m).EventID]++
	}
	if len(byID) != 1 {
		t.Fatalf("distinct changes published: %v, want one (entered), duplicates by id only", byID)
	}
	if p := wd.pending(); len(p) != 0 {
		t.Fatalf("outbox after the re-publication: %v", p)
	}
}

// An instance that does not hold the lease publishes nothing, not even a
// pending outbox; one that loses it between reading and committing
// publishes nothing and changes nothing.
func TestEmitLostLeasePublishesNothing(t *testing.T) {
	t.Run("NotLeader", func(t *testing.T) {
		wd := newWorld(t)
		wd.figs.set("researcher", 300)
		leader := wd.emitter(nil)
		wd.w.failNext = 1 // the leader commits but cannot publish yet
		if err := wd.tick(leader); err == nil {
			t.Fatal("expected the write error")
		}
		var seen []bool
		other := wd.emitter(&seen)
		for range 3 {
			wd.clock.Add(time.Second)
			wd.mustTick(other)
		}
		if got := wd.w.all(); len(got) != 0 {
			t.Fatalf("an instance without the lease published %v", idsOf(got))
		}
		if slices.Contains(seen, true) {
			t.Fatalf("the other instance reported leadership: %v", seen)
		}
		if p := wd.pending(); len(p) != 2 {
			t.Fatalf("outbox = %v; the other instance must leave it to the leader", p)
		}
		wd.mustTick(leader) // the leader still holds the lease: it publishes
		if got := wd.w.all(); len(got) != 2 {
			t.Fatalf("leader published %d messages, want 2", len(got))
		}
	})

	t.Run("LostBeforeCommit", func(t *testing.T) {
		wd := newWorld(t)
		wd.figs.set("researcher", 300)
		var seen []bool
		zombie := wd.emitter(&seen)
		next := wd.emitter(nil)
		// While the zombie evaluates (after its Acquire, before its
		// Commit) it stalls past its lease and the next instance takes
		// over.
		wd.store.onStates = func() {
			wd.clock.Add(leaseTTL + time.Second)
			if _, ok, _ := wd.mem.Acquire(context.Background(), next.holder, leaseTTL); !ok {
				t.Error("the next instance did not get the expired lease")
			}
		}
		if err := wd.tick(zombie); err != nil {
			t.Fatalf("a tick that lost the lease is not an error: %v", err)
		}
		if got := wd.w.all(); len(got) != 0 {
			t.Fatalf("the instance that lost the lease published %v", idsOf(got))
		}
		if p := wd.pending(); len(p) != 0 {
			t.Fatalf("the instance that lost the lease committed %v", p)
		}
		if st, _ := wd.mem.States(context.Background()); len(st) != 0 {
			t.Fatalf("the instance that lost the lease stored states %v", st)
		}
		if len(seen) == 0 || seen[len(seen)-1] {
			t.Fatalf("leader hook calls %v: the last must report the lost lease", seen)
		}
		// The new leader decides the change itself, once.
		wd.mustTick(next)
		changes := onTopic(wd.w.all(), testChanges)
		if len(changes) != 1 || change(t, changes[0]).Sequence != 1 {
			t.Fatalf("new leader published %v, want the one entered change", idsOf(changes))
		}
		// The zombie wakes up: it is not the leader any more.
		wd.clock.Add(time.Second)
		wd.mustTick(zombie)
		if n := len(onTopic(wd.w.all(), testChanges)); n != 1 {
			t.Fatalf("%d changes after the zombie's next tick, want 1", n)
		}
	})
}

// A new leader continues from the stored states: it does not announce
// again what the previous leader announced, and its next change carries
// the next sequence.
func TestEmitNewLeaderContinuesFromStoredState(t *testing.T) {
	wd := newWorld(t)
	wd.figs.set("researcher", 300)
	e1 := wd.emitter(nil)
	wd.mustTick(e1)
	entered := onTopic(wd.w.all(), testChanges)
	if len(entered) != 1 {
		t.Fatalf("first leader published %d changes, want 1", len(entered))
	}
	// e1 shuts down gracefully (Run releases the lease).
	if err := wd.mem.Release(context.Background(), e1.holder); err != nil {
		t.Fatal(err)
	}
	e2 := wd.emitter(nil)
	for range 3 {
		wd.clock.Add(time.Second)
		wd.mustTick(e2)
	}
	if n := len(onTopic(wd.w.all(), testChanges)); n != 1 {
		t.Fatalf("%d changes after the hand-over with unchanged figures, want still 1 (no re-announcement)", n)
	}
	wd.figs.set("researcher", 140) // below the exit threshold, above k
	wd.clock.Add(time.Second)
	wd.mustTick(e2)
	changes := onTopic(wd.w.all(), testChanges)
	if len(changes) != 2 {
		t.Fatalf("%d changes, want entered then exited", len(changes))
	}
	ex := change(t, changes[1])
	if ex.Type != schemas.SegmentExited || ex.Sequence != 2 || ex.EventID != segment.EventID("surge", "researcher", 2, schemas.SegmentExited) {
		t.Fatalf("exit event: %s seq %d id %s", ex.Type, ex.Sequence, ex.EventID)
	}
	if ex.Figures.Suppressed || ex.Figures.Visitors == nil || *ex.Figures.Visitors != 140 {
		t.Fatalf("exit figures %+v, want 140 visitors published", ex.Figures)
	}
	st, _ := wd.mem.States(context.Background())
	want := map[segment.Key]segment.State{{Segment: "surge", Persona: "researcher"}: {In: false, Since: wd.clock.Now(), Seq: 2}}
	if !maps.EqualFunc(st, want, func(a, b segment.State) bool { return a.In == b.In && a.Seq == b.Seq && a.Since.Equal(b.Since) }) {
		t.Fatalf("stored states %v, want %v", st, want)
	}
}

// Personas left in a segment that the definitions no longer have get no
// segment.exited; the emit stage says so in its log, once.
func TestEmitLogsOrphanedSegmentStates(t *testing.T) {
	wd := newWorld(t)
	tok, _, _ := wd.mem.Acquire(context.Background(), "old", leaseTTL)
	old := map[segment.Key]segment.State{{Segment: "retired", Persona: "researcher"}: {In: true, Since: wd.clock.Now(), Seq: 1}}
	if err := wd.mem.Commit(context.Background(), "old", tok, old, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	_ = wd.mem.Release(context.Background(), "old")
	core, logs := observer.New(zap.WarnLevel)
	e := wd.emitterWith(nil, zap.New(core))
	for range 3 {
		wd.mustTick(e)
		wd.clock.Add(time.Second)
	}
	got := logs.FilterMessageSnippet("no longer defined").All()
	if len(got) != 1 {
		t.Fatalf("%d orphan warnings, want 1", len(got))
	}
	if names := got[0].ContextMap()["segment_personas"]; !reflect.DeepEqual(names, []any{"retired/researcher"}) {
		t.Fatalf("orphan warning names %v", names)
	}
	if n := len(onTopic(wd.w.all(), testChanges)); n != 0 {
		t.Fatalf("%d changes published for a retired segment", n)
	}
	// The orphaned state is kept (its sequence goes on if the segment
	// comes back).
	st, _ := wd.mem.States(context.Background())
	if s := st[segment.Key{Segment: "retired", Persona: "researcher"}]; !s.In || s.Seq != 1 {
		t.Fatalf("orphaned state after evaluations: %+v", s)
	}
}
