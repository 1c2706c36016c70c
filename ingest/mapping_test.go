package ingest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/personas-dev/personas/schemas"
)

// snowplowMapping maps a Snowplow-like enriched event (flat JSON, one key
// per column, as the analytics SDKs and many loaders write it) onto the raw
// shape. docs/privacy.md shows the same mapping as YAML (ingest.mapping).
var snowplowMapping = map[string]string{
	"type":                    "event[page_view=page,page_ping=page,struct=track,unstruct=track,transaction=track,transaction_item=track]",
	"event":                   "se_action",
	"messageId":               "event_id",
	"anonymousId":             "domain_userid",
	"userId":                  "user_id",
	"timestamp":               "derived_tstamp",
	"sentAt":                  "dvce_sent_tstamp",
	"receivedAt":              "collector_tstamp",
	"context.ip":              "user_ipaddress",
	"context.userAgent":       "useragent",
	"context.locale":          "br_lang",
	"context.page.url":        "page_url",
	"context.page.referrer":   "page_referrer",
	"context.page.title":      "page_title",
	"context.campaign.source": "mkt_source",
	"context.campaign.medium": "mkt_medium",
	"context.campaign.name":   "mkt_campaign",
	"context.campaign.term":   "mkt_term",
	"properties.category":     "se_category",
	"properties.value":        "se_value",
	"properties.query":        "contexts.site_search.terms",
}

var mapNow = time.Date(2026, 3, 14, 15, 10, 0, 0, time.UTC)

// snowplowPageView is a page view as a Snowplow-like pipeline exports it:
// identifiers in domain_userid, network_userid, user_id, user_ipaddress,
// user_fingerprint, the URL (query and fragment), the referrer and the
// title; absent columns are null.
const snowplowPageView = `{"app_id":"shop","platform":"web","event":"page_view","event_id":"4b3c1f0e-8d7a-4c2b-9e1f-0a1b2c3d4e5f",` +
	`"name_tracker":"sp","v_tracker":"js-3.24.0","user_id":"marieke.snowplow@example.org","user_ipaddress":"83.84.12.201",` +
	`"user_fingerprint":"1839212837","domain_userid":"a5a1c1f2-7d4e-4f0b-9a6c-2b8e3d1f4c70","domain_sessionidx":3,` +
	`"network_userid":"ecdff4d0-9175-40ac-a8bb-325c49733607","geo_city":"Utrecht","geo_zipcode":"3511 AB",` +
	`"page_url":"https://www.shop.example.nl/p/fietsbel-retro-zilver-8812345?utm_source=newsletter&utm_medium=email&utm_campaign=lente&email=marieke.snowplow%40example.org#token=8f14e45fceea167a5a36dedd4bea2543",` +
	`"page_title":"Fietsbel retro – welkom terug Marieke","page_referrer":"https://mail.google.com/mail/u/0/?authuser=marieke.snowplow%40example.org",` +
	`"mkt_medium":"email","mkt_source":"newsletter","mkt_term":"marieke.snowplow@example.org","mkt_content":null,"mkt_campaign":"lente",` +
	`"se_category":null,"se_action":null,"se_label":null,"se_value":null,` +
	`"useragent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",` +
	`"br_lang":"nl-NL","dvce_type":"Mobile","collector_tstamp":"2026-03-14T15:08:02.512Z","dvce_created_tstamp":"2026-03-14T15:08:01.007Z",` +
	`"dvce_sent_tstamp":"2026-03-14T15:08:01.120Z","derived_tstamp":"2026-03-14T15:08:01.615Z","contexts":null}`

// snowplowStruct is a structured event of the same visitor (signed out):
// category and action name it, a site-search context carries the terms.
const snowplowStruct = `{"app_id":"shop","platform":"web","event":"struct","event_id":"4b3c1f0e-8d7a-4c2b-9e1f-0a1b2c3d4e60",` +
	`"user_id":null,"user_ipaddress":"83.84.12.201","domain_userid":"a5a1c1f2-7d4e-4f0b-9a6c-2b8e3d1f4c70",` +
	`"page_url":"https://www.shop.example.nl/c/fietsen","page_referrer":null,"mkt_source":null,` +
	`"se_category":"fietsen","se_action":"Product Added","se_label":"Marieke's verlanglijst","se_value":24.95,` +
	`"contexts":{"site_search":{"terms":"fietsbel retro"}},` +
	`"useragent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36",` +
	`"br_lang":"nl","derived_tstamp":"2026-03-14T15:09:30.000Z"}`

func snowplowTransformer(t *testing.T, keys Keys) *Transformer {
	t.Helper()
	tr, err := NewTransformer(Options{Mapping: snowplowMapping}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func transformOne(t *testing.T, tr *Transformer, raw string, offset int64) schemas.Event {
	t.Helper()
	out, rej, err := tr.Transform(context.Background(), &Input{Value: []byte(raw), Source: schemas.Source{Topic: "snowplow.enriched", Offset: offset}}, mapNow)
	if err != nil || rej != nil {
		t.Fatalf("err %v, rejection %v", err, rej)
	}
	if err := schemas.ValidateJSON(schemas.EventSchema, out.JSON); err != nil {
		t.Fatalf("output does not validate: %v\n%s", err, out.JSON)
	}
	var ev schemas.Event
	if err := json.Unmarshal(out.JSON, &ev); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"marieke", "83.84.12", "a5a1c1f2", "ecdff4d0", "1839212837", "3511", "8f14e45f", "4b3c1f0e", "Utrecht", "verlanglijst", "Mozilla", "17_4"} {
		if strings.Contains(strings.ToLower(string(out.JSON)), strings.ToLower(leak)) {
			t.Errorf("output holds %q: %s", leak, out.JSON)
		}
	}
	return ev
}

// TestMappingSnowplow reads a Snowplow-like flat shape through
// Options.Mapping (config ingest.mapping): every kept field lands where the
// Segment shape would put it, identifiers are dropped or scrubbed the same
// way, and the visitor's pseudonym comes from the mapped identifier.
func TestMappingSnowplow(t *testing.T) {
	keys := NewEphemeralKeys()
	tr := snowplowTransformer(t, keys)

	pv := transformOne(t, tr, snowplowPageView, 1)
	if pv.Type != "page" || pv.Time != "2026-03-14T15:08:00Z" || pv.Path != "/p/:id" {
		t.Errorf("page view: type %q time %q path %q", pv.Type, pv.Time, pv.Path)
	}
	if pv.Query["utm_source"] != "newsletter" || pv.Query["utm_campaign"] != "lente" || len(pv.Query) != 3 {
		t.Errorf("query = %v, want the three utm parameters only", pv.Query)
	}
	if pv.ReferrerDomain != "google.com" || pv.Language != "nl" {
		t.Errorf("referrer %q language %q", pv.ReferrerDomain, pv.Language)
	}
	if pv.Device == nil || pv.Device.Class != "mobile" || pv.Device.Browser != "safari" || pv.Device.OS != "ios" {
		t.Errorf("device = %+v", pv.Device)
	}
	if pv.Campaign == nil || *pv.Campaign != (schemas.Campaign{Source: "newsletter", Medium: "email", Name: "lente"}) {
		t.Errorf("campaign = %+v", pv.Campaign)
	}
	if pv.Event != "" || pv.Search != "" || pv.Properties != nil {
		t.Errorf("null columns became values: event %q search %q properties %v", pv.Event, pv.Search, pv.Properties)
	}

	st := transformOne(t, tr, snowplowStruct, 2)
	if st.Type != "track" || st.Event != "Product Added" || st.Search != "fietsbel retro" {
		t.Errorf("struct event: type %q event %q search %q", st.Type, st.Event, st.Search)
	}
	if st.Properties["category"] != "fietsen" || st.Properties["value"] != 24.95 || len(st.Properties) != 2 {
		t.Errorf("properties = %v, want category and value from se_category and se_value", st.Properties)
	}
	if st.Path != "/c/fietsen" || st.ReferrerDomain != "" || st.Campaign != nil {
		t.Errorf("path %q referrer %q campaign %v", st.Path, st.ReferrerDomain, st.Campaign)
	}

	// The page view names a user_id, the struct event only domain_userid:
	// identifier_fields (userId, anonymousId, device id) pick the first set.
	k, _ := keys.Key(context.Background(), tr.EpochOf(mapNow), mapNow.Add(time.Hour))
	if pv.Pseudonym != Pseudonym(k, []byte("marieke.snowplow@example.org")) {
		t.Error("page view pseudonym is not the HMAC of the mapped userId")
	}
	if st.Pseudonym != Pseudonym(k, []byte("a5a1c1f2-7d4e-4f0b-9a6c-2b8e3d1f4c70")) {
		t.Error("struct event pseudonym is not the HMAC of the mapped anonymousId (domain_userid)")
	}
}

// TestMappingMatchesSegmentShape: the same event in Segment shape and in
// the mapped shape gives the same anonymized event, byte for byte.
func TestMappingMatchesSegmentShape(t *testing.T) {
	keys := NewEphemeralKeys()
	seg, err := NewTransformer(Options{}, keys)
	if err != nil {
		t.Fatal(err)
	}
	mapped := snowplowTransformer(t, keys)
	segment := `{"type":"track","event":"Product Added","anonymousId":"a5a1c1f2-7d4e-4f0b-9a6c-2b8e3d1f4c70","timestamp":"2026-03-14T15:09:30.000Z",` +
		`"context":{"ip":"83.84.12.201","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36",` +
		`"locale":"nl","page":{"url":"https://www.shop.example.nl/c/fietsen"}},"properties":{"query":"fietsbel retro","category":"fietsen","value":24.95}}`
	src := schemas.Source{Topic: "t", Offset: 7}
	a, rej, _ := seg.Transform(context.Background(), &Input{Value: []byte(segment), Source: src}, mapNow)
	if rej != nil {
		t.Fatal(rej)
	}
	want := string(a.JSON)
	b, rej, _ := mapped.Transform(context.Background(), &Input{Value: []byte(snowplowStruct), Source: src}, mapNow)
	if rej != nil {
		t.Fatal(rej)
	}
	if string(b.JSON) != want {
		t.Errorf("mapped shape differs from the Segment shape:\n got %s\nwant %s", b.JSON, want)
	}
}

// TestMappingRejections: mapped input is checked against the raw-event
// schema like Segment input (on the mapped fields, fast path and validator
// alike), and rejections name raw-shape paths, never input text.
func TestMappingRejections(t *testing.T) {
	tr := snowplowTransformer(t, NewEphemeralKeys())
	for _, c := range []struct {
		name, raw string
		reason    Reason
		rule      string
	}{
		{"unknown event kind", strings.Replace(snowplowStruct, `"event":"struct"`, `"event":"ad_impression"`, 1), ReasonSchema, "enum at /type"},
		{"no event kind", strings.Replace(snowplowStruct, `"event":"struct",`, ``, 1), ReasonSchema, "required at /"},
		{"number as time", strings.Replace(snowplowStruct, `"derived_tstamp":"2026-03-14T15:09:30.000Z"`, `"derived_tstamp":1773500970000`, 1), ReasonSchema, "type at /timestamp"},
		{"no visitor", strings.Replace(snowplowStruct, `"domain_userid":"a5a1c1f2-7d4e-4f0b-9a6c-2b8e3d1f4c70",`, ``, 1), ReasonNoIdentifier, ""},
		{"object as URL", strings.Replace(snowplowStruct, `"page_url":"https://www.shop.example.nl/c/fietsen"`, `"page_url":{"href":"x"}`, 1), ReasonSchema, "type at /context/page/url"},
	} {
		out, rej, err := tr.Transform(context.Background(), &Input{Value: []byte(c.raw)}, mapNow)
		if err != nil || rej == nil {
			t.Errorf("%s: accepted: %s", c.name, out.JSON)
			continue
		}
		if rej.Reason != c.reason || c.rule != "" && rej.Rule != c.rule {
			t.Errorf("%s: rejection %v, want %s (%s)", c.name, rej, c.reason, c.rule)
		}
	}
}

// TestMappingNested: a mapped object is read as a whole, and fields under
// it that are not mapped themselves are read inside it.
func TestMappingNested(t *testing.T) {
	tr, err := NewTransformer(Options{Mapping: map[string]string{
		"type": "=track", "event": "ev.name", "anonymousId": "who.cookie", "context": "ctx", "context.page.url": "href",
		"properties": "ev.props",
	}}, NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	raw := `{"ev":{"name":"Product Viewed","props":{"category":"toys","email":"x@example.org"}},"who":{"cookie":"c-1"},` +
		`"ctx":{"locale":"de-DE","page":{"url":"https://ignored.example/x","referrer":"https://www.bing.com/"},"campaign":{"source":"google"}},` +
		`"href":"https://shop.example/c/toys?utm_source=google","timestamp":"2026-03-14T15:09:00Z","context":{"locale":"fr-FR"}}`
	ev := transformOne(t, tr, raw, 3)
	if ev.Type != "track" || ev.Event != "Product Viewed" || ev.Language != "de" || ev.Path != "/c/toys" ||
		ev.ReferrerDomain != "bing.com" || ev.Campaign == nil || ev.Campaign.Source != "google" ||
		ev.Properties["category"] != "toys" || len(ev.Properties) != 1 {
		t.Errorf("nested mapping read the wrong fields: %+v", ev)
	}
}

// TestMappingOptionErrors: mistakes in ingest.mapping are reported at start.
func TestMappingOptionErrors(t *testing.T) {
	for spec, want := range map[string]string{
		`{"context.page.nope":"x"}`:     "not a raw-shape field",
		`{"properties.bad-name":"x"}`:   "not a raw-shape field",
		`{"type":"event[page_view]"}`:   "from=to",
		`{"type":"event..kind"}`:        "not an input path",
		`{"type":"a[x=y]b"}`:            "not an input path",
		`{"properties.category":"a.b"}`: "",
		`{"type":"=track"}`:             "",
		`{"type":"k[a=page, *=track]"}`: "",
	} {
		var m map[string]string
		if err := json.Unmarshal([]byte(spec), &m); err != nil {
			t.Fatal(err)
		}
		_, err := NewTransformer(Options{Mapping: m}, NewEphemeralKeys())
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", spec, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want one saying %q", spec, err, want)
		}
	}
}
