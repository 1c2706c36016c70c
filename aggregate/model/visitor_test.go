package model

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/personas-dev/personas/schemas"
)

// sameVisitor compares two visitors field by field (an empty and a nil
// slot slice are the same).
func sameVisitor(a, b *Visitor) bool {
	x, y := *a, *b
	if len(x.slots) == 0 && len(y.slots) == 0 {
		x.slots, y.slots = nil, nil
	}
	return reflect.DeepEqual(x, y)
}

func encode(t testing.TB, v *Visitor) []byte {
	b, err := v.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVisitorRoundTrip(t *testing.T) {
	m := Default()
	e := m.NewEvaluator()
	r := rand.New(rand.NewPCG(1, 2))
	for seq := range 200 {
		var v Visitor
		for _, ev := range randomEvents(r, 1+r.IntN(120)) {
			e.Observe(&v, ev)
			e.Classify(&v)
			b := encode(t, &v)
			var w Visitor
			if err := w.UnmarshalBinary(b); err != nil {
				t.Fatalf("seq %d: %v", seq, err)
			}
			if !sameVisitor(&v, &w) {
				t.Fatalf("seq %d: round trip\n%+v\n%+v", seq, v, w)
			}
			if b2 := encode(t, &w); !bytes.Equal(b, b2) {
				t.Fatalf("seq %d: re-encoding differs", seq)
			}
			mb, _ := v.MarshalBinary()
			if !bytes.Equal(mb, b) || v.EncodedSize() != len(b) {
				t.Fatal("MarshalBinary / EncodedSize disagree with AppendBinary")
			}
		}
	}
}

// TestDeterminism: the same events give the same personas and the same
// state whether a visitor stays in memory, goes through the state store
// (encode/decode) with a new evaluator (a restart) before every event, or
// is interleaved with other visitors (batching on a partition).
func TestDeterminism(t *testing.T) {
	m := Default()
	r := rand.New(rand.NewPCG(3, 4))
	const n = 300
	src := make([][]*schemas.Event, n)
	final := make([][]byte, n)
	for i := range src {
		src[i] = randomEvents(r, 1+r.IntN(150))
		evs := src[i]
		// In one go.
		e := m.NewEvaluator()
		var v Visitor
		var straight []int
		for _, ev := range evs {
			e.Observe(&v, ev)
			straight = append(straight, e.Classify(&v))
		}
		// Through the store, with a new evaluator, before every event.
		var state []byte
		var stored []int
		for _, ev := range evs {
			var w Visitor
			if state != nil {
				if err := w.UnmarshalBinary(state); err != nil {
					t.Fatal(err)
				}
			}
			e2 := m.NewEvaluator()
			e2.Observe(&w, ev)
			stored = append(stored, e2.Classify(&w))
			state = encode(t, &w)
		}
		if !slices.Equal(straight, stored) {
			t.Fatalf("seq %d: personas differ\n%v\n%v", i, straight, stored)
		}
		if !bytes.Equal(encode(t, &v), state) {
			t.Fatalf("seq %d: final state differs", i)
		}
		final[i] = state
	}
	// Interleaved, keeping each visitor's order, one evaluator.
	e := m.NewEvaluator()
	vs := make([]Visitor, n)
	next := make([]int, n)
	left := 0
	for i := range src {
		left += len(src[i])
	}
	rr := rand.New(rand.NewPCG(9, 9))
	for left > 0 {
		i := rr.IntN(n)
		if next[i] == len(src[i]) {
			continue
		}
		e.Observe(&vs[i], src[i][next[i]])
		e.Classify(&vs[i])
		next[i]++
		left--
	}
	for i := range vs {
		if !bytes.Equal(encode(t, &vs[i]), final[i]) {
			t.Fatalf("visitor %d: interleaved state differs", i)
		}
	}
}

func TestEncodedSize(t *testing.T) {
	m := Default()
	e := m.NewEvaluator()
	r := rand.New(rand.NewPCG(5, 6))
	var sizes []int
	for range 500 {
		var v Visitor
		for _, ev := range randomEvents(r, 5+r.IntN(40)) {
			e.Observe(&v, ev)
			e.Classify(&v)
		}
		sizes = append(sizes, v.EncodedSize())
	}
	slices.Sort(sizes)
	p50, p95 := sizes[len(sizes)/2], sizes[len(sizes)*95/100]
	t.Logf("encoded visitor after 5-45 random events: p50 %d, p95 %d, max %d bytes", p50, p95, sizes[len(sizes)-1])
	if p95 > 100 {
		t.Fatalf("p95 %d bytes, want at most 100", p95)
	}
	var zero Visitor
	if n := zero.EncodedSize(); n > 20 {
		t.Fatalf("empty visitor %d bytes", n)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	m := Default()
	e := m.NewEvaluator()
	var v Visitor
	for _, ev := range newSession("mobile").campaign("google", "cpc", "x").home().view("toys", 5).cartAdd("toys", 5).evs {
		e.Observe(&v, ev)
	}
	e.Classify(&v)
	good := encode(t, &v)
	var w Visitor
	if err := w.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"empty":    nil,
		"version":  append([]byte{9}, good[1:]...),
		"trailing": append(slices.Clone(good), 0),
	}
	for i := 1; i < len(good); i++ {
		bad["truncated at "+string(rune('0'+i%10))+"/"+strings.Repeat("·", i/10)] = good[:i]
	}
	for name, b := range bad {
		w := v // a used visitor: an error must leave it reset
		w.slots = slices.Clone(v.slots)
		err := w.UnmarshalBinary(b)
		if err == nil || !errors.Is(err, ErrEncoding) {
			t.Errorf("%s: error %v", name, err)
		}
		if w.Events() != 0 || w.Persona() != -1 {
			t.Errorf("%s: visitor not reset", name)
		}
	}
}

func TestModelChange(t *testing.T) {
	m := Default()
	e := m.NewEvaluator()
	var v Visitor
	evs := newSession("desktop").list("electronics").view("electronics", 100).view("electronics", 200).view("electronics", 300).evs
	for _, ev := range evs {
		e.Observe(&v, ev)
	}
	tech := e.Classify(&v)
	state := encode(t, &v)

	// Same features, personas reordered: the counters stay, the stored
	// persona is forgotten (no bogus flow).
	y := strings.Replace(string(defaultYAML), "  - name: loyal_buyer", "  - name: big_spender\n    when: orders >= 5\n  - name: loyal_buyer", 1)
	m2, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if m2.Layout() != m.Layout() {
		t.Fatal("layout changed by a persona change")
	}
	var w Visitor
	if err := w.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	from, to := m2.NewEvaluator().Apply(&w, evs[0])
	if from != -1 || m2.Personas[to].Name != m.Personas[tech].Name || w.Events() != len(evs)+1 {
		t.Fatalf("persona change: from %d to %s, events %d", from, m2.Personas[to].Name, w.Events())
	}

	// A feature added: the layout differs and the visitor starts afresh.
	y = strings.Replace(string(defaultYAML), "features:\n", "features:\n  - name: extra\n    when: bot\n", 1)
	m3, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if m3.Layout() == m.Layout() {
		t.Fatal("same layout after a feature change")
	}
	w = Visitor{}
	w.UnmarshalBinary(state)
	m3.NewEvaluator().Observe(&w, evs[0])
	if w.Events() != 1 {
		t.Fatalf("events %d after a layout change", w.Events())
	}
}

func TestTimeHandling(t *testing.T) {
	m := Default()
	e := m.NewEvaluator()
	var v Visitor
	at := func(s string) { e.Observe(&v, event("page", "Home", 0, withTime(s))) }
	at("2026-11-28T10:00:00Z")
	at("2026-11-28T10:20:00Z")
	at("2026-11-28T09:00:00Z")      // late event: first_seen moves back, no session
	at("not a time")                // counts as the last minute
	at("2026-11-28T11:00:30+01:00") // 10:00 UTC, other RFC 3339 forms work
	at("2026-11-28T10:50:00Z")      // 30 min after 10:20: a new session
	env := m.Env(&v)
	base := int(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC).Unix() / 60)
	if env["first_seen"] != base-60 || env["last_seen"] != base+50 || env["sessions"] != 2 || env["events"] != 6 {
		t.Fatalf("env %v", env)
	}
	// The fast parser agrees with the time package.
	r := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		tm := time.Unix(r.Int64N(400*365*86400)-50*365*86400, 0).UTC()
		s := tm.Format(time.RFC3339)
		got, ok := fastMinute(s)
		want := tm.Unix() / 60
		if tm.Unix() < 0 && tm.Unix()%60 != 0 {
			want--
		}
		if !ok || got != want {
			t.Fatalf("%s: %d %v, want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"2026-02-29T10:00:00Z", "2026-13-01T10:00:00Z", "2026-11-28T24:00:00Z", "2026-11-28T10:00:00", "2026-11-28 10:00:00Z"} {
		if _, ok := fastMinute(s); ok {
			t.Errorf("%s parsed", s)
		}
	}
	if weekday(int64(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).Unix()/60)) != 0 {
		t.Error("2026-11-29 is a Sunday")
	}
}

func TestCampaignClipped(t *testing.T) {
	m := Default()
	e := m.NewEvaluator()
	var v Visitor
	long := strings.Repeat("é", 40) // 80 bytes
	e.Observe(&v, event("page", "Home", 0, withCampaign(long, "cpc\xff", "")))
	if len(v.campaignSource) > MaxCampaignLen || !utf8ValidAll(v.campaignSource, v.campaignMedium) {
		t.Fatalf("campaign %q %q", v.campaignSource, v.campaignMedium)
	}
	var w Visitor
	if err := w.UnmarshalBinary(encode(t, &v)); err != nil || !sameVisitor(&v, &w) {
		t.Fatalf("round trip: %v", err)
	}
}

func utf8ValidAll(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

func TestStoredPersonaOutOfRange(t *testing.T) {
	m := Default()
	e := m.NewEvaluator()
	var v Visitor
	ev := event("page", "Home", 0)
	e.Apply(&v, ev)
	b := encode(t, &v)
	b[5] = MaxPersonas // persona+1 byte: valid for the encoding, not for this model
	var w Visitor
	if err := w.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if from, to := e.Apply(&w, ev); from != -1 || to != m.Default {
		t.Fatalf("from %d to %d", from, to)
	}
}
