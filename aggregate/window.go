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

// BucketPlan says which buckets together cover a minute range exactly:
// whole quarter days (six hours) from quarter buckets, whole hours of the
// rest from hour buckets, whole ten-minute spans of what is left from
// ten-minute buckets, and the ragged ends from minute buckets. So any
// window reads few buckets: a 24 h window at most 3 quarters, 10 hours, 10
// ten-minute spans and 18 minutes.
type BucketPlan struct {
	Quarters []int64 // unix quarter days (unix minute / 360)
	Hours    []int64 // unix hours
	Tens     []int64 // unix ten-minute spans (unix minute / 10)
	Minutes  []int64 // unix minutes
}

// Bucket sizes in minutes.
const (
	QuarterMinutes = 360
	HourMinutes    = 60
	TenMinutes     = 10
)

// PlanBuckets covers the minute range [from, to).
func PlanBuckets(from, to int64) BucketPlan {
	var p BucketPlan
	p.cover(from, to, QuarterMinutes)
	return p
}

// cover covers [from, to) with buckets of size minutes and smaller.
func (p *BucketPlan) cover(from, to, size int64) {
	if to <= from {
		return
	}
	if size == 1 {
		for m := from; m < to; m++ {
			p.Minutes = append(p.Minutes, m)
		}
		return
	}
	smaller := int64(1)
	switch size {
	case QuarterMinutes:
		smaller = HourMinutes
	case HourMinutes:
		smaller = TenMinutes
	}
	first, last := ceilDiv(from, size), floorDiv(to, size)
	if first >= last {
		p.cover(from, to, smaller)
		return
	}
	p.cover(from, first*size, smaller)
	for b := first; b < last; b++ {
		switch size {
		case QuarterMinutes:
			p.Quarters = append(p.Quarters, b)
		case HourMinutes:
			p.Hours = append(p.Hours, b)
		case TenMinutes:
			p.Tens = append(p.Tens, b)
		}
	}
	p.cover(last*size, to, smaller)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

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
