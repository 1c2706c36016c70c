package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// BenchmarkTransformSynth measures the whole transform (limits, parse,
// schema, pseudonym, projection, scrubbing, rare-value policy with an
// in-memory store) on realistic synthetic events of ~1.1 KB.
func BenchmarkTransformSynth(b *testing.B) {
	cfg := synth.DefaultConfig()
	cfg.Start = time.Now().Add(-time.Minute)
	cfg.BadShare = 0
	g := synth.New(cfg)
	var ev synth.Event
	var inputs [][]byte
	for i := 0; i < 5000; i++ {
		g.Next(&ev)
		inputs = append(inputs, append([]byte(nil), ev.Value...))
	}
	r, _ := NewRare(RareOptions{}, NewEphemeralKeys(), NewMemRareStore())
	rb := r.Batch()
	tr, _ := NewTransformer(Options{Policy: rb}, NewEphemeralKeys())
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%1000 == 0 {
			rb.Flush(ctx)
			rb.Begin(ctx, now)
		}
		tr.Transform(ctx, &Input{Value: inputs[i%len(inputs)], Source: schemas.Source{Topic: "t"}}, now)
	}
}
