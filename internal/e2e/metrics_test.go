package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// documentedMetrics reads the metric names from docs/metrics.md.
func documentedMetrics(t *testing.T) []string {
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(personas_[a-z_]+)` \\|").FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	if len(out) < 20 {
		t.Fatalf("found only %d metrics in docs/metrics.md", len(out))
	}
	return out
}

// TestMetricsDocumentedAndExposed scrapes /metrics of `personas run` on
// real Kafka and Redis and finds every metric docs/metrics.md documents,
// and no personas_ metric the docs do not name.
func TestMetricsDocumentedAndExposed(t *testing.T) {
	addr := freePort(t)
	e := newEnv(t, 2, "PERSONAS_EMIT_TICK=1s", "PERSONAS_EMIT_SNAPSHOT_EVERY=2s", "PERSONAS_EMIT_K=5",
		"PERSONAS_HTTP_LISTEN="+addr)
	in := produceSynthetic(t, e, e.topics["raw"], 1500, 11, 0.03)
	p := e.start("run")
	var body string
	defer func() {
		if t.Failed() {
			t.Logf("aggregate out %v of %d, ingest out %v, snapshots %v; output:\n%s", metricValue(body, `personas_events_out_total{stage="aggregate"}`),
				in.valid, metricValue(body, `personas_events_out_total{stage="ingest"}`), metricValue(body, "personas_snapshots_total"), grepLines(body, "personas_dlq_total", "personas_events_in_total"))
		}
	}()
	waitFor(t, 120*time.Second, "events applied and a snapshot published", func() bool {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body = string(b)
		return metricValue(body, `personas_events_out_total{stage="aggregate"}`) >= float64(in.valid) &&
			metricValue(body, "personas_snapshots_total") >= 1
	})
	documented := documentedMetrics(t)
	for _, name := range documented {
		if !strings.Contains(body, "\n# TYPE "+name+" ") {
			t.Errorf("documented metric %s is not exposed", name)
		}
	}
	known := map[string]bool{}
	for _, n := range documented {
		known[n] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (personas_[a-z_]+) `).FindAllStringSubmatch(body, -1) {
		if !known[m[1]] {
			t.Errorf("metric %s is exposed but not documented in docs/metrics.md", m[1])
		}
	}
	if v := metricValue(body, `personas_dependency_up{dependency="redis"}`); v != 1 {
		t.Errorf("personas_dependency_up{redis} = %v, want 1", v)
	}
	p.stop(t, 20*time.Second)
}

// metricValue returns the value of the first sample line that starts with
// series (name plus labels as exposed), or -1.
func metricValue(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}

func grepLines(body string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) && !strings.HasSuffix(l, " 0") {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
