package aggregate

import (
	"time"

	"github.com/valyala/fastjson"

	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/schemas"
)

// Message is one record of the events topic as the builder sees it.
type Message struct {
	Offset int64
	Value  []byte
}

// Rejected is an events-topic record the builder could not use (not an
// anonymized event); the stage sends it to the DLQ.
type Rejected struct {
	Offset int64
	Reason string
}

// Builder pre-aggregates the batches of one partition into Deltas. It owns
// the partition's in-memory position and visitor cache; it is used by one
// goroutine. It is pure: the stage loads visitor states and applies the
// delta through a Store.
//
// Use: Scan a batch (decode, drop duplicates, list the visitors whose
// state is not cached), load those states, Build the delta, Apply it, then
// Commit so the builder's position and cache move forward. If Apply fails,
// call Scan again with the same batch: nothing was committed.
type Builder struct {
	partition int
	eval      *model.Evaluator
	names     []string
	epoch     time.Duration
	grace     time.Duration
	pos       Position
	cache     *VisitorCache

	parser   fastjson.Parser
	events   []schemas.Event
	offsets  []int64
	rejected []Rejected
	need     []string
	last     int64
	dups     int

	pending  map[string][]byte
	visitors map[string]*model.Visitor
	epochOf  map[string]int64
	spare    []*model.Visitor
	delta    *Delta
}

// NewBuilder returns a builder for a partition that starts at pos (from
// Store.Claim). cache may be shared by the builders of one process.
func NewBuilder(partition int, m *model.Model, epoch, grace time.Duration, pos Position, cache *VisitorCache) *Builder {
	if pos.Sources == nil {
		pos.Sources = map[SourceKey]int64{}
	}
	return &Builder{
		partition: partition,
		eval:      m.NewEvaluator(),
		names:     m.PersonaNames(),
		epoch:     epoch,
		grace:     grace,
		pos:       pos,
		cache:     cache,
		visitors:  map[string]*model.Visitor{},
	}
}

// Position returns the position the builder has committed.
func (b *Builder) Position() Position { return b.pos }

// Scan decodes a batch, drops what was already applied (offsets at or
// below the position, and ingest retry duplicates: source offsets at or
// below the source's high watermark), and returns the pseudonyms whose
// state must be loaded from the store.
func (b *Builder) Scan(msgs []Message) (need []string) {
	b.events = b.events[:0]
	b.offsets = b.offsets[:0]
	b.rejected = b.rejected[:0]
	b.need = b.need[:0]
	b.dups = 0
	b.last = b.pos.Offset
	seen := map[SourceKey]int64{}
	wanted := map[string]bool{}
	for _, m := range msgs {
		if m.Offset <= b.pos.Offset {
			continue
		}
		b.last = m.Offset
		if len(b.events) == cap(b.events) {
			b.events = append(b.events, schemas.Event{})
		} else {
			b.events = b.events[:len(b.events)+1]
		}
		ev := &b.events[len(b.events)-1]
		if reason := b.decode(m.Value, ev); reason != "" {
			b.events = b.events[:len(b.events)-1]
			b.rejected = append(b.rejected, Rejected{Offset: m.Offset, Reason: reason})
			continue
		}
		src := SourceKey{Topic: ev.Source.Topic, Partition: ev.Source.Partition}
		high, ok := seen[src]
		if !ok {
			high, ok = b.pos.Sources[src]
			if !ok {
				high = -1
			}
		}
		if ev.Source.Offset <= high {
			// Ingest wrote this source record before (a retry or a
			// replay after a crash): it was applied then.
			b.events = b.events[:len(b.events)-1]
			b.dups++
			continue
		}
		seen[src] = ev.Source.Offset
		b.offsets = append(b.offsets, m.Offset)
		if !ev.Bot && !wanted[ev.Pseudonym] {
			wanted[ev.Pseudonym] = true
			if _, ok := b.cache.Get(b.partition, ev.Pseudonym); !ok {
				b.need = append(b.need, ev.Pseudonym)
			}
		}
	}
	return b.need
}

// Rejected returns the records of the last Scan that were not events.
func (b *Builder) Rejected() []Rejected { return b.rejected }

// Build applies the scanned events to their visitors' states (cached or
// loaded) and returns the batch's delta. loaded holds the stored states of
// the pseudonyms Scan asked for (absent: a new visitor).
func (b *Builder) Build(loaded map[string][]byte) *Delta {
	d := NewDelta(b.partition)
	d.Offset = b.last
	d.Duplicates = b.dups
	clear(b.visitors)
	if b.epochOf == nil {
		b.epochOf = map[string]int64{}
	}
	clear(b.epochOf)
	for i := range b.events {
		ev := &b.events[i]
		minute, ok := minuteOf(ev.Time)
		if !ok {
			continue
		}
		src := SourceKey{Topic: ev.Source.Topic, Partition: ev.Source.Partition}
		if cur, ok := d.Sources[src]; !ok || ev.Source.Offset > cur {
			d.Sources[src] = ev.Source.Offset
		}
		d.Events++
		if ev.Bot {
			d.Counters[CounterKey{Minute: minute, Persona: BotPersona, Metric: Metric{Kind: MetricEvents}}]++
			continue
		}
		v := b.visitor(ev.Pseudonym, loaded)
		if ev.Epoch > b.epochOf[ev.Pseudonym] {
			b.epochOf[ev.Pseudonym] = ev.Epoch
		}
		from, to := b.eval.Apply(v, ev)
		persona := b.names[to]
		d.Counters[CounterKey{Minute: minute, Persona: persona, Metric: Metric{Kind: MetricEvents}}]++
		d.Counters[CounterKey{Minute: minute, Persona: persona, Metric: Metric{Kind: MetricType, Name: ev.Type}}]++
		if c, ok := ev.Properties["category"].(string); ok && c != "" {
			d.Counters[CounterKey{Minute: minute, Persona: persona, Metric: Metric{Kind: MetricCategory, Name: c}}]++
		}
		addSketch(d, SketchKey{Minute: minute, Kind: SketchVisitors, Persona: persona}, ev.Pseudonym)
		if from >= 0 && from != to {
			fromName := b.names[from]
			d.Counters[CounterKey{Minute: minute, Persona: fromName, Metric: Metric{Kind: MetricFlowTo, Name: persona}}]++
			addSketch(d, SketchKey{Minute: minute, Kind: SketchFlow, Persona: fromName, To: persona}, ev.Pseudonym)
			addSketch(d, SketchKey{Minute: minute, Kind: SketchLeft, Persona: fromName}, ev.Pseudonym)
			addSketch(d, SketchKey{Minute: minute, Kind: SketchEntered, Persona: persona}, ev.Pseudonym)
		}
	}
	if b.pending == nil {
		b.pending = map[string][]byte{}
	}
	clear(b.pending)
	for p, v := range b.visitors {
		state, _ := v.AppendBinary(nil) // never fails; the error is encoding.BinaryAppender's
		b.pending[p] = state
		d.Visitors = append(d.Visitors, VisitorWrite{Pseudonym: p, State: state, ExpireAt: b.expiry(b.epochOf[p])})
	}
	for _, v := range b.visitors {
		b.spare = append(b.spare, v)
	}
	b.delta = d
	return d
}

// Commit records that the last built delta was applied: the position and
// the cache move forward.
func (b *Builder) Commit() {
	d := b.delta
	if d == nil {
		return
	}
	if d.Offset > b.pos.Offset {
		b.pos.Offset = d.Offset
	}
	for k, v := range d.Sources {
		if v > b.pos.Sources[k] {
			b.pos.Sources[k] = v
		}
	}
	for p, s := range b.pending {
		b.cache.Put(b.partition, p, s)
	}
	b.delta = nil
}

func (b *Builder) visitor(p string, loaded map[string][]byte) *model.Visitor {
	if v, ok := b.visitors[p]; ok {
		return v
	}
	var v *model.Visitor
	if n := len(b.spare); n > 0 {
		v = b.spare[n-1]
		b.spare = b.spare[:n-1]
		v.Reset()
	} else {
		v = &model.Visitor{}
	}
	state, ok := b.cache.Get(b.partition, p)
	if !ok {
		state, ok = loaded[p]
	}
	if ok {
		if err := v.UnmarshalBinary(state); err != nil {
			v.Reset() // an unreadable state starts afresh
		}
	}
	b.visitors[p] = v
	return v
}

// expiry is when a visitor's state must be gone: the end of the epoch of
// its events plus grace. Pseudonyms change with the epoch, so the state
// is useless (and must not linger) after that.
func (b *Builder) expiry(ep int64) time.Time {
	return time.Unix((ep+1)*int64(b.epoch/time.Second), 0).Add(b.grace)
}

func addSketch(d *Delta, k SketchKey, p string) { d.Sketches[k] = append(d.Sketches[k], p) }

// minuteOf parses a minute-precision RFC 3339 time into unix minutes.
func minuteOf(s string) (int64, bool) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, false
	}
	m := t.Unix() / 60
	if t.Unix() < 0 {
		return 0, false
	}
	return m, true
}

// decode reads an anonymized event into ev, reusing its maps. It returns a
// reason when the record is not an anonymized event.
func (b *Builder) decode(raw []byte, ev *schemas.Event) string {
	v, err := b.parser.ParseBytes(raw)
	if err != nil || v.Type() != fastjson.TypeObject {
		return "bad_json"
	}
	if string(v.GetStringBytes("schema")) != schemas.EventV1 {
		return "wrong_schema"
	}
	q, p := ev.Query, ev.Properties
	clear(q)
	clear(p)
	*ev = schemas.Event{Query: q, Properties: p}
	ev.Schema = schemas.EventV1
	ev.EventID = string(v.GetStringBytes("event_id"))
	ev.Type = string(v.GetStringBytes("type"))
	ev.Event = string(v.GetStringBytes("event"))
	ev.Time = string(v.GetStringBytes("time"))
	ev.Epoch = v.GetInt64("epoch")
	ev.Pseudonym = string(v.GetStringBytes("pseudonym"))
	ev.Bot = v.GetBool("bot")
	ev.Path = string(v.GetStringBytes("path"))
	ev.ReferrerDomain = string(v.GetStringBytes("referrer_domain"))
	ev.Language = string(v.GetStringBytes("language"))
	ev.Search = string(v.GetStringBytes("search"))
	if o := v.GetObject("query"); o != nil {
		if ev.Query == nil {
			ev.Query = map[string]string{}
		}
		o.Visit(func(k []byte, x *fastjson.Value) { ev.Query[string(k)] = string(x.GetStringBytes()) })
	}
	if o := v.GetObject("properties"); o != nil {
		if ev.Properties == nil {
			ev.Properties = map[string]any{}
		}
		o.Visit(func(k []byte, x *fastjson.Value) {
			switch x.Type() {
			case fastjson.TypeString:
				ev.Properties[string(k)] = string(x.GetStringBytes())
			case fastjson.TypeNumber:
				ev.Properties[string(k)] = x.GetFloat64()
			case fastjson.TypeTrue:
				ev.Properties[string(k)] = true
			case fastjson.TypeFalse:
				ev.Properties[string(k)] = false
			}
		})
	}
	if c := v.Get("campaign"); c != nil {
		ev.Campaign = &schemas.Campaign{
			Source: string(c.GetStringBytes("source")),
			Medium: string(c.GetStringBytes("medium")),
			Name:   string(c.GetStringBytes("name")),
		}
	}
	if d := v.Get("device"); d != nil {
		ev.Device = &schemas.Device{
			Class:   string(d.GetStringBytes("class")),
			Browser: string(d.GetStringBytes("browser")),
			OS:      string(d.GetStringBytes("os")),
		}
	}
	s := v.Get("source")
	if s == nil || len(ev.Pseudonym) == 0 || ev.Time == "" {
		return "missing_field"
	}
	ev.Source = schemas.Source{
		Topic:     string(s.GetStringBytes("topic")),
		Partition: s.GetInt("partition"),
		Offset:    s.GetInt64("offset"),
	}
	return ""
}
