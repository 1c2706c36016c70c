package ingest

// Fuzz tests at the stage boundary: the raw Kafka value as an attacker or a
// broken tracker may send it. Run one target at a time, for example
//
//	go test -run '^$' -fuzz '^FuzzTransform$' -fuzztime 4m ./ingest/
//	go test -run '^$' -fuzz '^FuzzSchemaFastPath$' -fuzztime 3m ./ingest/
//
// Inputs that once failed are kept in testdata/fuzz/<target>/ and run with
// every plain `go test` as regression cases.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"

	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// fzNow is the clock of the fuzz targets: seeds carry times in the minutes
// before it.
var fzNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fzMarker is replaced by a canary identifier from the generator's list
// wherever the (mutated) input holds it.
const fzMarker = "{{C}}"

// fzTemplates are raw events with a canary marker in every field of the raw
// shape and in the places identifiers hide: nested properties, traits,
// free text, URL path, query and fragment, referrer, title, search,
// campaign fields, event and page names.
var fzTemplates = []string{
	`{"type":"track","event":"Product Viewed {{C}}","messageId":"{{C}}","anonymousId":"{{C}}","userId":"{{C}}","timestamp":"2026-03-14T15:08:01.123Z","context":{"ip":"{{C}}","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {{C}}","locale":"nl-NL","page":{"url":"https://shop.example.nl/p/{{C}}/x?utm_source={{C}}&utm_{{C}}=1&ref={{C}}&email={{C}}#t={{C}}","path":"/account/{{C}}/orders","referrer":"https://mail.example.com/?to={{C}}","title":"Hello {{C}}","search":"?q={{C}}"},"device":{"id":"{{C}}","advertisingId":"{{C}}","type":"ios"},"campaign":{"name":"{{C}}","source":"{{C}}","medium":"{{C}}","term":"{{C}}","content":"{{C}}"},"traits":{"email":"{{C}}"}},"properties":{"category":"{{C}}","brand":" {{C}} ","query":"shoes {{C}}","price":12.5,"currency":"EUR","list_id":"{{C}}","value":"{{C}}","note":"{{C}}","customer":{"email":"{{C}}","ids":["{{C}}"]}},"traits":{"name":"{{C}}","phone":"{{C}}"}}`,
	`{"type":"page","name":"{{C}}","anonymousId":"{{C}}","timestamp":"2026-03-14T15:08:59Z","context":{"page":{"url":"/c/{{C}}?utm_campaign={{C}}&utm_medium=email","referrer":"{{C}}"},"userAgent":"{{C}}"},"properties":{"path":"/c/{{C}}","title":"{{C}}","url":"https://x/{{C}}"}}`,
	`{"type":"identify","userId":"{{C}}","originalTimestamp":"2026-03-14T15:07:00+01:00","sentAt":"2026-03-14T14:07:01Z","traits":{"email":"{{C}}","address":{"postalCode":"{{C}}"}},"context":{"traits":{"iban":"{{C}}"},"locale":"{{C}}"}}`,
	`{"type":"screen","name":"Home {{C}}","anonymousId":12345678901,"context":{"device":{"id":"{{C}}","type":"{{C}}"},"campaign":{"source":"{{C}}"}},"properties":{"brand":"{{C}}","total":99}}`,
	`{"type":"track","event":"{{C}}","anonymousId":"{{C}}","properties":{"revenue":"{{C}}","quantity":"{{C}}","category":"{{C}}"}}`,
	`{"type":"alias","userId":"{{C}}","previousId":"{{C}}","receivedAt":"2026-03-14T15:09:00.5Z"}`,
	`{"type":"group","anonymousId":"{{C}}","groupId":"{{C}}","context":{"page":{"path":"/{{C}}","search":"utm_source={{C}}"}}}`,
}

// fzHostile are inputs of the hostile-input corpus (the e2e suite sends
// the same kinds through real Kafka).
var fzHostile = []string{
	``, `{`, `{"type":"track"`, `{"type":"track","anonymousId":"a"}}`, `[]`, `"x"`, `null`, `12`, `true`,
	"{\"type\":\"track\",\"anonymousId\":\"a\x00\"}", `{"type":"track","anonymousId":"a\u0000"}`,
	`{"type":"track","anonymousId":"a\\u0000"}`,
	"{\"type\":\"track\",\"anonymousId\":\"\xff\xfe\"}", `{"type":"track","anonymousId":"\ud800"}`,
	`{"type":"track","type":"page","anonymousId":"a"}`, `{"type":"track","ty\u0070e":"page","anonymousId":"a"}`,
	`{"type":"track","anonymousId":"a","properties":{"price":NaN}}`, `{"type":"track","anonymousId":1.2.3}`,
	`{"type":"track","anonymousId":"a","properties":{"price":-Inf}}`, `{"type":"track","anonymousId":"a","x":01}`,
	"{\"type\":\"track\",\"anonymousId\":\"a\nb\"}", `{"type":"track","anonymousId":"a","event":"x\q"}`,
	`{"type":"track","anonymousId":"a","timestamp":"1970-01-01T00:00:00Z"}`,
	`{"type":"track","anonymousId":"a","timestamp":"9999-12-31T23:59:59Z"}`,
	`{"type":"track","anonymousId":"a","timestamp":"2026-03-14T15:08:60Z"}`,
	`{"type":"track","anonymousId":"a","timestamp":"2026-03-14T15:08:00,5Z"}`,
	`{"type":"track","anonymousId":"a","timestamp":"2026-03-14t15:08:00z"}`,
	`{"type":"track","anonymousId":"a","timestamp":1773500880000}`,
	`{"type":"track","anonymousId":"a","context":"x"}`, `{"type":"track","anonymousId":"a","context":{"page":[]}}`,
	`{"type":"track","anonymousId":"a","properties":{"a":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}}`,
	`{"type":"track","anonymousId":"a","properties":{"a":[` + strings.Repeat(`1,`, 2000) + `1]}}`,
	`type=track&anonymousId=a`, `<xml/>`, `[object Object]`,
	"\xef\xbb\xbf{\"type\":\"track\",\"anonymousId\":\"a\"}",
	` {"type":"track","anonymousId":"a"} `,
}

// fzCanaries is every canary the seeds and the planting may contain: the
// hand-written canary corpus and a canary-mode synthetic stream.
type fzCanarySet struct {
	all      []synth.Canary
	matcher  *synth.CanaryMatcher
	patterns []synth.Canary // kinds the pattern scrubber promises to catch
	synthRaw [][]byte
}

var fzCanaries = sync.OnceValue(func() *fzCanarySet {
	samples, cans := synth.CanaryRaw(fzNow.Add(-time.Minute))
	cfg := synth.DefaultConfig()
	cfg.Seed = 42
	cfg.Visitors = 20
	cfg.Canaries = true
	cfg.BadShare = 0.1
	cfg.Start = fzNow.Add(-2 * time.Minute)
	g := synth.New(cfg)
	s := &fzCanarySet{}
	var ev synth.Event
	for i := 0; i < 60; i++ {
		g.Next(&ev)
		s.synthRaw = append(s.synthRaw, bytes.Clone(ev.Value))
	}
	for _, sm := range samples {
		s.synthRaw = append(s.synthRaw, sm.Value)
	}
	s.all = append(cans, g.CanaryDetails()...)
	var strs []string
	for _, c := range s.all {
		strs = append(strs, c.Strings()...)
		switch c.Kind {
		case "email", "phone", "uuid", "ipv4", "ipv6", "iban", "card", "bsn", "jwt":
			s.patterns = append(s.patterns, c)
		}
	}
	s.matcher = synth.NewCanaryMatcher(strs)
	return s
})

// plant replaces each canary marker in raw by the plain value of a canary,
// chosen from the list by pick and the marker's position. It returns the
// input and the canaries it planted.
func (s *fzCanarySet) plant(raw []byte, pick uint16, from []synth.Canary, pad string) ([]byte, []synth.Canary) {
	var planted []synth.Canary
	var out []byte
	for i := 0; ; i++ {
		j := bytes.Index(raw, []byte(fzMarker))
		if j < 0 {
			break
		}
		c := from[(int(pick)+i*7)%len(from)]
		planted = append(planted, c)
		out = append(out, raw[:j]...)
		out = append(out, pad...)
		out = append(out, c.Value...)
		out = append(out, pad...)
		raw = raw[j+len(fzMarker):]
	}
	if planted == nil {
		return raw, nil
	}
	return append(out, raw...), planted
}

// fzRule is what a rejection's rule may look like: limit names, schema
// keywords and paths built from schema names, never input text.
var fzRule = regexp.MustCompile(`^[A-Za-z0-9_=,./ +-]{0,120}$`)

func fzTransformers(t testing.TB) (rare, scrubOnly *Transformer, rb *RareBatch) {
	// K is out of reach: one fuzz input is one visitor, and a value one
	// visitor sent must never be published (P6); vocabulary values are.
	r, err := NewRare(RareOptions{K: 1 << 30}, NewEphemeralKeys(), NewMemRareStore())
	if err != nil {
		t.Fatal(err)
	}
	rb = r.Batch()
	rare, err = NewTransformer(Options{Policy: rb}, NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	scrubOnly, err = NewTransformer(Options{}, NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	return rare, scrubOnly, rb
}

// FuzzTransform feeds arbitrary raw messages (seeded with realistic events
// full of canary identifiers, templates with a canary marker in every
// field, and the hostile-input corpus) to the ingest transform. Every
// marker {{C}} is replaced by a canary identifier from the synthetic
// generator's canary list before the transform runs. Invariants:
//
//  1. Transform never panics and never returns a dependency error (the
//     key store is in-process).
//  2. Each input is either transformed or rejected, never both; a
//     rejection's reason is one of ingest.Reasons and its rule holds no
//     input text (limit names, schema keywords and schema paths only).
//  3. Output, when produced, validates against schemas.EventSchema.
//  4. With rare-value suppression (the production default) no canary value
//     or variant (URL-encoded, base64, upper case, digits only, ...) of any
//     planted or seeded identifier appears in the output: identifier fields
//     are dropped by the allowlist, pattern identifiers are scrubbed, and
//     names and codes are rare values.
//  5. With the pattern scrubber alone, no planted canary of a kind it
//     promises to catch (e-mail, phone, UUID, IPv4/6, IBAN, card, BSN, JWT)
//     survives when planted as a whitespace-delimited token anywhere.
//  6. The pseudonym is 32 hex characters and the same input from the same
//     visitor gives the same output (determinism of the transform).
//  7. Output never holds a NUL, raw or escaped: input with one is rejected
//     (nul_byte).
//  8. Input that is not strictly JSON (NaN, 1.2.3, unknown escapes, raw
//     control characters in strings: the parser alone would read them) is
//     never transformed.
func FuzzTransform(f *testing.F) {
	cs := fzCanaries()
	for i, s := range fzTemplates {
		f.Add([]byte(s), uint16(i*13))
	}
	for i, s := range fzHostile {
		f.Add([]byte(s), uint16(i))
	}
	for i, s := range cs.synthRaw {
		f.Add(s, uint16(i))
	}
	rare, scrubOnly, rb := fzTransformers(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw []byte, pick uint16) {
		in, planted := cs.plant(raw, pick, cs.all, "")
		src := schemas.Source{Topic: "clickstream.raw", Partition: 1, Offset: 4242}
		if err := rb.Begin(ctx, fzNow); err != nil {
			t.Fatal(err)
		}
		out, rej, err := rare.Transform(ctx, &Input{Value: in, Time: fzNow.Add(-time.Second), Source: src}, fzNow)
		if err != nil {
			t.Fatalf("dependency error from an in-process key store: %v", err)
		}
		if ferr := rb.Flush(ctx); ferr != nil {
			t.Fatal(ferr)
		}
		if rej != nil {
			checkRejection(t, cs, rej, out)
		} else {
			if !json.Valid(in) {
				t.Fatalf("transformed input that is not JSON: %q", in)
			}
			checkOutput(t, cs, in, out, "rare-value policy")
			if found := cs.matcher.Find(out.JSON); len(found) > 0 {
				t.Fatalf("identifier survived the transform (planted %d canaries): %q\ninput:  %q\noutput: %s", len(planted), found, in, out.JSON)
			}
			// Determinism: the same message gives the same bytes.
			first := bytes.Clone(out.JSON)
			rb.Begin(ctx, fzNow)
			again, rej2, _ := rare.Transform(ctx, &Input{Value: in, Time: fzNow.Add(-time.Second), Source: src}, fzNow)
			rb.Flush(ctx)
			if rej2 != nil || !bytes.Equal(first, again.JSON) {
				t.Fatalf("transform is not deterministic:\n%s\n%s (rej %v)", first, again.JSON, rej2)
			}
		}

		// The pattern scrubber alone, with pattern-kind canaries planted
		// as whole tokens.
		in2, planted2 := cs.plant(raw, pick, cs.patterns, " ")
		out2, rej2, err := scrubOnly.Transform(ctx, &Input{Value: in2, Time: fzNow.Add(-time.Second), Source: src}, fzNow)
		if err != nil {
			t.Fatalf("dependency error from an in-process key store: %v", err)
		}
		if rej2 != nil {
			checkRejection(t, cs, rej2, out2)
			return
		}
		checkOutput(t, cs, in2, out2, "scrub-only policy")
		low := bytes.ToLower(out2.JSON)
		for _, c := range planted2 {
			if bytes.Contains(low, bytes.ToLower([]byte(c.Value))) {
				t.Fatalf("%s canary %q survived the pattern scrubber\ninput:  %q\noutput: %s", c.Kind, c.Value, in2, out2.JSON)
			}
		}
	})
}

func checkRejection(t *testing.T, cs *fzCanarySet, rej *Rejection, out Output) {
	t.Helper()
	if out.JSON != nil || out.Key != nil {
		t.Fatalf("rejected (%v) but produced output %q", rej, out.JSON)
	}
	known := false
	for _, r := range Reasons {
		known = known || r == rej.Reason
	}
	if !known {
		t.Fatalf("rejection reason %q is not in ingest.Reasons", rej.Reason)
	}
	if !fzRule.MatchString(rej.Rule) {
		t.Fatalf("rejection rule %q does not look like a limit or schema path", rej.Rule)
	}
	if found := cs.matcher.Find([]byte(rej.Error())); len(found) > 0 {
		t.Fatalf("rejection %q holds an identifier: %q", rej.Error(), found)
	}
}

func checkOutput(t *testing.T, cs *fzCanarySet, in []byte, out Output, policy string) {
	t.Helper()
	if err := schemas.ValidateJSON(schemas.EventSchema, out.JSON); err != nil {
		t.Fatalf("%s: output does not validate against %s: %v\ninput:  %q\noutput: %s", policy, schemas.EventSchema, err, in, out.JSON)
	}
	if len(out.Key) != 32 || strings.Trim(string(out.Key), "0123456789abcdef") != "" {
		t.Fatalf("%s: pseudonym %q is not 32 hex characters", policy, out.Key)
	}
	if !json.Valid(out.JSON) {
		t.Fatalf("%s: output is not JSON: %q", policy, out.JSON)
	}
	if bytes.IndexByte(out.JSON, 0) >= 0 || bytes.Contains(out.JSON, []byte(`\u0000`)) {
		t.Fatalf("%s: output holds a NUL: %q", policy, out.JSON)
	}
}

// FuzzSchemaFastPath is the differential test of the typed fast path
// (rawshape.go) against the JSON Schema validator on the raw-event schema.
// For every input that reaches the schema check in the pipeline (it passes
// the byte-level limits, is strictly valid JSON, an object, and has no
// duplicate keys in the objects the transform reads), the fast path accepts
// it if and only if the validator accepts it. Documented exception: a
// date-time the validator accepts but Go's time package cannot represent
// (a leap second, :60) is refused by the fast path; the transform then
// rejects it as bad_timestamp, since the pipeline needs a usable time.
// Also checked: when the fast path refuses, checkSchema's rejection names
// a schema violation (or bad_timestamp for the exception), never a crash.
func FuzzSchemaFastPath(f *testing.F) {
	cs := fzCanaries()
	for _, s := range fzTemplates {
		f.Add([]byte(strings.ReplaceAll(s, fzMarker, "x")))
	}
	for _, s := range fzHostile {
		f.Add([]byte(s))
	}
	for _, s := range cs.synthRaw {
		f.Add(s)
	}
	for _, s := range fzSchemaSeeds() {
		f.Add([]byte(s))
	}
	tr, err := NewTransformer(Options{}, NewEphemeralKeys())
	if err != nil {
		f.Fatal(err)
	}
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, raw []byte) {
		if tr.precheck(&Input{Value: raw}) != nil || fastjson.ValidateBytes(raw) != nil || !json.Valid(raw) {
			return
		}
		root, err := p.ParseBytes(raw)
		if err != nil {
			t.Fatalf("fastjson.Validate accepts what fastjson.Parse refuses: %v", err)
		}
		if root.Type() != fastjson.TypeObject || tr.checkDuplicates(root) != nil {
			return
		}
		fast, at := true, ""
		for i := range rawChecks {
			if kw := rawChecks[i].check(tr.get(root, rawChecks[i].dotted)); kw != "" {
				fast, at = false, kw+" at "+rawChecks[i].dotted
				break
			}
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("the validator cannot decode valid JSON: %v", err)
		}
		verr := schemas.Validate(schemas.RawEventSchema, doc)
		slow := verr == nil
		rej := tr.checkSchema(root, raw)
		switch {
		case fast && !slow:
			t.Fatalf("fast path accepts what the schema refuses (%v): %q", verr, raw)
		case !fast && slow:
			if rej == nil || rej.Reason != ReasonBadTimestamp || !unrepresentableTime(tr, root) {
				t.Fatalf("fast path refuses (%s) what the schema accepts, not a documented exception (rejection %v): %q", at, rej, raw)
			}
		case !fast && !slow:
			if rej == nil || rej.Reason != ReasonSchema {
				t.Fatalf("schema violation (%v) rejected as %v", verr, rej)
			}
		case fast && slow:
			if rej != nil {
				t.Fatalf("both accept, but checkSchema rejects: %v", rej)
			}
		}
	})
}

// strictDateTime is RFC 3339's date-time grammar (section 5.6), with the
// case-insensitive T and Z that JSON Schema allows.
var strictDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$`)

// unrepresentableTime reports whether the first date-time field the fast
// path refuses is one the documented exception covers: a leap second
// (second 60), or text outside RFC 3339's grammar that the validator's
// lenient number parsing lets through (a sign inside a field: "+1:08:01").
func unrepresentableTime(tr *Transformer, root *fastjson.Value) bool {
	for i := range rawChecks {
		c := &rawChecks[i]
		if c.check(tr.get(root, c.dotted)) == "" {
			continue
		}
		if !c.dateTime {
			return false
		}
		s := tr.get(root, c.dotted).GetStringBytes()
		return !strictDateTime.Match(s) || len(s) >= 19 && string(s[17:19]) == "60"
	}
	return false
}

// fzSchemaSeeds put each field of the raw shape (derived from the schema)
// through each JSON type and the edge of its constraints.
func fzSchemaSeeds() []string {
	values := []string{`"x"`, `""`, `1`, `-0.5e3`, `true`, `false`, `null`, `{}`, `[]`, `{"a":1}`, `["x"]`,
		`"2026-03-14T15:08:01Z"`, `"2026-03-14T15:08:60Z"`, `"2026-02-30T00:00:00Z"`, `"2026-03-14 15:08:01Z"`,
		`"2026-03-14T15:08:01.123456789+05:30"`, `"2026-03-14T15:08:01,5Z"`, `"2026-03-14T25:08:01Z"`,
		`"2026-03-14T15:08:01+24:00"`, `"track"`, `"TRACK"`, `"` + strings.Repeat("é", 1025) + `"`,
		`"` + strings.Repeat("\\ud800", 200) + `"`, `"` + strings.Repeat("a", 65) + `"`}
	var out []string
	for _, name := range RawFieldNames() {
		path := strings.Split(name, ".")
		for _, v := range values {
			doc := v
			for i := len(path) - 1; i >= 0; i-- {
				doc = fmt.Sprintf(`{%q:%s}`, path[i], doc)
			}
			switch name {
			case "type":
				out = append(out, doc)
			case "anonymousId":
				out = append(out, `{"type":"track",`+doc[1:])
			default:
				out = append(out, `{"type":"track","anonymousId":"a",`+doc[1:])
			}
		}
	}
	return out
}
