package segment

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/schemas"
)

const k = 100

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// surge is one segment in the style of electronics_surge.
const surge = `
version: test-1
segments:
  - name: electronics_surge
    window: 1h
    personas: [tech_enthusiast, researcher]
    enter: share("electronics") > 0.30 && visitors >= 200
    exit:  share("electronics") < 0.25 || visitors < 150
    min_dwell: 10m
`

func mustParse(t testing.TB, y string) *Config {
	t.Helper()
	c, err := Parse([]byte(y), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// window builds 1h figures with one persona of v visitors, 10 events each,
// electronics taking share of the events.
func window(persona string, v int64, share float64) map[time.Duration]*aggregate.WindowFigures {
	ev := v * 10
	el := int64(float64(ev) * share)
	return map[time.Duration]*aggregate.WindowFigures{time.Hour: {
		Window: time.Hour, Start: t0.Add(-time.Hour), End: t0,
		Personas: map[string]*aggregate.PersonaFigures{persona: {
			Persona: persona, Visitors: v, Events: ev,
			ByType:     map[string]int64{"page": ev},
			ByCategory: map[string]int64{"electronics": el, "books": ev - el},
		}},
	}}
}

type tick struct {
	at       time.Duration // after t0
	visitors int64
	share    float64
	want     string // "" (no change), "entered", "exited"
	reason   string
}

func TestStateMachine(t *testing.T) {
	cfg := mustParse(t, surge)
	const p = "tech_enthusiast"
	for _, tc := range []struct {
		name  string
		ticks []tick
	}{
		{"enter, stay, exit", []tick{
			{0, 500, 0.20, "", ""},
			{time.Minute, 500, 0.31, "entered", ReasonEnter},
			{20 * time.Minute, 500, 0.35, "", ""},
			{40 * time.Minute, 500, 0.24, "exited", ReasonExit},
			{41 * time.Minute, 500, 0.20, "", ""},
		}},
		{"hysteresis: no flapping around the enter threshold", []tick{
			{0, 500, 0.31, "entered", ReasonEnter},
			{11 * time.Minute, 500, 0.29, "", ""},
			{12 * time.Minute, 500, 0.31, "", ""},
			{13 * time.Minute, 500, 0.26, "", ""},
			{14 * time.Minute, 500, 0.30, "", ""},
			{15 * time.Minute, 500, 0.25, "", ""}, // < 0.25 exits, 0.25 does not
			{16 * time.Minute, 500, 0.249, "exited", ReasonExit},
			{30 * time.Minute, 500, 0.29, "", ""},
			{31 * time.Minute, 500, 0.30, "", ""}, // > 0.30 enters, 0.30 does not
			{32 * time.Minute, 500, 0.301, "entered", ReasonEnter},
		}},
		{"hysteresis on visitors", []tick{
			{0, 250, 0.4, "entered", ReasonEnter},
			{20 * time.Minute, 180, 0.4, "", ""},
			{21 * time.Minute, 149, 0.4, "exited", ReasonExit},
			{40 * time.Minute, 199, 0.4, "", ""},
			{41 * time.Minute, 200, 0.4, "entered", ReasonEnter},
		}},
		{"dwell blocks a quick reversal", []tick{
			{0, 500, 0.40, "entered", ReasonEnter},
			{5 * time.Minute, 500, 0.10, "", ""},
			{9*time.Minute + 59*time.Second, 500, 0.10, "", ""},
			{10 * time.Minute, 500, 0.10, "exited", ReasonExit},
			{11 * time.Minute, 500, 0.40, "", ""},
			{20 * time.Minute, 500, 0.40, "entered", ReasonEnter},
		}},
		{"below k never enters", []tick{
			// 102 visitors: below the margin-adjusted threshold 103 for k=100;
			// the conditions are not even looked at (visitors >= 200 aside,
			// share alone would qualify).
			{0, 102, 0.9, "", ""},
			{time.Hour, 50, 0.9, "", ""},
		}},
		{"below k exits at once, dwell notwithstanding", []tick{
			{0, 500, 0.5, "entered", ReasonEnter},
			{time.Minute, 102, 0.5, "exited", ReasonBelowK},
			{2 * time.Minute, 500, 0.5, "", ""}, // dwell holds the re-entry
			{11 * time.Minute, 500, 0.5, "entered", ReasonEnter},
		}},
		{"persona missing from the figures is below k", []tick{
			{0, 500, 0.5, "entered", ReasonEnter},
			{time.Minute, -1, 0, "exited", ReasonBelowK},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			states := map[Key]State{}
			var seq int64
			for i, tk := range tc.ticks {
				cur := window(p, tk.visitors, tk.share)
				if tk.visitors < 0 {
					cur = window("researcher", 500, 0.5)
				}
				res, err := Evaluate(cfg, states, Input{Now: t0.Add(tk.at), K: k, Current: cur})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Errors) > 0 {
					t.Fatalf("tick %d: errors %v", i, res.Errors)
				}
				var got []Change
				for _, c := range res.Changes {
					if c.Persona == p {
						got = append(got, c)
					}
				}
				if tk.want == "" {
					if len(got) != 0 {
						t.Fatalf("tick %d (%v, v=%d, share=%g): unexpected %+v", i, tk.at, tk.visitors, tk.share, got)
					}
				} else {
					if len(got) != 1 || got[0].Type != "segment."+tk.want || got[0].Reason != tk.reason {
						t.Fatalf("tick %d (%v, v=%d, share=%g): got %+v, want %s (%s)", i, tk.at, tk.visitors, tk.share, got, tk.want, tk.reason)
					}
					seq++
					c := got[0]
					if c.Seq != seq || c.At != t0.Add(tk.at) || c.Window != time.Hour || c.Segment != "electronics_surge" {
						t.Fatalf("tick %d: change %+v, want seq %d", i, c, seq)
					}
					st := res.States[c.Key()]
					if st.Seq != seq || st.In != (tk.want == "entered") || !st.Since.Equal(c.At) {
						t.Fatalf("tick %d: state %+v", i, st)
					}
				}
				states = res.States
			}
		})
	}
}

func TestEvaluateDoesNotModifyInputAndIsDeterministic(t *testing.T) {
	cfg, err := Default(testOpts)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Now: t0, K: k, Current: fullWindows(t0, 1), Previous: fullWindows(t0.Add(-time.Hour), 0.5), Personas: testPersonas}
	states := map[Key]State{{Segment: "electronics_surge", Persona: "researcher"}: {In: true, Since: t0.Add(-time.Hour), Seq: 1}}
	before := maps.Clone(states)
	r1, err := Evaluate(cfg, states, in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(states, before) {
		t.Fatal("Evaluate modified its input states")
	}
	for i := 0; i < 10; i++ {
		r2, _ := Evaluate(cfg, states, in)
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("not deterministic:\n%+v\n%+v", r1.Changes, r2.Changes)
		}
	}
	if len(r1.Changes) == 0 {
		t.Fatal("default segments found nothing in rich figures")
	}
	for _, c := range r1.Changes {
		t.Logf("%s %s %s (%s)", c.Type, c.Segment, c.Persona, c.Reason)
	}
}

// fullWindows builds all three windows with every persona; scale multiplies
// the visitor counts (growth).
func fullWindows(end time.Time, scale float64) map[time.Duration]*aggregate.WindowFigures {
	out := map[time.Duration]*aggregate.WindowFigures{}
	for _, w := range testWindows {
		wf := &aggregate.WindowFigures{Window: w, Start: end.Add(-w), End: end, Personas: map[string]*aggregate.PersonaFigures{},
			Flows: map[aggregate.FlowKey]int64{{From: "casual_browser", To: "researcher"}: int64(300 * scale)}, Bots: 1000}
		for i, p := range testPersonas {
			v := int64(float64(200+100*i) * scale * float64(w/(5*time.Minute)) / 4)
			v = min(v, 50000)
			ev := v * int64(8+i)
			wf.Personas[p] = &aggregate.PersonaFigures{
				Persona: p, Visitors: v, Events: ev,
				ByType: map[string]int64{"page": ev * 6 / 10, "track": ev * 4 / 10},
				ByCategory: map[string]int64{
					"electronics": ev * int64(10+3*i) / 100, "fashion": ev * int64(30-2*i) / 100,
					"garden": ev * int64(5+3*i) / 100, "beauty": ev / 10, "toys": 7,
				},
				Entered: v / 4, Left: v / 5,
			}
		}
		out[w] = wf
	}
	return out
}

func TestMissingWindowHoldsState(t *testing.T) {
	cfg := mustParse(t, surge)
	key := Key{Segment: "electronics_surge", Persona: "researcher"}
	states := map[Key]State{key: {In: true, Since: t0.Add(-time.Hour), Seq: 1}}
	res, err := Evaluate(cfg, states, Input{Now: t0, K: k, Current: map[time.Duration]*aggregate.WindowFigures{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 0 || res.States[key] != states[key] {
		t.Fatalf("state changed without data: %+v", res)
	}
}

func TestNotTargetedExits(t *testing.T) {
	cfg := mustParse(t, surge)
	key := Key{Segment: "electronics_surge", Persona: "loyal_buyer"}
	states := map[Key]State{key: {In: true, Since: t0.Add(-time.Minute), Seq: 3}}
	res, err := Evaluate(cfg, states, Input{Now: t0, K: k, Current: window("loyal_buyer", 1000, 0.9)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Reason != ReasonNotTargeted || res.Changes[0].Seq != 4 || res.Changes[0].Type != schemas.SegmentExited {
		t.Fatalf("changes %+v", res.Changes)
	}
	// Out and not targeted: nothing happens.
	res, _ = Evaluate(cfg, res.States, Input{Now: t0.Add(time.Hour), K: k, Current: window("loyal_buyer", 1000, 0.9)})
	if len(res.Changes) != 0 {
		t.Fatalf("changes %+v", res.Changes)
	}
}

func TestAllPersonasAndOrphans(t *testing.T) {
	cfg := mustParse(t, `
version: v
segments:
  - {name: big, window: 1h, enter: visitors >= 1000, exit: visitors < 800}
`)
	cur := window("researcher", 2000, 0.1)
	cur[time.Hour].Personas["loyal_buyer"] = &aggregate.PersonaFigures{Visitors: 900, Events: 9000}
	states := map[Key]State{
		{Segment: "big", Persona: "gift_shopper"}: {In: true, Since: t0.Add(-time.Hour), Seq: 1}, // no figures: below k
		{Segment: "gone", Persona: "researcher"}:  {In: true, Since: t0.Add(-time.Hour), Seq: 5},
		{Segment: "gone", Persona: "loyal_buyer"}: {In: false, Since: t0.Add(-time.Hour), Seq: 6},
	}
	res, err := Evaluate(cfg, states, Input{Now: t0, K: k, Current: cur, Personas: testPersonas})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range res.Changes {
		got = append(got, c.Persona+":"+c.Type+":"+c.Reason)
	}
	want := []string{"gift_shopper:segment.exited:below_k", "researcher:segment.entered:enter"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if res.States[Key{"gone", "researcher"}] != states[Key{"gone", "researcher"}] {
		t.Error("orphaned state not kept")
	}
	if o := Orphans(cfg, res.States); len(o) != 1 || o[0] != (Key{"gone", "researcher"}) {
		t.Errorf("orphans %v", o)
	}
}

func TestEnvGatedAndGrowth(t *testing.T) {
	cur := fullWindows(t0, 1)[time.Hour]
	prev := fullWindows(t0.Add(-time.Hour), 0.5)[time.Hour]
	curV := newView(gated(cur))
	prevV := newView(gated(prev))
	e := newEnv("researcher", curV, prevV, k, t0)
	if e == nil {
		t.Fatal("researcher not publishable")
	}
	f := cur.Personas["researcher"]
	if e.Visitors != f.Visitors || e.Events != f.Events || e.K != k || e.Window != "1h" || e.Hour != 12 || e.Month != 11 || e.Weekday != int(time.Friday) {
		t.Errorf("env %+v", e)
	}
	if _, ok := e.ByCategory["toys"]; ok || e.Share("toys") != 0 {
		t.Error("a bucket below k is visible to conditions")
	}
	if got, want := e.Share("electronics"), float64(f.ByCategory["electronics"])/float64(f.Events); got != want {
		t.Errorf("share = %g, want %g", got, want)
	}
	if e.TypeShare("track") == 0 || e.PrevShare("electronics") == 0 || e.PrevTypeShare("page") == 0 {
		t.Error("share functions are 0")
	}
	if e.FlowsIn["casual_browser"] != 300 || len(e.FlowsOut) != 0 {
		t.Errorf("flows in %v out %v", e.FlowsIn, e.FlowsOut)
	}
	wantG := float64(e.Visitors-e.Prev.Visitors) / float64(e.Prev.Visitors)
	if e.Prev.Suppressed || e.Growth != wantG || e.Growth < 0.9 {
		t.Errorf("growth %g, want %g (prev %+v)", e.Growth, wantG, e.Prev)
	}
	if e.TotalVisitors <= e.Visitors || e.VisitorShare != float64(e.Visitors)/float64(e.TotalVisitors) {
		t.Errorf("totals %d share %g", e.TotalVisitors, e.VisitorShare)
	}
	// No previous figures: growth 0 and prev suppressed.
	e = newEnv("researcher", curV, nil, k, t0)
	if !e.Prev.Suppressed || e.Growth != 0 || e.Prev.Visitors != 0 || e.PrevShare("electronics") != 0 {
		t.Errorf("env without prev: %+v", e.Prev)
	}
	// Previous window below k: the same.
	prev.Personas["researcher"].Visitors = 50
	e = newEnv("researcher", curV, newView(gated(prev)), k, t0)
	if !e.Prev.Suppressed || e.Growth != 0 {
		t.Errorf("env with prev below k: growth %g prev %+v", e.Growth, e.Prev)
	}
	if newEnv("nobody", curV, prevV, k, t0) != nil {
		t.Error("env for a persona without figures")
	}
}

func TestRuntimeErrorHoldsState(t *testing.T) {
	cfg := mustParse(t, `
version: v
segments:
  - {name: broken, window: 1h, enter: '[1][visitors] > 0', exit: visitors < 1}
`)
	res, err := Evaluate(cfg, nil, Input{Now: t0, K: k, Current: window("researcher", 500, 0.5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 0 || len(res.Errors) != 1 {
		t.Fatalf("changes %v errors %v", res.Changes, res.Errors)
	}
	e := res.Errors[0]
	if e.Segment != "broken" || e.Persona != "researcher" || e.Side != "enter" || !strings.Contains(e.Error(), "segment broken enter for persona researcher") {
		t.Errorf("error %v", e)
	}
}

func TestEvaluateInput(t *testing.T) {
	cfg := mustParse(t, surge)
	if _, err := Evaluate(cfg, nil, Input{Now: t0, K: 1}); err == nil {
		t.Error("k=1 accepted")
	}
	if _, err := Evaluate(nil, nil, Input{Now: t0, K: k}); err == nil {
		t.Error("nil config accepted")
	}
	cur := window("Not-A-Name", 500, 0.5)
	c2 := mustParse(t, "version: v\nsegments:\n  - {name: s, window: 1h, enter: visitors > 1, exit: visitors < 1}\n")
	res, err := Evaluate(c2, nil, Input{Now: t0, K: k, Current: cur})
	if err != nil || len(res.Changes) != 0 || len(res.Errors) != 1 || strings.Contains(res.Errors[0].Error(), "Not-A-Name") {
		t.Errorf("bad persona name: %v %+v", err, res)
	}
}

func TestKeyAndStateSerialise(t *testing.T) {
	k1 := Key{Segment: "electronics_surge", Persona: "researcher"}
	k2, err := ParseKey(k1.String())
	if err != nil || k2 != k1 {
		t.Fatalf("ParseKey(%q) = %v, %v", k1.String(), k2, err)
	}
	for _, bad := range []string{"", "a", "a/", "/b", "a/b/c", "A/b"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	st := State{In: true, Since: t0, Seq: 7}
	b, _ := json.Marshal(st)
	if string(b) != `{"in":true,"since":"2026-11-20T12:00:00Z","seq":7}` {
		t.Errorf("state JSON %s", b)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil || back != st {
		t.Errorf("round trip %+v %v", back, err)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	cfg, err := Default(testOpts)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Now: t0, K: k, Current: fullWindows(t0, 1), Previous: fullWindows(t0.Add(-time.Hour), 0.8), Personas: testPersonas}
	states := map[Key]State{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(cfg, states, in); err != nil {
			b.Fatal(err)
		}
	}
}

func gated(w *aggregate.WindowFigures) *privacy.Window {
	g := privacy.GateWindow(w, k, privacy.None)
	return &g
}
