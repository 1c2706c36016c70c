package stage

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/obs"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// The stage benchmarks run a partition processor's Process on batches of
// 2000 realistic messages, as the consumer-group runner calls it, with the
// Prometheus metrics of a real process and Kafka writes discarded: what a
// stage costs per event on top of Kafka I/O. One op is one event;
// cpu-ns/event is this process's CPU time (garbage collection included).
//
//	go test -run '^$' -bench 'Process' -benchmem -benchtime 100000x ./internal/stage/

const benchBatch = 2000

type discardWriter struct{}

func (discardWriter) Write(context.Context, []kafka.Message) error { return nil }

// rawBatches returns n events of the default synthetic stream (1 % bad
// events, 4 % bots) as raw-topic batches of partition 0.
func rawBatches(n int, start time.Time) []kafkax.Batch {
	cfg := synth.DefaultConfig()
	cfg.Start = start
	cfg.EventsPerSecond = 10000
	cfg.Visitors = 100000
	g := synth.New(cfg)
	var ev synth.Event
	var out []kafkax.Batch
	for i := 0; i < n; i++ {
		if i%benchBatch == 0 {
			out = append(out, kafkax.Batch{Topic: "raw", Messages: make([]kafka.Message, 0, benchBatch)})
		}
		g.Next(&ev)
		b := &out[len(out)-1]
		b.Messages = append(b.Messages, kafka.Message{Topic: "raw", Offset: int64(i), Key: append([]byte(nil), ev.Key...),
			Value: append([]byte(nil), ev.Value...), Time: ev.Time})
	}
	return out
}

func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func runBatches(b *testing.B, batches []kafkax.Batch, p kafkax.Processor) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	n := 0
	for i := 0; n < b.N; i++ {
		batch := &batches[i%len(batches)]
		if err := p.Process(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n += len(batch.Messages)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/event")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}

// BenchmarkIngestProcess is the ingest stage: transform (with rare-value
// suppression on an in-memory store), the output messages and DLQ records,
// metrics.
func BenchmarkIngestProcess(b *testing.B) {
	now := time.Now()
	batches := rawBatches(20000, now.Add(-2*time.Second))
	m := obs.NewMetrics()
	r, err := ingest.NewRare(ingest.RareOptions{}, ingest.NewEphemeralKeys(), ingest.NewMemRareStore())
	if err != nil {
		b.Fatal(err)
	}
	s := &Ingest{cfg: IngestConfig{EventsTopic: "events", DLQTopic: "dlq", Keys: ingest.NewEphemeralKeys(), Rare: r,
		Metrics: m.Stage("ingest"), Now: func() time.Time { return now }}}
	rb := r.Batch()
	opt := s.cfg.Options
	opt.Policy = rb
	tr, err := ingest.NewTransformer(opt, s.cfg.Keys)
	if err != nil {
		b.Fatal(err)
	}
	p := &ingestPartition{s: s, tr: tr, rare: rb, w: discardWriter{}}
	for i := range batches { // warm the caches as a running stage has them
		if err := p.Process(context.Background(), &batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	runBatches(b, batches, p)
}

// BenchmarkAggregateProcess is the aggregate stage with the in-memory
// store: decode, dedupe, visitor states (cached), persona model,
// pre-aggregation into one delta per batch.
func BenchmarkAggregateProcess(b *testing.B) { benchAggregate(b, aggregate.NewMemStore()) }

// BenchmarkAggregateProcessRedis is the aggregate stage with the Redis
// store (PERSONAS_REDIS_URL; skipped without): the delta is encoded and
// applied by the Lua script, so ns/event includes Redis's time, and
// cpu-ns/event only this process's.
func BenchmarkAggregateProcessRedis(b *testing.B) {
	url := testenv.RedisURL(b)
	prefix := testenv.Prefix(b)
	testenv.CleanRedis(b, url, prefix)
	benchAggregate(b, redisx.NewAggStore(testenv.Redis(b, url), prefix, 25*time.Hour))
}

func benchAggregate(b *testing.B, store aggregate.Store) {
	now := time.Now()
	// Anonymized events, as ingest writes them, with source offsets that
	// keep growing: b.N events are made up front.
	keys := ingest.NewEphemeralKeys()
	tr, err := ingest.NewTransformer(ingest.Options{}, keys)
	if err != nil {
		b.Fatal(err)
	}
	raw := rawBatches(max(b.N, benchBatch), now.Add(-time.Duration(b.N/10000+1)*time.Second))
	var batches []kafkax.Batch
	var off int64
	for _, rb := range raw {
		out := kafkax.Batch{Topic: "events", Messages: make([]kafka.Message, 0, len(rb.Messages))}
		for _, m := range rb.Messages {
			o, rej, err := tr.Transform(context.Background(), &ingest.Input{Value: m.Value, Time: m.Time,
				Source: schemas.Source{Topic: "raw", Offset: m.Offset}}, now)
			if err != nil {
				b.Fatal(err)
			}
			if rej != nil {
				continue
			}
			out.Messages = append(out.Messages, kafka.Message{Topic: "events", Offset: off, Key: append([]byte(nil), o.Key...), Value: append([]byte(nil), o.JSON...)})
			off++
		}
		batches = append(batches, out)
	}
	m := obs.NewMetrics()
	s := &Aggregate{cfg: AggregateConfig{Store: store, Model: model.Default(), Epoch: 24 * time.Hour, Grace: time.Hour,
		Cache: aggregate.NewVisitorCache(200000), Metrics: m.Stage("aggregate"), Logger: zap.NewNop(), Now: func() time.Time { return now }}}
	proc, _, err := s.Open(context.Background(), "events", 0, 1, kafka.FirstOffset)
	if err != nil {
		b.Fatal(err)
	}
	runOnce(b, batches, proc)
}

// runOnce processes each batch once (their offsets only grow), b.N events
// in all.
func runOnce(b *testing.B, batches []kafkax.Batch, p kafkax.Processor) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	n := 0
	for i := 0; i < len(batches) && n < b.N; i++ {
		if err := p.Process(ctx, &batches[i]); err != nil {
			b.Fatal(err)
		}
		n += len(batches[i].Messages)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/event")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}
