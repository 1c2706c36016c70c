package ingest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/personas-dev/personas/ingest/scrub"
	"github.com/personas-dev/personas/schemas"
)

var sample = []byte(`{"type":"track","event":"Product Viewed","messageId":"ajs-next-1732812345-6b1f","anonymousId":"5c4a2e8b-9f3d-4b6a-8c2e-1d7f9a3b5e60","userId":"jan.jansen@example.com","timestamp":"2026-11-28T22:43:12.345Z","context":{"ip":"83.84.12.200","userAgent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1","locale":"nl-NL","page":{"url":"https://shop.example.nl/p/sony-wh-1000xm5-1234567?utm_source=newsletter&utm_medium=email&email=jan%40example.com","path":"/p/sony-wh-1000xm5-1234567","referrer":"https://www.google.com/search?q=sony+headphones","title":"Welcome back Jan | Shop","search":"?utm_source=newsletter"},"campaign":{"name":"black-friday","source":"newsletter","medium":"email"}},"properties":{"product_id":"1234567","sku":"WH1000XM5-B","category":"electronics","name":"Sony WH-1000XM5","brand":"Sony","price":349.99,"currency":"EUR","email":"jan@example.com"},"traits":{"email":"jan@example.com"}}`)

var now = time.Date(2026, 11, 28, 22, 45, 0, 0, time.UTC)

func newT(t testing.TB) *Transformer {
	tr, err := NewTransformer(Options{}, NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTransformSample(t *testing.T) {
	tr := newT(t)
	out, rej, err := tr.Transform(context.Background(), &Input{Value: sample, Source: schemas.Source{Topic: "clickstream.raw", Partition: 2, Offset: 99}}, now)
	if err != nil || rej != nil {
		t.Fatalf("err %v rej %v", err, rej)
	}
	t.Logf("%s", out.JSON)
	if err := schemas.ValidateJSON(schemas.EventSchema, out.JSON); err != nil {
		t.Fatalf("output does not validate: %v", err)
	}
	for _, leak := range []string{"jan", "Jan", "83.84", "5c4a2e8b", "1234567", "ajs-next", "Mozilla", "17_4", "WH1000XM5"} {
		if strings.Contains(string(out.JSON), leak) {
			t.Errorf("output holds %q", leak)
		}
	}
	var ev schemas.Event
	if err := json.Unmarshal(out.JSON, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Device == nil || ev.Device.Class != "mobile" || ev.Device.Browser != "safari" || ev.Device.OS != "ios" {
		t.Errorf("device = %+v", ev.Device)
	}
	if ev.Properties["category"] != "electronics" || ev.Query["utm_source"] != "newsletter" || ev.Campaign.Name != "black-friday" {
		t.Errorf("utility lost: %s", out.JSON)
	}
	if ev.Time != "2026-11-28T22:43:00Z" || ev.Language != "nl" || ev.ReferrerDomain != "google.com" {
		t.Errorf("generalisation wrong: %s", out.JSON)
	}
}

// BenchmarkTransform measures the transform on one hand-written ~1.1 KB
// event full of identifiers (scrub only), CPU time per event included.
func BenchmarkTransform(b *testing.B) {
	tr := newT(b)
	runTransform(b, tr, nil, [][]byte{sample}, now, 0)
}

// suppressX is a policy that suppresses every value holding an x.
type suppressX struct{}

func (suppressX) Keep(_ Field, _, v string, _ []byte) string {
	if strings.Contains(v, "x") {
		return PlaceholderRare
	}
	return v
}

// TestKeepPath: path segments the policy does not keep become :seg; empty
// segments and scrubber placeholders stay (compared with the plain
// split-and-join form of the rule).
func TestKeepPath(t *testing.T) {
	tr, _ := NewTransformer(Options{Policy: suppressX{}}, NewEphemeralKeys())
	want := func(p string) string {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if s != "" && !strings.HasPrefix(s, ":") && strings.Contains(s, "x") {
				segs[i] = ":seg"
			}
		}
		return strings.Join(segs, "/")
	}
	for _, p := range []string{"/", "", "/a", "/x", "/a/x", "/x/a", "/xa/b/cx/", "//x//", "/:id/x/:token", "/a/b/c", "x", "/xx/xx/xx", "/é/x"} {
		if got := tr.keepPath(p, nil); got != want(p) {
			t.Errorf("keepPath(%q) = %q, want %q", p, got, want(p))
		}
	}
}

// TestDuplicateKeys: a repeated key in an object the transform reads is
// refused, however the keys collide in the fast pre-check.
func TestDuplicateKeys(t *testing.T) {
	tr := newT(t)
	base := `"anonymousId":"a","timestamp":"2026-11-28T22:40:00Z"`
	for _, c := range []struct {
		raw string
		dup bool
	}{
		{`{"type":"track",` + base + `}`, false},
		{`{"type":"track","type":"page",` + base + `}`, true},
		{`{"type":"track","ty\u0070e":"page",` + base + `}`, true},
		{`{"type":"track",` + base + `,"properties":{"ab":1,"ba":2,"aab":3,"aba":4,"baa":5}}`, false},
		{`{"type":"track",` + base + `,"properties":{"ab":1,"ba":2,"aab":3,"aba":4,"ab":5}}`, true},
		{`{"type":"track",` + base + `,"context":{"page":{"url":"/a","path":"/b","url":"/c"}}}`, true},
		{`{"type":"track",` + base + `,"traits":{"x":1,"x":2}}`, false}, // not read: not checked
		{`{"type":"track",` + base + `,"properties":{` + manyKeys(40, -1) + `}}`, false},
		{`{"type":"track",` + base + `,"properties":{` + manyKeys(40, 7) + `}}`, true},
		{`{"type":"track",` + base + `,"properties":{` + manyKeys(32, 30) + `}}`, true},
	} {
		_, rej, err := tr.Transform(context.Background(), &Input{Value: []byte(c.raw)}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := rej != nil && rej.Reason == ReasonDuplicateKey; got != c.dup {
			t.Errorf("%s: duplicate found %v, want %v (rejection %v)", c.raw, got, c.dup, rej)
		}
	}
}

// manyKeys writes n distinct keys k0..; with dupOf >= 0 the last one
// repeats key dupOf.
func manyKeys(n, dupOf int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		k := i
		if i == n-1 && dupOf >= 0 {
			k = dupOf
		}
		b.WriteString(`"k` + itoa(k) + `":1`)
	}
	return b.String()
}

var referrerSeeds = []string{
	"https://www.google.com/", "https://www.google.com/search?q=x", "HTTPS://WWW.Google.co.uk", " https://a.example.com/x ", "http://a.com /x",
	"https://user:pw@shop.example.nl:8443/p?q#f", "https://jan@example.org@evil.com/", "//example.com/x", "www.example.com/x", "example.com",
	"android-app://com.google.android.gm/", "https://192.168.1.1/x", "https://[2001:db8::1]/", "https://localhost:3000/", "https://münchen.de/a",
	"https:\\\\evil.com", "https://a.github.io/cv", "https://x/y://z", "", "   ", "://", "https://", "https:///x", "//", "https://a.com?x=//b.com",
}

// FuzzReferrerDomain: the transformer's cached referrerDomain returns what
// scrub.RegistrableDomain returns for every referrer, whatever it cached
// before (the cache persists across inputs).
func FuzzReferrerDomain(f *testing.F) {
	for _, s := range referrerSeeds {
		f.Add(s, "/more/path?x=1")
	}
	tr := newT(f)
	f.Fuzz(func(t *testing.T, ref, tail string) {
		for _, r := range []string{ref, ref + tail, tail + ref} {
			if got, want := tr.referrerDomain([]byte(r)), scrub.RegistrableDomain(r); got != want {
				t.Fatalf("referrerDomain(%q) = %q, RegistrableDomain = %q", r, got, want)
			}
		}
	})
}
