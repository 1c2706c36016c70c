package dashboard

import (
	"strings"
	"testing"
)

func marks(lines []Line) map[string]string {
	out := map[string]string{}
	for _, l := range lines {
		if l.Key != "" {
			out[l.Key] = l.Mark
		}
	}
	return out
}

func TestAnnotate(t *testing.T) {
	raw := `{"type":"page","name":"Product","anonymousId":"a-1","timestamp":"2026-01-01T10:11:12.345Z",
		"context":{"ip":"1.2.3.4","userAgent":"Mozilla/5.0 Firefox","locale":"nl-NL",
		"page":{"url":"https://shop.example/p/1?utm_source=news&email=x@y.z","referrer":"https://www.google.com/search?q=x"},
		"traits":{"email":"x@y.z"}},"properties":{"category":"toys","price":9.5}}`
	anon := `{"schema":"personas.event/v1","type":"page","event":"Product","time":"2026-01-01T10:11:00Z",
		"pseudonym":"ab12","path":"/p/[id]","query":{"utm_source":"news"},"referrer_domain":"google.com",
		"device":{"class":"desktop","browser":"firefox"},"language":"nl","properties":{"category":"toys","price":9.5}}`
	s, err := annotate([]byte(raw), []byte(anon), "email")
	if err != nil {
		t.Fatal(err)
	}
	r := marks(s.Raw)
	for key, want := range map[string]string{
		"type": markKept, "name": markKept, "anonymousId": markChanged, "timestamp": markChanged,
		"ip": markRemoved, "userAgent": markChanged, "locale": markChanged, "url": markChanged,
		"referrer": markChanged, "email": markRemoved, "traits": markRemoved, "category": markKept, "price": markKept,
	} {
		if r[key] != want {
			t.Errorf("raw %s: %q, want %q", key, r[key], want)
		}
	}
	a := marks(s.Anonymized)
	for key, want := range map[string]string{
		"schema": markAdded, "type": markKept, "time": markChanged, "pseudonym": markChanged,
		"browser": markChanged, "utm_source": markChanged, "category": markKept,
	} {
		if a[key] != want {
			t.Errorf("anonymized %s: %q, want %q", key, a[key], want)
		}
	}
	// Text stays text: & and < are not escaped for HTML.
	for _, l := range s.Raw {
		if l.Key == "url" && !strings.Contains(l.Text, "&email=") {
			t.Errorf("url rendered as %s", l.Text)
		}
	}
	// Pretty-printing keeps the key order and the nesting.
	if s.Raw[0].Text != "{" || s.Raw[1].Key != "type" || s.Raw[len(s.Raw)-1].Text != "}" {
		t.Errorf("raw lines start %+v, end %+v", s.Raw[:2], s.Raw[len(s.Raw)-1])
	}
}
