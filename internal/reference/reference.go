// Package reference computes persona figures directly from anonymized
// events, the simplest way possible: one pass in topic order, every event
// id once, exact sets for distinct counts. Tests compare what the pipeline
// stored in Redis (batched, deduplicated by watermarks, crashed and
// restarted) with this.
package reference

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/schemas"
)

// Figures are exact figures per minute.
type Figures struct {
	// Counters per (minute, persona, metric), like the store's.
	Counters map[aggregate.CounterKey]int64
	// Sets per (minute, sketch kind, persona[, to]): exact visitor sets.
	Sets map[aggregate.SketchKey]map[string]struct{}
	// Events is the number of distinct events applied.
	Events int
	// Duplicates is the number of repeated event ids skipped.
	Duplicates int
	Minutes    []int64
}

// Compute applies the events (one partition's events must be in that
// partition's order; partitions may be interleaved) with the model.
func Compute(m *model.Model, values [][]byte) (*Figures, error) {
	f := &Figures{Counters: map[aggregate.CounterKey]int64{}, Sets: map[aggregate.SketchKey]map[string]struct{}{}}
	eval := m.NewEvaluator()
	names := m.PersonaNames()
	seen := map[string]bool{}
	visitors := map[string]*model.Visitor{}
	minutes := map[int64]bool{}
	add := func(k aggregate.SketchKey, p string) {
		s := f.Sets[k]
		if s == nil {
			s = map[string]struct{}{}
			f.Sets[k] = s
		}
		s[p] = struct{}{}
	}
	for _, v := range values {
		var ev schemas.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("reference: not an event: %w", err)
		}
		if seen[ev.EventID] {
			f.Duplicates++
			continue
		}
		seen[ev.EventID] = true
		t, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil {
			return nil, err
		}
		min := t.Unix() / 60
		minutes[min] = true
		f.Events++
		if ev.Bot {
			f.Counters[aggregate.CounterKey{Minute: min, Persona: aggregate.BotPersona, Metric: aggregate.Metric{Kind: aggregate.MetricEvents}}]++
			continue
		}
		vis := visitors[ev.Pseudonym]
		if vis == nil {
			vis = &model.Visitor{}
			visitors[ev.Pseudonym] = vis
		}
		from, to := eval.Apply(vis, &ev)
		p := names[to]
		f.Counters[aggregate.CounterKey{Minute: min, Persona: p, Metric: aggregate.Metric{Kind: aggregate.MetricEvents}}]++
		f.Counters[aggregate.CounterKey{Minute: min, Persona: p, Metric: aggregate.Metric{Kind: aggregate.MetricType, Name: ev.Type}}]++
		if c, ok := ev.Properties["category"].(string); ok && c != "" {
			f.Counters[aggregate.CounterKey{Minute: min, Persona: p, Metric: aggregate.Metric{Kind: aggregate.MetricCategory, Name: c}}]++
		}
		add(aggregate.SketchKey{Minute: min, Kind: aggregate.SketchVisitors, Persona: p}, ev.Pseudonym)
		if from >= 0 && from != to {
			fp := names[from]
			f.Counters[aggregate.CounterKey{Minute: min, Persona: fp, Metric: aggregate.Metric{Kind: aggregate.MetricFlowTo, Name: p}}]++
			add(aggregate.SketchKey{Minute: min, Kind: aggregate.SketchFlow, Persona: fp, To: p}, ev.Pseudonym)
			add(aggregate.SketchKey{Minute: min, Kind: aggregate.SketchLeft, Persona: fp}, ev.Pseudonym)
			add(aggregate.SketchKey{Minute: min, Kind: aggregate.SketchEntered, Persona: p}, ev.Pseudonym)
		}
	}
	for m := range minutes {
		f.Minutes = append(f.Minutes, m)
	}
	sort.Slice(f.Minutes, func(i, j int) bool { return f.Minutes[i] < f.Minutes[j] })
	return f, nil
}

// Window sums the exact figures over the minute range [from, to) into the
// form the store returns, so the two can be compared field by field.
func (f *Figures) Window(from, to int64) *aggregate.WindowFigures {
	acc := aggregate.NewWindowAccumulator(time.Unix(from*60, 0), time.Unix(to*60, 0))
	for k, v := range f.Counters {
		if k.Minute >= from && k.Minute < to {
			acc.AddCounter(k.Persona, k.Metric, v)
		}
	}
	union := map[aggregate.SketchKey]map[string]struct{}{}
	for k, s := range f.Sets {
		if k.Minute < from || k.Minute >= to {
			continue
		}
		w := k
		w.Minute = 0
		u := union[w]
		if u == nil {
			u = map[string]struct{}{}
			union[w] = u
		}
		for p := range s {
			u[p] = struct{}{}
		}
	}
	for k, u := range union {
		acc.AddDistinct(k, int64(len(u)))
	}
	return acc.Figures()
}

// Diff compares figures from the store with exact ones. Counts must be
// equal; distinct counts (HyperLogLog in Redis) may differ by tolerance
// (relative, e.g. 0.02) plus one. It returns one line per difference.
func Diff(got, want *aggregate.WindowFigures, tolerance float64) []string {
	var out []string
	names := map[string]bool{}
	for n := range got.Personas {
		names[n] = true
	}
	for n := range want.Personas {
		names[n] = true
	}
	empty := &aggregate.PersonaFigures{}
	near := func(a, b int64) bool {
		d := a - b
		if d < 0 {
			d = -d
		}
		return float64(d) <= tolerance*float64(b)+1
	}
	for n := range names {
		g, w := got.Personas[n], want.Personas[n]
		if g == nil {
			g = empty
		}
		if w == nil {
			w = empty
		}
		if g.Events != w.Events {
			out = append(out, fmt.Sprintf("%s events: got %d, want %d", n, g.Events, w.Events))
		}
		for _, pair := range []struct {
			what string
			g, w map[string]int64
		}{{"type", g.ByType, w.ByType}, {"category", g.ByCategory, w.ByCategory}} {
			keys := map[string]bool{}
			for k := range pair.g {
				keys[k] = true
			}
			for k := range pair.w {
				keys[k] = true
			}
			for k := range keys {
				if pair.g[k] != pair.w[k] {
					out = append(out, fmt.Sprintf("%s %s %s: got %d, want %d", n, pair.what, k, pair.g[k], pair.w[k]))
				}
			}
		}
		if !near(g.Visitors, w.Visitors) {
			out = append(out, fmt.Sprintf("%s visitors: got %d, want %d", n, g.Visitors, w.Visitors))
		}
		if !near(g.Entered, w.Entered) || !near(g.Left, w.Left) {
			out = append(out, fmt.Sprintf("%s entered/left: got %d/%d, want %d/%d", n, g.Entered, g.Left, w.Entered, w.Left))
		}
	}
	if got.Bots != want.Bots {
		out = append(out, fmt.Sprintf("bots: got %d, want %d", got.Bots, want.Bots))
	}
	for k, w := range want.Flows {
		if !near(got.Flows[k], w) {
			out = append(out, fmt.Sprintf("flow %s>%s: got %d, want %d", k.From, k.To, got.Flows[k], w))
		}
	}
	for k, g := range got.Flows {
		if _, ok := want.Flows[k]; !ok && g != 0 {
			out = append(out, fmt.Sprintf("flow %s>%s: got %d, want 0", k.From, k.To, g))
		}
	}
	sort.Strings(out)
	return out
}
