package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/personas-dev/personas/synth"
)

var scanSeeds = []string{
	``, ` `, `{}`, `[]`, `{ }`, `[ ]`, `{"a":1}`, `{"a":[1,2,{"b":null}]}`, `"x"`, `1`, `-0`, `-0.5e+10`, `true`, `false`, `null`,
	`01`, `1.`, `.5`, `1e`, `1e+`, `-`, `--1`, `+1`, `NaN`, `Infinity`, `0x10`, `1.2.3`, `tru`, `truex`, `nul`, `[1,]`, `[,1]`, `{"a":1,}`,
	`{"a"}`, `{"a":}`, `{a:1}`, `{'a':1}`, `{"a":1 "b":2}`, `[1 2]`, `{"a":1}}`, `[[1]`, `{"a":[}`, `{"a":{]}`, `[1]x`, `{} {}`,
	`"\u0041"`, `"\u00"`, `"\u00zz"`, `"\x41"`, `"\q"`, `"\/"`, `"a\"b"`, `"a\\"`, `"a\\\"`, `"\u0000"`, `"\\u0000"`, `"\\\u0000"`,
	"\"a\x01b\"", "\"\x01\\b\"", "\"tab\there\"", "{\"k\x1f\":1}", "\t{\n\"a\" :\r1 }\n", "\v{}", "\x00", "{\"a\":1}\x00", "[\"\xff\"]",
	`{"type":"track","anonymousId":"a","properties":{"a":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}}`,
	`{"":{"":{"":""}}}`, `[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`, `{"a":"` + strings.Repeat("é", 100) + `"}`,
}

// FuzzScanJSON holds the one-pass scanner of the precheck to the
// validators it replaces. Invariants, for any input that is valid UTF-8:
//
//  1. scanJSON accepts exactly what encoding/json.Valid accepts (with no
//     depth limit in the way), and what fastjson.Validate accepts but for
//     one bug of the latter (see rawControlBeforeEscape).
//
//  2. For accepted input, its depth and value count equal scanShape's and
//     its escaped-NUL flag equals escapedNUL's.
//
//  3. With a depth limit, it refuses input that scanShape finds too deep,
//     reporting a depth above the limit.
//
//     go test -run '^$' -fuzz '^FuzzScanJSON$' -fuzztime 2m ./ingest/
func FuzzScanJSON(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s), uint8(16))
	}
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Start, cfg.Canaries, cfg.BadShare = 4, time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC), true, 0.2
	g := synth.New(cfg)
	var ev synth.Event
	for i := 0; i < 40; i++ {
		g.Next(&ev)
		f.Add(bytes.Clone(ev.Value), uint8(i))
	}
	f.Fuzz(func(t *testing.T, b []byte, limit uint8) {
		if !utf8.Valid(b) {
			return
		}
		depth, values, esc, ok := scanJSON(b, 1<<20)
		if want := fastjson.ValidateBytes(b) == nil; ok != want && !(want && rawControlBeforeEscape(b)) {
			t.Fatalf("scanJSON ok=%v, fastjson.Validate ok=%v: %q", ok, want, b)
		}
		if want := json.Valid(b); ok != want {
			t.Fatalf("scanJSON ok=%v, json.Valid=%v: %q", ok, want, b)
		}
		if ok {
			d, v := scanShape(b, 1<<20)
			if d != depth || v != values || esc != escapedNUL(b) {
				t.Fatalf("scanJSON depth %d values %d escNUL %v; scanShape %d %d, escapedNUL %v: %q", depth, values, esc, d, v, escapedNUL(b), b)
			}
		}
		lim := int(limit%40) + 1
		d2, _, _, ok2 := scanJSON(b, lim)
		if sd, _ := scanShape(b, lim); ok && sd > lim && (ok2 || d2 <= lim) {
			t.Fatalf("limit %d: scanShape depth %d, scanJSON ok=%v depth %d: %q", lim, sd, ok2, d2, b)
		}
		if ok && depth <= lim && !ok2 {
			t.Fatalf("limit %d: valid input of depth %d refused", lim, depth)
		}
	})
}

// rawControlBeforeEscape reports input that fastjson.Validate (v1.6.10)
// wrongly accepts: a raw control character in a string before an escape
// sequence (it checks only the part after the last escape). JSON forbids
// it, and so do json.Valid and scanJSON.
func rawControlBeforeEscape(b []byte) bool {
	for i, c := range b {
		if c < 0x20 && c != ' ' && bytes.IndexByte(b[i:], '\\') > 0 {
			return true
		}
	}
	return false
}

// TestPrecheckReasons: the one-pass precheck reports the same reason as
// the separate checks in their order of precedence (NUL escape, depth,
// field count, syntax).
func TestPrecheckReasons(t *testing.T) {
	tr, _ := NewTransformer(Options{MaxDepth: 4, MaxFields: 10}, NewEphemeralKeys())
	deep := `{"a":[[[[1]]]]}`
	for _, c := range []struct {
		in   string
		want Reason
	}{
		{`{"a":"\u0000"}`, ReasonNULByte},
		{deep, ReasonTooDeep},
		{deep[:len(deep)-1], ReasonTooDeep},          // too deep and truncated
		{`{"a":"\u0000",` + deep[1:], ReasonNULByte}, // escaped NUL and too deep
		{`{"a":"\u0000"` + deep[1:], ReasonNULByte},  // escaped NUL and invalid
		{`[1,2,3,4,5,6,7,8,9,10,11]`, ReasonTooManyFields},
		{`[1,2,3,4,5,6,7,8,9,10,11`, ReasonTooManyFields}, // and truncated
		{`{"a":NaN}`, ReasonBadJSON},
		{`{"a":1} x`, ReasonBadJSON},
		{`{"a":"b\qc"}`, ReasonBadJSON},
		{"{\"a\":\"b\x01c\"}", ReasonBadJSON},
		{`[1]`, ""},
		{`{"type":"x"}`, ""},
	} {
		var got Reason
		if r := tr.precheck(&Input{Value: []byte(c.in)}); r != nil {
			got = r.Reason
		}
		if got != c.want {
			t.Errorf("precheck(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
