package privacy

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/schemas"
)

func TestVisitorThreshold(t *testing.T) {
	for _, tc := range []struct {
		k    int
		want int64
	}{
		{2, 3}, {5, 6}, {10, 11}, {41, 42}, {42, 44}, {100, 103}, {1000, 1025}, {10000, 10243},
		{1, 3}, {0, 3}, {-7, 3}, // raised to MinK, never weaker
	} {
		if got := VisitorThreshold(tc.k); got != tc.want {
			t.Errorf("VisitorThreshold(%d) = %d, want %d", tc.k, got, tc.want)
		}
	}
	// Always above k and at least k·(1+3·0.0081).
	for k := 2; k <= 100000; k++ {
		thr := VisitorThreshold(k)
		if thr <= int64(k) || float64(thr) < float64(k)*(1+3*HLLStdErr)-1e-9 || float64(thr-1) >= float64(k)*(1+3*HLLStdErr) {
			t.Fatalf("VisitorThreshold(%d) = %d is not ⌈k·1.0243⌉", k, thr)
		}
	}
}

func TestValidateK(t *testing.T) {
	for _, k := range []int{-1, 0, 1} {
		if err := ValidateK(k); err == nil {
			t.Errorf("ValidateK(%d) accepted", k)
		}
	}
	for _, k := range []int{2, 100} {
		if err := ValidateK(k); err != nil {
			t.Errorf("ValidateK(%d): %v", k, err)
		}
	}
}

func full(visitors int64) aggregate.PersonaFigures {
	return aggregate.PersonaFigures{
		Persona:    "researcher",
		Visitors:   visitors,
		Events:     visitors * 10,
		ByType:     map[string]int64{"page": visitors * 7, "track": visitors * 3},
		ByCategory: map[string]int64{"electronics": visitors * 4, "books": visitors * 2},
		Entered:    visitors,
		Left:       visitors,
	}
}

func TestGateBoundary(t *testing.T) {
	for _, k := range []int{2, 10, 100, 1000} {
		thr := VisitorThreshold(k)
		// k-1 and everything up to the margin-adjusted boundary is never
		// published, k itself only when the margin allows it.
		for _, v := range []int64{0, 1, int64(k) - 1, int64(k), thr - 1} {
			got := Gate(full(v), k, nil)
			if !got.Suppressed || got.Visitors != nil || got.Events != nil || got.ByType != nil || got.ByCategory != nil || got.Entered != nil || got.Left != nil || got.Noise != "" {
				t.Errorf("k=%d visitors=%d: published %+v", k, v, got)
			}
			if got.Persona != "researcher" {
				t.Errorf("k=%d: persona %q", k, got.Persona)
			}
		}
		got := Gate(full(thr), k, nil)
		if got.Suppressed || got.Visitors == nil || *got.Visitors != thr || *got.Events != thr*10 {
			t.Errorf("k=%d visitors=%d (threshold): not published: %+v", k, thr, got)
		}
		if got.Entered == nil || got.Left == nil {
			t.Errorf("k=%d: flows at the threshold not published", k)
		}
	}
}

func TestSuppressedJSONHasNoCounts(t *testing.T) {
	got := Gate(full(99), 100, GeometricWith(1, rand.NewPCG(1, 2)))
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"persona":"researcher","suppressed":true}` {
		t.Fatalf("suppressed figures encode as %s", b)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(schemas.FiguresSchema, doc); err != nil {
		t.Fatal(err)
	}
}

func TestGateBuckets(t *testing.T) {
	const k = 100
	f := aggregate.PersonaFigures{
		Persona:  "tech_enthusiast",
		Visitors: 500, Events: 5000,
		ByType: map[string]int64{"page": 3000, "track": 1900, "identify": 99, "screen": 1, "alias": 0},
		// dropped: toys (3) → 3 < k, so the smallest kept (books 150) goes
		// too; then dropped is 153 ≥ k.
		ByCategory: map[string]int64{"electronics": 2000, "books": 150, "home": 400, "toys": 3},
		Entered:    102, // below the visitor threshold 103
		Left:       103,
	}
	got := Gate(f, k, None)
	if want := map[string]int64{"page": 3000, "track": 1900}; !reflect.DeepEqual(got.ByType, want) {
		// identify+screen = 100 ≥ k: no complementary suppression needed.
		t.Errorf("by_type = %v, want %v", got.ByType, want)
	}
	if want := map[string]int64{"electronics": 2000, "home": 400}; !reflect.DeepEqual(got.ByCategory, want) {
		t.Errorf("by_category = %v, want %v", got.ByCategory, want)
	}
	if got.Entered != nil {
		t.Errorf("entered %d below the visitor threshold published", *got.Entered)
	}
	if got.Left == nil || *got.Left != 103 {
		t.Errorf("left = %v, want 103", got.Left)
	}
	if got.Noise != "" {
		t.Errorf("noise label %q without noise", got.Noise)
	}
}

func TestGateBucketsComplementary(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]int64
		want map[string]int64
	}{
		{"all kept", map[string]int64{"a": 100, "b": 200}, map[string]int64{"a": 100, "b": 200}},
		{"zero is not a crowd", map[string]int64{"a": 100, "b": 0}, map[string]int64{"a": 100}},
		{"one small dropped, smallest kept goes too", map[string]int64{"a": 100, "b": 300, "c": 5}, map[string]int64{"b": 300}},
		{"ties by name", map[string]int64{"a": 100, "b": 100, "c": 5}, map[string]int64{"b": 100}},
		{"dropped adds up to k", map[string]int64{"a": 1000, "b": 60, "c": 40}, map[string]int64{"a": 1000}},
		{"only one kept and a small one: nothing left", map[string]int64{"a": 1000, "c": 5}, nil},
		{"all small", map[string]int64{"a": 5, "b": 6}, nil},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gateBuckets(tc.in, 100); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("gateBuckets(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestGateFlows(t *testing.T) {
	flows := map[aggregate.FlowKey]int64{
		{From: "researcher", To: "loyal_buyer"}:        103,
		{From: "casual_browser", To: "researcher"}:     500,
		{From: "casual_browser", To: "gift_shopper"}:   102,
		{From: "casual_browser", To: "casual_browser"}: 900,
		{From: "cart_abandoner", To: "loyal_buyer"}:    99,
	}
	got := GateFlows(flows, 100, nil)
	want := []schemas.Flow{
		{From: "casual_browser", To: "researcher", Visitors: 500},
		{From: "researcher", To: "loyal_buyer", Visitors: 103},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GateFlows = %v, want %v", got, want)
	}
	for i := 0; i < 20; i++ { // map order must not matter
		if again := GateFlows(flows, 100, nil); !reflect.DeepEqual(again, want) {
			t.Fatalf("GateFlows not deterministic: %v", again)
		}
	}
	if got := GateFlows(nil, 100, nil); got != nil {
		t.Fatalf("GateFlows(nil) = %v", got)
	}
}

func TestGateWindowFlowComplement(t *testing.T) {
	w := &aggregate.WindowFigures{
		Personas: map[string]*aggregate.PersonaFigures{
			"loyal_buyer":    {Visitors: 2000, Events: 9000, Entered: 300, Left: 250},
			"researcher":     {Visitors: 1000, Events: 9000, Entered: 400, Left: 310},
			"cart_abandoner": {Visitors: 50, Events: 200},
			"gone":           nil,
		},
		Flows: map[aggregate.FlowKey]int64{
			// Into loyal_buyer: 290 published + 10 withheld: entered − flows
			// would give the 10 away, so entered is withheld.
			{From: "researcher", To: "loyal_buyer"}:     290,
			{From: "cart_abandoner", To: "loyal_buyer"}: 10,
			// Into researcher: two withheld flows adding up to 200 ≥ 103.
			{From: "casual_browser", To: "researcher"}: 100,
			{From: "gift_shopper", To: "researcher"}:   100,
		},
		Bots: 99,
	}
	got := GateWindow(w, 100, nil)
	lb := got.Personas["loyal_buyer"]
	if lb.Entered != nil {
		t.Errorf("loyal_buyer entered published although one small flow into it is withheld")
	}
	if lb.Left == nil || *lb.Left != 250 {
		t.Errorf("loyal_buyer left = %v", lb.Left)
	}
	r := got.Personas["researcher"]
	if r.Entered == nil || *r.Entered != 400 {
		t.Errorf("researcher entered = %v, want 400", r.Entered)
	}
	// researcher → loyal_buyer is published, nothing else flows out of
	// researcher: left stays.
	if r.Left == nil || *r.Left != 310 {
		t.Errorf("researcher left = %v, want 310", r.Left)
	}
	if !got.Personas["cart_abandoner"].Suppressed || !got.Personas["gone"].Suppressed {
		t.Errorf("small or nil personas published")
	}
	if got.Personas["researcher"].Persona != "researcher" {
		t.Errorf("persona name not filled from the map key")
	}
	if len(got.Flows) != 1 || got.Flows[0] != (schemas.Flow{From: "researcher", To: "loyal_buyer", Visitors: 290}) {
		t.Errorf("flows = %v", got.Flows)
	}
	if got.Bots != nil {
		t.Errorf("bots %d below k published", *got.Bots)
	}
	if f := got.Figures("nobody"); !f.Suppressed || f.Persona != "nobody" {
		t.Errorf("unknown persona not suppressed: %+v", f)
	}
	var nilW *Window
	if f := nilW.Figures("x"); !f.Suppressed {
		t.Errorf("nil window published")
	}
}

// Noise never decides: with any amount of noise, publish or suppress
// follows the true estimate, and what is published is never below k.
func TestNoiseAfterDecision(t *testing.T) {
	src := rand.NewPCG(7, 7)
	noisers := []Noiser{LaplaceWith(0.05, src), GeometricWith(0.05, src)}
	for _, n := range noisers {
		for i := 0; i < 2000; i++ {
			v := int64(90 + i%30)
			f := full(v)
			f.ByCategory["toys"] = 99
			got := Gate(f, 100, n)
			if got.Suppressed != (v < 103) {
				t.Fatalf("%s: visitors %d: suppressed=%v", n.Label(), v, got.Suppressed)
			}
			if got.Suppressed {
				continue
			}
			if got.Noise != n.Label() || !strings.Contains(got.Noise, "epsilon=0.05") {
				t.Fatalf("noise label %q", got.Noise)
			}
			if _, ok := got.ByCategory["toys"]; ok {
				t.Fatalf("bucket below k published under noise")
			}
			counts := []int64{*got.Visitors, *got.Events, *got.Entered, *got.Left}
			for _, m := range []map[string]int64{got.ByType, got.ByCategory} {
				for _, c := range m {
					counts = append(counts, c)
				}
			}
			for _, c := range counts {
				if c < 100 {
					t.Fatalf("%s: published count %d below k", n.Label(), c)
				}
			}
		}
	}
}

func TestGatedFiguresValidate(t *testing.T) {
	for _, n := range []Noiser{nil, None, GeometricWith(1, rand.NewPCG(1, 1)), LaplaceWith(1, rand.NewPCG(1, 1))} {
		for _, v := range []int64{10, 103, 5000} {
			b, _ := json.Marshal(Gate(full(v), 100, n))
			if err := schemas.ValidateJSON(schemas.FiguresSchema, b); err != nil {
				t.Errorf("%s: %v", b, err)
			}
		}
	}
}
