//go:build synthcheck

package model

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mileusna/useragent"
	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

type rawEv struct {
	Type      string `json:"type"`
	Event     string `json:"event"`
	Name      string `json:"name"`
	Timestamp string `json:"timestamp"`
	Context   struct {
		UserAgent string `json:"userAgent"`
		Page      struct {
			Path string `json:"path"`
		} `json:"page"`
		Campaign *schemas.Campaign `json:"campaign"`
		Device   struct {
			Type string `json:"type"`
		} `json:"device"`
	} `json:"context"`
	Properties map[string]any `json:"properties"`
}

var uaCache = map[string]string{}

func toAnon(raw []byte) (*schemas.Event, bool) {
	var r rawEv
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, false
	}
	ts, err := time.Parse(time.RFC3339Nano, r.Timestamp)
	if err != nil {
		return nil, false
	}
	ev := &schemas.Event{Type: r.Type, Event: r.Event, Time: ts.UTC().Truncate(time.Minute).Format(time.RFC3339), Path: r.Context.Page.Path}
	if r.Type == "page" || r.Type == "screen" {
		ev.Event = r.Name
	}
	class := r.Context.Device.Type
	if class == "" || class == "ios" || class == "android" {
		c, ok := uaCache[r.Context.UserAgent]
		if !ok {
			ua := useragent.Parse(r.Context.UserAgent)
			switch {
			case ua.Tablet:
				c = "tablet"
			case ua.Mobile:
				c = "mobile"
			case ua.Desktop:
				c = "desktop"
			default:
				c = "other"
			}
			uaCache[r.Context.UserAgent] = c
		}
		class = c
	}
	ev.Device = &schemas.Device{Class: class}
	ev.Campaign = r.Context.Campaign
	p := map[string]any{}
	for _, k := range []string{"category", "price", "quantity", "value", "revenue", "total", "query"} {
		if v, ok := r.Properties[k]; ok {
			p[k] = v
		}
	}
	if q, ok := p["query"].(string); ok {
		ev.Search = q
	}
	ev.Properties = p
	return ev, true
}

func TestSynthMatch(t *testing.T) {
	cfg := synth.DefaultConfig()
	cfg.Start = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	cfg.Visitors = 3000
	cfg.EventsPerSecond = 8
	if v := os.Getenv("VISITORS"); v != "" {
		fmt.Sscan(v, &cfg.Visitors)
	}
	cfg.BotShare = 0
	cfg.BadShare = 0
	hours := 24
	if s := os.Getenv("HOURS"); s != "" {
		fmt.Sscan(s, &hours)
	}
	g := synth.New(cfg)
	m := Default()
	if p := os.Getenv("MODEL"); p != "" {
		var err error
		if m, err = Load(p); err != nil {
			t.Fatal(err)
		}
	}
	e := m.NewEvaluator()
	// INGEST=1 runs the events through the real ingest transform (pseudonym,
	// allowlist, scrubbing, device classes) instead of the test mapping; the
	// visitor is then the pseudonym, as in the aggregate stage.
	var tr *ingest.Transformer
	if os.Getenv("INGEST") != "" {
		var err error
		if tr, err = ingest.NewTransformer(ingest.DefaultOptions(), ingest.NewEphemeralKeys()); err != nil {
			t.Fatal(err)
		}
	}
	type vis struct {
		v    Visitor
		arch string
		n    int
	}
	vs := map[string]*vis{}
	end := cfg.Start.Add(time.Duration(hours) * time.Hour)
	names := m.PersonaNames()
	// events[arch][persona]: events attributed; final[arch][persona]: visitors at the end.
	events := map[string]map[string]int{}
	flows := 0
	var ev synth.Event
	n := 0
	for {
		g.Next(&ev)
		if !ev.Time.Before(end) {
			break
		}
		if ev.Bot || ev.Bad != synth.Valid {
			continue
		}
		var a *schemas.Event
		key := ev.VisitorID
		if tr != nil {
			out, rej, err := tr.Transform(context.Background(), &ingest.Input{Value: ev.Value, Time: ev.Time}, ev.Time)
			if err != nil || rej != nil || out.Bot {
				continue
			}
			a = &schemas.Event{}
			if err := json.Unmarshal(out.JSON, a); err != nil {
				t.Fatal(err)
			}
			key = a.Pseudonym
		} else {
			var ok bool
			if a, ok = toAnon(ev.Value); !ok {
				continue
			}
		}
		x := vs[key]
		if x == nil {
			x = &vis{arch: ev.Archetype.String()}
			vs[key] = x
		}
		from, to := e.Apply(&x.v, a)
		if from >= 0 && from != to {
			flows++
		}
		x.n++
		if events[x.arch] == nil {
			events[x.arch] = map[string]int{}
		}
		events[x.arch][names[to]]++
		n++
	}
	final := map[string]map[string]int{}
	for _, x := range vs {
		if final[x.arch] == nil {
			final[x.arch] = map[string]int{}
		}
		final[x.arch][names[x.v.Persona()]]++
	}
	// Mean features per archetype (visitors with at least 10 events).
	{
		sum := map[string]map[string]float64{}
		cnt := map[string]int{}
		for _, x := range vs {
			if x.n < 10 {
				continue
			}
			env := m.Env(&x.v)
			if sum[x.arch] == nil {
				sum[x.arch] = map[string]float64{}
			}
			cnt[x.arch]++
			for k, v := range env {
				switch v := v.(type) {
				case int:
					if v < Never {
						sum[x.arch][k] += float64(v)
					}
				case float64:
					sum[x.arch][k] += v
				}
			}
			for _, c := range m.Categories {
				sum[x.arch]["share_"+c] += m.share(&x.v, m.categoryIndex(c))
			}
		}
		var keys []string
		for k := range sum["researcher"] {
			if k == "first_seen" || k == "last_seen" {
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var as []string
		for a := range sum {
			as = append(as, a)
		}
		sort.Strings(as)
		var b strings.Builder
		fmt.Fprintf(&b, "%-22s", "feature")
		for _, a := range as {
			fmt.Fprintf(&b, "%9.8s", a)
		}
		b.WriteByte('\n')
		for _, k := range keys {
			fmt.Fprintf(&b, "%-22s", k)
			for _, a := range as {
				fmt.Fprintf(&b, "%9.2f", sum[a][k]/float64(cnt[a]))
			}
			b.WriteByte('\n')
		}
		t.Log("mean features per archetype\n" + b.String())
	}
	var archs []string
	for a := range final {
		archs = append(archs, a)
	}
	sort.Strings(archs)
	report := func(title string, tab map[string]map[string]int) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n%-22s", title, "archetype \\ persona")
		for _, p := range names {
			fmt.Fprintf(&b, "%7.7s", p)
		}
		b.WriteString("   match\n")
		for _, a := range archs {
			fmt.Fprintf(&b, "%-22s", a)
			tot := 0
			for _, c := range tab[a] {
				tot += c
			}
			for _, p := range names {
				fmt.Fprintf(&b, "%7.1f", 100*float64(tab[a][p])/float64(tot))
			}
			fmt.Fprintf(&b, "   %5.1f%%\n", 100*float64(tab[a][a])/float64(tot))
		}
		t.Log(b.String())
	}
	report("events (% of the archetype's events, by persona after the event)", events)
	report("visitors (% by persona after their last event)", final)
	var sizes []int
	for _, x := range vs {
		sizes = append(sizes, x.v.EncodedSize())
	}
	sort.Ints(sizes)
	tot := 0
	for _, z := range sizes {
		tot += z
	}
	t.Logf("encoded visitor: mean %.1f, p50 %d, p95 %d, p99 %d, max %d bytes", float64(tot)/float64(len(sizes)),
		sizes[len(sizes)/2], sizes[len(sizes)*95/100], sizes[len(sizes)*99/100], sizes[len(sizes)-1])
	t.Logf("%d events, %d visitors, %d flows", n, len(vs), flows)
}
