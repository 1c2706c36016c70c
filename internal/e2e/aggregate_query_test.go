package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/internal/reference"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
)

// applyDirect aggregates msgs into the store the way the stage does
// (partitioned by pseudonym with Murmur2, Builder, one Apply per batch),
// without Kafka. It returns the messages in partition order.
func applyDirect(t *testing.T, store aggregate.Store, partitions int, msgs []kafka.Message) []kafka.Message {
	t.Helper()
	ctx := context.Background()
	parts := make([][]kafka.Message, partitions)
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	for _, m := range msgs {
		p := kafka.Murmur2Balancer{}.Balance(m, ids...)
		m.Partition, m.Offset = p, int64(len(parts[p]))
		parts[p] = append(parts[p], m)
	}
	var ordered []kafka.Message
	cache := aggregate.NewVisitorCache(100000)
	for p, pm := range parts {
		ordered = append(ordered, pm...)
		pos, err := store.Claim(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		b := aggregate.NewBuilder(p, model.Default(), 24*time.Hour, time.Hour, pos, cache)
		for i := 0; i < len(pm); i += 500 {
			var batch []aggregate.Message
			for _, m := range pm[i:min(i+500, len(pm))] {
				batch = append(batch, aggregate.Message{Offset: m.Offset, Value: m.Value})
			}
			loaded, err := store.LoadVisitors(ctx, p, b.Scan(batch))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Apply(ctx, pos.Token, b.Build(loaded)); err != nil {
				t.Fatal(err)
			}
			b.Commit()
		}
	}
	return ordered
}

// query runs `personas query args...` and decodes its JSON output into v.
func query(t *testing.T, env []string, v any, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"query"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("personas query %v: %v\n%s", args, err, stderr.Bytes())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("personas query %v: output is not the expected JSON: %v\n%s", args, err, out)
	}
}

type queryPersonas struct {
	Window      string            `json:"window"`
	WindowStart string            `json:"window_start"`
	WindowEnd   string            `json:"window_end"`
	Personas    []schemas.Figures `json:"personas"`
	Bots        *int64            `json:"bots"`
}

type queryFlows struct {
	Window string         `json:"window"`
	Flows  []schemas.Flow `json:"flows"`
}

// TestAggregateQuery checks `personas query personas|persona|flows` on a
// store filled with a known stream: the JSON holds the figures of the
// independent reference, passed through the k-anonymity gate (k small so
// that figures show), for windows of 1 h and 24 h; with the default k
// (100) this small crowd is suppressed entirely.
func TestAggregateQuery(t *testing.T) {
	const partitions = 3
	url := testenv.RedisURL(t)
	prefix := testenv.Prefix(t)
	testenv.CleanRedis(t, url, prefix)
	store, _ := openAggStore(t, url, prefix)
	stream := makeAggStream(t, streamOpts{events: 6000, seed: testSeed(t), visitors: 500, span: 3 * time.Minute, retryShare: 0.05})
	msgs := applyDirect(t, store, partitions, stream.msgs)
	ref, err := reference.Compute(model.Default(), values(msgs))
	if err != nil {
		t.Fatal(err)
	}
	const k = 5
	env := []string{"PERSONAS_REDIS_URL=" + url, "PERSONAS_REDIS_KEY_PREFIX=" + prefix, "PERSONAS_EMIT_K=5", "PERSONAS_LOG_LEVEL=warn"}
	at := time.Unix((ref.Minutes[len(ref.Minutes)-1]+2)*60, 0).UTC() // a whole minute after the last event
	from, to := aggregate.MinuteRange(at.Add(-time.Hour), at)
	want := privacy.GateWindow(ref.Window(from, to), k, privacy.None)

	for _, win := range []string{"1h", "24h"} {
		var got queryPersonas
		query(t, env, &got, "personas", "--window", win, "--at", at.Format(time.RFC3339))
		if got.Window != win || got.WindowEnd != at.Format(time.RFC3339) {
			t.Errorf("query personas --window %s: window %q ending %q, want %q ending %q", win, got.Window, got.WindowEnd, win, at.Format(time.RFC3339))
		}
		if !sort.SliceIsSorted(got.Personas, func(i, j int) bool { return got.Personas[i].Persona < got.Personas[j].Persona }) {
			t.Errorf("query personas --window %s: personas not sorted by name", win)
		}
		if len(got.Personas) != len(want.Personas) {
			t.Errorf("query personas --window %s: %d personas, want %d", win, len(got.Personas), len(want.Personas))
		}
		published := 0
		for _, f := range got.Personas {
			compareFigures(t, "query personas --window "+win, f, want.Figures(f.Persona))
			if !f.Suppressed {
				published++
			}
		}
		if published == 0 {
			t.Errorf("query personas --window %s: every persona suppressed; the test shows nothing", win)
		}
		if (got.Bots == nil) != (want.Bots == nil) || got.Bots != nil && *got.Bots != *want.Bots {
			t.Errorf("query personas --window %s: bots %v, want %v", win, ptr(got.Bots), ptr(want.Bots))
		}
	}

	// One persona: the largest; and one the window does not know.
	var top string
	var most int64
	for name, f := range want.Personas {
		if f.Events != nil && *f.Events > most {
			top, most = name, *f.Events
		}
	}
	var one schemas.Figures
	query(t, env, &one, "persona", top, "--window", "1h", "--at", at.Format(time.RFC3339))
	compareFigures(t, "query persona "+top, one, want.Figures(top))
	if one.Suppressed || one.Events == nil {
		t.Errorf("query persona %s: suppressed, want its figures", top)
	}
	var none schemas.Figures
	query(t, env, &none, "persona", "no_such_persona", "--window", "1h", "--at", at.Format(time.RFC3339))
	if !none.Suppressed || none.Events != nil || none.Visitors != nil {
		t.Errorf("query persona no_such_persona = %+v, want suppressed without figures", none)
	}

	// Flows: those of at least the visitor threshold, sorted.
	var flows queryFlows
	query(t, env, &flows, "flows", "--window", "1h", "--at", at.Format(time.RFC3339))
	if flows.Window != "1h" {
		t.Errorf("query flows: window %q, want 1h", flows.Window)
	}
	if len(want.Flows) == 0 {
		t.Fatal("the reference has no flow of at least k visitors; the test shows nothing")
	}
	wantFlows := map[aggregate.FlowKey]int64{}
	for _, f := range want.Flows {
		wantFlows[aggregate.FlowKey{From: f.From, To: f.To}] = f.Visitors
	}
	for i, f := range flows.Flows {
		w, ok := wantFlows[aggregate.FlowKey{From: f.From, To: f.To}]
		if !ok || !near(f.Visitors, w) {
			t.Errorf("query flows: %s>%s = %d, want %d (published: %v)", f.From, f.To, f.Visitors, w, ok)
		}
		if f.Visitors < privacy.VisitorThreshold(k) {
			t.Errorf("query flows: %s>%s = %d visitors, below the threshold of k=%d", f.From, f.To, f.Visitors, k)
		}
		if i > 0 && (flows.Flows[i-1].From > f.From || flows.Flows[i-1].From == f.From && flows.Flows[i-1].To >= f.To) {
			t.Errorf("query flows: not sorted at %d", i)
		}
	}
	if len(flows.Flows) != len(want.Flows) {
		t.Errorf("query flows: %d flows, want %d", len(flows.Flows), len(want.Flows))
	}

	// The default k of 100 hides this crowd of a few hundred visitors
	// split over ten personas: only large personas may show.
	var def queryPersonas
	query(t, []string{"PERSONAS_REDIS_URL=" + url, "PERSONAS_REDIS_KEY_PREFIX=" + prefix, "PERSONAS_LOG_LEVEL=warn"}, &def,
		"personas", "--window", "1h", "--at", at.Format(time.RFC3339))
	for _, f := range def.Personas {
		if !f.Suppressed && (f.Visitors == nil || *f.Visitors < privacy.VisitorThreshold(100)) {
			t.Errorf("with k=100, persona %s is published with %v visitors", f.Persona, ptr(f.Visitors))
		}
		if f.Suppressed && (f.Events != nil || f.Visitors != nil || f.ByType != nil) {
			t.Errorf("with k=100, suppressed persona %s shows figures", f.Persona)
		}
	}
	t.Logf("%d events, %d personas (%d published at k=%d), %d flows of at least %d visitors",
		ref.Events, len(want.Personas), countPublished(want), k, len(want.Flows), privacy.VisitorThreshold(k))
}

func countPublished(w privacy.Window) int {
	n := 0
	for _, f := range w.Personas {
		if !f.Suppressed {
			n++
		}
	}
	return n
}

// near says whether a distinct count from a sketch is within the HLL
// tolerance of the exact one.
func near(got, want int64) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	return float64(d) <= hllTolerance*float64(want)+1
}

func ptr(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// compareFigures compares published figures: counts equal, distinct
// counts near, the same fields published and suppressed.
func compareFigures(t *testing.T, what string, got, want schemas.Figures) {
	t.Helper()
	if got.Persona != want.Persona || got.Suppressed != want.Suppressed {
		t.Errorf("%s: %s suppressed=%v, want %s suppressed=%v", what, got.Persona, got.Suppressed, want.Persona, want.Suppressed)
		return
	}
	eq := func(field string, g, w *int64, exact bool) {
		switch {
		case (g == nil) != (w == nil):
			t.Errorf("%s: %s %s = %v, want %v", what, got.Persona, field, ptr(g), ptr(w))
		case g != nil && exact && *g != *w, g != nil && !exact && !near(*g, *w):
			t.Errorf("%s: %s %s = %d, want %d", what, got.Persona, field, *g, *w)
		}
	}
	eq("events", got.Events, want.Events, true)
	eq("visitors", got.Visitors, want.Visitors, false)
	eq("entered", got.Entered, want.Entered, false)
	eq("left", got.Left, want.Left, false)
	for _, m := range []struct {
		field string
		g, w  map[string]int64
	}{{"by_type", got.ByType, want.ByType}, {"by_category", got.ByCategory, want.ByCategory}} {
		if len(m.g) != len(m.w) {
			t.Errorf("%s: %s %s = %v, want %v", what, got.Persona, m.field, m.g, m.w)
			continue
		}
		for k, v := range m.w {
			if m.g[k] != v {
				t.Errorf("%s: %s %s[%s] = %d, want %d", what, got.Persona, m.field, k, m.g[k], v)
			}
		}
	}
}
