package stage

import (
	"context"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/retry"
	"github.com/personas-dev/personas/schemas"
)

// AggregateConfig configures the aggregate stage.
type AggregateConfig struct {
	Store    aggregate.Store
	Model    *model.Model
	Epoch    time.Duration
	Grace    time.Duration
	Cache    *aggregate.VisitorCache
	DLQTopic string
	Metrics  Metrics
	Logger   *zap.Logger
	Now      func() time.Time
}

// Aggregate is the kafkax.Opener of the aggregate stage.
//
// Effectively once: the store keeps, per events partition, the last applied
// offset and the source high watermarks, written atomically with the
// figures. A newly assigned partition claims its state (fencing the previous
// owner) and resumes right after the stored offset, whatever Kafka's
// committed offset says; Kafka commits only serve lag monitoring.
type Aggregate struct {
	cfg       AggregateConfig
	conn      *kafkax.Conn
	transport *kafka.Transport
	producer  config.Producer
}

// NewAggregate returns the aggregate stage.
func NewAggregate(conn *kafkax.Conn, producer config.Producer, cfg AggregateConfig) *Aggregate {
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Cache == nil {
		cfg.Cache = aggregate.NewVisitorCache(200000)
	}
	return &Aggregate{cfg: cfg, conn: conn, transport: conn.Transport(), producer: producer}
}

// Open implements kafkax.Opener: claim the partition's state and resume
// after the stored position.
func (s *Aggregate) Open(ctx context.Context, topic string, partition int, _ int32, committed int64) (kafkax.Processor, int64, error) {
	pos, err := s.cfg.Store.Claim(ctx, partition)
	if err != nil {
		return nil, 0, err
	}
	start := committed
	if pos.Offset >= 0 {
		start = pos.Offset + 1
	}
	s.cfg.Cache.Drop(partition) // the previous owner may have changed states
	return &aggregatePartition{
		s:       s,
		topic:   topic,
		part:    partition,
		token:   pos.Token,
		builder: aggregate.NewBuilder(partition, s.cfg.Model, s.cfg.Epoch, s.cfg.Grace, pos, s.cfg.Cache),
	}, start, nil
}

type aggregatePartition struct {
	s       *Aggregate
	topic   string
	part    int
	token   int64
	builder *aggregate.Builder
	w       *kafkax.OrderedWriter
	msgs    []aggregate.Message
}

// Process pre-aggregates the batch and applies it with one store call
// (plus one read for visitor states not in the cache).
func (p *aggregatePartition) Process(ctx context.Context, b *kafkax.Batch) error {
	cfg := &p.s.cfg
	began := time.Now()
	p.msgs = p.msgs[:0]
	for i := range b.Messages {
		p.msgs = append(p.msgs, aggregate.Message{Offset: b.Messages[i].Offset, Value: b.Messages[i].Value})
	}
	need := p.builder.Scan(p.msgs)
	var loaded map[string][]byte
	if len(need) > 0 {
		var err error
		if loaded, err = cfg.Store.LoadVisitors(ctx, p.part, need); err != nil {
			return err
		}
	}
	if rej := p.builder.Rejected(); len(rej) > 0 {
		if err := p.writeDLQ(ctx, b, rej); err != nil {
			return err
		}
	}
	d := p.builder.Build(loaded)
	if err := cfg.Store.Apply(ctx, p.token, d); err != nil {
		if errors.Is(err, aggregate.ErrFenced) {
			return retry.Fatal(err)
		}
		return err
	}
	p.builder.Commit()
	cfg.Metrics.EventsIn("aggregate", len(b.Messages))
	cfg.Metrics.EventsOut("aggregate", d.Events)
	cfg.Metrics.Duplicates("aggregate", d.Duplicates)
	cfg.Metrics.Applied(p.part, d.Events, time.Since(began))
	return nil
}

func (p *aggregatePartition) writeDLQ(ctx context.Context, b *kafkax.Batch, rej []aggregate.Rejected) error {
	cfg := &p.s.cfg
	if p.w == nil {
		p.w = kafkax.NewOrderedWriter(p.s.conn, p.s.transport, p.s.producer)
	}
	byOffset := map[int64][]byte{}
	for i := range b.Messages {
		byOffset[b.Messages[i].Offset] = b.Messages[i].Value
	}
	now := cfg.Now()
	out := make([]kafka.Message, 0, len(rej))
	for _, r := range rej {
		src := schemas.Source{Topic: p.topic, Partition: p.part, Offset: r.Offset}
		rec := DLQRecord("aggregate", src, byOffset[r.Offset], r.Reason, "", now)
		cfg.Metrics.Rejected("aggregate", r.Reason)
		out = append(out, kafka.Message{Topic: cfg.DLQTopic, Key: []byte(p.topic + "/" + itoa(p.part)), Value: appendDLQ(nil, &rec)})
	}
	return p.w.Write(ctx, out)
}

func (p *aggregatePartition) Close() {
	p.s.cfg.Cache.Drop(p.part)
	if p.w != nil {
		_ = p.w.Close()
	}
}
