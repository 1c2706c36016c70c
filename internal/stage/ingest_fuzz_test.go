package stage

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/obs"
	"github.com/personas-dev/personas/schemas"
)

// captureWriter keeps copies of what a stage writes.
type captureWriter struct{ msgs []kafka.Message }

func (w *captureWriter) Write(_ context.Context, msgs []kafka.Message) error {
	for _, m := range msgs {
		w.msgs = append(w.msgs, kafka.Message{Topic: m.Topic, Key: bytes.Clone(m.Key), Value: bytes.Clone(m.Value)})
	}
	return nil
}

var dlqReason = regexp.MustCompile(`^[a-z0-9_]+$`)

// FuzzIngestBoundary feeds arbitrary Kafka records (key, value or
// tombstone, headers) to the ingest stage exactly as the consumer-group
// runner hands them over, in a batch between two valid events.
//
// Invariant (promise D3, P5): Process never panics and never fails on bad
// input; every input record yields exactly one output record, on the events
// topic or on the DLQ; a DLQ record validates against its schema, names a
// reason code, and stays small whatever the input size (it points at the
// record and carries a hash, never the payload); an event validates against
// the anonymized-event schema; the valid event after the bad record is
// still processed.
func FuzzIngestBoundary(f *testing.F) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	valid := func(id string) []byte {
		return []byte(`{"type":"page","messageId":"` + id + `","anonymousId":"visitor-1","timestamp":"2026-11-29T11:59:00Z",` +
			`"context":{"page":{"url":"https://shop.example/p/123"},"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0"}}`)
	}
	for _, seed := range []struct {
		key, value []byte
		tombstone  bool
		hk, hv     string
	}{
		{value: valid("m-seed")},
		{value: []byte(`{"type":"track","event":"x","anonymousId":"a","timestamp":"2026-11-29T11:59:00Z","properties":{"category":"books"}}`)},
		{value: []byte(`{"type":"page"`)},
		{value: []byte{}},
		{tombstone: true, key: []byte("k")},
		{value: []byte("\x00\xff\xfe not json"), hk: "\xff", hv: "\x00"},
		{value: []byte(`{"type":"page","type":"track","anonymousId":"a","timestamp":"2026-11-29T11:59:00Z"}`)},
		{value: []byte(`{"type":"page","anonymousId":"a","timestamp":"1970-01-01T00:00:00Z"}`)},
		{value: []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`)},
		{value: []byte(`{"type":123,"anonymousId":["a"],"timestamp":true,"context":"x"}`)},
	} {
		f.Add(seed.key, seed.value, seed.tombstone, seed.hk, seed.hv)
	}

	m := obs.NewMetrics()
	keys := ingest.NewEphemeralKeys()
	r, err := ingest.NewRare(ingest.RareOptions{}, keys, ingest.NewMemRareStore())
	if err != nil {
		f.Fatal(err)
	}
	s := &Ingest{cfg: IngestConfig{EventsTopic: "events", DLQTopic: "dlq", Keys: keys, Rare: r,
		Metrics: m.Stage("ingest"), Now: func() time.Time { return now }}}
	rb := r.Batch()
	opt := s.cfg.Options
	opt.Policy = rb
	tr, err := ingest.NewTransformer(opt, keys)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool, hk, hv string) {
		if tombstone {
			value = nil
		} else if value == nil {
			value = []byte{}
		}
		w := &captureWriter{}
		p := &ingestPartition{s: s, tr: tr, rare: rb, w: w}
		batch := kafkax.Batch{Topic: "raw", Messages: []kafka.Message{
			{Topic: "raw", Offset: 10, Value: valid("m-before"), Time: now},
			{Topic: "raw", Offset: 11, Key: key, Value: value, Time: now, Headers: []kafka.Header{{Key: hk, Value: []byte(hv)}}},
			{Topic: "raw", Offset: 12, Value: valid("m-after"), Time: now},
		}}
		if err := p.Process(context.Background(), &batch); err != nil {
			t.Fatalf("Process failed on bad input: %v", err)
		}
		if len(w.msgs) != 3 {
			t.Fatalf("%d records out for 3 in", len(w.msgs))
		}
		for i, out := range w.msgs {
			switch out.Topic {
			case "dlq":
				if i != 1 {
					t.Fatalf("valid record %d went to the DLQ: %s", i, out.Value)
				}
				if len(out.Value) > 1024 {
					t.Fatalf("DLQ record of %d bytes: it must point at the input, not carry it", len(out.Value))
				}
				if err := schemas.ValidateJSON(schemas.DLQSchema, out.Value); err != nil {
					t.Fatalf("DLQ record does not match its schema: %v\n%s", err, out.Value)
				}
				var rec schemas.DLQRecord
				if err := json.Unmarshal(out.Value, &rec); err != nil || !dlqReason.MatchString(rec.Reason) || rec.Source.Offset != 11 {
					t.Fatalf("DLQ record without a reason code or the record's position: %s", out.Value)
				}
			case "events":
				if err := schemas.ValidateJSON(schemas.EventSchema, out.Value); err != nil {
					t.Fatalf("event %d does not match the anonymized-event schema: %v\n%s", i, err, out.Value)
				}
			default:
				t.Fatalf("record %d written to topic %q", i, out.Topic)
			}
		}
	})
}
