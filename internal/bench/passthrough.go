package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/obs"
)

// StagePassthrough labels the pass-through's metrics.
const StagePassthrough = "passthrough"

// RunPassthrough is the I/O baseline of the benchmark (the hidden command
// `personas bench passthrough`): it consumes from with the same
// consumer-group runner, reader and batch settings as the stages, and
// writes every record's key and value unchanged to `to` with the same
// ordered writer, producer settings and acks. No decoding, no Redis: what is
// left is what Kafka I/O through kafka-go costs on this machine.
func RunPassthrough(ctx context.Context, cfg config.Config, log *zap.Logger, from, to, group string) error {
	conn, err := kafkax.NewConn(cfg.Kafka)
	if err != nil {
		return err
	}
	m := obs.NewMetrics()
	if cfg.HTTP.Listen != "" {
		srv, _, err := obs.Listen(cfg.HTTP.Listen, obs.Mux(obs.NewHealth(m), m, nil), log)
		if err != nil {
			return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	if cfg.Kafka.CreateTopics {
		if err := conn.EnsureTopics(ctx, cfg.Kafka.Partitions, cfg.Kafka.ReplicationFactor, from, to); err != nil {
			return err
		}
	}
	gc := kafkax.ConsumerGroup(cfg.Kafka.Consumer, group, from)
	gc.Logger = log
	gc.Observer = m.Observer(StagePassthrough, nil, nil)
	p := &passthrough{conn: conn, transport: conn.Transport(), producer: cfg.Kafka.Producer, to: to, m: m.Stage(StagePassthrough)}
	return kafkax.RunGroup(ctx, conn, gc, p)
}

type passthrough struct {
	conn      *kafkax.Conn
	transport *kafka.Transport
	producer  config.Producer
	to        string
	m         *obs.StageMetrics
}

func (p *passthrough) Open(_ context.Context, _ string, _ int, _ int32, committed int64) (kafkax.Processor, int64, error) {
	return &passPartition{p: p, w: kafkax.NewOrderedWriter(p.conn, p.transport, p.producer)}, committed, nil
}

type passPartition struct {
	p   *passthrough
	w   *kafkax.OrderedWriter
	out []kafka.Message
}

func (pp *passPartition) Process(ctx context.Context, b *kafkax.Batch) error {
	pp.out = pp.out[:0]
	for i := range b.Messages {
		m := &b.Messages[i]
		pp.out = append(pp.out, kafka.Message{Topic: pp.p.to, Key: m.Key, Value: m.Value})
	}
	if err := pp.w.Write(ctx, pp.out); err != nil {
		return err
	}
	pp.p.m.EventsIn(StagePassthrough, len(b.Messages))
	pp.p.m.EventsOut(StagePassthrough, len(b.Messages))
	return nil
}

func (pp *passPartition) Close() { _ = pp.w.Close() }
