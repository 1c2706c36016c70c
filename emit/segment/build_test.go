package segment

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/schemas"
)

func TestFormatWindow(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Minute, "5m"}, {time.Hour, "1h"}, {24 * time.Hour, "24h"},
		{90 * time.Minute, "1h30m"}, {90 * time.Second, "1m30s"}, {30 * time.Second, "30s"},
		{time.Hour + 30*time.Second, "1h0m30s"}, {10 * time.Minute, "10m"}, {0, "0s"},
		{1500 * time.Millisecond, "1.5s"}, {168 * time.Hour, "168h"},
	} {
		got := FormatWindow(tc.d)
		if got != tc.want {
			t.Errorf("FormatWindow(%v) = %q, want %q", tc.d, got, tc.want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != tc.d {
			t.Errorf("%q does not parse back to %v", got, tc.d)
		}
	}
}

func TestEventIDs(t *testing.T) {
	a := EventID("electronics_surge", "researcher", 1, schemas.SegmentEntered)
	// Golden value: changing it changes every id consumers deduplicate by.
	if a != "ad4366e7-baca-5784-9e39-39717d6d59c5" {
		t.Fatalf("EventID golden value changed: %s", a)
	}
	u, err := uuid.Parse(a)
	if err != nil || u.Version() != 5 {
		t.Fatalf("%q is not a UUIDv5", a)
	}
	for i := 0; i < 3; i++ {
		if EventID("electronics_surge", "researcher", 1, schemas.SegmentEntered) != a {
			t.Fatal("EventID not stable")
		}
	}
	seen := map[string]bool{a: true}
	for _, other := range []string{
		EventID("electronics_surge", "researcher", 2, schemas.SegmentEntered),
		EventID("electronics_surge", "researcher", 1, schemas.SegmentExited),
		EventID("electronics_surge", "tech_enthusiast", 1, schemas.SegmentEntered),
		EventID("electronics_surg", "eresearcher", 1, schemas.SegmentEntered),
		EventID("gift_season", "researcher", 1, schemas.SegmentEntered),
	} {
		if seen[other] {
			t.Fatalf("id collision %s", other)
		}
		seen[other] = true
	}
	c := Change{Segment: "electronics_surge", Persona: "researcher", Seq: 1, Type: schemas.SegmentEntered}
	if c.EventID() != a {
		t.Fatal("Change.EventID differs from EventID")
	}
	if Namespace != uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://schemas.personas.dev/emit")) {
		t.Fatal("namespace changed")
	}

	s1 := SnapshotID(time.Hour, t0.Add(10*time.Second), time.Minute)
	if s2 := SnapshotID(time.Hour, t0.Add(59*time.Second), time.Minute); s2 != s1 {
		t.Error("snapshot ids differ within one period")
	}
	if s3 := SnapshotID(time.Hour, t0.Add(61*time.Second), time.Minute); s3 == s1 {
		t.Error("snapshot ids equal across periods")
	}
	if s4 := SnapshotID(5*time.Minute, t0.Add(10*time.Second), time.Minute); s4 == s1 {
		t.Error("snapshot ids equal across windows")
	}
	if SnapshotID(time.Hour, t0.In(time.FixedZone("x", 3600)), 0) != SnapshotID(time.Hour, t0, 0) {
		t.Error("snapshot id depends on the time zone")
	}
}

var meta = Meta{ModelVersion: "webshop-2026.11", SegmentsVersion: "webshop-segments-2026.11", K: k, Epoch: 20412}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// An evaluation end to end: evaluate, gate with noise once, build the
// events and snapshots, and check every one against its JSON Schema.
func TestBuiltEventsValidate(t *testing.T) {
	cfg, err := Default(testOpts)
	if err != nil {
		t.Fatal(err)
	}
	cur := fullWindows(t0, 1)
	cur[time.Hour].Personas["loyal_buyer"].Visitors = 50 // suppressed
	states := map[Key]State{{Segment: "deep_research", Persona: "researcher"}: {In: true, Since: t0.Add(-time.Hour), Seq: 1}}
	// researcher falls below k in 1h: deep_research exits with suppressed figures.
	cur[time.Hour].Personas["researcher"].Visitors = 10
	res, err := Evaluate(cfg, states, Input{Now: t0, K: k, Current: cur, Previous: fullWindows(t0.Add(-time.Hour), 0.5), Personas: testPersonas})
	if err != nil {
		t.Fatal(err)
	}
	for _, noise := range []privacy.Noiser{privacy.None, privacy.GeometricWith(1, rand.NewPCG(1, 2)), privacy.LaplaceWith(0.5, rand.NewPCG(3, 4))} {
		pub := map[time.Duration]*privacy.Window{}
		for w, f := range cur {
			g := privacy.GateWindow(f, k, noise)
			pub[w] = &g
		}
		sawSuppressedExit := false
		for _, c := range res.Changes {
			ev, err := BuildChange(c, pub[c.Window], meta)
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas.Validate(schemas.SegmentChangeSchema, roundTrip(t, ev)); err != nil {
				t.Fatalf("%s %s/%s: %v", ev.Type, ev.Segment, ev.Persona, err)
			}
			if ev.EventID != c.EventID() || ev.Sequence != c.Seq || ev.K != k || ev.Window != FormatWindow(c.Window) ||
				ev.EvaluatedAt != "2026-11-20T12:00:00Z" || ev.SegmentsVersion != meta.SegmentsVersion {
				t.Errorf("event %+v", ev)
			}
			if c.Reason == ReasonBelowK {
				sawSuppressedExit = true
				b, _ := json.Marshal(ev.Figures)
				if string(b) != `{"persona":"researcher","suppressed":true}` {
					t.Errorf("below-k exit carries %s", b)
				}
				if ev.Sequence != 2 || ev.Type != schemas.SegmentExited {
					t.Errorf("below-k exit %+v", ev)
				}
			} else if ev.Figures.Suppressed {
				t.Errorf("%s for a suppressed persona", ev.Type)
			}
			if noise != privacy.None && !ev.Figures.Suppressed && ev.Figures.Noise == "" {
				t.Error("noise not labelled")
			}
		}
		if !sawSuppressedExit {
			t.Error("no below-k exit")
		}
		for _, w := range testWindows {
			snap, err := BuildSnapshot(pub[w], meta, t0.Add(7*time.Second), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas.Validate(schemas.SnapshotSchema, roundTrip(t, snap)); err != nil {
				t.Fatalf("snapshot %s: %v", snap.Window, err)
			}
			if len(snap.Personas) != len(testPersonas) || snap.EventID != SnapshotID(w, t0, time.Minute) {
				t.Errorf("snapshot %+v", snap)
			}
			for i := 1; i < len(snap.Personas); i++ {
				if snap.Personas[i-1].Persona >= snap.Personas[i].Persona {
					t.Error("snapshot personas not sorted")
				}
			}
			if w == time.Hour {
				for _, f := range snap.Personas {
					if f.Persona == "loyal_buyer" && !f.Suppressed {
						t.Error("loyal_buyer below k in snapshot")
					}
				}
			}
			// No count below k anywhere in the document.
			checkNoSmallCounts(t, roundTrip(t, snap), "")
		}
	}
}

// checkNoSmallCounts walks a decoded document and fails on any count below
// k (k itself, sequence and epoch aside).
func checkNoSmallCounts(t *testing.T, v any, path string) {
	switch v := v.(type) {
	case map[string]any:
		for key, x := range v {
			if key == "k" || key == "epoch" || key == "sequence" {
				continue
			}
			checkNoSmallCounts(t, x, path+"/"+key)
		}
	case []any:
		for _, x := range v {
			checkNoSmallCounts(t, x, path+"/*")
		}
	case float64:
		if v < k {
			t.Errorf("count %v below k at %s", v, path)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	w := privacy.GateWindow(&aggregate.WindowFigures{Window: time.Hour, Start: t0.Add(-time.Hour), End: t0}, k, nil)
	good := Change{Segment: "s", Persona: "researcher", Window: time.Hour, Type: schemas.SegmentEntered, Seq: 1, At: t0}
	if _, err := BuildChange(good, &w, meta); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Change
		pub  *privacy.Window
		m    Meta
		want string
	}{
		{"k", good, &w, Meta{ModelVersion: "m", SegmentsVersion: "s", K: 1}, "k is 1"},
		{"epoch", good, &w, Meta{ModelVersion: "m", SegmentsVersion: "s", K: k, Epoch: -1}, "epoch"},
		{"model", good, &w, Meta{SegmentsVersion: "s", K: k}, "model version"},
		{"segments version", good, &w, Meta{ModelVersion: "m", K: k}, "segments version"},
		{"type", Change{Segment: "s", Persona: "p", Window: time.Hour, Type: "segment.moved", Seq: 1}, &w, meta, "change type"},
		{"seq", Change{Segment: "s", Persona: "p", Window: time.Hour, Type: schemas.SegmentExited}, &w, meta, "sequence 0"},
		{"no figures", good, nil, meta, "no gated figures"},
		{"window mismatch", Change{Segment: "s", Persona: "p", Window: 5 * time.Minute, Type: schemas.SegmentExited, Seq: 2}, &w, meta, "figures are for window 1h, the change for 5m"},
	} {
		if _, err := BuildChange(tc.c, tc.pub, tc.m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := BuildSnapshot(nil, meta, t0, time.Minute); err == nil {
		t.Error("snapshot without figures")
	}
	if _, err := BuildSnapshot(&w, Meta{K: 0}, t0, time.Minute); err == nil {
		t.Error("snapshot with k=0")
	}
	// An empty window is still a valid snapshot.
	snap, err := BuildSnapshot(&w, meta, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(schemas.SnapshotSchema, roundTrip(t, snap)); err != nil {
		t.Fatal(err)
	}
}
