package aggregate

import (
	"context"
	"errors"
	"time"
)

// ErrFenced is returned by Store.Apply when another instance claimed the
// partition after this one: the caller lost the partition and must stop
// writing (its updates would be stale).
var ErrFenced = errors.New("aggregate: partition claimed by another instance (fenced)")

// SourceKey names an input partition of the ingest stage: the source of
// anonymized events, used to drop ingest's retry duplicates.
type SourceKey struct {
	Topic     string
	Partition int
}

// Position is what a partition has applied: the last offset of the events
// topic and, per source partition, the highest source offset. Both are
// stored atomically with the figures they produced.
type Position struct {
	// Offset is the last applied offset of the events partition; -1 when
	// nothing was applied yet.
	Offset int64
	// Sources maps each source partition to the highest source offset
	// applied from it.
	Sources map[SourceKey]int64
	// Token is the fencing token of the current owner, from Claim.
	Token int64
}

// Metric names a counter of a persona in a bucket.
type Metric struct {
	// Kind is one of the Metric* kinds.
	Kind byte
	// Name is the event type, category, or the "from" persona of a flow.
	Name string
}

// Metric kinds.
const (
	MetricEvents   byte = 'e' // events attributed to the persona
	MetricType     byte = 't' // events per event type
	MetricCategory byte = 'c' // events per product category
	MetricFlowTo   byte = 'f' // transitions from this persona to Name
)

// CounterKey addresses one counter: a persona's metric in one minute.
type CounterKey struct {
	Minute  int64 // unix minutes
	Persona string
	Metric  Metric
}

// SketchKey addresses a distinct-visitor sketch (HyperLogLog) in one minute.
type SketchKey struct {
	Minute int64
	// Kind is SketchVisitors, SketchEntered, SketchLeft or SketchFlow.
	Kind    byte
	Persona string // for flows: the "from" persona
	To      string // flows only
}

// Sketch kinds.
const (
	SketchVisitors byte = 'u' // visitors with events attributed to Persona
	SketchEntered  byte = 'i' // visitors that moved into Persona
	SketchLeft     byte = 'o' // visitors that moved out of Persona
	SketchFlow     byte = 'f' // visitors that moved from Persona to To
)

// BotPersona is the pseudo-persona that counts bot events; bots are never
// assigned a real persona.
const BotPersona = "_bots"

// VisitorWrite is a visitor state to store, with its expiry.
type VisitorWrite struct {
	Pseudonym string
	State     []byte
	ExpireAt  time.Time
}

// Delta is the whole effect of one batch of one partition, pre-aggregated
// in memory so that it is applied with one atomic store call.
type Delta struct {
	Partition int
	// Offset is the last events-topic offset the delta covers; applying it
	// moves the stored position there.
	Offset int64
	// Sources are the new source high watermarks (only those that moved).
	Sources  map[SourceKey]int64
	Counters map[CounterKey]int64
	// Sketches lists pseudonyms to add to each sketch.
	Sketches map[SketchKey][]string
	Visitors []VisitorWrite
	// Events is how many events the delta applied (not stored; metrics).
	Events int
	// Duplicates is how many events were dropped as ingest retries.
	Duplicates int
}

// NewDelta returns an empty delta for a partition.
func NewDelta(partition int) *Delta {
	return &Delta{
		Partition: partition,
		Offset:    -1,
		Sources:   map[SourceKey]int64{},
		Counters:  map[CounterKey]int64{},
		Sketches:  map[SketchKey][]string{},
	}
}

// Store is the aggregate state store: persona figures, visitor states and
// the applied position, per partition. Implementations: the in-memory store
// in this package (tests, strip) and the Redis store (production); both pass
// aggregate/storetest.
type Store interface {
	// Claim makes the caller the owner of a partition's state. It bumps the
	// partition's fencing token and returns it with the applied position.
	// Writes with an older token fail with ErrFenced from then on.
	Claim(ctx context.Context, partition int) (Position, error)
	// LoadVisitors returns the stored states of the given pseudonyms of a
	// partition; pseudonyms with no state are absent from the map.
	LoadVisitors(ctx context.Context, partition int, pseudonyms []string) (map[string][]byte, error)
	// Apply writes a delta atomically (all or nothing) with the position it
	// reaches. It returns ErrFenced when token is not the partition's
	// current token, and does nothing (returning nil) when the stored offset
	// is already at or past d.Offset: a retried Apply whose first attempt
	// succeeded is harmless.
	Apply(ctx context.Context, token int64, d *Delta) error
	// Partitions lists the partitions that have state.
	Partitions(ctx context.Context) ([]int, error)
	// ReadWindow sums the figures of all partitions over [start, end),
	// rounded out to whole minutes.
	ReadWindow(ctx context.Context, start, end time.Time) (*WindowFigures, error)
}
