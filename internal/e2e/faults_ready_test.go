package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestReadinessFollowsDependencies checks that /readyz tells the truth (O2,
// D4): 503 while Redis or Kafka cannot be reached, naming which, and 200 by
// itself once they are back; and that /metrics shows what an SRE needs to
// see it happen: dependency state, consumer lag, batch latency, DLQ counts
// by reason, retries, recoveries and state-store errors. Faults go through
// toxiproxy (the world of faults_env_test.go), with events arriving
// throughout. A short Kafka cut (below the group session timeout, so no
// rebalance) checks that readiness does not wait for a rebalance to come
// back.
func TestReadinessFollowsDependencies(t *testing.T) {
	seed := testSeed(t)
	keepLogsOnFailure(t)
	w := newWorld(t, 3, "PERSONAS_EMIT_TICK=2s", "PERSONAS_EMIT_K=5", "PERSONAS_KAFKA_CONSUMER_MAX_BATCH=200")
	w.generator(seed, 12000, 4*time.Minute)
	if err := w.write(t.Context(), w.next(3000)); err != nil {
		t.Fatal(err)
	}
	p := w.startPipeline()
	addr := p.httpAddr(t)
	waitFor(t, 5*time.Minute, "the pipeline to apply events and be ready", func() bool {
		return w.applied() > 0 && readyz(addr) == 200
	})

	// What /metrics must expose once events flowed.
	for _, sample := range []string{
		`personas_consumer_lag{partition="0",stage="ingest"}`,
		`personas_consumer_lag{partition="0",stage="aggregate"}`,
		`personas_dependency_up{dependency="redis"}`,
		`personas_dependency_up{dependency="kafka"}`,
	} {
		if !hasSample(addr, sample) {
			t.Errorf("/metrics has no %s", sample)
		}
	}
	waitFor(t, 2*time.Minute, "batch latency and DLQ counts by reason in /metrics", func() bool {
		return metric(addr, `personas_batch_duration_seconds_count{stage="aggregate"}`) > 0 &&
			metric(addr, `personas_batch_duration_seconds_count{stage="ingest"}`) > 0 &&
			sampleSum(addr, `personas_dlq_total\{reason="[a-z_]+",stage="ingest"\}`) > 0
	})
	if v := metric(addr, `personas_dependency_up{dependency="redis"}`); v != 1 {
		t.Errorf(`personas_dependency_up{dependency="redis"} = %v while Redis is up`, v)
	}

	prod := w.produce(60, 1<<30)
	defer prod.stop()

	// fault cuts a proxy for d, checks /readyz during and after, and returns
	// how long readiness took to come back after the proxy did.
	fault := func(name, dep string, cut, heal func() error, d time.Duration) time.Duration {
		t.Helper()
		if err := cut(); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		// /readyz runs its checks at most once a second: poll.
		var rep map[string]string
		deadline := began.Add(d)
		for {
			code := readyz(addr)
			rep = readyzReport(addr)
			if code == 503 && rep[dep] == "unreachable" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: /readyz did not answer 503 naming %s unreachable within %s; it says %d %v", name, dep, d, code, rep)
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if v := metric(addr, `personas_dependency_up{dependency="`+dep+`"}`); v != 0 && rep[dep] == "unreachable" {
			t.Errorf("%s: personas_dependency_up{dependency=%q} = %v while /readyz says it is unreachable", name, dep, v)
		}
		if d := time.Until(deadline); d > 0 {
			time.Sleep(d)
		}
		if err := heal(); err != nil {
			t.Fatal(err)
		}
		healed := time.Now()
		if !waitReadyz(addr, 200, 3*time.Minute) {
			t.Fatalf("%s: /readyz did not come back to 200 within 3 minutes; it says %v", name, readyzReport(addr))
		}
		back := time.Since(healed)
		t.Logf("%s: /readyz 503 during, 200 again %s after the fault ended", name, back.Round(100*time.Millisecond))
		return back
	}

	fault("Redis cut", "redis", w.rp.Cut, w.rp.Restore, 8*time.Second)
	if v := metric(addr, `personas_state_store_errors_total{stage="aggregate"}`); v <= 0 {
		t.Errorf(`personas_state_store_errors_total{stage="aggregate"} = %v after Redis was cut while events arrived`, v)
	}
	if v := metric(addr, `personas_retries_total{stage="aggregate"}`); v <= 0 {
		t.Errorf(`personas_retries_total{stage="aggregate"} = %v after Redis was cut`, v)
	}
	waitFor(t, 2*time.Minute, "personas_recoveries_total to count the recovery", func() bool {
		return metric(addr, `personas_recoveries_total{stage="aggregate"}`) > 0
	})

	// Shorter than the session timeout: the group stays as it is.
	fault("short Kafka cut", "kafka", w.kp.Cut, w.kp.Restore, 3*time.Second)
	fault("Kafka cut", "kafka", w.kp.Cut, w.kp.Restore, 10*time.Second)

	// Redis stopped for real (not only unreachable): the same.
	fault("Redis stopped", "redis", w.redis.stop, w.redis.start, 8*time.Second)

	if _, err := prod.stop(); err != nil {
		t.Fatal(err)
	}
	w.waitQuiet(5 * time.Minute)
	if !waitReadyz(addr, 200, time.Minute) {
		t.Errorf("/readyz is not 200 once caught up: %v", readyzReport(addr))
	}
	if took, err := term(p, shutdownTimeout+30*time.Second); err != nil {
		t.Errorf("SIGTERM: %v after %s", err, took)
	}
}

// readyzReport returns the checks /readyz reports.
func readyzReport(addr string) map[string]string {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	defer res.Body.Close()
	var out struct {
		Checks map[string]string `json:"checks"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	return out.Checks
}

func metricsText(addr string) string {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// hasSample reports whether /metrics has the sample (name and labels exactly).
func hasSample(addr, sample string) bool {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` `).MatchString(metricsText(addr))
}

// sampleSum adds up the samples whose name and labels match the pattern.
func sampleSum(addr, pattern string) float64 {
	var sum float64
	for _, m := range regexp.MustCompile(`(?m)^`+pattern+` (\S+)$`).FindAllStringSubmatch(metricsText(addr), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		sum += v
	}
	return sum
}
