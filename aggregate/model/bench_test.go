package model

import (
	"fmt"
	"testing"

	"github.com/personas-dev/personas/schemas"
)

// benchEvents is a realistic mix: a browsing session with searches, product
// and list views over several categories, a cart add, page views with and
// without campaign, on mobile and desktop.
func benchEvents() []*schemas.Event {
	mobile := &schemas.Device{Class: "mobile", Browser: "Safari", OS: "iOS"}
	desktop := &schemas.Device{Class: "desktop", Browser: "Chrome", OS: "Windows"}
	camp := &schemas.Campaign{Source: "google", Medium: "cpc", Name: "summer-sale"}
	cats := []string{"electronics", "fashion", "home", "toys", "books"}
	var out []*schemas.Event
	minute := 0
	add := func(typ, name, path, cat string, dev *schemas.Device, c *schemas.Campaign, props map[string]any) {
		if cat != "" {
			if props == nil {
				props = map[string]any{}
			}
			props["category"] = cat
		}
		out = append(out, &schemas.Event{
			Schema: schemas.EventV1, Type: typ, Event: name, Path: path,
			Time:   fmt.Sprintf("2026-11-28T%02d:%02d:00Z", 10+minute/60, minute%60),
			Device: dev, Campaign: c, Properties: props, Language: "nl",
		})
		minute++
	}
	for i := 0; i < 4; i++ {
		dev := mobile
		if i%2 == 1 {
			dev = desktop
		}
		var c *schemas.Campaign
		if i == 0 {
			c = camp
		}
		cat := cats[i%len(cats)]
		add("page", "Home", "/", "", dev, c, nil)
		add("track", "Products Searched", "/search", "", dev, c, map[string]any{"query": "wireless earbuds"})
		add("page", "Category", "/c/"+cat, "", dev, c, nil)
		add("track", "Product List Viewed", "/c/"+cat, cat, dev, c, nil)
		add("page", "Product", "/p/:seg", "", dev, c, nil)
		add("track", "Product Viewed", "/p/:seg", cat, dev, c, map[string]any{"price": 129.99})
		add("track", "Product Viewed", "/p/:seg", cats[(i+1)%len(cats)], dev, c, map[string]any{"price": 19.95})
		add("page", "Deals", "/deals", "", dev, c, nil)
	}
	return out
}

// BenchmarkObserveClassify is the per-event work of the aggregate stage
// with the default model: 256 visitors in turn, a realistic event mix.
func BenchmarkObserveClassify(b *testing.B) { benchObserveClassify(b, Default()) }

// vmOnly returns a copy of m that evaluates every condition on the expr VM
// (one reused vm.VM, no closures, no event dispatch): the baseline the fast
// path is measured against.
func vmOnly(m *Model) *Model {
	c := *m
	c.features = append([]cond{}, m.features...)
	c.rules = append([]cond{}, m.rules...)
	for i := range c.features {
		c.features[i].fast = nil
	}
	for i := range c.rules {
		c.rules[i].fast = nil
	}
	c.catView.fast = nil
	c.eager = true
	d := m.dispatch
	d.pure = make([]bool, len(m.features))
	d.catPure = false
	d.features = make([][]int, len(m.dispatch.features))
	d.catView = make([]bool, len(m.dispatch.catView))
	for id := range d.features {
		for i := range m.features {
			d.features[id] = append(d.features[id], i)
		}
		d.catView[id] = true
	}
	c.dispatch = d
	return &c
}

func benchObserveClassify(b *testing.B, m *Model) {
	e := m.NewEvaluator()
	evs := benchEvents()
	const nv = 256
	vs := make([]Visitor, nv)
	for i := range vs {
		e.Observe(&vs[i], evs[0])
		e.Classify(&vs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := &vs[i%nv]
		e.Observe(v, evs[i%len(evs)])
		e.Classify(v)
	}
}

// BenchmarkObserveClassifyVM is the same work on the expr VM only.
func BenchmarkObserveClassifyVM(b *testing.B) { benchObserveClassify(b, vmOnly(Default())) }

func BenchmarkObserve(b *testing.B) {
	m := Default()
	e := m.NewEvaluator()
	evs := benchEvents()
	var v Visitor
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%1024 == 0 {
			v.Reset()
		}
		e.Observe(&v, evs[i%len(evs)])
	}
}

func BenchmarkClassify(b *testing.B) {
	m := Default()
	e := m.NewEvaluator()
	evs := benchEvents()
	vs := make([]Visitor, len(evs))
	for i := range vs {
		for _, ev := range evs[:i+1] {
			e.Observe(&vs[i], ev)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Classify(&vs[i%len(vs)])
	}
}

// BenchmarkStateRoundTrip is the state-store cost per event: decode the
// visitor, encode it again (into a reused buffer).
func BenchmarkStateRoundTrip(b *testing.B) {
	m := Default()
	e := m.NewEvaluator()
	var v Visitor
	for _, ev := range benchEvents() {
		e.Observe(&v, ev)
	}
	e.Classify(&v)
	state, _ := v.AppendBinary(nil)
	b.Logf("encoded visitor: %d bytes", len(state))
	var w Visitor
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.UnmarshalBinary(state); err != nil {
			b.Fatal(err)
		}
		buf, _ = w.AppendBinary(buf[:0])
	}
}

func BenchmarkParseDefault(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(defaultYAML); err != nil {
			b.Fatal(err)
		}
	}
}
