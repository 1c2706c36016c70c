package segment

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/personas-dev/personas/emit/privacy"
)

// Env is what a condition sees for one persona in one window. Every figure
// in it has passed the k gate (without noise): a bucket, flow or entered/left
// count that would not be published reads as 0, so a segment decision, which
// is published, never depends on a figure describing fewer than k visitors.
// Conditions are only evaluated for a persona that is itself publishable.
type Env struct {
	Persona string `expr:"persona"`
	// Window is the window length, like "1h".
	Window string `expr:"window"`
	// K is the k in force.
	K int64 `expr:"k"`

	Visitors   int64            `expr:"visitors"`
	Events     int64            `expr:"events"`
	ByType     map[string]int64 `expr:"by_type"`
	ByCategory map[string]int64 `expr:"by_category"`
	Entered    int64            `expr:"entered"`
	Left       int64            `expr:"left"`
	// FlowsIn maps a persona to the visitors that moved from it into this
	// one; FlowsOut the other way. Only flows of at least k.
	FlowsIn  map[string]int64 `expr:"flows_in"`
	FlowsOut map[string]int64 `expr:"flows_out"`

	// TotalVisitors and TotalEvents sum the publishable personas of the
	// window; VisitorShare is Visitors / TotalVisitors (0 when there are
	// none).
	TotalVisitors int64   `expr:"total_visitors"`
	TotalEvents   int64   `expr:"total_events"`
	VisitorShare  float64 `expr:"visitor_share"`

	// Prev is the same persona over the previous window of the same length
	// (the window that ends where this one starts).
	Prev Prev `expr:"prev"`
	// Growth is (visitors - prev.visitors) / prev.visitors; 0 when
	// prev.visitors is 0 (suppressed or no data): no baseline, no growth.
	Growth float64 `expr:"growth"`

	// Hour (0-23), Weekday (0 = Sunday) and Month (1-12) of the evaluation
	// time, UTC.
	Hour    int `expr:"hour"`
	Weekday int `expr:"weekday"`
	Month   int `expr:"month"`

	// Share(c) is by_category[c] / events, TypeShare(t) by_type[t] / events;
	// PrevShare and PrevTypeShare the same over the previous window. 0 when
	// there are no events.
	Share         func(category string) float64 `expr:"share"`
	TypeShare     func(typ string) float64      `expr:"type_share"`
	PrevShare     func(category string) float64 `expr:"prev_share"`
	PrevTypeShare func(typ string) float64      `expr:"prev_type_share"`
}

// Prev is a persona's figures over the previous window.
type Prev struct {
	// Suppressed is true when the persona was below k in the previous
	// window or there are no figures for it; every count is then 0.
	Suppressed    bool             `expr:"suppressed"`
	Visitors      int64            `expr:"visitors"`
	Events        int64            `expr:"events"`
	ByType        map[string]int64 `expr:"by_type"`
	ByCategory    map[string]int64 `expr:"by_category"`
	Entered       int64            `expr:"entered"`
	Left          int64            `expr:"left"`
	TotalVisitors int64            `expr:"total_visitors"`
	VisitorShare  float64          `expr:"visitor_share"`
}

func ratio(n, d int64) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func totals(w *privacy.Window) (visitors, events int64) {
	if w == nil {
		return 0, 0
	}
	for _, f := range w.Personas {
		if !f.Suppressed {
			visitors += deref(f.Visitors)
			events += deref(f.Events)
		}
	}
	return visitors, events
}

// windowView is a gated window with its totals, computed once per
// evaluation.
type windowView struct {
	w                *privacy.Window
	visitors, events int64
}

func newView(w *privacy.Window) *windowView {
	if w == nil {
		return nil
	}
	v := &windowView{w: w}
	v.visitors, v.events = totals(w)
	return v
}

// newEnv builds the condition environment of persona from gated (noise-free)
// current and previous windows. It returns nil when the persona is not
// publishable in cur: its conditions are not evaluated.
func newEnv(persona string, cur, prev *windowView, k int, now time.Time) *Env {
	if cur == nil {
		return nil
	}
	f := cur.w.Figures(persona)
	if f.Suppressed {
		return nil
	}
	now = now.UTC()
	e := &Env{
		Persona:       persona,
		Window:        FormatWindow(cur.w.Length),
		K:             int64(k),
		Visitors:      deref(f.Visitors),
		Events:        deref(f.Events),
		ByType:        orEmpty(f.ByType),
		ByCategory:    orEmpty(f.ByCategory),
		Entered:       deref(f.Entered),
		Left:          deref(f.Left),
		FlowsIn:       map[string]int64{},
		FlowsOut:      map[string]int64{},
		TotalVisitors: cur.visitors,
		TotalEvents:   cur.events,
		Hour:          now.Hour(),
		Weekday:       int(now.Weekday()),
		Month:         int(now.Month()),
	}
	e.VisitorShare = ratio(e.Visitors, e.TotalVisitors)
	for _, fl := range cur.w.Flows {
		if fl.To == persona {
			e.FlowsIn[fl.From] = fl.Visitors
		}
		if fl.From == persona {
			e.FlowsOut[fl.To] = fl.Visitors
		}
	}
	e.Prev = Prev{Suppressed: true, ByType: map[string]int64{}, ByCategory: map[string]int64{}}
	if prev != nil {
		if pf := prev.w.Figures(persona); !pf.Suppressed {
			e.Prev = Prev{
				Visitors:      deref(pf.Visitors),
				Events:        deref(pf.Events),
				ByType:        orEmpty(pf.ByType),
				ByCategory:    orEmpty(pf.ByCategory),
				Entered:       deref(pf.Entered),
				Left:          deref(pf.Left),
				TotalVisitors: prev.visitors,
			}
			e.Prev.VisitorShare = ratio(e.Prev.Visitors, e.Prev.TotalVisitors)
		}
	}
	if e.Prev.Visitors > 0 {
		e.Growth = float64(e.Visitors-e.Prev.Visitors) / float64(e.Prev.Visitors)
	}
	e.bindFuncs()
	return e
}

func (e *Env) bindFuncs() {
	e.Share = func(c string) float64 { return ratio(e.ByCategory[c], e.Events) }
	e.TypeShare = func(t string) float64 { return ratio(e.ByType[t], e.Events) }
	e.PrevShare = func(c string) float64 { return ratio(e.Prev.ByCategory[c], e.Prev.Events) }
	e.PrevTypeShare = func(t string) float64 { return ratio(e.Prev.ByType[t], e.Prev.Events) }
}

func orEmpty(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// overlapWarnings probes a segment's conditions over a grid of plausible
// figures and warns when enter and exit can hold at once: the hysteresis band
// is inverted and the segment would flip every min_dwell while the figures
// stand still. The probe gives every category and type the same share, so
// conditions that compare two categories can be flagged wrongly; that is why
// this is a warning, not an error.
func overlapWarnings(s *Segment) []string {
	visitors := []int64{110, 150, 200, 300, 500, 1000, 5000, 50000}
	shares := []float64{0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.75, 0.9, 1}
	growths := []float64{-0.9, -0.5, -0.2, 0, 0.1, 0.2, 0.3, 0.5, 1, 2, 5}
	for _, v := range visitors {
		for _, sh := range shares {
			for _, g := range growths {
				e := probeEnv(v, sh, g)
				in, err1 := expr.Run(s.enter, e)
				out, err2 := expr.Run(s.exit, e)
				if err1 == nil && err2 == nil && in == true && out == true {
					return []string{fmt.Sprintf(
						"segment %s: enter and exit both hold for visitors=%d, every share=%g, growth=%g; "+
							"the segment would be entered and left again every min_dwell. Make exit the stricter opposite of enter",
						s.Name, v, sh, g)}
				}
			}
		}
	}
	return nil
}

func probeEnv(v int64, share, growth float64) *Env {
	events := v * 8
	total := int64(float64(v) / max(share, 0.01))
	prevV := int64(float64(v) / (1 + growth))
	e := &Env{
		Persona: "probe", Window: "1h", K: 100,
		Visitors: v, Events: events,
		ByType: map[string]int64{}, ByCategory: map[string]int64{},
		Entered: int64(float64(v) * share), Left: int64(float64(v) * share),
		FlowsIn: map[string]int64{}, FlowsOut: map[string]int64{},
		TotalVisitors: total, TotalEvents: total * 8,
		VisitorShare: share,
		Growth:       growth,
		Hour:         12, Weekday: 3, Month: 6,
		Prev: Prev{
			Visitors: prevV, Events: prevV * 8,
			ByType: map[string]int64{}, ByCategory: map[string]int64{},
			TotalVisitors: total, VisitorShare: ratio(prevV, total),
		},
	}
	e.Share = func(string) float64 { return share }
	e.TypeShare = func(string) float64 { return share }
	e.PrevShare = func(string) float64 { return share }
	e.PrevTypeShare = func(string) float64 { return share }
	return e
}
