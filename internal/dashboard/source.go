package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/internal/app"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/schemas"
)

// Source reads what the dashboard and the demo's terminal view show: gated
// persona figures from Redis, the latest segment changes from their topic,
// segment states from the emit store, and this process's counters. It is
// safe for concurrent use; reads are cached briefly so that several browser
// tabs and the terminal view cost one read per interval.
type Source struct {
	a        *app.App
	k        int
	windows  []time.Duration
	personas []PersonaInfo
	segments []SegmentInfo
	emit     *redisx.EmitStore

	figures cache[time.Duration, *Figures]
	changes cache[int, *Changes]

	mu   sync.Mutex
	last map[int][]Change // the last changes read, per limit
}

// PersonaInfo names a persona of the model.
type PersonaInfo struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// SegmentInfo names a segment definition.
type SegmentInfo struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Window      string `json:"window"`
}

// NewSource returns the reader for a process.
func NewSource(a *app.App) *Source {
	s := &Source{
		a:       a,
		k:       a.Cfg.Emit.K,
		windows: slices.Sorted(slices.Values(a.Cfg.Aggregate.Windows)),
		emit:    redisx.NewEmitStore(a.Redis, a.Cfg.Redis.KeyPrefix),
		figures: cache[time.Duration, *Figures]{ttl: time.Second},
		changes: cache[int, *Changes]{ttl: time.Second},
		last:    map[int][]Change{},
	}
	for _, p := range a.Model.Personas {
		s.personas = append(s.personas, PersonaInfo{Name: p.Name, Title: p.Title, Description: p.Description})
	}
	if segs, err := a.Segments(); err == nil {
		for _, sg := range segs.Segments {
			s.segments = append(s.segments, SegmentInfo{Name: sg.Name, Title: sg.Title, Description: sg.Description, Window: segment.FormatWindow(sg.Window)})
		}
	}
	return s
}

// K is the k in force.
func (s *Source) K() int { return s.k }

// Windows are the configured windows, shortest first.
func (s *Source) Windows() []time.Duration { return slices.Clone(s.windows) }

// Personas are the model's personas in model order.
func (s *Source) Personas() []PersonaInfo { return slices.Clone(s.personas) }

// Segments are the segment definitions in force.
func (s *Source) Segments() []SegmentInfo { return slices.Clone(s.segments) }

// Figures is one window's figures after the k gate, every persona of the
// model included (a persona without data is suppressed).
type Figures struct {
	Window      string `json:"window"`
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	K           int    `json:"k"`
	// Threshold is the smallest visitor estimate that is shown for K.
	Threshold int64             `json:"threshold"`
	Personas  []schemas.Figures `json:"personas"`
	Flows     []schemas.Flow    `json:"flows"`
	// Bots is the bot event count, nil when below k.
	Bots *int64 `json:"bots"`
	// Visitors and Events sum the personas shown (not suppressed).
	Visitors int64 `json:"visitors"`
	Events   int64 `json:"events"`
}

// Figures reads the window of length w ending now and gates it with k,
// exactly as `personas query personas` does.
func (s *Source) Figures(ctx context.Context, w time.Duration) (*Figures, error) {
	return s.figures.get(w, func() (*Figures, error) {
		end := time.Now()
		wf, err := s.a.Store.ReadWindow(ctx, end.Add(-w), end)
		if err != nil {
			return nil, err
		}
		pub := privacy.GateWindow(wf, s.k, privacy.None)
		out := &Figures{
			Window:      segment.FormatWindow(w),
			WindowStart: end.Add(-w).UTC().Format(time.RFC3339),
			WindowEnd:   end.UTC().Format(time.RFC3339),
			K:           s.k,
			Threshold:   privacy.VisitorThreshold(s.k),
			Flows:       pub.Flows,
			Bots:        pub.Bots,
		}
		if out.Flows == nil {
			out.Flows = []schemas.Flow{}
		}
		seen := map[string]bool{}
		add := func(name string) {
			f := pub.Figures(name)
			out.Personas = append(out.Personas, f)
			seen[name] = true
			if !f.Suppressed && f.Visitors != nil && f.Events != nil {
				out.Visitors += *f.Visitors
				out.Events += *f.Events
			}
		}
		for _, p := range s.personas {
			add(p.Name)
		}
		// Personas the store knows but the model does not (an older model).
		for _, name := range slices.Sorted(maps.Keys(pub.Personas)) {
			if !seen[name] {
				add(name)
			}
		}
		return out, nil
	})
}

// Change is a segment-change event as the feed shows it.
type Change struct {
	schemas.SegmentChange
	// Title is the segment's title from the definitions in force.
	Title string `json:"title,omitempty"`
}

// State says whether a persona is in a segment now.
type State struct {
	Segment string    `json:"segment"`
	Persona string    `json:"persona"`
	In      bool      `json:"in"`
	Since   time.Time `json:"since"`
}

// Changes are the latest segment changes, newest first, and the current
// segment states.
type Changes struct {
	Topic   string   `json:"topic"`
	Changes []Change `json:"changes"`
	States  []State  `json:"states"`
	// Error says why the topic could not be read just now; Changes are
	// then the ones read last time.
	Error string `json:"error,omitempty"`
}

// Changes returns up to n of the latest segment changes, read from the end
// of the segment-changes topic, and the segment states of the emit store.
func (s *Source) Changes(ctx context.Context, n int) (*Changes, error) {
	return s.changes.get(n, func() (*Changes, error) {
		out := &Changes{Topic: s.a.Cfg.Kafka.Topics.SegmentChanges, Changes: []Change{}, States: []State{}}
		titles := map[string]string{}
		for _, sg := range s.segments {
			titles[sg.Name] = sg.Title
		}
		evs, err := tailChanges(ctx, s.a.Kafka.Client(), out.Topic, n)
		if err != nil {
			// Keep showing what was read last time: a slow broker should
			// not empty the feed.
			out.Error = "cannot read " + out.Topic + ": " + err.Error()
			s.mu.Lock()
			out.Changes = append(out.Changes, s.last[n]...)
			s.mu.Unlock()
		}
		for _, ev := range evs {
			out.Changes = append(out.Changes, Change{SegmentChange: ev, Title: titles[ev.Segment]})
		}
		if err == nil {
			s.mu.Lock()
			s.last[n] = out.Changes
			s.mu.Unlock()
		}
		states, err := s.emit.States(ctx)
		if err != nil {
			return nil, err
		}
		for k, st := range states {
			out.States = append(out.States, State{Segment: k.Segment, Persona: k.Persona, In: st.In, Since: st.Since})
		}
		slices.SortFunc(out.States, func(a, b State) int {
			return cmp.Or(cmp.Compare(a.Segment, b.Segment), cmp.Compare(a.Persona, b.Persona))
		})
		return out, nil
	})
}

// tailChanges reads the last n records of every partition of topic and
// returns the newest n segment changes among them. It uses plain fetch
// requests (no consumer group, nothing committed), so any number of
// dashboards can read without affecting anyone.
func tailChanges(ctx context.Context, c *kafka.Client, topic string, n int) ([]schemas.SegmentChange, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				return nil, nil // nothing published yet
			}
			return nil, t.Error
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, nil
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	offs, err := c.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []schemas.SegmentChange
	for _, po := range offs.Topics[topic] {
		if po.Error != nil || po.LastOffset <= po.FirstOffset {
			continue
		}
		from := max(po.FirstOffset, po.LastOffset-int64(n))
		res, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: po.Partition, Offset: from, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond})
		if err != nil {
			return out, err
		}
		if res.Error != nil {
			return out, res.Error
		}
		for res.Records != nil {
			r, err := res.Records.ReadRecord()
			if err != nil {
				break // io.EOF at the end of the batch
			}
			var ev schemas.SegmentChange
			if r.Value != nil {
				err = json.NewDecoder(r.Value).Decode(&ev)
			}
			if err == nil && ev.EventID != "" && r.Offset < po.LastOffset {
				out = append(out, ev)
			}
		}
	}
	slices.SortFunc(out, func(a, b schemas.SegmentChange) int {
		return cmp.Or(cmp.Compare(b.EvaluatedAt, a.EvaluatedAt), cmp.Compare(a.Segment+a.Persona, b.Segment+b.Persona))
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Stats are this process's counters (Prometheus metrics), for rates and
// totals. In a deployment with several instances each shows its own.
type Stats struct {
	Time string `json:"time"`
	// Generated is the demo generator's count (0 outside the demo).
	Generated int64 `json:"generated"`
	// IngestIn are raw messages read, IngestOut anonymized events written.
	IngestIn  int64 `json:"ingest_in"`
	IngestOut int64 `json:"ingest_out"`
	// AggregateIn are anonymized events read, AggregateOut events applied
	// to the persona figures.
	AggregateIn  int64 `json:"aggregate_in"`
	AggregateOut int64 `json:"aggregate_out"`
	// DLQ counts dead-lettered messages by reason code.
	DLQ      map[string]int64 `json:"dlq"`
	DLQTotal int64            `json:"dlq_total"`
	// Bots are events flagged as bots (counted, kept out of personas).
	Bots int64 `json:"bots"`
	// Entered and Exited count published segment changes.
	Entered   int64 `json:"entered"`
	Exited    int64 `json:"exited"`
	Snapshots int64 `json:"snapshots"`
	// Suppressed counts persona figures withheld from snapshots (below k).
	Suppressed int64 `json:"suppressed"`
}

// Stats gathers this process's counters.
func (s *Source) Stats() (*Stats, error) {
	mfs, err := s.a.Metrics.Registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	st := &Stats{Time: time.Now().UTC().Format(time.RFC3339Nano), DLQ: map[string]int64{}}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := int64(m.GetCounter().GetValue())
			switch mf.GetName() {
			case "personas_events_in_total":
				switch labels["stage"] {
				case app.StageIngest:
					st.IngestIn += v
				case app.StageAggregate:
					st.AggregateIn += v
				}
			case "personas_events_out_total":
				switch labels["stage"] {
				case app.StageIngest:
					st.IngestOut += v
				case app.StageAggregate:
					st.AggregateOut += v
				}
			case "personas_dlq_total":
				st.DLQ[labels["reason"]] += v
				st.DLQTotal += v
			case "personas_bot_events_total":
				st.Bots += v
			case "personas_segment_changes_total":
				switch labels["type"] {
				case schemas.SegmentEntered:
					st.Entered += v
				case schemas.SegmentExited:
					st.Exited += v
				}
			case "personas_snapshots_total":
				st.Snapshots += v
			case "personas_suppressed_figures_total":
				st.Suppressed += v
			}
		}
	}
	return st, nil
}

// cache keeps one value per key for ttl; concurrent callers of an expired
// key wait for one load. Errors are not cached.
type cache[K comparable, V any] struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[K]*entry[V]
}

type entry[V any] struct {
	mu sync.Mutex
	at time.Time
	v  V
}

func (c *cache[K, V]) get(k K, load func() (V, error)) (V, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[K]*entry[V]{}
	}
	e := c.m[k]
	if e == nil {
		e = &entry[V]{}
		c.m[k] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.at.IsZero() && time.Since(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err // not cached: the next caller tries again
	}
	e.v, e.at = v, time.Now()
	return v, nil
}
