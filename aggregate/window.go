package aggregate

import "time"

// MinuteRange returns the unix-minute range [from, to) covering [start,
// end): start is rounded down and end up to whole minutes.
func MinuteRange(start, end time.Time) (from, to int64) {
	from = start.Unix() / 60
	if start.Unix() < 0 && start.Unix()%60 != 0 {
		from--
	}
	to = (end.Unix() + 59) / 60
	return from, to
}

// BucketPlan says which hour buckets and which minute buckets together
// cover a minute range exactly: whole hours from hour buckets (fewer reads)
// and the ragged edges from minute buckets.
type BucketPlan struct {
	Hours   []int64 // unix hours
	Minutes []int64 // unix minutes
}

// PlanBuckets covers the minute range [from, to).
func PlanBuckets(from, to int64) BucketPlan {
	var p BucketPlan
	if to <= from {
		return p
	}
	firstHour := (from + 59) / 60 // first hour that starts at or after from
	lastHour := to / 60           // hours before this one end at or before to
	if firstHour >= lastHour {
		for m := from; m < to; m++ {
			p.Minutes = append(p.Minutes, m)
		}
		return p
	}
	for m := from; m < firstHour*60; m++ {
		p.Minutes = append(p.Minutes, m)
	}
	for h := firstHour; h < lastHour; h++ {
		p.Hours = append(p.Hours, h)
	}
	for m := lastHour * 60; m < to; m++ {
		p.Minutes = append(p.Minutes, m)
	}
	return p
}

// WindowAccumulator sums counters and distinct counts into WindowFigures.
// Distinct counts are summed across partitions: a pseudonym belongs to
// exactly one events partition (the topic is keyed by pseudonym), so the
// partitions' visitor sets are disjoint and their sizes add up.
type WindowAccumulator struct {
	f *WindowFigures
}

// NewWindowAccumulator starts empty figures for [start, end).
func NewWindowAccumulator(start, end time.Time) *WindowAccumulator {
	return &WindowAccumulator{f: &WindowFigures{
		Window:   end.Sub(start),
		Start:    start,
		End:      end,
		Personas: map[string]*PersonaFigures{},
		Flows:    map[FlowKey]int64{},
	}}
}

func (a *WindowAccumulator) persona(name string) *PersonaFigures {
	p := a.f.Personas[name]
	if p == nil {
		p = &PersonaFigures{Persona: name, ByType: map[string]int64{}, ByCategory: map[string]int64{}}
		a.f.Personas[name] = p
	}
	return p
}

// AddCounter adds a counter value.
func (a *WindowAccumulator) AddCounter(persona string, m Metric, v int64) {
	if persona == BotPersona {
		if m.Kind == MetricEvents {
			a.f.Bots += v
		}
		return
	}
	p := a.persona(persona)
	switch m.Kind {
	case MetricEvents:
		p.Events += v
	case MetricType:
		p.ByType[m.Name] += v
	case MetricCategory:
		p.ByCategory[m.Name] += v
	}
}

// AddDistinct adds a distinct count (the Minute of k is ignored).
func (a *WindowAccumulator) AddDistinct(k SketchKey, n int64) {
	if k.Persona == BotPersona {
		return
	}
	switch k.Kind {
	case SketchVisitors:
		a.persona(k.Persona).Visitors += n
	case SketchEntered:
		a.persona(k.Persona).Entered += n
	case SketchLeft:
		a.persona(k.Persona).Left += n
	case SketchFlow:
		a.f.Flows[FlowKey{From: k.Persona, To: k.To}] += n
	}
}

// Figures returns the accumulated figures.
func (a *WindowAccumulator) Figures() *WindowFigures { return a.f }
