package ingest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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

func BenchmarkTransform(b *testing.B) {
	tr := newT(b)
	in := &Input{Value: sample, Source: schemas.Source{Topic: "clickstream.raw", Partition: 2, Offset: 99}}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(sample)))
	for i := 0; i < b.N; i++ {
		if _, rej, err := tr.Transform(ctx, in, now); err != nil || rej != nil {
			b.Fatal(err, rej)
		}
	}
}
