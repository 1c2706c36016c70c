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
// call Scan again with the same batch: nothing was committed. The states
// loaded for the batch are kept until Commit, so a retry asks only for
// what was never loaded and builds the same delta even when the failed
// Apply did take effect (its retry is then a no-op).
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

	pending map[string][]byte
	// prior holds the stored states loaded for the batch not yet
	// committed (nil: no state), as of the committed position. A retried
	// batch reuses them instead of loading again: if the first attempt's
	// Apply took effect but its reply was lost, the store already holds
	// the batch's states, and applying the batch to those would count its
	// events twice in the visitors' features.
	prior    map[string][]byte
	visitors map[string]*model.Visitor
	epochOf  map[string]int64
	spare    []*model.Visitor
	delta    *Delta

	// Per-batch scratch, reused from batch to batch so that a batch does
	// not grow new maps from empty (rehashing showed in profiles).
	seen   map[SourceKey]int64
	wanted map[string]bool
	// cached holds the states Scan found in the cache, so Build does not
	// look them up again (the cache is shared and locked).
	cached map[string][]byte
	reuse  *Delta     // the delta Build fills (valid until the next Build)
	lists  [][]string // emptied sketch lists, for reuse
	// strs interns the few-valued strings of events (types, names, times,
	// paths, domains, property keys and values...), boxed holds string
	// property values as interface values: decoding then allocates for
	// the pseudonym and event id, not for every field.
	strs  map[string]string
	boxed map[string]any
	// The minute of the last time string seen: events of a batch share a
	// few minutes.
	lastTime   string
	lastMinute int64
	lastOK     bool
}

// maxInterned bounds the intern tables; they start afresh when full.
const maxInterned = 1 << 16

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
	if b.seen == nil {
		b.seen, b.wanted, b.cached = map[SourceKey]int64{}, map[string]bool{}, map[string][]byte{}
	}
	seen, wanted := b.seen, b.wanted
	clear(seen)
	clear(wanted)
	clear(b.cached)
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
			if _, ok := b.prior[ev.Pseudonym]; ok {
				continue // loaded by an earlier attempt of this batch
			}
			if state, ok := b.cache.Get(b.partition, ev.Pseudonym); ok {
				b.cached[ev.Pseudonym] = state
			} else {
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
// the pseudonyms Scan asked for (absent: a new visitor). The delta is
// valid until the next Build.
func (b *Builder) Build(loaded map[string][]byte) *Delta {
	if b.prior == nil {
		b.prior = map[string][]byte{}
	}
	for _, p := range b.need {
		b.prior[p] = loaded[p]
	}
	d := b.newDelta()
	d.Offset = b.last
	d.Duplicates = b.dups
	clear(b.visitors)
	if b.epochOf == nil {
		b.epochOf = map[string]int64{}
	}
	clear(b.epochOf)
	for i := range b.events {
		ev := &b.events[i]
		if ev.Time != b.lastTime {
			b.lastTime = ev.Time
			b.lastMinute, b.lastOK = minuteOf(ev.Time)
		}
		minute := b.lastMinute
		if !b.lastOK {
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
		v := b.visitor(ev.Pseudonym)
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
		b.addSketch(d, SketchKey{Minute: minute, Kind: SketchVisitors, Persona: persona}, ev.Pseudonym)
		if from >= 0 && from != to {
			fromName := b.names[from]
			d.Counters[CounterKey{Minute: minute, Persona: fromName, Metric: Metric{Kind: MetricFlowTo, Name: persona}}]++
			b.addSketch(d, SketchKey{Minute: minute, Kind: SketchFlow, Persona: fromName, To: persona}, ev.Pseudonym)
			b.addSketch(d, SketchKey{Minute: minute, Kind: SketchLeft, Persona: fromName}, ev.Pseudonym)
			b.addSketch(d, SketchKey{Minute: minute, Kind: SketchEntered, Persona: persona}, ev.Pseudonym)
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
	clear(b.prior)
	b.delta = nil
}

func (b *Builder) visitor(p string) *model.Visitor {
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
	state, ok := b.cached[p]
	if !ok {
		state, ok = b.prior[p]
		ok = ok && state != nil
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

// newDelta empties the reused delta (its maps keep their size, its sketch
// lists go back to b.lists).
func (b *Builder) newDelta() *Delta {
	d := b.reuse
	if d == nil {
		d = NewDelta(b.partition)
		b.reuse = d
		return d
	}
	for _, l := range d.Sketches {
		b.lists = append(b.lists, l[:0])
	}
	clear(d.Sketches)
	clear(d.Counters)
	clear(d.Sources)
	*d = Delta{Partition: b.partition, Offset: -1, Sources: d.Sources, Counters: d.Counters, Sketches: d.Sketches, Visitors: d.Visitors[:0]}
	return d
}

func (b *Builder) addSketch(d *Delta, k SketchKey, p string) {
	l, ok := d.Sketches[k]
	if !ok && len(b.lists) > 0 {
		l = b.lists[len(b.lists)-1]
		b.lists = b.lists[:len(b.lists)-1]
	}
	d.Sketches[k] = append(l, p)
}

// str returns a few-valued string field, interned.
func (b *Builder) str(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if s, ok := b.strs[string(v)]; ok { // no allocation for the lookup
		return s
	}
	if b.strs == nil || len(b.strs) >= maxInterned {
		b.strs = make(map[string]string, 1024)
	}
	s := string(v)
	b.strs[s] = s
	return s
}

// boxedStr returns a string property value as an interface value, interned.
func (b *Builder) boxedStr(v []byte) any {
	if a, ok := b.boxed[string(v)]; ok {
		return a
	}
	if b.boxed == nil || len(b.boxed) >= maxInterned {
		b.boxed = make(map[string]any, 1024)
	}
	s := b.str(v)
	var a any = s
	b.boxed[s] = a
	return a
}

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
	// The maps and the campaign and device structs of the event's slot
	// are reused: nothing keeps them beyond the batch.
	q, p, camp, dev := ev.Query, ev.Properties, ev.Campaign, ev.Device
	clear(q)
	clear(p)
	*ev = schemas.Event{Query: q, Properties: p}
	ev.Schema = schemas.EventV1
	ev.EventID = string(v.GetStringBytes("event_id"))
	ev.Type = b.str(v.GetStringBytes("type"))
	ev.Event = b.str(v.GetStringBytes("event"))
	ev.Time = b.str(v.GetStringBytes("time"))
	ev.Epoch = v.GetInt64("epoch")
	ev.Pseudonym = string(v.GetStringBytes("pseudonym"))
	ev.Bot = v.GetBool("bot")
	ev.Path = b.str(v.GetStringBytes("path"))
	ev.ReferrerDomain = b.str(v.GetStringBytes("referrer_domain"))
	ev.Language = b.str(v.GetStringBytes("language"))
	ev.Search = b.str(v.GetStringBytes("search"))
	if o := v.GetObject("query"); o != nil {
		if ev.Query == nil {
			ev.Query = map[string]string{}
		}
		o.Visit(func(k []byte, x *fastjson.Value) { ev.Query[b.str(k)] = b.str(x.GetStringBytes()) })
	}
	if o := v.GetObject("properties"); o != nil {
		if ev.Properties == nil {
			ev.Properties = map[string]any{}
		}
		o.Visit(func(k []byte, x *fastjson.Value) {
			switch x.Type() {
			case fastjson.TypeString:
				ev.Properties[b.str(k)] = b.boxedStr(x.GetStringBytes())
			case fastjson.TypeNumber:
				ev.Properties[b.str(k)] = x.GetFloat64()
			case fastjson.TypeTrue:
				ev.Properties[b.str(k)] = true
			case fastjson.TypeFalse:
				ev.Properties[b.str(k)] = false
			}
		})
	}
	if c := v.Get("campaign"); c != nil {
		if camp == nil {
			camp = &schemas.Campaign{}
		}
		*camp = schemas.Campaign{
			Source: b.str(c.GetStringBytes("source")),
			Medium: b.str(c.GetStringBytes("medium")),
			Name:   b.str(c.GetStringBytes("name")),
		}
		ev.Campaign = camp
	}
	if d := v.Get("device"); d != nil {
		if dev == nil {
			dev = &schemas.Device{}
		}
		*dev = schemas.Device{
			Class:   b.str(d.GetStringBytes("class")),
			Browser: b.str(d.GetStringBytes("browser")),
			OS:      b.str(d.GetStringBytes("os")),
		}
		ev.Device = dev
	}
	s := v.Get("source")
	if s == nil || len(ev.Pseudonym) == 0 || ev.Time == "" {
		return "missing_field"
	}
	ev.Source = schemas.Source{
		Topic:     b.str(s.GetStringBytes("topic")),
		Partition: s.GetInt("partition"),
		Offset:    s.GetInt64("offset"),
	}
	return ""
}
