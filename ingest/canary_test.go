package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// patternKinds are the canary kinds the pattern scrubber promises to catch
// wherever they are kept; the others (names, codes, slugs, personal
// domains, cookies, ids with a prefix) are only caught by the allowlist and
// rare-value suppression.
var patternKinds = []string{"email", "phone", "iban", "card", "bsn", "postcode", "ipv4", "ipv6", "uuid", "jwt"}

// extraCanaries reads testdata/canary: the extra hand-written events (one
// copy per sender id in ids, timestamps at ts) and their canaries with the
// variants they may resurface as.
func extraCanaries(t testing.TB, ts time.Time, ids ...string) ([][]byte, []synth.Canary) {
	t.Helper()
	b, err := os.ReadFile("testdata/canary/extra.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var events [][]byte
	for _, id := range ids {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := strings.NewReplacer("{{TS}}", ts.UTC().Format(time.RFC3339Nano), "{{ID}}", id).Replace(sc.Text())
			events = append(events, []byte(line))
		}
	}
	c, err := os.ReadFile("testdata/canary/extra-canaries.txt")
	if err != nil {
		t.Fatal(err)
	}
	var cans []synth.Canary
	for _, line := range strings.Split(strings.TrimSpace(string(c)), "\n") {
		kind, v, _ := strings.Cut(line, "\t")
		cans = append(cans, synth.Canary{Kind: kind, Value: v, Variants: []string{
			url.QueryEscape(v), url.PathEscape(v), strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(v)), "="),
			base64.RawURLEncoding.EncodeToString([]byte(v)),
		}})
	}
	return events, cans
}

// canaryInput is one raw message of the canary corpus.
type canaryInput struct {
	raw  []byte
	at   time.Time
	name string
}

// canaryCorpus is every canary input the unit suite runs: the hand-written
// corpus of synth (CanaryRaw), a canary-mode synthetic stream and the
// extra cases of testdata/canary, with every canary planted.
func canaryCorpus(t testing.TB, start time.Time, events int) ([]canaryInput, []synth.Canary) {
	t.Helper()
	var in []canaryInput
	samples, cans := synth.CanaryRaw(start)
	for _, s := range samples {
		in = append(in, canaryInput{s.Value, start, s.Name})
	}
	extra, ecans := extraCanaries(t, start.Add(-30*time.Second), "1", "2")
	for i, e := range extra {
		in = append(in, canaryInput{e, start, "extra line " + strconv.Itoa(i%(len(extra)/2)+1)})
	}
	cans = append(cans, ecans...)
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Start, cfg.Canaries, cfg.Visitors = 5, start.Add(time.Minute), true, 200
	g := synth.New(cfg)
	var ev synth.Event
	for i := 0; i < events; i++ {
		g.Next(&ev)
		in = append(in, canaryInput{bytes.Clone(ev.Value), ev.Time, "synth " + ev.Type.String() + " " + ev.Name})
	}
	return in, append(cans, g.CanaryDetails()...)
}

// TestCanaries is the unit form of the canary suite (P1, P2, P6): every
// identifier planted in the corpus, in any of its spellings, is absent from
// every anonymized event, Kafka key and rejection with the production
// defaults (allowlist, scrubber, rare-value suppression); with the pattern
// scrubber alone, no identifier of a pattern kind survives. The same run
// checks utility: allowlisted values survive.
func TestCanaries(t *testing.T) {
	start := time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)
	n := 4000 // the utility checks need the steady state: popular values released
	if testing.Short() {
		n = 800
	}
	corpus, cans := canaryCorpus(t, start, n)
	all := synth.NewCanaryMatcher(synth.CanaryStrings(cans))
	var pat []synth.Canary
	for _, c := range cans {
		if slices.Contains(patternKinds, c.Kind) {
			pat = append(pat, c)
		}
	}
	patterns := synth.NewCanaryMatcher(synth.CanaryStrings(pat))
	kindOf := map[string]string{}
	for _, c := range cans {
		for _, s := range c.Strings() {
			kindOf[strings.ToLower(s)] = c.Kind
		}
	}

	ctx := context.Background()
	for name, p := range corpusTransformers(t) {
		var u utility
		leaked := map[string]int{}
		for i, c := range corpus {
			now := c.at.Add(2 * time.Second)
			if p.rb != nil && i%200 == 0 {
				p.rb.Flush(ctx)
				p.rb.Begin(ctx, now)
			}
			out, rej, err := p.tr.Transform(ctx, &Input{Value: c.raw, Time: c.at, Source: schemas.Source{Topic: "clickstream.raw", Offset: int64(i)}}, now)
			if err != nil {
				t.Fatal(err)
			}
			if rej != nil {
				if found := all.Find([]byte(rej.Error())); len(found) > 0 {
					t.Errorf("%s: rejection of %s names an identifier: %q", name, c.name, found)
				}
				continue
			}
			if i < 100 { // the hand-written cases and the start of the stream (the corpus test covers the rest)
				if err := schemas.ValidateJSON(schemas.EventSchema, out.JSON); err != nil {
					t.Errorf("%s: output for %s does not validate: %v\n%s", name, c.name, err, out.JSON)
				}
			}
			text := append(append([]byte(nil), out.Key...), out.JSON...)
			if p.rb != nil {
				if found := all.Find(text); len(found) > 0 {
					t.Errorf("%s: %s leaks %q\n%s", name, c.name, found, out.JSON)
				}
			} else {
				if found := patterns.Find(text); len(found) > 0 {
					t.Errorf("%s: %s leaks identifiers of a pattern kind %q\n%s", name, c.name, found, out.JSON)
				}
				for _, f := range all.Find(text) {
					leaked[kindOf[strings.ToLower(f)]]++
				}
			}
			u.add(t, out.JSON)
		}
		if len(leaked) > 0 {
			t.Logf("%s: canaries of non-pattern kinds in the output (caught only by rare-value suppression): %v", name, leaked)
		}
		t.Logf("%s: %s", name, u.String())
		if !testing.Short() { // a short stream ends before popular values are released
			u.check(t, name)
		}
	}
}

// utility counts what survives of the values that personas are built from.
type utility struct {
	events, categories, vocabCategories, utm, knownUTM, devices, browsers, languages, referrers, suppressedReferrers int
	referrerDomains                                                                                                  map[string]int
}

var (
	knownBrowsers  = []string{"chrome", "safari", "firefox", "edge", "opera", "samsung", "other"}
	knownUTMSource = []string{"newsletter", "google", "bing", "facebook", "instagram", "tiktok", "partner-x", "awin", "email"}
)

func (u *utility) add(t testing.TB, b []byte) {
	var ev schemas.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	u.events++
	if c, ok := ev.Properties["category"].(string); ok {
		u.categories++
		if slices.Contains(DefaultVocabulary["properties.category"], c) {
			u.vocabCategories++
		}
	}
	if s, ok := ev.Query["utm_source"]; ok {
		u.utm++
		if slices.Contains(knownUTMSource, s) {
			u.knownUTM++
		}
	}
	if ev.Device != nil && ev.Device.Class != "" {
		u.devices++
		if ev.Device.Class != "bot" && slices.Contains(knownBrowsers, ev.Device.Browser) && ev.Device.Browser != "other" {
			u.browsers++
		}
	}
	if ev.Language != "" {
		u.languages++
	}
	if isPlaceholder(ev.ReferrerDomain) {
		u.suppressedReferrers++
	} else if ev.ReferrerDomain != "" {
		if u.referrerDomains == nil {
			u.referrerDomains = map[string]int{}
		}
		u.referrerDomains[ev.ReferrerDomain]++
		u.referrers++
	}
}

func (u *utility) String() string {
	return "events " + strconv.Itoa(u.events) + ", category " + strconv.Itoa(u.vocabCategories) + "/" + strconv.Itoa(u.categories) +
		" from the taxonomy, utm_source " + strconv.Itoa(u.knownUTM) + "/" + strconv.Itoa(u.utm) + " kept, device class " +
		strconv.Itoa(u.devices) + ", browser family " + strconv.Itoa(u.browsers) + ", language " + strconv.Itoa(u.languages) +
		", referrer domain " + strconv.Itoa(u.referrers) + " kept, " + strconv.Itoa(u.suppressedReferrers) + " suppressed"
}

// check asserts the utility side of the canary suite: category, utm_source,
// device class, browser family, language and common referrer domains
// survive the privacy transform.
func (u *utility) check(t *testing.T, name string) {
	t.Helper()
	if u.events == 0 || u.categories == 0 || float64(u.vocabCategories) < 0.95*float64(u.categories) {
		t.Errorf("%s: categories from the taxonomy lost: %d of %d kept", name, u.vocabCategories, u.categories)
	}
	// utm_source values outside the vocabulary (bing, partner-x) wait for
	// k_values senders: a short stream loses their first sightings.
	if u.utm == 0 || float64(u.knownUTM) < 0.8*float64(u.utm) {
		t.Errorf("%s: utm_source values lost: %d of %d kept", name, u.knownUTM, u.utm)
	}
	if u.devices != u.events {
		t.Errorf("%s: device class missing on %d of %d events", name, u.events-u.devices, u.events)
	}
	if float64(u.browsers) < 0.6*float64(u.events) || float64(u.languages) < 0.9*float64(u.events) {
		t.Errorf("%s: browser family on %d, language on %d of %d events", name, u.browsers, u.languages, u.events)
	}
	// In canary mode every external referrer is a webmail link (live.com);
	// the shop's own pages refer as example.com.
	if u.referrerDomains["live.com"] == 0 || float64(u.referrers) < 0.9*float64(u.referrers+u.suppressedReferrers) {
		t.Errorf("%s: referrer domains lost: %d kept, %d suppressed: %v", name, u.referrers, u.suppressedReferrers, u.referrerDomains)
	}
}
