package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

var rareNow = time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)

// plantedRare are identifying values without a pattern (issue 9): names in
// event names, search terms and URL paths, a customer slug, campaign names
// with a name in them, a brand that is someone's name, a personal referrer
// domain. None is in the default vocabulary.
var plantedRare = []string{
	"Welcome back Sanne", "sanne de vries", "sanne-de-vries", "bday-sanne", "Atelier Sanne", "devries-fotografie.nl", "vriendinnen-van-sanne",
}

// plantedCode is a referral code: machine-made, masked before counting, so
// never published however many visitors send it.
const plantedCode = "KX7Q2M9P"

// rareEvent is a raw event of visitor id carrying every planted value.
func rareEvent(id string, at time.Time) []byte {
	return []byte(`{"type":"track","event":"Welcome back Sanne","anonymousId":"visitor-` + id + `","timestamp":"` + at.Format(time.RFC3339) + `",` +
		`"context":{"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36","locale":"nl-NL",` +
		`"page":{"url":"https://www.shop.example.com/profiel/sanne-de-vries/vriendinnen-van-sanne?utm_source=newsletter&utm_campaign=bday-sanne&ref=` + plantedCode + `","referrer":"https://www.devries-fotografie.nl/blog"},` +
		`"campaign":{"name":"bday-sanne","source":"newsletter"}},` +
		`"properties":{"query":"sanne de vries","brand":"Atelier Sanne","category":"fashion"}}`)
}

// rarePipeline is one ingest instance: a transformer with its RareBatch,
// sharing the pseudonym keys, the value-hashing keys and the store with
// the other instances of a test.
type rarePipeline struct {
	tr *Transformer
	rb *RareBatch
}

func newRarePipeline(t testing.TB, opt RareOptions, epochKeys, rareKeys Keys, store RareStore) rarePipeline {
	t.Helper()
	r, err := NewRare(opt, rareKeys, store)
	if err != nil {
		t.Fatal(err)
	}
	rb := r.Batch()
	tr, err := NewTransformer(Options{Policy: rb}, epochKeys)
	if err != nil {
		t.Fatal(err)
	}
	return rarePipeline{tr, rb}
}

// batch transforms one batch as the ingest stage does (Begin, transform,
// Flush) and returns the outputs.
func (p rarePipeline) batch(t testing.TB, raws ...[]byte) []string {
	t.Helper()
	ctx := context.Background()
	if err := p.rb.Begin(ctx, rareNow); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for i, raw := range raws {
		out, rej, err := p.tr.Transform(ctx, &Input{Value: raw, Source: schemas.Source{Topic: "t", Offset: int64(i)}}, rareNow)
		if err != nil || rej != nil {
			t.Fatalf("err %v rej %v", err, rej)
		}
		outs = append(outs, string(out.JSON))
	}
	if err := p.rb.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return outs
}

func assertNone(t *testing.T, when string, outs []string, values ...string) {
	t.Helper()
	for _, o := range outs {
		for _, v := range values {
			if strings.Contains(strings.ToLower(o), strings.ToLower(v)) {
				t.Errorf("%s: %q published:\n%s", when, v, o)
			}
		}
	}
}

func assertAll(t *testing.T, when string, out string, values ...string) {
	t.Helper()
	for _, v := range values {
		if !strings.Contains(out, v) {
			t.Errorf("%s: %q not published:\n%s", when, v, out)
		}
	}
}

// TestRareValuesReleasedAtK (P6, issue 9): values sent by 1 to k_values-1
// distinct visitors never appear, whatever else happens (the same visitor
// sending them many times, in many batches); once k_values visitors sent
// them they appear in every later event. A referral code is masked as a
// token however many send it; vocabulary values are published at once.
func TestRareValuesReleasedAtK(t *testing.T) {
	for _, k := range []int{2, 5, 10} {
		t.Run("k="+strconv.Itoa(k), func(t *testing.T) {
			p := newRarePipeline(t, RareOptions{K: k}, NewEphemeralKeys(), NewEphemeralKeys(), NewMemRareStore())
			var outs []string
			for v := 1; v < k; v++ {
				// Each visitor sends three times, in separate batches.
				for i := 0; i < 3; i++ {
					outs = append(outs, p.batch(t, rareEvent(strconv.Itoa(v), rareNow.Add(-time.Minute)))...)
				}
			}
			assertNone(t, strconv.Itoa(k-1)+" visitors", outs, append(plantedRare, plantedCode)...)
			for _, o := range outs {
				// Vocabulary values are published from the first event.
				assertAll(t, "vocabulary", o, `"category":"fashion"`, `"utm_source":"newsletter"`, `"source":"newsletter"`)
			}

			// The k-th visitor: its own batch still holds the placeholders
			// (the release is learnt when the batch is flushed) ...
			kth := p.batch(t, rareEvent(strconv.Itoa(k), rareNow.Add(-time.Minute)))
			assertNone(t, "the batch that reaches k", kth, plantedRare...)
			// ... and from then on every event carries the values, also
			// those of visitors seen before.
			for _, v := range []string{"1", strconv.Itoa(k), "new"} {
				after := p.batch(t, rareEvent(v, rareNow.Add(-time.Minute)))[0]
				var ev schemas.Event
				if err := json.Unmarshal([]byte(after), &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Event != "Welcome back Sanne" || ev.Search != "sanne de vries" || ev.Campaign.Name != "bday-sanne" ||
					ev.Query["utm_campaign"] != "bday-sanne" || ev.Properties["brand"] != "Atelier Sanne" ||
					ev.ReferrerDomain != "devries-fotografie.nl" || ev.Path != "/profiel/sanne-de-vries/vriendinnen-van-sanne" {
					t.Errorf("after %d visitors, visitor %s: values not published:\n%s", k, v, after)
				}
				assertNone(t, "after k", []string{after}, plantedCode)
				if ev.Query["ref"] != PlaceholderToken {
					t.Errorf("referral code published as %q, want %s", ev.Query["ref"], PlaceholderToken)
				}
			}
		})
	}
}

// TestRareSameVisitorNeverReleases: one visitor (one pseudonym) sending a
// value a thousand times is one sender.
func TestRareSameVisitorNeverReleases(t *testing.T) {
	p := newRarePipeline(t, RareOptions{K: 2}, NewEphemeralKeys(), NewEphemeralKeys(), NewMemRareStore())
	var raws [][]byte
	for i := 0; i < 1000; i++ {
		raws = append(raws, rareEvent("1", rareNow.Add(-time.Minute)))
	}
	for i := 0; i < 3; i++ {
		assertNone(t, "one visitor", p.batch(t, raws...), plantedRare...)
	}
}

// TestRareSharedAcrossInstances: two instances (two ingest processes) that
// share the key stores and the counting store release a value once the
// senders they saw together reach k, each counting half.
func TestRareSharedAcrossInstances(t *testing.T) {
	const k = 10
	epochKeys, rareKeys, store := NewEphemeralKeys(), NewEphemeralKeys(), NewMemRareStore()
	a := newRarePipeline(t, RareOptions{K: k}, epochKeys, rareKeys, store)
	b := newRarePipeline(t, RareOptions{K: k}, epochKeys, rareKeys, store)
	var outs []string
	for v := 1; v < k; v++ {
		p := a
		if v%2 == 0 {
			p = b
		}
		outs = append(outs, p.batch(t, rareEvent(strconv.Itoa(v), rareNow.Add(-time.Minute)))...)
	}
	assertNone(t, "k-1 visitors over two instances", outs, plantedRare...)
	b.batch(t, rareEvent(strconv.Itoa(k), rareNow.Add(-time.Minute))) // the k-th, on b
	for name, p := range map[string]rarePipeline{"a": a, "b": b} {
		// An instance that has not seen the release yet learns it at its
		// next flush: the first batch may still suppress, the next not.
		p.batch(t, rareEvent("1", rareNow.Add(-time.Minute)))
		assertAll(t, "instance "+name+" after k visitors in all", p.batch(t, rareEvent("2", rareNow.Add(-time.Minute)))[0],
			`"event":"Welcome back Sanne"`, `"search":"sanne de vries"`, `"brand":"Atelier Sanne"`)
	}
}

// TestRarePolicies: per-field policies and k.
func TestRarePolicies(t *testing.T) {
	p := newRarePipeline(t, RareOptions{
		K:          50,
		KPerField:  map[string]int{"search": 2},
		Policies:   map[string]Policy{"properties.brand": PolicyDrop, "campaign": PolicyScrub, "event": PolicyVocabulary},
		Vocabulary: map[string][]string{"event": {"Product Viewed"}, "properties.category": {"fashion"}},
	}, NewEphemeralKeys(), NewEphemeralKeys(), NewMemRareStore())
	p.batch(t, rareEvent("1", rareNow.Add(-time.Minute)), rareEvent("2", rareNow.Add(-time.Minute)))
	out := p.batch(t, rareEvent("3", rareNow.Add(-time.Minute)))[0]
	var ev schemas.Event
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatal(err)
	}
	switch {
	case ev.Search != "sanne de vries":
		t.Errorf("search with k=2 after two visitors: %q", ev.Search)
	case ev.Properties["brand"] != nil:
		t.Errorf("brand with policy drop: %v", ev.Properties["brand"])
	case ev.Campaign.Name != "bday-sanne":
		t.Errorf("campaign with policy scrub: %q", ev.Campaign.Name)
	case ev.Event != PlaceholderOther:
		t.Errorf("event outside the vocabulary with policy vocabulary: %q", ev.Event)
	case ev.Properties["category"] != "fashion":
		t.Errorf("category in the vocabulary: %v", ev.Properties["category"])
	case ev.Query["utm_campaign"] != PlaceholderRare:
		t.Errorf("utm_campaign with k=50: %q", ev.Query["utm_campaign"])
	}
}

// TestRareUtilityReport measures what rare-value suppression costs on a
// realistic synthetic stream: per field, the share of distinct values never
// published and the share of events whose value lost detail, for k_values
// 5, 10 and 20, counted as the ingest stage does (streaming, batches of 500
// events, releases learnt at each flush). It runs when asked:
//
//	PERSONAS_RARE_REPORT=200000 go test -run TestRareUtilityReport -v ./ingest/
//
// The stream is the default synthetic web shop (10 000 visitors, bots, app
// and web) at 2.3 events/s, so 200 000 events span about a day of event
// time: one pseudonym epoch.
func TestRareUtilityReport(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PERSONAS_RARE_REPORT"))
	if n == 0 {
		t.Skip("set PERSONAS_RARE_REPORT=<events> to run")
	}
	start := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC) // a Monday
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Start, cfg.BadShare = 3, start, 0
	cfg.EventsPerSecond = float64(n) / 86400
	cfg.Visitors = 10000
	g := synth.New(cfg)
	var raws [][]byte
	var times []time.Time
	var ev synth.Event
	for i := 0; i < n; i++ {
		g.Next(&ev)
		raws = append(raws, bytes.Clone(ev.Value))
		times = append(times, ev.Time)
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%d events, %s to %s\n", n, times[0].Format(time.RFC3339), times[n-1].Format(time.RFC3339))
	fmt.Fprintf(&report, "%-10s %4s %9s %13s %9s %12s\n", "field", "k", "distinct", "never shown", "events", "lost detail")
	for _, k := range []int{5, 10, 20} {
		r, _ := NewRare(RareOptions{K: k}, NewEphemeralKeys(), NewMemRareStore())
		rb := r.Batch()
		rec := &rareRecorder{inner: rb, fields: map[Field]*fieldStats{}}
		tr, err := NewTransformer(Options{Policy: rec}, NewEphemeralKeys())
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i, raw := range raws {
			now := times[i].Add(time.Second)
			if i%500 == 0 {
				rb.Flush(ctx)
				rb.Begin(ctx, now)
			}
			rec.present, rec.lost = 0, 0
			_, rej, err := tr.Transform(ctx, &Input{Value: raw, Source: schemas.Source{Topic: "t", Offset: int64(i)}}, now)
			if err != nil || rej != nil {
				t.Fatalf("%v %v", err, rej)
			}
			rec.endEvent()
		}
		var fields []Field
		for f := range rec.fields {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		var distinct, never, events, lost int
		for _, f := range fields {
			s := rec.fields[f]
			nv := 0
			for _, shown := range s.values {
				if !shown {
					nv++
				}
			}
			distinct, never, events, lost = distinct+len(s.values), never+nv, events+s.events, lost+s.lost
			fmt.Fprintf(&report, "%-10s %4d %9d %12.1f%% %9d %11.1f%%\n", f, k, len(s.values), pct(nv, len(s.values)), s.events, pct(s.lost, s.events))
		}
		fmt.Fprintf(&report, "%-10s %4d %9d %12.1f%% %9d %11.1f%%  (events: with any open-ended value / with any value lost)\n",
			"all", k, distinct, pct(never, distinct), rec.anyEvents, pct(rec.anyLost, rec.anyEvents))
	}
	t.Log("\n" + report.String())
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// rareRecorder wraps a ValuePolicy and records, per field, every value it
// was asked about and whether it was ever published.
type rareRecorder struct {
	inner              ValuePolicy
	fields             map[Field]*fieldStats
	present, lost      uint16 // Field bits of the current event
	anyEvents, anyLost int
}

type fieldStats struct {
	values       map[string]bool // value -> published at least once
	events, lost int
}

func (r *rareRecorder) Keep(f Field, name, v string, pseudonym []byte) string {
	out := r.inner.Keep(f, name, v, pseudonym)
	if f == FieldQuery && name == "" || isPlaceholder(v) {
		return out // a parameter name check, or a value the scrubber already replaced
	}
	s := r.fields[f]
	if s == nil {
		s = &fieldStats{values: map[string]bool{}}
		r.fields[f] = s
	}
	key := name + "\x00" + v
	s.values[key] = s.values[key] || out == v
	r.present |= 1 << f
	if out != v {
		r.lost |= 1 << f
	}
	return out
}

func (r *rareRecorder) endEvent() {
	for f, s := range r.fields {
		if r.present&(1<<f) != 0 {
			s.events++
			if r.lost&(1<<f) != 0 {
				s.lost++
			}
		}
	}
	if r.present != 0 {
		r.anyEvents++
		if r.lost != 0 {
			r.anyLost++
		}
	}
}

// TestRareReleaseCarriesOver: a value released in one counting period stays
// released through the next (RareOptions.Window), although the key that
// hashes values rotates with the period.
func TestRareReleaseCarriesOver(t *testing.T) {
	const k = 3
	p := newRarePipeline(t, RareOptions{K: k, Window: 24 * time.Hour}, NewEphemeralKeys(), NewEphemeralKeys(), NewMemRareStore())
	ctx := context.Background()
	run := func(now time.Time, visitors ...string) []string {
		if err := p.rb.Begin(ctx, now); err != nil {
			t.Fatal(err)
		}
		var outs []string
		for _, v := range visitors {
			out, rej, err := p.tr.Transform(ctx, &Input{Value: rareEvent(v, now.Add(-time.Minute))}, now)
			if err != nil || rej != nil {
				t.Fatal(err, rej)
			}
			outs = append(outs, string(out.JSON))
		}
		if err := p.rb.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return outs
	}
	day1 := time.Date(2026, 3, 14, 22, 0, 0, 0, time.UTC)
	run(day1, "1", "2", "3")
	assertAll(t, "day 1, after k senders", run(day1, "1")[0], `"search":"sanne de vries"`)
	day2 := day1.Add(4 * time.Hour) // the next period
	run(day2, "4")                  // learns the carried-over release at its flush
	assertAll(t, "day 2, one sender", run(day2, "4")[0], `"search":"sanne de vries"`)
	day4 := day1.Add(52 * time.Hour) // two periods on: counting starts afresh
	assertNone(t, "day 4", run(day4, "5", "5"), "sanne de vries")
}
