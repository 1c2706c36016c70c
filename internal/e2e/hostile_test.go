package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
)

// hostileCanary is planted in hostile payloads and headers: it must never
// leave the pipeline (the DLQ holds a pointer and a hash, never payload).
const hostileCanary = "hostile-CANARY-5e1f0c"

// hostileCase is one message of the hostile-input corpus.
type hostileCase struct {
	name    string
	value   []byte
	null    bool // a tombstone: Kafka value null
	key     []byte
	headers []kafka.Header
	// reason is the DLQ reason with the default limits (ingest.max_bytes
	// 64 KiB); "" means the message is valid and must be transformed.
	reason string
	// reasonBig is the reason when ingest.max_bytes is 16 MiB (the
	// 10 MB messages then reach the parser): "" = same as reason,
	// transformedBig = valid under that limit.
	reasonBig string
	// rule, when set, must be contained in the DLQ record's rule.
	rule string
}

// TestHostileInput sends the hostile-input corpus through `personas run`
// on real Kafka and Redis: every hostile message lands in the DLQ with its
// own reason (asserted per message, by offset), valid events sent right
// after each hostile one are transformed (the pipeline never stops), the
// DLQ records carry no payload, and the process's resident memory stays
// under a bound while it reads 10 MB messages. It runs twice: with the
// default limits (10 MB messages stop at the size check; the consumer's
// 10 MiB fetch size is below the 12 MB message, which must not stall the
// partition) and with ingest.max_bytes and kafka.consumer.max_bytes at
// 16 MiB (the big messages reach the parser and the shape checks). The raw
// topic is created with max.message.bytes 32 MiB.
func TestHostileInput(t *testing.T) {
	for _, mode := range []struct {
		name     string
		maxBytes int
		rssLimit int64 // MiB, for the -race build the e2e suite runs
	}{
		{"default_limits", 0, 768},
		{"max_bytes_16MiB", 16 << 20, 1024},
	} {
		t.Run(mode.name, func(t *testing.T) {
			runHostile(t, mode.maxBytes, mode.rssLimit)
		})
	}
}

func runHostile(t *testing.T, maxBytes int, rssLimitMiB int64) {
	keepLogsOnFailure(t)
	extra := []string{
		"PERSONAS_KAFKA_CONSUMER_MAX_BATCH=50",
		"PERSONAS_EMIT_TICK=2s", "PERSONAS_EMIT_SNAPSHOT_EVERY=4s",
	}
	if maxBytes > 0 {
		// The fetch size is raised with the limit. With the defaults it
		// stays at 10 MiB, below the 12 MB message: the broker still
		// hands it over whole (the first batch of a fetch always is).
		extra = append(extra, "PERSONAS_INGEST_MAX_BYTES="+strconv.Itoa(maxBytes),
			"PERSONAS_KAFKA_CONSUMER_MAX_BYTES="+strconv.Itoa(16<<20))
	}
	e := newEnv(t, 1, extra...)
	// The raw topic must accept 10 MB messages: max.message.bytes is set
	// when it is created (the broker default is about 1 MiB).
	raw := bigTopic(t, e.brokers, "hostile-raw", 32<<20)
	e.topics["raw"] = raw
	e.vars = append(e.vars, "PERSONAS_KAFKA_TOPICS_RAW="+raw)

	now := time.Now()
	cases := hostileCorpus(now)
	// Interleave: after every hostile message a valid event, so a stall
	// or a skipped message after bad input shows as a missing event.
	var msgs []hostileCase
	for i, c := range cases {
		msgs = append(msgs, c)
		msgs = append(msgs, hostileCase{name: fmt.Sprintf("valid after %s", c.name), value: hostileValidEvent(i, now)})
	}
	for i := range msgs {
		msgs[i].headers = append(msgs[i].headers, kafka.Header{Key: "x-case", Value: []byte(strconv.Itoa(i))})
	}

	p := e.start("run")
	pid := p.cmd.Process.Pid
	addr := p.httpAddr(t)
	base := rssOf(pid)

	// Sample the resident set while the corpus goes through.
	stopSampling := make(chan struct{})
	sampled := make(chan []int64, 1)
	go func() {
		var s []int64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				sampled <- s
				return
			case <-tick.C:
				if v := rssOf(pid); v > 0 {
					s = append(s, v)
				}
			}
		}
	}()

	produceBig(t, e.brokers, raw, msgs)
	offsets := rawOffsets(t, e.brokers, raw, len(msgs))

	wantDLQ, wantEvents := 0, 0
	for _, m := range msgs {
		if hostileReason(m, maxBytes) != "" {
			wantDLQ++
		} else {
			wantEvents++
		}
	}
	// The process counts what ingest read (after the batch is written);
	// polling its metric is cheap for the (busy) broker.
	waitFor(t, 5*time.Minute, "ingest to have read every message", func() bool {
		return metric(addr, `personas_events_in_total{stage="ingest"}`) >= float64(len(msgs))
	})
	time.Sleep(2 * time.Second) // nothing else may arrive
	dlq := readPartition0(t, e.brokers, e.topics["dlq"])
	events := readPartition0(t, e.brokers, e.topics["events"])
	close(stopSampling)
	samples := <-sampled
	hwm := statusKB(pid, "VmHWM")

	// Every DLQ record: schema-valid, a pointer and a hash, no payload.
	byOffset := map[int64]schemas.DLQRecord{}
	for _, m := range dlq {
		if err := schemas.ValidateJSON(schemas.DLQSchema, m.Value); err != nil {
			t.Fatalf("DLQ record does not match its schema: %v\n%s", err, m.Value)
		}
		if len(m.Value) > 1024 || bytes.Contains(m.Value, []byte(hostileCanary)) {
			t.Errorf("DLQ record is large or holds payload text (%d bytes): %.200s", len(m.Value), m.Value)
		}
		var r schemas.DLQRecord
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatal(err)
		}
		if r.Source.Topic != raw || r.Stage != "ingest" {
			t.Errorf("DLQ record points elsewhere: %+v", r)
		}
		if _, dup := byOffset[r.Source.Offset]; dup {
			t.Errorf("two DLQ records for offset %d", r.Source.Offset)
		}
		byOffset[r.Source.Offset] = r
	}
	eventIDs := map[string]bool{}
	for _, m := range events {
		if err := schemas.ValidateJSON(schemas.EventSchema, m.Value); err != nil {
			t.Fatalf("anonymized event does not match its schema: %v\n%s", err, m.Value)
		}
		if bytes.Contains(m.Value, []byte(hostileCanary)) || bytes.Contains(m.Key, []byte(hostileCanary)) {
			t.Errorf("anonymized event holds hostile input: %s", m.Value)
		}
		if bytes.IndexByte(m.Value, 0) >= 0 || bytes.Contains(m.Value, []byte(`\u0000`)) {
			t.Errorf("anonymized event holds a NUL: %s", m.Value)
		}
		eventIDs[eventID(t, m.Value)] = true
	}

	// Per message: the expected outcome at its offset.
	type row struct{ name, want, got, rule string }
	var table []row
	perReason := map[string]int{}
	for i, m := range msgs {
		off := offsets[i]
		want := hostileReason(m, maxBytes)
		rec, inDLQ := byOffset[off]
		transformed := eventIDs[ingest.EventID(schemas.Source{Topic: raw, Partition: 0, Offset: off})]
		got := "transformed"
		switch {
		case inDLQ && transformed:
			got = "BOTH"
		case inDLQ:
			got = rec.Reason
		case !transformed:
			got = "MISSING"
		}
		if want == "" {
			if got != "transformed" {
				t.Errorf("%s (offset %d): want it transformed, got %s", m.name, off, got)
			}
			continue
		}
		perReason[want]++
		table = append(table, row{m.name, want, got, rec.Rule})
		if got != want {
			t.Errorf("%s (offset %d): want DLQ reason %s, got %s (rule %q)", m.name, off, want, got, rec.Rule)
			continue
		}
		sum := sha256.Sum256(m.value)
		if rec.PayloadSHA256 != hex.EncodeToString(sum[:]) || rec.PayloadBytes != len(m.value) {
			t.Errorf("%s: DLQ record hash/size %s/%d do not match the payload (%d bytes)", m.name, rec.PayloadSHA256, rec.PayloadBytes, len(m.value))
		}
		if m.rule != "" && !strings.Contains(rec.Rule, m.rule) {
			t.Errorf("%s: DLQ rule %q does not name %q", m.name, rec.Rule, m.rule)
		}
	}
	if len(byOffset) != wantDLQ || len(eventIDs) != wantEvents {
		t.Errorf("DLQ holds %d records (want %d), events topic %d events (want %d)", len(byOffset), wantDLQ, len(eventIDs), wantEvents)
	}

	// The process is alive and healthy, and its metrics count the DLQ by
	// reason.
	select {
	case err := <-p.done:
		t.Fatalf("personas exited during the hostile corpus: %v\n%s", err, tail(p.out.Bytes(), 30))
	default:
	}
	if code := hostileHTTPStatus(addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answers %d after the hostile corpus", code)
	}
	waitFor(t, 30*time.Second, "/readyz to answer 200", func() bool { return readyz(addr) == http.StatusOK })
	for reason, n := range perReason {
		sample := fmt.Sprintf(`personas_dlq_total{reason=%q,stage="ingest"}`, reason)
		if got := metric(addr, sample); got != float64(n) {
			t.Errorf("%s = %v, want %d", sample, got, n)
		}
	}
	waitFor(t, 60*time.Second, "ingest consumer lag 0", func() bool {
		return metric(addr, `personas_consumer_lag{partition="0",stage="ingest"}`) == 0
	})

	// Bounded memory.
	var peak int64
	for _, s := range samples {
		peak = max(peak, s)
	}
	sort.Slice(table, func(i, j int) bool { return table[i].want < table[j].want })
	var b strings.Builder
	fmt.Fprintf(&b, "%-58s %-18s %-18s %s\n", "hostile input", "want", "got", "rule")
	for _, r := range table {
		fmt.Fprintf(&b, "%-58s %-18s %-18s %s\n", r.name, r.want, r.got, r.rule)
	}
	t.Logf("hostile corpus (%d hostile, %d valid interleaved):\n%s", wantDLQ, wantEvents, b.String())
	t.Logf("RSS of personas run (-race build): at start %d MiB, peak sampled %d MiB, VmHWM %d MiB (%d samples); limit %d MiB",
		base>>10, peak>>10, hwm>>10, len(samples), rssLimitMiB)
	if hwm>>10 > rssLimitMiB {
		t.Errorf("peak resident memory %d MiB is above the bound %d MiB", hwm>>10, rssLimitMiB)
	}

	// Nothing of the hostile input in the logs or the metrics.
	if bytes.Contains(p.out.Bytes(), []byte(hostileCanary)) {
		t.Errorf("process output holds hostile payload text")
	}
	p.stop(t, 60*time.Second)
}

// transformedBig marks a case that is valid once ingest.max_bytes is 16 MiB.
const transformedBig = "-"

// hostileReason is the expected DLQ reason of m under the ingest limit
// ("" = transformed).
func hostileReason(m hostileCase, maxBytes int) string {
	if maxBytes > 0 && m.reasonBig != "" {
		if m.reasonBig == transformedBig {
			return ""
		}
		return m.reasonBig
	}
	return m.reason
}

// hostileValidEvent is a well-formed raw event with its own visitor.
func hostileValidEvent(i int, now time.Time) []byte {
	return []byte(fmt.Sprintf(`{"type":"track","event":"Product Viewed","messageId":"hostile-valid-%d","anonymousId":"hostile-visitor-%d","timestamp":%q,`+
		`"context":{"userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0","locale":"de-DE","page":{"url":"https://shop.example/c/electronics?utm_source=newsletter"}},`+
		`"properties":{"category":"electronics","price":19.99,"currency":"EUR"}}`, i, i, now.Add(-time.Minute).UTC().Format(time.RFC3339Nano)))
}

// hostileCorpus builds the corpus. Payloads carry hostileCanary where they
// can, so a payload that leaked anywhere would be found.
func hostileCorpus(now time.Time) []hostileCase {
	ts := now.Add(-time.Minute).UTC().Format(time.RFC3339)
	ev := func(body string) []byte {
		return []byte(`{"type":"track","event":"Product Viewed","anonymousId":"` + hostileCanary + `","timestamp":"` + ts + `"` + body + `}`)
	}
	rnd := mrand.New(mrand.NewPCG(1, 2))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	big := 10_000_000
	pad := func(prefix, suffix string, fill byte) []byte {
		b := bytes.Repeat([]byte{fill}, big-len(prefix)-len(suffix))
		return append(append([]byte(prefix), b...), suffix...)
	}
	deep := func(n int, open, close string) []byte {
		return ev(`,"properties":{"x":` + strings.Repeat(open, n) + strings.Repeat(close, n) + `}`)
	}
	var array strings.Builder
	for i := 0; i < 5000; i++ {
		array.WriteString("1,")
	}
	c := []hostileCase{
		// Malformed and truncated JSON.
		{name: "truncated JSON", value: ev("")[:40], reason: "bad_json"},
		{name: "truncated JSON at a string escape", value: []byte(`{"type":"track","anonymousId":"` + hostileCanary + `\`), reason: "bad_json"},
		{name: "missing closing brace", value: ev("")[:len(ev(""))-1], reason: "bad_json"},
		{name: "double comma", value: []byte(`{"type":"track",,"anonymousId":"` + hostileCanary + `"}`), reason: "bad_json"},
		{name: "trailing garbage after the object", value: append(ev(""), "xyz"...), reason: "bad_json"},
		{name: "two objects in one message", value: append(ev(""), ev("")...), reason: "bad_json"},
		{name: "single-quoted JSON", value: []byte(`{'type':'track','anonymousId':'` + hostileCanary + `'}`), reason: "bad_json"},
		{name: "unquoted key", value: []byte(`{type:"track","anonymousId":"` + hostileCanary + `"}`), reason: "bad_json"},
		{name: "UTF-8 byte-order mark before the JSON", value: append([]byte("\xef\xbb\xbf"), ev("")...), reason: "bad_json"},
		// JSON the parser alone would read leniently.
		{name: "NaN as a number", value: ev(`,"properties":{"price":NaN}`), reason: "bad_json"},
		{name: "Infinity as a number", value: ev(`,"properties":{"price":-Inf}`), reason: "bad_json"},
		{name: "malformed number 1.2.3", value: ev(`,"properties":{"price":1.2.3}`), reason: "bad_json"},
		{name: "number with a leading zero", value: ev(`,"properties":{"price":012}`), reason: "bad_json"},
		{name: "number with a plus sign", value: ev(`,"properties":{"price":+1}`), reason: "bad_json"},
		{name: "unknown escape \\x in a string", value: ev(`,"properties":{"q":"a\x41"}`), reason: "bad_json"},
		{name: "short unicode escape \\u12", value: ev(`,"properties":{"q":"a\u12"}`), reason: "bad_json"},
		{name: "raw newline inside a string", value: ev(",\"properties\":{\"q\":\"a\nb\"}"), reason: "bad_json"},
		{name: "raw tab inside a key", value: ev(",\"properties\":{\"a\tb\":1}"), reason: "bad_json"},
		{name: "whitespace only", value: []byte(" \t\r\n "), reason: "bad_json"},
		// Invalid UTF-8.
		{name: "invalid UTF-8 (Latin-1 bytes) in a value", value: ev(",\"properties\":{\"name\":\"M\xfcller caf\xe9\"}"), reason: "invalid_utf8"},
		{name: "invalid UTF-8: overlong encoding of '/'", value: ev(",\"context\":{\"page\":{\"path\":\"/a\xc0\xafb\"}}"), reason: "invalid_utf8"},
		{name: "invalid UTF-8: encoded surrogate (CESU-8)", value: ev(",\"properties\":{\"q\":\"x\xed\xa0\x80\"}"), reason: "invalid_utf8"},
		{name: "invalid UTF-8 in a key", value: ev(",\"\xff\xfe\":1"), reason: "invalid_utf8"},
		{name: "truncated UTF-8 sequence at the end", value: append(ev(""), 0xe2, 0x82), reason: "invalid_utf8"},
		// NUL bytes.
		{name: "raw NUL byte in a value", value: ev(`,"properties":{"q":"a` + "\x00" + `b"}`), reason: "nul_byte"},
		{name: "NUL escaped as \\u0000 in a value", value: ev(`,"properties":{"q":"a\u0000b"}`), reason: "nul_byte", rule: "escaped"},
		{name: "NUL escaped as \\u0000 in a key", value: ev(`,"properties":{"a\u0000":1}`), reason: "nul_byte", rule: "escaped"},
		// 10 MB messages.
		{name: "10 MB valid JSON (one huge unknown property)", value: pad(`{"type":"track","anonymousId":"big-1","properties":{"blob":"`+hostileCanary, `"}}`, 'A'), reason: "too_large", reasonBig: transformedBig},
		{name: "12 MB valid JSON (over the 10 MiB default fetch size)", value: pad2([]byte(`{"type":"track","anonymousId":"big-4","properties":{"blob":"`), `"}}`, 12_000_000), reason: "too_large", reasonBig: transformedBig},
		{name: "10 MB of random bytes", value: randomBytes(big), reason: "too_large", reasonBig: "invalid_utf8"},
		{name: "10 MB of '[' (nesting without end)", value: pad(`{"type":"track","anonymousId":"big-2","properties":`, ``, '['), reason: "too_large", reasonBig: "too_deep"},
		{name: "10 MB array of numbers", value: []byte(`{"type":"track","anonymousId":"big-3","properties":{"a":[` + strings.Repeat("1,", big/2-40) + `1]}}`), reason: "too_large", reasonBig: "too_many_fields"},
		{name: "just over ingest.max_bytes (65 537 bytes)", value: pad2(ev(`,"properties":{"blob":"`), `"}}`, 65537), reason: "too_large", reasonBig: transformedBig},
		// Deep nesting and huge arrays.
		{name: "10 000-deep array nesting", value: deep(10000, "[", "]"), reason: "too_deep", rule: "max_depth=16"},
		{name: "10 000-deep object nesting", value: deep(10000, `{"a":`, "}"), reason: "too_deep", rule: "max_depth=16"},
		{name: "17-deep nesting (one over the limit)", value: deep(15, "[", "]"), reason: "too_deep"},
		{name: "array of 5 000 numbers (too many values)", value: ev(`,"properties":{"a":[` + array.String() + `1]}`), reason: "too_many_fields", rule: "max_fields=1000"},
		{name: "array of 50 000 numbers (100 KB)", value: ev(`,"properties":{"a":[` + strings.Repeat("1,", 50000) + `1]}`), reason: "too_large", reasonBig: "too_many_fields"},
		// Timestamps.
		{name: "timestamp at the Unix epoch (1970)", value: evTime("1970-01-01T00:00:00Z"), reason: "epoch_expired"},
		{name: "timestamp in year 1 (0001-01-01)", value: evTime("0001-01-01T00:00:00Z"), reason: "epoch_expired"},
		{name: "timestamp two days ago", value: evTime(now.Add(-49 * time.Hour).UTC().Format(time.RFC3339)), reason: "epoch_expired"},
		{name: "timestamp one hour in the future", value: evTime(now.Add(time.Hour).UTC().Format(time.RFC3339)), reason: "time_in_future"},
		{name: "timestamp in year 9999", value: evTime("9999-12-31T23:59:59Z"), reason: "time_in_future"},
		{name: "timestamp with month 13", value: evTime("2026-13-01T00:00:00Z"), reason: "schema_violation", rule: "format at /timestamp"},
		{name: "timestamp with a comma fraction", value: evTime(now.Add(-time.Minute).UTC().Format("2006-01-02T15:04:05") + ",5Z"), reason: "schema_violation", rule: "format at /timestamp"},
		{name: "timestamp with offset +24:00", value: evTime(now.Add(-time.Minute).UTC().Format("2006-01-02T15:04:05") + "+24:00"), reason: "schema_violation", rule: "format at /timestamp"},
		{name: "leap second 23:59:60 (valid RFC 3339, not representable)", value: evTime("2026-06-30T23:59:60Z"), reason: "bad_timestamp"},
		{name: "timestamp as epoch milliseconds", value: []byte(`{"type":"track","anonymousId":"a","timestamp":` + strconv.FormatInt(now.UnixMilli(), 10) + `}`), reason: "schema_violation", rule: "type at /timestamp"},
		// Duplicate keys.
		{name: "duplicate key at the top level (type)", value: []byte(`{"type":"track","type":"identify","anonymousId":"` + hostileCanary + `"}`), reason: "duplicate_key", rule: "/"},
		{name: "duplicate key hidden by an escape (ty\\u0070e)", value: []byte(`{"type":"track","ty\u0070e":"page","anonymousId":"` + hostileCanary + `"}`), reason: "duplicate_key"},
		{name: "duplicate key in context.page (url)", value: ev(`,"context":{"page":{"url":"https://a.example/","url":"https://b.example/"}}`), reason: "duplicate_key", rule: "/context/page"},
		{name: "duplicate key in properties", value: ev(`,"properties":{"category":"a","category":"b"}`), reason: "duplicate_key", rule: "/properties"},
		// Not JSON, or not an object.
		{name: "form-encoded body", value: []byte("type=track&anonymousId=" + hostileCanary), reason: "bad_json"},
		{name: "XML", value: []byte(`<event type="track"><id>` + hostileCanary + `</id></event>`), reason: "bad_json"},
		{name: "[object Object]", value: []byte("[object Object]"), reason: "bad_json"},
		{name: "plain text", value: []byte("hello " + hostileCanary), reason: "bad_json"},
		{name: "gzip-compressed JSON", value: []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xab\x56\x2a\xa9"), reason: "invalid_utf8"},
		{name: "protobuf-like binary", value: []byte("\x0a\x05track\x12\x10" + hostileCanary[:16]), reason: "bad_json"},
		{name: "JSON array of events", value: append(append([]byte("["), ev("")...), ']'), reason: "not_object"},
		{name: "JSON string (double-encoded event)", value: []byte(strconv.Quote(string(ev("")))), reason: "not_object"},
		{name: "JSON number", value: []byte("42"), reason: "not_object"},
		{name: "JSON null", value: []byte("null"), reason: "not_object"},
		{name: "JSON true", value: []byte("true"), reason: "not_object"},
		// Missing fields.
		{name: "no type", value: []byte(`{"event":"x","anonymousId":"` + hostileCanary + `"}`), reason: "schema_violation", rule: "required at /"},
		{name: "unknown type value", value: []byte(`{"type":"purchase","anonymousId":"` + hostileCanary + `"}`), reason: "schema_violation", rule: "enum at /type"},
		{name: "no identifier", value: []byte(`{"type":"track","event":"x","traits":{"email":"` + hostileCanary + `@example.org"}}`), reason: "no_identifier"},
		{name: "empty identifier", value: []byte(`{"type":"track","anonymousId":""}`), reason: "no_identifier"},
		// Empty messages and tombstones.
		// kafka-go's reader returns a nil value for a zero-length one, so
		// the stage cannot tell an empty message from a tombstone (the
		// transform can: see ingest's tests and `personas strip`).
		{name: "empty message (zero-length value; read as null)", value: []byte{}, reason: "tombstone"},
		{name: "tombstone (null value)", null: true, key: []byte("visitor-1"), reason: "tombstone"},
		// Kafka headers and keys with garbage.
		{name: "percent-encoded NUL and control bytes in the URL (valid: kept as U+FFFD)", value: ev(`,"context":{"page":{"url":"https://shop.example/c/a%00b?utm_source=x%00y%01z&ref=%00"}}`), reason: ""},
		{name: "garbage headers and key, valid body", value: ev(""), key: randomBytes(1024), headers: garbageHeaders(randomBytes), reason: ""},
		{name: "garbage headers, body not JSON", value: []byte("not json " + hostileCanary), key: randomBytes(64), headers: garbageHeaders(randomBytes), reason: "bad_json"},
		{name: "garbage headers on a tombstone", null: true, headers: garbageHeaders(randomBytes), reason: "tombstone"},
	}
	// Wrong types in every field of the raw shape, derived from the schema.
	for _, f := range rawShapeFields() {
		c = append(c, hostileCase{
			name:   "wrong type at " + strings.Join(f.path, "."),
			value:  wrongTypeEvent(f),
			reason: "schema_violation",
			rule:   "/" + strings.Join(f.path, "/"),
		})
	}
	return c
}

// pad2 fills prefix with 'x' up to n bytes in all, then suffix.
func pad2(prefix []byte, suffix string, n int) []byte {
	b := append([]byte(nil), prefix...)
	b = append(b, bytes.Repeat([]byte("x"), n-len(prefix)-len(suffix))...)
	return append(b, suffix...)
}

func evTime(ts string) []byte {
	return []byte(`{"type":"track","event":"Product Viewed","anonymousId":"` + hostileCanary + `","timestamp":"` + ts + `"}`)
}

func garbageHeaders(randomBytes func(int) []byte) []kafka.Header {
	h := []kafka.Header{
		{Key: "", Value: nil},
		{Key: "\xff\xfe\x00bin", Value: randomBytes(4096)},
		{Key: "content-type", Value: []byte("application/x-" + hostileCanary)},
		{Key: "x-forwarded-for", Value: []byte("203.0.113.7, " + hostileCanary)},
		{Key: strings.Repeat("k", 10000), Value: []byte(hostileCanary)},
	}
	for i := 0; i < 200; i++ {
		h = append(h, kafka.Header{Key: "dup", Value: randomBytes(16)})
	}
	return h
}

// rawField is one property of the raw-event schema.
type rawField struct {
	path  []string
	types []string
	enum  bool
}

// rawShapeFields walks schemas/v1/raw-event.json (resolving $ref) and lists
// every property with its allowed JSON types.
func rawShapeFields() []rawField {
	b, err := fs.ReadFile(schemas.FS(), "v1/"+schemas.RawEventSchema)
	if err != nil {
		panic(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		panic(err)
	}
	var out []rawField
	var walk func(node map[string]any, path []string)
	walk = func(node map[string]any, path []string) {
		if ref, ok := node["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/$defs/")
			node = root["$defs"].(map[string]any)[name].(map[string]any)
		}
		if len(path) > 0 {
			f := rawField{path: append([]string(nil), path...)}
			switch t := node["type"].(type) {
			case string:
				f.types = []string{t}
			case []any:
				for _, x := range t {
					f.types = append(f.types, x.(string))
				}
			}
			_, f.enum = node["enum"]
			out = append(out, f)
		}
		props, _ := node["properties"].(map[string]any)
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			walk(props[n].(map[string]any), append(path, n))
		}
	}
	walk(root, nil)
	return out
}

// wrongTypeEvent is a valid event except that field f holds a value of a
// JSON type its schema does not allow.
func wrongTypeEvent(f rawField) []byte {
	value := ""
	for _, cand := range []struct{ typ, text string }{{"number", "12345"}, {"boolean", "true"}, {"string", `"text"`}, {"object", `{"x":1}`}, {"array", `["x"]`}} {
		allowed := false
		for _, t := range f.types {
			allowed = allowed || t == cand.typ || (t == "integer" && cand.typ == "number")
		}
		if f.enum && cand.typ == "string" {
			allowed = true // an enum of strings: a string could match; use another type
		}
		if !allowed {
			value = cand.text
			break
		}
	}
	inner := value
	for i := len(f.path) - 1; i >= 1; i-- {
		inner = fmt.Sprintf(`{%q:%s}`, f.path[i], inner)
	}
	fields := map[string]string{"type": `"track"`, "anonymousId": `"wrong-type-visitor"`}
	fields[f.path[0]] = inner
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", k, fields[k])
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// bigTopic creates a one-partition topic whose max.message.bytes allows
// messages up to maxMessage bytes, and deletes it at cleanup.
func bigTopic(t *testing.T, brokers []string, base string, maxMessage int) string {
	t.Helper()
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	name := base + "-" + hex.EncodeToString(rb[:])
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(maxMessage)}},
	}}})
	if err == nil {
		err = res.Errors[name]
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
	})
	waitFor(t, time.Minute, "topic "+name+" to have a leader", func() bool {
		return len(testenv.Partitions(t, brokers, name)) == 1
	})
	return name
}

// produceBig writes the cases in order to the one partition of topic, with
// a writer whose batches may hold a 10 MB message.
func produceBig(t *testing.T, brokers []string, topic string, cases []hostileCase) {
	t.Helper()
	tr := &kafka.Transport{ClientID: "personas-e2e-hostile", MetadataTTL: time.Second}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.LeastBytes{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    20,
		BatchBytes:   16 << 20,
		MaxAttempts:  1, // no retries: a retry could reorder or duplicate
		WriteTimeout: 2 * time.Minute,
		Transport:    tr,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	msgs := make([]kafka.Message, len(cases))
	for i, c := range cases {
		msgs[i] = kafka.Message{Key: c.key, Value: c.value, Headers: c.headers}
		if c.null {
			msgs[i].Value = nil
		} else if msgs[i].Value == nil {
			msgs[i].Value = []byte{}
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing the hostile corpus: %v", err)
	}
}

// rawOffsets reads the raw topic back and returns the offset of each case
// (by its x-case header), checking that Kafka kept null and empty values
// apart.
func rawOffsets(t *testing.T, brokers []string, topic string, n int) []int64 {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 40 << 20, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	offsets := make([]int64, n)
	seen := 0
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for seen < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading the raw topic back: %v (%d of %d)", err, seen, n)
		}
		i := -1
		for _, h := range m.Headers {
			if h.Key == "x-case" {
				i, _ = strconv.Atoi(string(h.Value))
			}
		}
		if i < 0 || i >= n {
			t.Fatalf("raw message at offset %d has no case header", m.Offset)
		}
		offsets[i] = m.Offset
		seen++
	}
	return offsets
}

// readPartition0 reads partition 0 of a one-partition topic from the
// start until it has been quiet for 2 s, retrying transient broker errors
// (the shared broker is slow on a busy machine).
func readPartition0(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		var out []kafka.Message
		var err error
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var m kafka.Message
			m, err = r.ReadMessage(ctx)
			cancel()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		r.Close()
		if errors.Is(err, context.DeadlineExceeded) || attempt == 5 {
			return out
		}
		t.Logf("reading %s: %v; again", topic, err)
		time.Sleep(time.Second)
	}
}

// rssOf returns the resident set of a process in KiB (0 if gone).
func rssOf(pid int) int64 { return statusKB(pid, "VmRSS") }

// statusKB reads a "Name:  123 kB" line of /proc/<pid>/status.
func statusKB(pid int, name string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func hostileHTTPStatus(addr, path string) int {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	_ = res.Body.Close()
	return res.StatusCode
}
