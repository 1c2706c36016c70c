package ingest

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// The transform benchmarks report, besides ns/op (wall time, which on a
// shared, loaded machine measures the neighbours too), CPU time per event:
//
//	cpu-ns/event     CPU of the whole process (getrusage RUSAGE_SELF), so
//	                 the garbage collector's background workers count;
//	thread-ns/event  CPU of the benchmark's own OS thread (RUSAGE_THREAD).
//
// Run them on one core:
//
//	go test -run '^$' -bench 'Transform' -benchmem -cpu 1 -count 5 ./ingest/

// synthInputs returns n valid synthetic raw events of the default stream
// (~1.1 KB each, 4 % bots), timed in the minute before now.
func synthInputs(b *testing.B, n int, now time.Time) [][]byte {
	cfg := synth.DefaultConfig()
	cfg.Start = now.Add(-time.Minute)
	cfg.BadShare = 0
	g := synth.New(cfg)
	var ev synth.Event
	inputs := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		g.Next(&ev)
		inputs = append(inputs, append([]byte(nil), ev.Value...))
	}
	return inputs
}

// runTransform runs the transform over inputs b.N times and reports CPU
// time per event. rb, when set, is flushed every batch events, as the
// ingest stage does once per Kafka batch.
func runTransform(b *testing.B, tr *Transformer, rb *RareBatch, inputs [][]byte, now time.Time, batch int) {
	ctx := context.Background()
	// Warm the caches (UA parses, value hashes, released values) as a
	// running stage has them.
	for i := range inputs {
		if rb != nil && i%batch == 0 {
			rb.Flush(ctx)
			rb.Begin(ctx, now)
		}
		tr.Transform(ctx, &Input{Value: inputs[i], Source: schemas.Source{Topic: "t"}}, now)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	p0, t0 := cpuNanos(0), cpuNanos(1)
	for i := 0; i < b.N; i++ {
		if rb != nil && i%batch == 0 {
			rb.Flush(ctx)
			rb.Begin(ctx, now)
		}
		in := inputs[i%len(inputs)]
		bytes += int64(len(in))
		tr.Transform(ctx, &Input{Value: in, Source: schemas.Source{Topic: "t", Offset: int64(i)}}, now)
	}
	p1, t1 := cpuNanos(0), cpuNanos(1)
	b.StopTimer()
	b.SetBytes(bytes / int64(max(b.N, 1)))
	if p1 > p0 {
		b.ReportMetric(float64(p1-p0)/float64(b.N), "cpu-ns/event")
		b.ReportMetric(float64(t1-t0)/float64(b.N), "thread-ns/event")
	}
}

// BenchmarkTransformSynth measures the whole transform (limits, parse,
// schema, pseudonym, projection, scrubbing, rare-value policy with an
// in-memory store flushed every 500 events) on realistic synthetic events
// of ~1.1 KB: the production default.
func BenchmarkTransformSynth(b *testing.B) {
	now := time.Now()
	inputs := synthInputs(b, 5000, now)
	r, _ := NewRare(RareOptions{}, NewEphemeralKeys(), NewMemRareStore())
	rb := r.Batch()
	tr, _ := NewTransformer(Options{Policy: rb}, NewEphemeralKeys())
	runTransform(b, tr, rb, inputs, now, 500)
}

// BenchmarkTransformSynthScrubOnly is BenchmarkTransformSynth without
// rare-value suppression (ingest.rare.enabled: false).
func BenchmarkTransformSynthScrubOnly(b *testing.B) {
	now := time.Now()
	inputs := synthInputs(b, 5000, now)
	tr, _ := NewTransformer(Options{}, NewEphemeralKeys())
	runTransform(b, tr, nil, inputs, now, 0)
}

// BenchmarkTransformSynthStrict adds the JSON Schema validator on every
// event (ingest StrictSchema), to show what the typed fast path saves.
func BenchmarkTransformSynthStrict(b *testing.B) {
	now := time.Now()
	inputs := synthInputs(b, 5000, now)
	tr, _ := NewTransformer(Options{StrictSchema: true}, NewEphemeralKeys())
	runTransform(b, tr, nil, inputs, now, 0)
}
