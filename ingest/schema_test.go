package ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// corpusStart is the event time the synthetic corpora of these tests start
// at; Transform is called with the clock just after each event.
var corpusStart = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// policies returns the transformers the corpus tests run: the pattern
// scrubber alone, and the production default with rare-value suppression
// (in-memory counting, flushed every batch events).
func corpusTransformers(t *testing.T) map[string]struct {
	tr *Transformer
	rb *RareBatch
} {
	t.Helper()
	scrubOnly, err := NewTransformer(Options{}, NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRare(RareOptions{}, NewEphemeralKeys(), NewMemRareStore())
	if err != nil {
		t.Fatal(err)
	}
	rb := r.Batch()
	rare, err := NewTransformer(Options{Policy: rb}, NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		tr *Transformer
		rb *RareBatch
	}{"scrub-only": {scrubOnly, nil}, "rare": {rare, rb}}
}

// TestOutputValidatesSynthCorpus: the anonymized output of the transform
// validates against anonymized-event.json for the whole synthetic corpus:
// 20 000 events of the default stream (bots, app and web, campaigns,
// searches, 1 % malformed; a quarter under the race detector), 3 000
// events in canary mode (identifiers
// everywhere), the hand-written canary corpus and the raw examples under
// schemas/examples. Valid input is never rejected and malformed input
// always is.
func TestOutputValidatesSynthCorpus(t *testing.T) {
	type item struct {
		raw  []byte
		at   time.Time
		bad  bool
		name string
	}
	var corpus []item
	for _, mode := range []struct {
		canaries bool
		n        int
	}{{false, 20000}, {true, 3000}} {
		if testing.Short() {
			mode.n /= 10
		} else if raceEnabled {
			mode.n /= 4
		}
		cfg := synth.DefaultConfig()
		cfg.Seed, cfg.Start, cfg.Canaries = 11, corpusStart, mode.canaries
		if mode.canaries {
			cfg.Visitors = 300
		}
		g := synth.New(cfg)
		var ev synth.Event
		for i := 0; i < mode.n; i++ {
			g.Next(&ev)
			corpus = append(corpus, item{bytes.Clone(ev.Value), ev.Time, ev.Bad != synth.Valid, "synth " + string(ev.Bad)})
		}
	}
	samples, _ := synth.CanaryRaw(corpusStart.Add(time.Hour))
	for _, s := range samples {
		corpus = append(corpus, item{s.Value, corpusStart.Add(time.Hour), s.Bad != synth.Valid, s.Name})
	}
	files, _ := filepath.Glob("../schemas/examples/raw-event.*.json")
	if len(files) == 0 {
		t.Fatal("no raw-event examples under schemas/examples")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		corpus = append(corpus, item{b, time.Date(2026, 3, 14, 15, 9, 30, 0, time.UTC), false, f})
	}

	ctx := context.Background()
	for name, p := range corpusTransformers(t) {
		var out, rejected int
		for i, it := range corpus {
			now := it.at.Add(2 * time.Second)
			if p.rb != nil && i%500 == 0 {
				p.rb.Flush(ctx)
				p.rb.Begin(ctx, now)
			}
			res, rej, err := p.tr.Transform(ctx, &Input{Value: it.raw, Time: it.at, Source: schemas.Source{Topic: "clickstream.raw", Partition: i % 3, Offset: int64(i)}}, now)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case rej != nil && !it.bad:
				t.Errorf("%s: valid input (%s) rejected: %v\n%s", name, it.name, rej, it.raw)
			case rej == nil && it.bad:
				t.Errorf("%s: malformed input (%s) accepted:\n%s", name, it.name, res.JSON)
			case rej != nil:
				rejected++
			default:
				out++
				if err := schemas.ValidateJSON(schemas.EventSchema, res.JSON); err != nil {
					t.Fatalf("%s: output for %s does not validate: %v\n%s", name, it.name, err, res.JSON)
				}
			}
		}
		t.Logf("%s: %d events validated, %d rejected", name, out, rejected)
	}
}
