package demo

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/emit"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/redisx"
)

// TestStoresOnMiniredis runs the pipeline's Redis stores, Lua scripts
// included, on the demo's in-process Redis: EVALSHA with HGET/HSET,
// HINCRBY, EXPIREAT, PFADD and SET ... PXAT, pipelined HGETALL and PFCOUNT
// over many keys, the emit lease and outbox, epoch keys (SET NX EXAT). It
// also checks that TTLs count down, which miniredis only does when told to.
func TestStoresOnMiniredis(t *testing.T) {
	e, err := startEmbedded(1, 50*time.Millisecond, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	c, err := redisx.Open(ctx, config.Redis{URL: e.RedisURL, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Aggregate store.
	s := redisx.NewAggStore(c, "t:", time.Hour)
	pos, err := s.Claim(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := now.Unix() / 60
	d := aggregate.NewDelta(0)
	d.Offset = 41
	d.Sources[aggregate.SourceKey{Topic: "raw", Partition: 2}] = 7
	d.Counters[aggregate.CounterKey{Minute: m, Persona: "researcher", Metric: aggregate.Metric{Kind: aggregate.MetricEvents}}] = 30
	d.Counters[aggregate.CounterKey{Minute: m - 1, Persona: "researcher", Metric: aggregate.Metric{Kind: aggregate.MetricCategory, Name: "books"}}] = 12
	sk := aggregate.SketchKey{Minute: m, Kind: aggregate.SketchVisitors, Persona: "researcher"}
	for i := 0; i < 1200; i++ { // more than one PFADD call of the script (500 each)
		d.Sketches[sk] = append(d.Sketches[sk], fmt.Sprintf("pseudonym-%04d", i))
	}
	expireAt := time.Now().Add(3 * time.Second)
	d.Visitors = []aggregate.VisitorWrite{{Pseudonym: "p1", State: []byte("state"), ExpireAt: expireAt}}
	if err := s.Apply(ctx, pos.Token, d); err != nil {
		t.Fatalf("apply script on miniredis: %v", err)
	}
	if v, _ := s.LoadVisitors(ctx, 0, []string{"p1"}); string(v["p1"]) != "state" {
		t.Errorf("visitor state: %q", v["p1"])
	}
	// Applying the same offset again changes nothing (effectively once).
	if err := s.Apply(ctx, pos.Token, d); err != nil {
		t.Fatal(err)
	}
	w, err := s.ReadWindow(ctx, now.Add(-time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	f := w.Personas["researcher"]
	if f == nil || f.Events != 30 || f.ByCategory["books"] != 12 || f.Visitors < 1150 || f.Visitors > 1250 {
		t.Fatalf("figures read back: %+v", f)
	}
	pos2, err := s.Claim(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pos2.Offset != 41 || pos2.Sources[aggregate.SourceKey{Topic: "raw", Partition: 2}] != 7 || pos2.Token != pos.Token+1 {
		t.Errorf("position after claim: %+v", pos2)
	}
	if err := s.Apply(ctx, pos.Token, d); !errors.Is(err, aggregate.ErrFenced) {
		t.Errorf("apply with an old token: %v, want fenced", err)
	}
	// SET ... PXAT expires on time.
	time.Sleep(time.Until(expireAt) + 300*time.Millisecond)
	if v, _ := s.LoadVisitors(ctx, 0, []string{"p1"}); len(v) != 0 {
		t.Error("visitor state did not expire: the in-process Redis's clock does not advance")
	}

	// Emit store.
	es := redisx.NewEmitStore(c, "t:")
	leaseEnd := time.Now().Add(3 * time.Second)
	tok, leader, err := es.Acquire(ctx, "me", 3*time.Second)
	if err != nil || !leader {
		t.Fatalf("acquire: %v %v", leader, err)
	}
	key := segment.Key{Segment: "s", Persona: "researcher"}
	if err := es.Commit(ctx, "me", tok, map[segment.Key]segment.State{key: {In: true, Seq: 1}},
		[]emit.Outboxed{{ID: "e1", Topic: "x", Value: []byte("{}")}}, now); err != nil {
		t.Fatal(err)
	}
	if st, _ := es.States(ctx); !st[key].In {
		t.Errorf("states: %v", st)
	}
	if p, _ := es.Pending(ctx); len(p) != 1 || p[0].ID != "e1" {
		t.Errorf("outbox: %v", p)
	}
	if _, leader, _ := es.Acquire(ctx, "other", time.Second); leader {
		t.Error("a second holder got the lease")
	}
	time.Sleep(time.Until(leaseEnd) + 300*time.Millisecond) // the lease (PX) runs out
	if _, leader, _ := es.Acquire(ctx, "other", time.Second); !leader {
		t.Error("the lease did not expire")
	}

	// Epoch keys.
	ek := redisx.NewEpochKeys(c, "t:")
	k1, err := ek.Key(ctx, 7, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := redisx.NewEpochKeys(c, "t:").Key(ctx, 7, now.Add(time.Hour))
	if len(k1) < 16 || string(k1) != string(k2) {
		t.Error("epoch key not shared between instances")
	}
	if ttl := c.TTL(ctx, ek.KeyName(7)).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("epoch key TTL %s", ttl)
	}
}
