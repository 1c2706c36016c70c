package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/internal/app"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/dashboard"
	"github.com/personas-dev/personas/internal/demo"
	"github.com/personas-dev/personas/schemas"
)

// testApp is a process on the demo's in-process Kafka and Redis, with the
// dashboard registered and its HTTP handlers served by httptest.
type testApp struct {
	a   *app.App
	srv *httptest.Server
}

func newTestApp(t *testing.T) *testApp {
	t.Helper()
	emb, err := demo.StartEmbedded(3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	cfg := config.Default()
	cfg.Kafka.Brokers = emb.Brokers
	cfg.Redis.URL = emb.RedisURL
	cfg.Emit.K = 20
	a, err := app.New(context.Background(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	dashboard.Register(a, dashboard.Options{})
	mux := http.NewServeMux()
	for p, h := range a.Handlers {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &testApp{a: a, srv: srv}
}

func (ta *testApp) get(t *testing.T, path string, out any) int {
	t.Helper()
	resp, err := http.Get(ta.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	return resp.StatusCode
}

// apply stores figures as the aggregate stage would: visitors distinct
// pseudonyms of persona in the current minute, with events per category.
func apply(t *testing.T, a *app.App, persona string, visitors int, cats map[string]int64) {
	t.Helper()
	ctx := context.Background()
	pos, err := a.Store.Claim(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := time.Now().Unix() / 60
	d := aggregate.NewDelta(0)
	d.Offset = pos.Offset + 1
	var events int64
	for c, n := range cats {
		d.Counters[aggregate.CounterKey{Minute: m, Persona: persona, Metric: aggregate.Metric{Kind: aggregate.MetricCategory, Name: c}}] = n
		events += n
	}
	d.Counters[aggregate.CounterKey{Minute: m, Persona: persona, Metric: aggregate.Metric{Kind: aggregate.MetricEvents}}] = events
	sk := aggregate.SketchKey{Minute: m, Kind: aggregate.SketchVisitors, Persona: persona}
	for i := 0; i < visitors; i++ {
		d.Sketches[sk] = append(d.Sketches[sk], fmt.Sprintf("%s-%04d", persona, i))
	}
	if err := a.Store.Apply(ctx, pos.Token, d); err != nil {
		t.Fatal(err)
	}
}

func TestFiguresAreGated(t *testing.T) {
	ta := newTestApp(t)
	apply(t, ta.a, "tech_enthusiast", 60, map[string]int64{"electronics": 150, "fashion": 40, "toys": 5})
	apply(t, ta.a, "researcher", 6, map[string]int64{"books": 40})

	var f dashboard.Figures
	if code := ta.get(t, "/api/figures?window=1h", &f); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if f.K != 20 || f.Threshold != 21 || f.Window != "1h" {
		t.Errorf("k %d, threshold %d, window %q", f.K, f.Threshold, f.Window)
	}
	if len(f.Personas) != len(ta.a.Model.Personas) {
		t.Errorf("%d personas, want every persona of the model (%d)", len(f.Personas), len(ta.a.Model.Personas))
	}
	got := map[string]schemas.Figures{}
	for _, p := range f.Personas {
		got[p.Persona] = p
	}
	tech := got["tech_enthusiast"]
	if tech.Suppressed || tech.Visitors == nil || *tech.Visitors < 55 || *tech.Visitors > 65 {
		t.Errorf("tech_enthusiast: %+v, want about 60 visitors", tech)
	}
	// toys (5 events < k) is withheld, and fashion with it so that toys
	// cannot be recovered from the total (complementary suppression).
	if len(tech.ByCategory) != 1 || tech.ByCategory["electronics"] != 150 {
		t.Errorf("categories %v: want electronics only", tech.ByCategory)
	}
	res := got["researcher"]
	if !res.Suppressed || res.Visitors != nil || res.Events != nil || res.ByCategory != nil {
		t.Errorf("researcher (6 visitors < k): %+v, want suppressed without numbers", res)
	}
	if !got["loyal_buyer"].Suppressed {
		t.Error("a persona without data must be shown as suppressed")
	}
	if code := ta.get(t, "/api/figures?window=7m", nil); code != http.StatusBadRequest {
		t.Errorf("unknown window: status %d, want 400", code)
	}
}

func TestChangesFromTheTopic(t *testing.T) {
	ta := newTestApp(t)
	var c dashboard.Changes
	if code := ta.get(t, "/api/changes", &c); code != http.StatusOK || len(c.Changes) != 0 || c.Error != "" {
		t.Fatalf("before any change: status %d, %+v", code, c)
	}
	topic := ta.a.Cfg.Kafka.Topics.SegmentChanges
	if err := ta.a.Kafka.EnsureTopics(context.Background(), 3, 1, topic); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(ta.a.Cfg.Kafka.Brokers...), Topic: topic, Transport: ta.a.Kafka.Transport(), RequiredAcks: kafka.RequireAll}
	defer w.Close()
	var msgs []kafka.Message
	for i := 1; i <= 5; i++ {
		ev := schemas.SegmentChange{
			Schema: schemas.SegmentChangeV1, EventID: fmt.Sprintf("id-%d", i), Type: schemas.SegmentEntered,
			Segment: "electronics_surge", Persona: "tech_enthusiast", Window: "1h", Sequence: int64(i),
			EvaluatedAt: time.Date(2026, 1, 1, 12, 0, i, 0, time.UTC).Format(time.RFC3339),
		}
		b, _ := json.Marshal(ev)
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: b})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the read cache
	if code := ta.get(t, "/api/changes?limit=3", &c); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if c.Error != "" || len(c.Changes) != 3 {
		t.Fatalf("changes: %+v", c)
	}
	if c.Changes[0].EventID != "id-5" || c.Changes[2].EventID != "id-3" {
		t.Errorf("want the newest first: %s, %s, %s", c.Changes[0].EventID, c.Changes[1].EventID, c.Changes[2].EventID)
	}
	if c.Changes[0].Title != "Electronics surge" {
		t.Errorf("title %q, want the segment's title", c.Changes[0].Title)
	}
	if code := ta.get(t, "/api/changes?limit=0", nil); code != http.StatusBadRequest {
		t.Errorf("limit=0: status %d, want 400", code)
	}
}

func TestStatsFromMetrics(t *testing.T) {
	ta := newTestApp(t)
	sm := ta.a.Metrics.Stage(app.StageIngest)
	sm.EventsIn(app.StageIngest, 100)
	sm.EventsOut(app.StageIngest, 95)
	sm.Rejected(app.StageIngest, "bad_json")
	sm.Rejected(app.StageIngest, "bad_json")
	sm.Rejected(app.StageIngest, "too_large")
	sm.Bots(4)
	var st dashboard.Stats
	if code := ta.get(t, "/api/stats", &st); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if st.IngestIn != 100 || st.IngestOut != 95 || st.Bots != 4 || st.DLQTotal != 3 || st.DLQ["bad_json"] != 2 || st.DLQ["too_large"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPageAndAPIHeaders(t *testing.T) {
	ta := newTestApp(t)
	for _, c := range []struct {
		method, path string
		code         int
		ctype        string
	}{
		{"GET", "/", 200, "text/html"},
		{"GET", "/app.js", 200, "javascript"},
		{"GET", "/app.css", 200, "text/css"},
		{"GET", "/favicon.svg", 200, "image/svg+xml"},
		{"GET", "/api/overview", 200, "application/json"},
		{"GET", "/nothing-here", 404, ""},
		{"POST", "/", 405, ""},
		{"POST", "/api/stats", 405, ""},
	} {
		req, _ := http.NewRequest(c.method, ta.srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.code, c.ctype)
		}
		if c.code == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no content security policy", c.path)
		}
	}
	var o dashboard.Overview
	ta.get(t, "/api/overview", &o)
	if o.Mode != "production" || o.K != 20 || o.DefaultWindow != "5m" || len(o.Personas) == 0 || len(o.Segments) == 0 {
		t.Errorf("overview %+v", o)
	}
}

func TestSampleIsSyntheticAndAnonymized(t *testing.T) {
	ta := newTestApp(t)
	var s dashboard.Sample
	if code := ta.get(t, "/api/sample", &s); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if !s.Synthetic || len(s.Raw) < 10 || len(s.Anonymized) < 5 || s.Removed == 0 || s.Changed == 0 {
		t.Fatalf("sample: synthetic %v, %d raw lines, %d anonymized, %d removed, %d changed",
			s.Synthetic, len(s.Raw), len(s.Anonymized), s.Removed, s.Changed)
	}
	anon := text(s.Anonymized)
	for _, l := range s.Raw {
		switch l.Key {
		case "anonymousId", "userId", "ip", "email", "phone", "messageId":
			v := strings.Trim(l.Text, `"`)
			if l.Mark == "kept" || strings.Contains(anon, v) {
				t.Errorf("raw %s %s (%s) shows up in the anonymized event", l.Key, v, l.Mark)
			}
		}
	}
}

func text(lines []dashboard.Line) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Key + " " + l.Text + "\n")
	}
	return b.String()
}
