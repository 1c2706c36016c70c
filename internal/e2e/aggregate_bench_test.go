package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestAggregateThroughputBench measures the aggregate stage on real Kafka
// and Redis for the figures in docs/benchmarks.md ("Aggregate stage"). It
// runs only with PERSONAS_BENCH=1 (and PERSONAS_BENCH_EVENTS, default
// 200000):
//
//	PERSONAS_BENCH=1 make test PKGS=./internal/e2e/... GOTESTFLAGS='-run TestAggregateThroughputBench -v -timeout 60m'
//
// The stream (one hour of event time, ingest retry duplicates included) is
// produced to a 6-partition events topic first; then one `personas
// aggregate` process (built without the race detector) consumes it into a
// Redis of its own (append-only file, as in production), so that memory can
// be measured without other tests' keys. It reports events per second
// (from the first applied batch to the last), Redis round trips per event
// (personas_redis_round_trips_total / events), and Redis memory per key
// class with the extrapolation to a persona-day and per active visitor.
func TestAggregateThroughputBench(t *testing.T) {
	if os.Getenv("PERSONAS_BENCH") != "1" {
		t.Skip("a benchmark: set PERSONAS_BENCH=1 to run it")
	}
	events := 200000
	if s := os.Getenv("PERSONAS_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("PERSONAS_BENCH_EVENTS=%q: %v", s, err)
		}
		events = n
	}
	const partitions = 6
	span := time.Hour
	keepLogsOnFailure(t)

	bin := filepath.Join(t.TempDir(), "personas")
	build := exec.Command("go", "build", "-o", bin, "github.com/personas-dev/personas/cmd/personas")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	// A Redis of its own, with the production key prefix (key names count
	// in the memory figures).
	const keys = "personas:"
	r := startOwnRedis(t)
	e := newEnv(t, partitions, "PERSONAS_REDIS_URL="+r.url, "PERSONAS_REDIS_KEY_PREFIX="+keys)
	began := time.Now()
	stream := makeAggStream(t, streamOpts{events: events, seed: 42, span: span, retryShare: 0.01})
	n := len(stream.msgs)
	t.Logf("generated %d records (%d events, %d duplicates, %d rejected by ingest) in %s", n, stream.unique, stream.dups, stream.rejected, time.Since(began).Round(time.Second))
	began = time.Now()
	e.produceInOrder(stream.msgs)
	t.Logf("produced in %s", time.Since(began).Round(time.Second))
	store, rc := openAggStore(t, r.url, keys)
	base := redisUsedMemory(t, rc)

	p := e.startBinary(bin, "aggregate")
	addr := p.httpAddr(t)
	started := time.Now()
	var first time.Time
	var firstApplied int64
	waitFor(t, 30*time.Minute, "the stage to apply the whole stream", func() bool {
		a := applied(t, rc, keys, partitions)
		if first.IsZero() && a > 0 {
			first, firstApplied = time.Now(), a
		}
		return a == int64(n)
	})
	done := time.Now()
	waitFor(t, 5*time.Minute, "lag 0", func() bool { return e.consumerLag(e.prefix+"aggregate", e.topics["events"]) == 0 })
	in := metric(addr, `personas_events_in_total{stage="aggregate"}`)
	trips := metric(addr, `personas_redis_round_trips_total{stage="aggregate"}`)
	cpu := metric(addr, `process_cpu_seconds_total`)
	p.stop(t, time.Minute)

	rate := float64(int64(n)-firstApplied) / done.Sub(first).Seconds()
	t.Logf("AGGREGATE %d records in %s from start (%s from the first applied batch): %.0f records/s; %.0f records per CPU-second of the stage",
		n, done.Sub(started).Round(100*time.Millisecond), done.Sub(first).Round(100*time.Millisecond), rate, in/cpu)
	t.Logf("ROUND TRIPS %.0f for %.0f records: %.4f per record", trips, in, trips/in)

	// Memory, per key class.
	ctx := context.Background()
	var all []string
	var cursor uint64
	for {
		ks, next, err := rc.Scan(ctx, cursor, keys+"*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ks...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	type class struct {
		keys  int
		bytes int64
	}
	classes := map[string]*class{}
	personas := map[string]bool{}
	for _, k := range all {
		name := classify(k, keys, personas)
		c := classes[name]
		if c == nil {
			c = &class{}
			classes[name] = c
		}
		c.keys++
		c.bytes += rc.MemoryUsage(ctx, k).Val()
	}
	used := redisUsedMemory(t, rc) - base
	names := make([]string, 0, len(classes))
	for n := range classes {
		names = append(names, n)
	}
	sort.Strings(names)
	var lines []string
	var buckets int64
	level := map[string]int64{} // bytes of bucket hashes and sketches per level letter
	for _, n := range names {
		c := classes[n]
		lines = append(lines, fmt.Sprintf("%-22s %7d keys %11d bytes", n, c.keys, c.bytes))
		if strings.HasPrefix(n, "bucket") || strings.HasPrefix(n, "sketch") {
			buckets += c.bytes
			level[n[len(n)-1:]] += c.bytes
		}
	}
	t.Logf("MEMORY used_memory grew by %d bytes; MEMORY USAGE per class:\n  %s", used, strings.Join(lines, "\n  "))
	// A day at this rate holds 24 times the minute and ten-minute buckets
	// of this hour; hour buckets too (this hour's data sits in two of
	// them, so per-key overhead is counted twice: an upper bound); quarter
	// buckets hold six hours each, so a day holds 4 of them per partition,
	// not 24 (each bigger than here, at most 12 KiB per sketch): counted as
	// 24 times, an upper bound.
	real := len(personas)
	perDay := float64(buckets) * float64(24*time.Hour) / float64(span) / float64(real)
	t.Logf("PERSONA-DAY %d bytes of buckets and sketches for %d personas over %s of event time (minute %d, ten-minute %d, hour %d, quarter %d): "+
		"at most %.0f bytes per persona-day (%.1f MiB), %.0f MiB per day for all (minute level alone: %.1f MiB per persona-day)",
		buckets, real, span, level["m"], level["t"], level["h"], level["q"], perDay, perDay/(1<<20), perDay*float64(real)/(1<<20),
		float64(level["m"])*24/float64(real)/(1<<20))
	v := classes["visitor"]
	if v != nil {
		t.Logf("VISITOR %d visitor states, %d bytes: %.0f bytes per active visitor", v.keys, v.bytes, float64(v.bytes)/float64(v.keys))
	}
	ref := aggCompare(t, store, rc, keys, partitions, e.readEvents(n))
	if ref.Events != stream.unique {
		t.Errorf("reference: %d events; the stream has %d", ref.Events, stream.unique)
	}
}

// classify names a key's class: bucket hashes and sketches per level,
// visitor states, positions.
func classify(key, prefix string, personas map[string]bool) string {
	rest := key[strings.Index(key, "}")+1:]
	switch {
	case strings.HasPrefix(rest, ":v:"):
		return "visitor"
	case rest == ":pos":
		return "position"
	case strings.HasPrefix(rest, ":s:"):
		parts := strings.Split(rest, ":") // "", s, kind, persona[>to], level, n
		if len(parts) >= 6 {
			if parts[2] == "u" {
				personas[parts[3]] = true
			}
			return "sketch " + parts[2] + " " + parts[len(parts)-2]
		}
	case len(rest) > 3 && rest[0] == ':' && rest[2] == ':':
		return "bucket hash " + rest[1:2]
	}
	if key == prefix+"partitions" {
		return "registry"
	}
	return "other"
}

func redisUsedMemory(t *testing.T, rc redis.UniversalClient) int64 {
	info := rc.Info(context.Background(), "memory").Val()
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}
