package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// stripNow is the clock the strip tests evaluate samples at (--now).
var stripNow = time.Date(2026, 3, 14, 15, 10, 0, 0, time.UTC)

// runStrip runs `personas strip` as a user does (the cobra command with
// --config and --now), stdin to stdout and stderr.
func runStrip(t *testing.T, configYAML string, stdin []byte) (stdout, stderr []byte) {
	t.Helper()
	args := []string{"strip", "--now", stripNow.Format(time.RFC3339)}
	if configYAML != "" {
		path := filepath.Join(t.TempDir(), "personas.yaml")
		if err := os.WriteFile(path, []byte(configYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetIn(bytes.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("personas strip: %v\nstderr: %s", err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

func lines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

// extraCorpus reads the extra canary cases shared with the ingest tests
// (ingest/testdata/canary), one copy per sender id.
func extraCorpus(t *testing.T, ts time.Time, ids ...string) ([][]byte, []synth.Canary) {
	t.Helper()
	b, err := os.ReadFile("../../ingest/testdata/canary/extra.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var events [][]byte
	for _, id := range ids {
		for _, l := range lines(b) {
			events = append(events, []byte(strings.NewReplacer("{{TS}}", ts.UTC().Format(time.RFC3339Nano), "{{ID}}", id).Replace(string(l))))
		}
	}
	c, err := os.ReadFile("../../ingest/testdata/canary/extra-canaries.txt")
	if err != nil {
		t.Fatal(err)
	}
	var cans []synth.Canary
	for _, l := range lines(c) {
		kind, v, _ := strings.Cut(string(l), "\t")
		cans = append(cans, synth.Canary{Kind: kind, Value: v, Variants: []string{url.QueryEscape(v), url.PathEscape(v),
			strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(v)), "="), base64.RawURLEncoding.EncodeToString([]byte(v))}})
	}
	return events, cans
}

// TestStripCanaries is the canary suite on `personas strip` with the
// default settings (rare-value suppression on, counted in memory over the
// whole sample): the hand-written canary corpus, the extra cases and a
// canary-mode synthetic stream go in; no canary comes out on stdout or in
// the DLQ records on stderr; every output line validates against its
// schema; allowlisted values survive.
func TestStripCanaries(t *testing.T) {
	var in bytes.Buffer
	samples, cans := synth.CanaryRaw(stripNow.Add(-2 * time.Minute))
	bad := 0
	for _, s := range samples {
		in.Write(s.Value)
		in.WriteByte('\n')
		if s.Bad != synth.Valid {
			bad++
		}
	}
	extra, ecans := extraCorpus(t, stripNow.Add(-90*time.Second), "1", "2", "3")
	for _, e := range extra {
		in.Write(e)
		in.WriteByte('\n')
	}
	cans = append(cans, ecans...)
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Canaries, cfg.Visitors, cfg.BadShare = 9, true, 150, 0.03
	cfg.Start = stripNow.Add(-30 * time.Minute)
	cfg.EventsPerSecond = 2
	g := synth.New(cfg)
	var ev synth.Event
	for i := 0; i < 2000; i++ {
		g.Next(&ev)
		if bytes.IndexByte(ev.Value, '\n') >= 0 || len(ev.Value) == 0 {
			continue // one line per event: strip reads JSON lines
		}
		in.Write(ev.Value)
		in.WriteByte('\n')
		if ev.Bad != synth.Valid {
			bad++
		}
	}
	cans = append(cans, g.CanaryDetails()...)
	m := synth.NewCanaryMatcher(synth.CanaryStrings(cans))

	stdout, stderr := runStrip(t, "", in.Bytes())
	outs, rejects := lines(stdout), lines(stderr)
	if len(outs)+len(rejects) != len(lines(in.Bytes())) {
		t.Errorf("%d lines in, %d events and %d rejects out", len(lines(in.Bytes())), len(outs), len(rejects))
	}
	if len(rejects) < bad {
		t.Errorf("%d malformed lines in, %d DLQ records out", bad, len(rejects))
	}
	if found := m.Find(stdout); len(found) > 0 {
		t.Errorf("stdout holds identifiers: %q", found[:min(len(found), 10)])
	}
	if found := m.Find(stderr); len(found) > 0 {
		t.Errorf("stderr (DLQ records) holds identifiers: %q", found[:min(len(found), 10)])
	}
	for _, r := range rejects {
		if err := schemas.ValidateJSON(schemas.DLQSchema, r); err != nil {
			t.Fatalf("DLQ record does not validate: %v\n%s", err, r)
		}
	}
	var categories, utm, devices, browsers, languages, referrers int
	for _, o := range outs {
		if err := schemas.ValidateJSON(schemas.EventSchema, o); err != nil {
			t.Fatalf("event does not validate: %v\n%s", err, o)
		}
		var e schemas.Event
		json.Unmarshal(o, &e)
		if c, _ := e.Properties["category"].(string); slices.Contains([]string{"electronics", "fashion", "home", "garden", "toys", "books", "sports", "beauty", "grocery"}, c) {
			categories++
		}
		if e.Query["utm_source"] == "newsletter" {
			utm++
		}
		if e.Device != nil && e.Device.Class != "" {
			devices++
			if e.Device.Browser != "" && e.Device.Browser != "other" {
				browsers++
			}
		}
		if e.Language != "" {
			languages++
		}
		if e.ReferrerDomain == "live.com" || e.ReferrerDomain == "example.com" {
			referrers++
		}
	}
	t.Logf("%d events, %d rejects; kept: category %d, utm_source=newsletter %d, device class %d, browser family %d, language %d, referrer domain %d",
		len(outs), len(rejects), categories, utm, devices, browsers, languages, referrers)
	if categories == 0 || utm == 0 || devices != len(outs) || browsers < len(outs)/2 || languages < len(outs)*9/10 || referrers == 0 {
		t.Error("allowlisted values were lost (see the counts above)")
	}
}

// TestStripRareTwoPass: strip counts senders over the whole sample first,
// so a value is published on every line, the first included, once
// k_values distinct visitors sent it anywhere in the sample, and on no
// line when fewer did.
func TestStripRareTwoPass(t *testing.T) {
	line := func(visitor int, q string) string {
		return `{"type":"track","event":"Products Searched","anonymousId":"v-` + strconv.Itoa(visitor) + `","timestamp":"2026-03-14T15:08:00Z",` +
			`"context":{"page":{"url":"https://shop.example.com/profiel/sanne-de-vries?utm_campaign=bday-sanne"}},"properties":{"query":"` + q + `"}}` + "\n"
	}
	var in strings.Builder
	for v := 1; v <= 3; v++ {
		in.WriteString(line(v, "sanne de vries")) // three visitors
	}
	for v := 1; v <= 2; v++ {
		in.WriteString(line(v, "jan jansen")) // two visitors
	}
	stdout, _ := runStrip(t, "ingest:\n  rare:\n    k_values: 3\n", []byte(in.String()))
	outs := lines(stdout)
	if len(outs) != 5 {
		t.Fatalf("%d events out, want 5", len(outs))
	}
	for i, o := range outs {
		var e schemas.Event
		json.Unmarshal(o, &e)
		want := "sanne de vries"
		if i >= 3 {
			want = "[rare]"
		}
		if e.Search != want || e.Path != "/profiel/sanne-de-vries" || e.Query["utm_campaign"] != "bday-sanne" {
			t.Errorf("line %d: search %q (want %q), path %q, utm_campaign %q", i+1, e.Search, want, e.Path, e.Query["utm_campaign"])
		}
	}
	if bytes.Contains(stdout, []byte("jan jansen")) {
		t.Error("a search of two visitors was published with k_values 3")
	}

	// With suppression off the pattern scrubber alone decides.
	stdout, _ = runStrip(t, "ingest:\n  rare:\n    enabled: false\n", []byte(line(1, "jan jansen")))
	if !bytes.Contains(stdout, []byte(`"search":"jan jansen"`)) {
		t.Errorf("rare-value suppression off, yet the search was suppressed: %s", stdout)
	}
}

// TestStripMapping: `personas strip` reads a Snowplow-like flat shape
// through ingest.mapping in the settings file.
func TestStripMapping(t *testing.T) {
	const cfg = `ingest:
  mapping:
    type: "event[page_view=page,page_ping=page,struct=track,unstruct=track]"
    event: se_action
    anonymousId: domain_userid
    userId: user_id
    timestamp: derived_tstamp
    context.ip: user_ipaddress
    context.userAgent: useragent
    context.locale: br_lang
    context.page.url: page_url
    context.page.referrer: page_referrer
    context.campaign.source: mkt_source
    context.campaign.medium: mkt_medium
    context.campaign.name: mkt_campaign
    properties.category: se_category
  rare:
    k_values: 1
`
	in := `{"event":"page_view","domain_userid":"a5a1c1f2-7d4e-4f0b-9a6c-2b8e3d1f4c70","user_id":null,"user_ipaddress":"192.0.2.9","derived_tstamp":"2026-03-14T15:08:01.615Z","page_url":"https://www.shop.example.nl/c/fietsen?utm_source=newsletter&email=a%40example.org","page_referrer":"https://www.google.nl/","mkt_source":"newsletter","mkt_medium":"email","mkt_campaign":"lente","se_category":null,"useragent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36","br_lang":"nl-NL"}
{"event":"struct","domain_userid":"a5a1c1f2-7d4e-4f0b-9a6c-2b8e3d1f4c70","derived_tstamp":"2026-03-14T15:09:01Z","se_category":"fietsen","se_action":"Product Added","page_url":"https://www.shop.example.nl/c/fietsen"}
{"event":"ad_impression","domain_userid":"a5a1c1f2-7d4e-4f0b-9a6c-2b8e3d1f4c70","derived_tstamp":"2026-03-14T15:09:01Z"}
`
	stdout, stderr := runStrip(t, cfg, []byte(in))
	outs, rejects := lines(stdout), lines(stderr)
	if len(outs) != 2 || len(rejects) != 1 {
		t.Fatalf("%d events, %d rejects; want 2 and 1\n%s\n%s", len(outs), len(rejects), stdout, stderr)
	}
	var pv, st schemas.Event
	json.Unmarshal(outs[0], &pv)
	json.Unmarshal(outs[1], &st)
	if pv.Type != "page" || pv.Path != "/c/fietsen" || pv.Query["utm_source"] != "newsletter" || pv.ReferrerDomain != "google.nl" ||
		pv.Language != "nl" || pv.Device.Browser != "chrome" || pv.Campaign.Name != "lente" {
		t.Errorf("page view mapped wrongly: %s", outs[0])
	}
	if st.Type != "track" || st.Event != "Product Added" || st.Properties["category"] != "fietsen" || st.Pseudonym != pv.Pseudonym {
		t.Errorf("structured event mapped wrongly: %s", outs[1])
	}
	if bytes.Contains(stdout, []byte("a5a1c1f2")) || bytes.Contains(stdout, []byte("192.0.2.9")) || bytes.Contains(stdout, []byte("example.org")) {
		t.Errorf("identifiers in the output: %s", stdout)
	}
	var rec schemas.DLQRecord
	json.Unmarshal(rejects[0], &rec)
	if rec.Reason != "schema_violation" || rec.Rule != "enum at /type" || bytes.Contains(rejects[0], []byte("ad_impression")) {
		t.Errorf("reject: %s", rejects[0])
	}
}

// TestStripRejectsBadMapping: a mapping mistake is a usage error with a
// message naming the setting, before any input is read.
func TestStripRejectsBadMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "personas.yaml")
	os.WriteFile(path, []byte("ingest:\n  mapping:\n    context.page.link: page_url\n"), 0o600)
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetIn(strings.NewReader(""))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"strip", "--config", path})
	err := root.Execute()
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "context.page.link") {
		t.Errorf("error %v (exit %d), want a usage error naming context.page.link", err, exitCode(err))
	}
}
