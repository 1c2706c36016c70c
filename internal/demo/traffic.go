package demo

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/synth"
)

// traffic plays a synthetic clickstream into the raw topic in real time:
// event times start now and each event is written when the wall clock
// reaches it, so the compressed daily rhythm of the generator shows as a
// changing rate.
type traffic struct {
	gen      *synth.Generator
	simStart time.Time // event time of the first event
	dayLen   time.Duration
	shopAt   time.Duration // shop-local time of day at simStart
	wall     atomic.Int64  // unix ns when playing started (0: not yet)
	produced atomic.Int64
}

// shopStart is the shop's local time of day when the demo starts: late
// morning, so the first minutes rise towards the lunch bump and the evening
// peak follows a few minutes later.
const shopStart = 10 * time.Hour

// newTraffic builds the generator (its first construction calibrates the
// session planner, about a second, so callers start it early).
func newTraffic(seed uint64, rate float64, visitors int, dayLen time.Duration) (*traffic, error) {
	sc := synth.DefaultConfig()
	sc.Seed = seed
	sc.EventsPerSecond = rate
	sc.Visitors = visitors
	sc.DayLength = dayLen
	sc.Start = time.Now().Add(time.Second).Truncate(time.Second)
	// Place the start on the daily curve at shopStart, whatever the hour.
	sod := sc.Start.Sub(sc.Start.Truncate(24 * time.Hour))
	sc.UTCOffset = shopStart - sod
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &traffic{gen: synth.New(sc), simStart: sc.Start, dayLen: dayLen, shopAt: shopStart}, nil
}

// Produced is the number of events written so far.
func (t *traffic) Produced() int64 { return t.produced.Load() }

// ShopClock is the simulated local time of the shop, like "14:05".
func (t *traffic) ShopClock() string {
	tod := t.shopAt
	if w := t.wall.Load(); w != 0 {
		el := time.Since(time.Unix(0, w))
		tod += time.Duration(float64(el) * float64(24*time.Hour) / float64(t.dayLen))
	}
	tod %= 24 * time.Hour
	return fmt.Sprintf("%02d:%02d", int(tod.Hours()), int(tod.Minutes())%60)
}

// run writes events until ctx is cancelled.
func (t *traffic) run(ctx context.Context, conn *kafkax.Conn, topic string) error {
	w := &kafka.Writer{
		Addr:         kafka.TCP(conn.Brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		BatchSize:    1000,
		BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		Compression:  kafka.Lz4,
		Transport:    conn.Transport(),
	}
	defer w.Close()
	const slack = 25 * time.Millisecond // how early an event may be written
	start := time.Now()
	t.wall.Store(start.UnixNano())
	batch := make([]kafka.Message, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			return err
		}
		t.produced.Add(int64(len(batch)))
		batch = batch[:0]
		return nil
	}
	var ev synth.Event
	for {
		t.gen.Next(&ev)
		due := start.Add(ev.Time.Sub(t.simStart))
		if d := time.Until(due); d > slack || len(batch) == cap(batch) {
			if err := flush(); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("produce synthetic traffic: %w", err)
			}
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(d):
				}
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		batch = append(batch, kafka.Message{
			Key: bytes.Clone(ev.Key),
			// A zero-length payload stays zero-length (not a tombstone).
			Value: append([]byte{}, ev.Value...),
			Time:  ev.Time,
		})
	}
}
