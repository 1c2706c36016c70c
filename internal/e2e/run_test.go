package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/reference"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// expectedReasons maps each kind of bad input the generator makes to the
// DLQ reasons that correctly describe it.
var expectedReasons = map[synth.BadKind][]string{
	synth.BadTruncated:       {"bad_json"},
	synth.BadNotJSON:         {"bad_json", "not_object", "invalid_utf8", "nul_byte"},
	synth.BadEmpty:           {"empty", "tombstone"},
	synth.BadWrongType:       {"schema_violation"},
	synth.BadMissingType:     {"schema_violation"},
	synth.BadMissingID:       {"no_identifier"},
	synth.BadInvalidUTF8:     {"invalid_utf8"},
	synth.BadOversized:       {"too_large"},
	synth.BadDeepNesting:     {"too_deep"},
	synth.BadTimestampPast:   {"epoch_expired"},
	synth.BadTimestampFuture: {"time_in_future"},
}

type produced struct {
	msgs     []kafka.Message
	valid    int
	bad      map[string]synth.BadKind // payload sha256 -> kind
	canaries []string
}

// produceSynthetic writes n synthetic events (canaries planted, a share of
// them malformed) to topic, with event times in the last few minutes.
func produceSynthetic(t *testing.T, e *env, topic string, n int, seed uint64, badShare float64) produced {
	t.Helper()
	cfg := synth.DefaultConfig()
	cfg.Seed = seed
	cfg.Visitors = 400
	cfg.Canaries = true
	cfg.BadShare = badShare
	cfg.EventsPerSecond = float64(n) / 120 // two minutes of event time
	cfg.Diurnal = 0                        // a flat rate: the span must not depend on the time of day
	cfg.Start = time.Now().Add(-3 * time.Minute)
	g := synth.New(cfg)
	p := produced{bad: map[string]synth.BadKind{}}
	var ev synth.Event
	for i := 0; i < n; i++ {
		g.Next(&ev)
		m := kafka.Message{Key: bytes.Clone(ev.Key), Value: bytes.Clone(ev.Value), Time: ev.Time}
		if ev.Bad != synth.Valid {
			sum := sha256.Sum256(m.Value)
			p.bad[hex.EncodeToString(sum[:])] = ev.Bad
		} else {
			p.valid++
		}
		p.msgs = append(p.msgs, m)
	}
	p.canaries = g.Canaries()
	testenv.Produce(t, e.brokers, topic, p.msgs...)
	return p
}

// TestRunEndToEnd is the walking skeleton's acceptance test: raw events
// with identifiers go through `personas run` on real Kafka and Redis.
func TestRunEndToEnd(t *testing.T) {
	e := newEnv(t, 3,
		"PERSONAS_EMIT_TICK=1s", "PERSONAS_EMIT_SNAPSHOT_EVERY=2s", "PERSONAS_EMIT_K=5")
	in := produceSynthetic(t, e, e.topics["raw"], 4000, 7, 0.03)
	if len(in.bad) == 0 || len(in.canaries) == 0 {
		t.Fatal("the generator made no bad events or no canaries")
	}
	p := e.start("run")

	// (a) one anonymized event per valid input.
	var events []kafka.Message
	waitFor(t, 90*time.Second, "all valid events on the anonymized topic", func() bool {
		events = e.readAll(e.topics["events"], 300*time.Millisecond)
		return uniqueIDs(t, events) >= in.valid || len(events)+len(e.readAll(e.topics["dlq"], 300*time.Millisecond)) >= len(in.msgs)
	})
	if got := uniqueIDs(t, events); got != in.valid {
		t.Errorf("anonymized topic holds %d distinct events, want %d (one per valid input)", got, in.valid)
	}
	for _, m := range events {
		if err := schemas.ValidateJSON(schemas.EventSchema, m.Value); err != nil {
			t.Fatalf("anonymized event does not match its schema: %v", err)
		}
	}

	// (d) every malformed event is in the DLQ with a fitting reason, and
	// nothing else is.
	var dlq []kafka.Message
	waitFor(t, 30*time.Second, "all bad events in the DLQ", func() bool {
		dlq = e.readAll(e.topics["dlq"], 300*time.Millisecond)
		return len(dlq) >= len(in.bad)
	})
	seen := map[string]bool{}
	for _, m := range dlq {
		var rec schemas.DLQRecord
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if err := schemas.ValidateJSON(schemas.DLQSchema, m.Value); err != nil {
			t.Fatalf("DLQ record does not match its schema: %v", err)
		}
		kind, ok := in.bad[rec.PayloadSHA256]
		if !ok {
			t.Errorf("DLQ holds a record for an input that was valid: reason %s rule %q", rec.Reason, rec.Rule)
			continue
		}
		if !contains(expectedReasons[kind], rec.Reason) {
			t.Errorf("bad input %s got reason %s (rule %q), want one of %v", kind, rec.Reason, rec.Rule, expectedReasons[kind])
		}
		seen[rec.PayloadSHA256] = true
	}
	if len(seen) != len(in.bad) {
		missed := map[synth.BadKind]int{}
		for h, k := range in.bad {
			if !seen[h] {
				missed[k]++
			}
		}
		t.Errorf("DLQ covers %d of %d bad inputs; passed through: %v", len(seen), len(in.bad), missed)
	}

	// (b) the persona counters in Redis equal the figures computed from
	// the anonymized events by the reference.
	ref, err := reference.Compute(model.Default(), values(events))
	if err != nil {
		t.Fatal(err)
	}
	store := openStore(t, e)
	from, to := ref.Minutes[0], ref.Minutes[len(ref.Minutes)-1]+1
	waitFor(t, 30*time.Second, "persona figures in Redis to match the reference", func() bool {
		got, err := store.ReadWindow(context.Background(), time.Unix(from*60, 0), time.Unix(to*60, 0))
		return err == nil && len(reference.Diff(got, ref.Window(from, to), 0.02)) == 0
	})
	for m := from; m < to; m++ {
		got, err := store.ReadWindow(context.Background(), time.Unix(m*60, 0), time.Unix((m+1)*60, 0))
		if err != nil {
			t.Fatal(err)
		}
		if d := reference.Diff(got, ref.Window(m, m+1), 0.02); len(d) > 0 {
			t.Errorf("minute %s differs from the reference:\n  %s", time.Unix(m*60, 0).UTC().Format("15:04"), strings.Join(d, "\n  "))
		}
	}

	// (c) at least one segment change arrives and matches its schema.
	var changes []kafka.Message
	waitFor(t, 60*time.Second, "a segment-change event", func() bool {
		changes = e.readAll(e.topics["changes"], 300*time.Millisecond)
		return len(changes) > 0
	})
	for _, m := range changes {
		if err := schemas.ValidateJSON(schemas.SegmentChangeSchema, m.Value); err != nil {
			t.Fatalf("segment change does not match its schema: %v\n%s", err, m.Value)
		}
	}
	snaps := e.readAll(e.topics["snapshots"], 300*time.Millisecond)
	for _, m := range snaps {
		if err := schemas.ValidateJSON(schemas.SnapshotSchema, m.Value); err != nil {
			t.Fatalf("snapshot does not match its schema: %v", err)
		}
	}

	took := p.stop(t, 20*time.Second)
	t.Logf("%d inputs: %d events, %d DLQ records, %d segment changes, %d snapshots; SIGTERM to exit %s",
		len(in.msgs), len(events), len(dlq), len(changes), len(snaps), took.Round(time.Millisecond))

	// P1: no identifier anywhere: topics, Redis, logs.
	matcher := synth.NewCanaryMatcher(in.canaries)
	check := func(where string, b []byte) {
		if found := matcher.Find(b); len(found) > 0 {
			t.Errorf("%s holds identifier values from the input: %q in %s", where, found[:min(len(found), 5)], fieldsWith(matcher, b))
		}
	}
	for _, m := range events {
		check("anonymized topic", append(m.Key, m.Value...))
	}
	for _, set := range [][]kafka.Message{dlq, changes, snaps} {
		for _, m := range set {
			check("output topic", append(m.Key, m.Value...))
		}
	}
	check("Redis", e.redisDump())
	check("logs", p.out.Bytes())
}

func values(ms []kafka.Message) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = m.Value
	}
	return out
}

func uniqueIDs(t *testing.T, ms []kafka.Message) int {
	ids := map[string]bool{}
	for _, m := range ms {
		var ev struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatalf("anonymized topic holds a non-event: %v", err)
		}
		ids[ev.EventID] = true
	}
	return len(ids)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func openStore(t *testing.T, e *env) aggregate.Store {
	cfg := config.Default().Redis
	cfg.URL = e.redisURL
	c, err := redisx.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return redisx.NewAggStore(c, e.prefix, 25*time.Hour)
}

// fieldsWith names the top-level JSON fields of doc that hold a canary,
// with their values, so a leak says where it is.
func fieldsWith(m *synth.CanaryMatcher, doc []byte) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(doc, &obj) != nil {
		return "(not a JSON object)"
	}
	var out []string
	for k, v := range obj {
		if len(m.Find(v)) > 0 {
			out = append(out, k+"="+string(v))
		}
	}
	return strings.Join(out, ", ")
}
