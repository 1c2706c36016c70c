package kafkax

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReaderConfig configures a PartitionReader.
type ReaderConfig struct {
	Topic     string
	Partition int
	// MaxBatch is the most messages Fill returns. Default: 2000.
	MaxBatch int
	// MaxBytes is the most bytes one fetch returns. Default: 10 MiB.
	MaxBytes int
}

// PartitionReader reads one partition in batches (a kafka-go Reader
// underneath, fetching ahead while the batch before is processed).
type PartitionReader struct {
	r   *kafka.Reader
	max int
}

// NewPartitionReader returns a reader of one partition; call SetOffset
// before the first Fill.
func NewPartitionReader(conn *Conn, c ReaderConfig) *PartitionReader {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 10 << 20
	}
	return &PartitionReader{
		max: c.MaxBatch,
		r: kafka.NewReader(kafka.ReaderConfig{
			Brokers:   conn.Brokers,
			Topic:     c.Topic,
			Partition: c.Partition,
			Dialer:    conn.Dialer(),
			MinBytes:  1,
			MaxBytes:  c.MaxBytes,
			MaxWait:   250 * time.Millisecond,
			// The queue only has to cover a fetch ahead of the batch being
			// filled: messages decode faster than stages process them, and
			// every queued message is memory (12 partitions in `run`).
			QueueCapacity: min(c.MaxBatch, 500),
			// Errors come back through Fill, and the runner logs them.
			ErrorLogger: kafka.LoggerFunc(func(string, ...any) {}),
		}),
	}
}

// SetOffset sets where reading starts: an offset, kafka.FirstOffset or
// kafka.LastOffset.
func (p *PartitionReader) SetOffset(offset int64) error { return p.r.SetOffset(offset) }

// Fill appends the next messages to batch: it waits for the first one
// (until ctx ends), then takes what arrives within linger, up to MaxBatch.
// An error means the first message could not be read; the reader retries
// by itself, so the caller backs off and calls Fill again.
func (p *PartitionReader) Fill(ctx context.Context, batch []kafka.Message, linger time.Duration) ([]kafka.Message, error) {
	m, err := p.r.FetchMessage(ctx)
	if err != nil {
		return batch, err
	}
	start := len(batch)
	batch = append(batch, m)
	if len(batch)-start < p.max {
		lctx, cancel := context.WithTimeout(ctx, linger)
		for len(batch)-start < p.max {
			m, err := p.r.FetchMessage(lctx)
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		cancel()
	}
	return batch, nil
}

// Lag returns how many messages the partition holds after the last one
// read, as of the last fetch.
func (p *PartitionReader) Lag() int64 { return p.r.Lag() }

// Close stops the reader.
func (p *PartitionReader) Close() error { return p.r.Close() }
