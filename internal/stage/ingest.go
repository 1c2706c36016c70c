// Package stage connects the pure stages (ingest, aggregate, emit) to Kafka
// and Redis: per-partition processors for the consumer-group runner, the
// emit loop, and the DLQ records they write. Observability is added by the
// Observer hooks and the kafkax runner, not inside the pure code.
package stage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/schemas"
)

// Metrics receives stage-level counts. Implementations must be cheap and
// safe for concurrent use; labels are reason codes and stage names only.
type Metrics interface {
	EventsIn(stage string, n int)
	EventsOut(stage string, n int)
	Rejected(stage, reason string)
	Duplicates(stage string, n int)
	Bots(n int)
	Scrubbed(kinds string)
	Applied(partition int, events int, took time.Duration)
	RedisRoundTrips(n int)
	RareSuppressed(field string, n int)
	RareReleased(field string, n int)
}

// NopMetrics ignores everything.
type NopMetrics struct{}

func (NopMetrics) EventsIn(string, int)            {}
func (NopMetrics) EventsOut(string, int)           {}
func (NopMetrics) Rejected(string, string)         {}
func (NopMetrics) Duplicates(string, int)          {}
func (NopMetrics) Bots(int)                        {}
func (NopMetrics) Scrubbed(string)                 {}
func (NopMetrics) Applied(int, int, time.Duration) {}
func (NopMetrics) RedisRoundTrips(int)             {}
func (NopMetrics) RareSuppressed(string, int)      {}
func (NopMetrics) RareReleased(string, int)        {}

// DLQNamespace is the UUIDv5 namespace of DLQ record ids.
var DLQNamespace = uuid.MustParse("3b0a7f5e-61a2-5d4c-8e1f-9c2d7b6a4e10")

// DLQRecord describes a rejected message without any of its content: the
// coordinates, the reason, the rule, and a SHA-256 of the payload so an
// operator can match it to the original (P5).
func DLQRecord(stage string, src schemas.Source, payload []byte, reason, rule string, now time.Time) schemas.DLQRecord {
	sum := sha256.Sum256(payload)
	id := uuid.NewSHA1(DLQNamespace, []byte(stage+"/"+src.Topic+"/"+itoa(src.Partition)+"/"+itoa64(src.Offset)))
	return schemas.DLQRecord{
		Schema:        schemas.DLQV1,
		ID:            id.String(),
		Stage:         stage,
		Source:        src,
		Reason:        reason,
		Rule:          rule,
		PayloadSHA256: hex.EncodeToString(sum[:]),
		PayloadBytes:  len(payload),
		Time:          now.UTC().Format(time.RFC3339Nano),
	}
}

// IngestConfig configures the ingest stage.
type IngestConfig struct {
	EventsTopic string
	DLQTopic    string
	Options     ingest.Options
	Keys        ingest.Keys
	// Rare is rare-value suppression; nil publishes every scrubbed value.
	Rare    *ingest.Rare
	Metrics Metrics
	Logger  *zap.Logger
	// Now is the clock (tests). Default: time.Now.
	Now func() time.Time
}

// Ingest is the kafkax.Opener of the ingest stage: each raw partition gets
// its own transformer and ordered writer.
type Ingest struct {
	cfg       IngestConfig
	conn      *kafkax.Conn
	transport *kafka.Transport
	producer  config.Producer
}

// NewIngest returns the ingest stage.
func NewIngest(conn *kafkax.Conn, producer config.Producer, cfg IngestConfig) (*Ingest, error) {
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Fail at start on bad options rather than per partition.
	if _, err := ingest.NewTransformer(cfg.Options, cfg.Keys); err != nil {
		return nil, err
	}
	return &Ingest{cfg: cfg, conn: conn, transport: conn.Transport(), producer: producer}, nil
}

// Open implements kafkax.Opener.
func (s *Ingest) Open(_ context.Context, topic string, partition int, _ int32, committed int64) (kafkax.Processor, int64, error) {
	opt := s.cfg.Options
	var rb *ingest.RareBatch
	if s.cfg.Rare != nil {
		rb = s.cfg.Rare.Batch()
		opt.Policy = rb
	}
	tr, err := ingest.NewTransformer(opt, s.cfg.Keys)
	if err != nil {
		return nil, 0, err
	}
	return &ingestPartition{
		s:    s,
		tr:   tr,
		rare: rb,
		w:    kafkax.NewOrderedWriter(s.conn, s.transport, s.producer),
	}, committed, nil
}

type ingestPartition struct {
	s       *Ingest
	tr      *ingest.Transformer
	w       Writer
	rare    *ingest.RareBatch
	out     []kafka.Message
	buf     []byte
	reasons []string
}

// Process transforms a batch and writes the anonymized events and DLQ
// records; it returns once all are acknowledged (D1). Rejections never
// fail the batch (D3).
func (p *ingestPartition) Process(ctx context.Context, b *kafkax.Batch) error {
	cfg := &p.s.cfg
	now := cfg.Now()
	p.out = p.out[:0]
	p.buf = p.buf[:0]
	p.reasons = p.reasons[:0]
	var bots, rejected int
	if p.rare != nil {
		if err := p.rare.Begin(ctx, now); err != nil {
			return err
		}
	}
	type span struct{ start, end int }
	keys := make([]span, 0, len(b.Messages))
	vals := make([]span, 0, len(b.Messages))
	for i := range b.Messages {
		m := &b.Messages[i]
		in := ingest.Input{
			Value:  m.Value,
			Null:   m.Value == nil,
			Time:   m.Time,
			Source: schemas.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset},
		}
		out, rej, err := p.tr.Transform(ctx, &in, now)
		if err != nil {
			return err // the key store failed: retry the batch
		}
		if rej != nil {
			rejected++
			p.reasons = append(p.reasons, string(rej.Reason))
			rec := DLQRecord("ingest", in.Source, m.Value, string(rej.Reason), rej.Rule, now)
			start := len(p.buf)
			p.buf = appendDLQ(p.buf, &rec)
			p.out = append(p.out, kafka.Message{Topic: cfg.DLQTopic, Key: []byte(in.Source.Topic + "/" + itoa(in.Source.Partition))})
			keys = append(keys, span{-1, -1})
			vals = append(vals, span{start, len(p.buf)})
			continue
		}
		if out.Bot {
			bots++
		}
		if out.Scrubbed != 0 {
			cfg.Metrics.Scrubbed(out.Scrubbed.String())
		}
		ks := len(p.buf)
		p.buf = append(p.buf, out.Key...)
		vs := len(p.buf)
		p.buf = append(p.buf, out.JSON...)
		p.out = append(p.out, kafka.Message{Topic: cfg.EventsTopic})
		keys = append(keys, span{ks, vs})
		vals = append(vals, span{vs, len(p.buf)})
	}
	if p.rare != nil {
		// One store call per batch: count this batch's sightings of
		// unreleased values, learn which values are released now.
		if err := p.rare.Flush(ctx); err != nil {
			return err
		}
	}
	// Slices into buf are taken after it stopped growing.
	for i := range p.out {
		if keys[i].start >= 0 {
			p.out[i].Key = p.buf[keys[i].start:keys[i].end:keys[i].end]
		}
		p.out[i].Value = p.buf[vals[i].start:vals[i].end:vals[i].end]
	}
	if err := p.w.Write(ctx, p.out); err != nil {
		// kafka-go may still be sending (or retrying) batches that point
		// into these buffers after a failed call: never reuse them.
		p.buf, p.out = nil, nil
		return err
	}
	// Counted only once the batch is written: a retried batch counts once.
	for _, r := range p.reasons {
		cfg.Metrics.Rejected("ingest", r)
	}
	if p.rare != nil {
		for f, n := range p.rare.Suppressed {
			cfg.Metrics.RareSuppressed(f, n)
		}
		for f, n := range p.rare.Released {
			cfg.Metrics.RareReleased(f, n)
		}
	}
	cfg.Metrics.EventsIn("ingest", len(b.Messages))
	cfg.Metrics.EventsOut("ingest", len(b.Messages)-rejected)
	cfg.Metrics.Bots(bots)
	return nil
}

func (p *ingestPartition) Close() {
	if c, ok := p.w.(io.Closer); ok {
		_ = c.Close()
	}
}

func appendDLQ(b []byte, r *schemas.DLQRecord) []byte {
	j, err := json.Marshal(r)
	if err != nil {
		panic(err) // a DLQRecord always encodes
	}
	return append(b, j...)
}

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
