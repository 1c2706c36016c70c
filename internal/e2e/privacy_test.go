package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// privacyExtraCanaries reads the extra hand-written canary cases shared with the
// ingest and strip tests (ingest/testdata/canary): one copy of every line
// per sender id, timed at ts, and the planted values with their URL-encoded
// and base64 spellings.
func privacyExtraCanaries(t *testing.T, ts time.Time, ids ...string) ([][]byte, []synth.Canary) {
	t.Helper()
	read := func(name string) []string {
		f, err := os.Open("../../ingest/testdata/canary/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	var events [][]byte
	for _, id := range ids {
		for _, l := range read("extra.jsonl") {
			events = append(events, []byte(strings.NewReplacer("{{TS}}", ts.UTC().Format(time.RFC3339Nano), "{{ID}}", id).Replace(l)))
		}
	}
	var cans []synth.Canary
	for _, l := range read("extra-canaries.txt") {
		kind, v, _ := strings.Cut(l, "\t")
		cans = append(cans, synth.Canary{Kind: kind, Value: v, Variants: []string{url.QueryEscape(v), url.PathEscape(v),
			strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(v)), "="), base64.RawURLEncoding.EncodeToString([]byte(v))}})
	}
	return events, cans
}

// TestPrivacyCanariesKafka is the canary suite on the real Kafka path
// (P1, P2, P5, P6): the hand-written canary corpus (synth.CanaryRaw), the
// extra cases of ingest/testdata/canary (three senders each) and a
// canary-mode synthetic stream go through `personas run` with the default
// privacy settings (rare-value suppression on, k_values 10). No planted
// identifier, in any spelling, appears in any output topic (values and
// keys), any Redis key or value, any log line or any metric; the DLQ holds
// coordinates, reasons and hashes only. Allowlisted values survive.
func TestPrivacyCanariesKafka(t *testing.T) {
	keepLogsOnFailure(t)
	e := newEnv(t, 3, "PERSONAS_EMIT_TICK=1s", "PERSONAS_EMIT_SNAPSHOT_EVERY=2s", "PERSONAS_EMIT_K=5")
	now := time.Now()
	var msgs []kafka.Message
	valid := 0
	samples, cans := synth.CanaryRaw(now.Add(-30 * time.Second))
	for _, s := range samples {
		msgs = append(msgs, kafka.Message{Key: s.Key, Value: s.Value, Time: now.Add(-30 * time.Second)})
		if s.Bad == synth.Valid {
			valid++
		}
	}
	extra, ecans := privacyExtraCanaries(t, now.Add(-20*time.Second), "1", "2", "3")
	for _, v := range extra {
		msgs = append(msgs, kafka.Message{Value: v, Time: now.Add(-20 * time.Second)})
		valid++
	}
	cans = append(cans, ecans...)
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Canaries, cfg.Visitors, cfg.BadShare = 17, true, 200, 0.03
	cfg.EventsPerSecond = 1500.0 / 120
	cfg.Diurnal = 0 // a flat rate: at night the daily curve would stretch the stream into the future
	cfg.Start = now.Add(-3 * time.Minute)
	g := synth.New(cfg)
	var ev synth.Event
	for i := 0; i < 1500; i++ {
		g.Next(&ev)
		msgs = append(msgs, kafka.Message{Key: bytes.Clone(ev.Key), Value: bytes.Clone(ev.Value), Time: ev.Time})
		if ev.Bad == synth.Valid {
			valid++
		}
	}
	cans = append(cans, g.CanaryDetails()...)
	testenv.Produce(t, e.brokers, e.topics["raw"], msgs...)

	p := e.start("run")
	addr := p.httpAddr(t)
	var events, dlq []kafka.Message
	waitFor(t, 120*time.Second, "every input on the anonymized topic or in the DLQ", func() bool {
		events = e.readAll(e.topics["events"], 300*time.Millisecond)
		dlq = e.readAll(e.topics["dlq"], 300*time.Millisecond)
		return uniqueIDs(t, events)+len(dlq) >= len(msgs)
	})
	if got := uniqueIDs(t, events); got != valid {
		t.Errorf("%d distinct anonymized events, want %d (one per valid input)", got, valid)
	}
	// Let emit publish a few ticks over the new figures.
	time.Sleep(4 * time.Second)
	metrics := privacyGet(t, "http://"+addr+"/metrics")
	changes := e.readAll(e.topics["changes"], 300*time.Millisecond)
	snaps := e.readAll(e.topics["snapshots"], 300*time.Millisecond)
	p.stop(t, 30*time.Second)

	m := synth.NewCanaryMatcher(synth.CanaryStrings(cans))
	check := func(where string, b []byte) {
		t.Helper()
		if found := m.Find(b); len(found) > 0 {
			t.Errorf("%s holds identifier values from the input: %q", where, found[:min(len(found), 8)])
		}
	}
	for name, set := range map[string][]kafka.Message{"events": events, "dlq": dlq, "segment changes": changes, "snapshots": snaps} {
		for _, msg := range set {
			check(name+" topic (key)", msg.Key)
			check(name+" topic (value)", msg.Value)
			for _, h := range msg.Headers {
				check(name+" topic (header)", append([]byte(h.Key+"="), h.Value...))
			}
		}
	}
	check("Redis", e.redisDump())
	check("logs", p.out.Bytes())
	check("metrics", metrics)

	// P5: DLQ records say where and why, with a hash: no field can hold a
	// part of the payload (the schema allows no other field).
	for _, msg := range dlq {
		if err := schemas.ValidateJSON(schemas.DLQSchema, msg.Value); err != nil {
			t.Errorf("DLQ record does not validate: %v", err)
		}
	}

	// Utility: allowlisted values survive.
	var category, utm, device, browser, language, referrer int
	for _, msg := range events {
		var ev schemas.Event
		if err := json.Unmarshal(msg.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if err := schemas.ValidateJSON(schemas.EventSchema, msg.Value); err != nil {
			t.Fatalf("anonymized event does not validate: %v", err)
		}
		if c, _ := ev.Properties["category"].(string); c != "" && !strings.HasPrefix(c, "[") {
			category++
		}
		if ev.Query["utm_source"] == "newsletter" {
			utm++
		}
		if ev.Device != nil && ev.Device.Class != "" {
			device++
			if ev.Device.Browser != "" && ev.Device.Browser != "other" {
				browser++
			}
		}
		if ev.Language != "" {
			language++
		}
		if ev.ReferrerDomain != "" && !strings.HasPrefix(ev.ReferrerDomain, "[") {
			referrer++
		}
	}
	t.Logf("%d inputs: %d events (category kept %d, utm_source=newsletter %d, device class %d, browser family %d, language %d, referrer domain %d), %d DLQ, %d segment changes, %d snapshots",
		len(msgs), len(events), category, utm, device, browser, language, referrer, len(dlq), len(changes), len(snaps))
	if category == 0 || utm == 0 || device != len(events) || browser < len(events)/2 || language < len(events)*9/10 || referrer == 0 {
		t.Error("allowlisted values were lost (see the counts above)")
	}
}

func privacyGet(t *testing.T, u string) []byte {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}
