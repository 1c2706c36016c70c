// Package storetest is the contract test suite of aggregate.Store. Every
// implementation runs it: the in-memory store and the Redis store on a
// standalone Redis and on a Redis Cluster, so they are interchangeable.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/personas-dev/personas/aggregate"
)

// Factory returns a fresh, empty store for one test.
type Factory func(t *testing.T) aggregate.Store

// Run runs the contract against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	t.Run("ClaimFencesOlderOwner", func(t *testing.T) { testClaimFences(t, newStore(t)) })
	t.Run("ApplyIsAtomicAndIdempotent", func(t *testing.T) { testIdempotent(t, newStore(t)) })
	t.Run("PositionRoundTrip", func(t *testing.T) { testPosition(t, newStore(t)) })
	t.Run("VisitorsRoundTrip", func(t *testing.T) { testVisitors(t, newStore(t)) })
	t.Run("WindowSumsExactBuckets", func(t *testing.T) { testWindow(t, newStore(t)) })
	t.Run("DistinctAcrossPartitionsAndFlows", func(t *testing.T) { testDistinct(t, newStore(t)) })
	t.Run("ConcurrentPartitions", func(t *testing.T) { testConcurrent(t, newStore(t)) })
}

// base is recent so that buckets written by the tests are within retention.
var base = time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)

func minute(t time.Time) int64 { return t.Unix() / 60 }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func delta(p int, off int64) *aggregate.Delta {
	d := aggregate.NewDelta(p)
	d.Offset = off
	return d
}

func events(string) aggregate.Metric { return aggregate.Metric{Kind: aggregate.MetricEvents} }

func testClaimFences(t *testing.T, s aggregate.Store) {
	c := ctx(t)
	a, err := s.Claim(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Offset != -1 {
		t.Fatalf("fresh partition offset = %d, want -1", a.Offset)
	}
	b, err := s.Claim(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Token <= a.Token {
		t.Fatalf("second claim token %d not above first %d", b.Token, a.Token)
	}
	d := delta(0, 5)
	d.Counters[aggregate.CounterKey{Minute: minute(base), Persona: "x", Metric: events("x")}] = 3
	if err := s.Apply(c, a.Token, d); !errors.Is(err, aggregate.ErrFenced) {
		t.Fatalf("apply with the older token: got %v, want ErrFenced", err)
	}
	if err := s.Apply(c, b.Token, d); err != nil {
		t.Fatalf("apply with the current token: %v", err)
	}
	w, err := s.ReadWindow(c, base, base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Personas["x"]; got == nil || got.Events != 3 {
		t.Fatalf("figures after fenced+accepted apply: %+v, want events 3 (fenced write must not count)", got)
	}
}

func testIdempotent(t *testing.T, s aggregate.Store) {
	c := ctx(t)
	pos, err := s.Claim(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	k := aggregate.CounterKey{Minute: minute(base), Persona: "p", Metric: events("p")}
	d := delta(1, 10)
	d.Counters[k] = 7
	d.Sketches[aggregate.SketchKey{Minute: minute(base), Kind: aggregate.SketchVisitors, Persona: "p"}] = []string{"a", "b"}
	for i := 0; i < 3; i++ { // a retried Apply whose first attempt succeeded
		if err := s.Apply(c, pos.Token, d); err != nil {
			t.Fatal(err)
		}
	}
	old := delta(1, 9) // a replay of an earlier batch
	old.Counters[k] = 100
	if err := s.Apply(c, pos.Token, old); err != nil {
		t.Fatal(err)
	}
	w, err := s.ReadWindow(c, base, base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if p := w.Personas["p"]; p == nil || p.Events != 7 || p.Visitors != 2 {
		t.Fatalf("after repeated and stale applies: %+v, want events 7 visitors 2", p)
	}
}

func testPosition(t *testing.T, s aggregate.Store) {
	c := ctx(t)
	pos, err := s.Claim(c, 2)
	if err != nil {
		t.Fatal(err)
	}
	d := delta(2, 41)
	src := aggregate.SourceKey{Topic: "clickstream.raw", Partition: 3}
	src2 := aggregate.SourceKey{Topic: "clickstream.raw", Partition: 11}
	d.Sources[src] = 1234
	d.Sources[src2] = 7
	if err := s.Apply(c, pos.Token, d); err != nil {
		t.Fatal(err)
	}
	d2 := delta(2, 42)
	d2.Sources[src] = 1300
	if err := s.Apply(c, pos.Token, d2); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(c, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Offset != 42 || got.Sources[src] != 1300 || got.Sources[src2] != 7 {
		t.Fatalf("position = %+v, want offset 42, %v=1300, %v=7", got, src, src2)
	}
	parts, err := s.Partitions(c)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(parts, 2) {
		t.Fatalf("partitions %v lack 2", parts)
	}
}

func testVisitors(t *testing.T, s aggregate.Store) {
	c := ctx(t)
	pos, err := s.Claim(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	d := delta(3, 0)
	state := []byte{0x01, 0x00, 0xff, 'x'} // binary-safe
	d.Visitors = append(d.Visitors, aggregate.VisitorWrite{Pseudonym: "00112233445566778899aabbccddeeff", State: state, ExpireAt: time.Now().Add(time.Hour)})
	if err := s.Apply(c, pos.Token, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadVisitors(c, 3, []string{"00112233445566778899aabbccddeeff", "ffffffffffffffffffffffffffffffff"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["00112233445566778899aabbccddeeff"]) != string(state) {
		t.Fatalf("state = %x, want %x", got["00112233445566778899aabbccddeeff"], state)
	}
	if _, ok := got["ffffffffffffffffffffffffffffffff"]; ok {
		t.Fatal("unknown visitor must be absent")
	}
}

func testWindow(t *testing.T, s aggregate.Store) {
	c := ctx(t)
	pos, err := s.Claim(c, 4)
	if err != nil {
		t.Fatal(err)
	}
	// One event per minute from 08:30 to 10:29 for persona "w", category
	// "books": 120 minutes across three clock hours.
	start := base.Add(-30 * time.Minute)
	d := delta(4, 0)
	for i := 0; i < 120; i++ {
		m := minute(start) + int64(i)
		d.Counters[aggregate.CounterKey{Minute: m, Persona: "w", Metric: events("w")}] += 1
		d.Counters[aggregate.CounterKey{Minute: m, Persona: "w", Metric: aggregate.Metric{Kind: aggregate.MetricCategory, Name: "books"}}] += 2
		d.Counters[aggregate.CounterKey{Minute: m, Persona: "w", Metric: aggregate.Metric{Kind: aggregate.MetricType, Name: "track"}}] += 1
		d.Counters[aggregate.CounterKey{Minute: m, Persona: aggregate.BotPersona, Metric: events("")}] += 5
	}
	if err := s.Apply(c, pos.Token, d); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		from, to time.Duration // offsets from start
		want     int64
	}{
		{0, 120 * time.Minute, 120},
		{10 * time.Minute, 100 * time.Minute, 90}, // ragged edges on both sides of a whole hour
		{30 * time.Minute, 90 * time.Minute, 60},  // exactly one clock hour
		{29 * time.Minute, 31 * time.Minute, 2},
		{5 * time.Minute, 6 * time.Minute, 1},
		{-time.Hour, 0, 0},
	}
	for _, cs := range cases {
		w, err := s.ReadWindow(c, start.Add(cs.from), start.Add(cs.to))
		if err != nil {
			t.Fatal(err)
		}
		var got, books, track int64
		if p := w.Personas["w"]; p != nil {
			got, books, track = p.Events, p.ByCategory["books"], p.ByType["track"]
		}
		if got != cs.want || books != 2*cs.want || track != cs.want || w.Bots != 5*cs.want {
			t.Errorf("window [%s,%s): events %d books %d track %d bots %d, want %d/%d/%d/%d",
				cs.from, cs.to, got, books, track, w.Bots, cs.want, 2*cs.want, cs.want, 5*cs.want)
		}
		if _, ok := w.Personas[aggregate.BotPersona]; ok {
			t.Errorf("bots must not appear as a persona")
		}
	}
}

func testDistinct(t *testing.T, s aggregate.Store) {
	c := ctx(t)
	m := minute(base)
	for p := 5; p < 7; p++ {
		pos, err := s.Claim(c, p)
		if err != nil {
			t.Fatal(err)
		}
		d := delta(p, 0)
		var ids []string
		for i := 0; i < 50; i++ {
			ids = append(ids, fmt.Sprintf("%02d%030d", p, i))
		}
		// The same visitors in two minutes count once in a window covering both.
		d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchVisitors, Persona: "d"}] = ids
		d.Sketches[aggregate.SketchKey{Minute: m + 1, Kind: aggregate.SketchVisitors, Persona: "d"}] = ids[:10]
		d.Counters[aggregate.CounterKey{Minute: m, Persona: "d", Metric: events("d")}] = 60
		d.Counters[aggregate.CounterKey{Minute: m, Persona: "d", Metric: aggregate.Metric{Kind: aggregate.MetricFlowTo, Name: "e"}}] = 4
		d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchFlow, Persona: "d", To: "e"}] = ids[:3]
		d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchLeft, Persona: "d"}] = ids[:3]
		d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchEntered, Persona: "e"}] = ids[:3]
		if err := s.Apply(c, pos.Token, d); err != nil {
			t.Fatal(err)
		}
	}
	w, err := s.ReadWindow(c, base, base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	p := w.Personas["d"]
	if p == nil || p.Visitors != 100 || p.Events != 120 || p.Left != 6 {
		t.Fatalf("persona d = %+v, want visitors 100 (two disjoint partitions of 50), events 120, left 6", p)
	}
	if e := w.Personas["e"]; e == nil || e.Entered != 6 {
		t.Fatalf("persona e = %+v, want entered 6", e)
	}
	if got := w.Flows[aggregate.FlowKey{From: "d", To: "e"}]; got != 6 {
		t.Fatalf("flow d>e = %d, want 6", got)
	}
}

func testConcurrent(t *testing.T, s aggregate.Store) {
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for p := 10; p < 14; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			pos, err := s.Claim(c, p)
			if err != nil {
				errs <- err
				return
			}
			for off := int64(0); off < 20; off++ {
				d := delta(p, off)
				d.Counters[aggregate.CounterKey{Minute: minute(base) + 500, Persona: "c", Metric: events("c")}] = 1
				if err := s.Apply(c, pos.Token, d); err != nil {
					errs <- err
					return
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	at := base.Add(500 * time.Minute)
	w, err := s.ReadWindow(c, at, at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if p := w.Personas["c"]; p == nil || p.Events != 80 {
		t.Fatalf("concurrent partitions: %+v, want events 80", p)
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
