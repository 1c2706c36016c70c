package kafkax

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/internal/config"
)

// maxRequestBytes keeps one produce request per partition under the
// broker's default message.max.bytes (1 MiB), with room for record overhead.
const maxRequestBytes = 900 << 10

// OrderedWriter writes messages so that, per target partition, every call's
// messages form one record batch and calls land in order: a later chunk is
// never written before an earlier one is acknowledged.
//
// Why: the aggregate stage drops ingest's retry duplicates by keeping, per
// source partition, the highest source offset applied. That is only exact if
// a retried write can never land behind a later one. kafka-go's Writer may
// split a large call into several batches for one partition and keep writing
// the later ones after an earlier one failed; OrderedWriter prevents that by
// giving each caller its own Writer and cutting calls into chunks that fit a
// single batch per partition.
//
// An OrderedWriter is used by one goroutine at a time (one per input
// partition); it shares the connection pool of its Transport with the others.
type OrderedWriter struct {
	w         *kafka.Writer
	batchSize int
}

// NewOrderedWriter returns a writer with acks from all in-sync replicas (or
// the leader, when configured), the configured compression and the Murmur2
// partitioner of the Java client, so that keys land where Kafka Streams and
// other Java producers would put them.
func NewOrderedWriter(conn *Conn, transport *kafka.Transport, p config.Producer) *OrderedWriter {
	acks := kafka.RequireAll
	if p.Acks == "leader" {
		acks = kafka.RequireOne
	}
	return &OrderedWriter{
		w: &kafka.Writer{
			Addr:         kafka.TCP(conn.Brokers...),
			Balancer:     &kafka.Murmur2Balancer{},
			BatchSize:    p.BatchSize,
			BatchBytes:   maxRequestBytes + 64<<10,
			BatchTimeout: p.BatchTimeout,
			RequiredAcks: acks,
			Compression:  compression(p.Compression),
			MaxAttempts:  5,
			// Backoffs are short: the caller retries the whole call with its
			// own, longer backoff and reports it (D4).
			WriteBackoffMin: 50 * time.Millisecond,
			WriteBackoffMax: time.Second,
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    10 * time.Second,
			Transport:       transport,
		},
		batchSize: p.BatchSize,
	}
}

func compression(name string) kafka.Compression {
	switch name {
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	return 0
}

// Write writes msgs (each with its Topic set) in order and returns when all
// are acknowledged, or the first error. On error, some prefix of the chunks
// may have been written: the caller retries the whole call, and readers see
// duplicates (with the same deterministic ids), never a reordering.
func (o *OrderedWriter) Write(ctx context.Context, msgs []kafka.Message) error {
	for len(msgs) > 0 {
		n, size := 0, 0
		for n < len(msgs) && n < o.batchSize {
			s := len(msgs[n].Key) + len(msgs[n].Value) + 64
			for _, h := range msgs[n].Headers {
				s += len(h.Key) + len(h.Value)
			}
			if n > 0 && size+s > maxRequestBytes {
				break
			}
			size += s
			n++
		}
		if err := o.w.WriteMessages(ctx, msgs[:n]...); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// Close flushes and closes the writer.
func (o *OrderedWriter) Close() error { return o.w.Close() }

// Stats returns the writer's statistics since the last call.
func (o *OrderedWriter) Stats() kafka.WriterStats { return o.w.Stats() }
