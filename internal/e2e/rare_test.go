package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
)

// rarePlanted are identifying values without a pattern (issue 9): a name
// in an event name and a search, a customer slug in the path, a campaign
// named after someone, a brand that is a person's name, a personal domain.
var rarePlanted = []string{"Welcome back Sanne", "sanne de vries", "sanne-de-vries", "bday-sanne", "Atelier Sanne", "devries-fotografie"}

// rareRaw is a raw event of one visitor carrying every planted value and a
// referral code (machine-made: masked, never counted or published).
func rareRaw(visitor string, at time.Time) []byte {
	return []byte(`{"type":"track","event":"Welcome back Sanne","anonymousId":"rare-visitor-` + visitor + `","timestamp":"` + at.UTC().Format(time.RFC3339Nano) + `",` +
		`"context":{"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36","locale":"nl-NL",` +
		`"page":{"url":"https://www.shop.example.com/profiel/sanne-de-vries?utm_source=newsletter&utm_campaign=bday-sanne&ref=KX7Q2M9P","referrer":"https://www.devries-fotografie.nl/blog"}},` +
		`"properties":{"query":"sanne de vries","brand":"Atelier Sanne","category":"fashion"}}`)
}

// rareInstance is one ingest process at library level: its own key-store
// clients, counting store and released-value cache, sharing Redis with the
// other instances.
type rareInstance struct {
	tr *ingest.Transformer
	rb *ingest.RareBatch
}

func newRareInstance(t *testing.T, c redis.UniversalClient, prefix string, k int) rareInstance {
	t.Helper()
	r, err := ingest.NewRare(ingest.RareOptions{K: k}, redisx.NewRareKeys(c, prefix), redisx.NewRareStore(c, prefix))
	if err != nil {
		t.Fatal(err)
	}
	rb := r.Batch()
	tr, err := ingest.NewTransformer(ingest.Options{Policy: rb}, redisx.NewEpochKeys(c, prefix))
	if err != nil {
		t.Fatal(err)
	}
	return rareInstance{tr, rb}
}

func (ri rareInstance) batch(t *testing.T, raws ...[]byte) []schemas.Event {
	t.Helper()
	return ri.batchAt(t, time.Now(), raws...)
}

// batchAt is batch with the clock at now.
func (ri rareInstance) batchAt(t *testing.T, now time.Time, raws ...[]byte) []schemas.Event {
	t.Helper()
	ctx := context.Background()
	if err := ri.rb.Begin(ctx, now); err != nil {
		t.Fatal(err)
	}
	var out []schemas.Event
	for i, raw := range raws {
		res, rej, err := ri.tr.Transform(ctx, &ingest.Input{Value: raw, Source: schemas.Source{Topic: "raw", Offset: int64(i)}}, now)
		if err != nil || rej != nil {
			t.Fatalf("err %v rej %v", err, rej)
		}
		var ev schemas.Event
		if err := json.Unmarshal(res.JSON, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	if err := ri.rb.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return out
}

func released(ev schemas.Event) bool {
	return ev.Event == "Welcome back Sanne" && ev.Search == "sanne de vries" && ev.Path == "/profiel/sanne-de-vries" &&
		ev.Query["utm_campaign"] == "bday-sanne" && ev.Properties["brand"] == "Atelier Sanne" && ev.ReferrerDomain == "devries-fotografie.nl"
}

func suppressed(t *testing.T, where string, evs []schemas.Event) {
	t.Helper()
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		for _, v := range append(rarePlanted, "KX7Q2M9P") {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(v))) {
				t.Errorf("%s: %q published: %s", where, v, b)
			}
		}
	}
}

// TestRareSharedRelease (issue 9) on real Redis, standalone and Cluster:
// two ingest instances that each saw half of the k_values senders of a
// value release it together; before that no output, Redis key or value
// holds it (Redis holds keyed hashes only); after it every instance
// publishes it, a third one that never saw the value included.
func TestRareSharedRelease(t *testing.T) {
	for _, mode := range []string{"standalone", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			url := testenv.RedisURL(t)
			if mode == "cluster" {
				url = testenv.RedisClusterURL(t)
			}
			prefix := testenv.Prefix(t)
			testenv.CleanRedis(t, url, prefix)
			c := testenv.Redis(t, url)
			const k = 10
			a, b := newRareInstance(t, c, prefix, k), newRareInstance(t, c, prefix, k)
			at := time.Now().Add(-time.Minute)
			var before []schemas.Event
			for v := 1; v < k; v++ {
				inst := a
				if v%2 == 0 {
					inst = b
				}
				// Each visitor three times: one sender all the same.
				before = append(before, inst.batch(t, rareRaw(strconv.Itoa(v), at), rareRaw(strconv.Itoa(v), at), rareRaw(strconv.Itoa(v), at))...)
			}
			suppressed(t, fmt.Sprintf("%d senders over two instances", k-1), before)
			dump := (&env{t: t, redisURL: url, prefix: prefix}).redisDump()
			for _, v := range append(rarePlanted, "KX7Q2M9P", "rare-visitor-") {
				if bytes.Contains(bytes.ToLower(dump), bytes.ToLower([]byte(v))) {
					t.Errorf("Redis holds %q in clear", v)
				}
			}
			for _, ev := range before {
				if bytes.Contains(dump, []byte(ev.Pseudonym)) {
					t.Errorf("Redis holds a pseudonym (%s) in the rare-value store", ev.Pseudonym)
				}
			}

			b.batch(t, rareRaw(strconv.Itoa(k), at)) // the k-th sender, on b
			// b learnt the release at its flush; a and a fresh instance
			// learn it at their next flush.
			if ev := b.batch(t, rareRaw("1", at))[0]; !released(ev) {
				t.Errorf("instance b, after k senders: %+v", ev)
			}
			fresh := newRareInstance(t, c, prefix, k)
			for name, inst := range map[string]rareInstance{"a": a, "fresh": fresh} {
				first := inst.batch(t, rareRaw("2", at))[0]
				if next := inst.batch(t, rareRaw("3", at))[0]; !released(next) {
					t.Errorf("instance %s, second batch after k senders: %+v (first: %+v)", name, next, first)
				}
			}
			dump = (&env{t: t, redisURL: url, prefix: prefix}).redisDump()
			for _, v := range rarePlanted {
				if bytes.Contains(bytes.ToLower(dump), bytes.ToLower([]byte(v))) {
					t.Errorf("after the release, Redis holds %q in clear", v)
				}
			}
		})
	}
}

// TestRareReleaseCarriesOver on real Redis, standalone and Cluster: a
// value released in one counting period stays released through the next,
// for instances that never saw it (the value-hashing key, and so every
// hash, rotates with the period), and so on while it is sent in every
// period; after a period without it, counting starts afresh.
func TestRareReleaseCarriesOver(t *testing.T) {
	for _, mode := range []string{"standalone", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			url := testenv.RedisURL(t)
			if mode == "cluster" {
				url = testenv.RedisClusterURL(t)
			}
			prefix := testenv.Prefix(t)
			testenv.CleanRedis(t, url, prefix)
			c := testenv.Redis(t, url)
			// Counting periods of one week (the default window), in the future
			// so that no key has expired.
			week := 7 * 24 * time.Hour
			p := time.Now().Add(4*week).Unix()/int64(week/time.Second) + 1
			start := time.Unix(p*int64(week/time.Second), 0)
			a := newRareInstance(t, c, prefix, 3)
			day := start.Add(6 * 24 * time.Hour) // late in period p
			a.batchAt(t, day, rareRaw("1", day.Add(-time.Minute)), rareRaw("2", day.Add(-time.Minute)), rareRaw("3", day.Add(-time.Minute)))
			if ev := a.batchAt(t, day, rareRaw("1", day.Add(-time.Minute)))[0]; !released(ev) {
				t.Fatalf("period p, after k senders: %+v", ev)
			}
			next := start.Add(week + time.Hour) // period p+1
			b := newRareInstance(t, c, prefix, 3)
			b.batchAt(t, next, rareRaw("4", next.Add(-time.Minute)))
			if ev := b.batchAt(t, next, rareRaw("4", next.Add(-time.Minute)))[0]; !released(ev) {
				t.Errorf("period p+1, a new instance, one sender: not released: %+v", ev)
			}
			// Sighted in p+1, so released through p+2; nobody sends it in p+2,
			// so in p+3 it needs k senders again.
			later := start.Add(3*week + time.Hour)
			fresh := newRareInstance(t, c, prefix, 3)
			fresh.batchAt(t, later, rareRaw("5", later.Add(-time.Minute)))
			suppressed(t, "period p+3, after a period without the value", fresh.batchAt(t, later, rareRaw("5", later.Add(-time.Minute))))
		})
	}
}

// TestRareRedisMemory measures what the counting state costs in Redis:
// distinct values sighted by one sender each (the common case: most rare
// values are sent once) and by k-1 senders (the worst case), summed over
// the shard hashes with MEMORY USAGE, and the used_memory delta.
func TestRareRedisMemory(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.Prefix(t)
	testenv.CleanRedis(t, url, prefix)
	c := testenv.Redis(t, url)
	ctx := context.Background()
	store := redisx.NewRareStore(c, prefix)
	const n = 100000
	period := time.Now().Unix() / (7 * 86400)
	expire := time.Now().Add(time.Hour)
	usedBefore := usedMemory(t, c)
	for _, senders := range []int{1, 9} {
		for start := 0; start < n; start += 5000 {
			var ss []ingest.Sighting
			for i := start; i < start+5000; i++ {
				for s := 0; s < senders; s++ {
					ss = append(ss, ingest.Sighting{Value: uint64(senders)<<40 | uint64(i)*0x9E3779B97F4A7C15>>24, Sender: uint32(s*7919 + i), K: 10})
				}
			}
			if _, err := store.Observe(ctx, period+int64(senders), expire, expire, ss); err != nil {
				t.Fatal(err)
			}
		}
		var total int64
		for _, k := range testenv.RedisKeys(t, url, prefix) {
			if strings.HasSuffix(k, ":"+strconv.FormatInt(period+int64(senders), 10)) {
				total += c.MemoryUsage(ctx, k, 0).Val()
			}
		}
		t.Logf("%d distinct values, %d sender(s) each: MEMORY USAGE %d bytes = %.0f bytes per value = %.0f MiB per million values",
			n, senders, total, float64(total)/n, float64(total)/n*1e6/(1<<20))
	}
	t.Logf("used_memory grew by %d bytes for both sets (%d values)", usedMemory(t, c)-usedBefore, 2*n)
}

func usedMemory(t *testing.T, c redis.UniversalClient) int64 {
	info := c.Info(context.Background(), "memory").Val()
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// TestRareTwoIngestProcesses (issue 9) on the real Kafka path: two
// `personas ingest` processes share a raw topic of two partitions, one
// each. With k_values 4, two senders on each partition: after three no
// planted value is in the anonymized topic, Redis or the logs; the fourth
// releases them (neither process alone saw four), and from then on both
// processes publish them. The process that did not count the fourth
// learns the release at its next Redis round trip, so its first batch
// after it may still hold placeholders.
func TestRareTwoIngestProcesses(t *testing.T) {
	keepLogsOnFailure(t)
	e := newEnv(t, 2, "PERSONAS_INGEST_RARE_K_VALUES=4")
	a := e.start("ingest")
	b := e.start("ingest")
	waitFor(t, 120*time.Second, "both processes to own one partition each", func() bool {
		return ownsOne(a.out.Bytes()) && ownsOne(b.out.Bytes())
	})

	events := 0
	produce := func(phase string, visitors ...int) []schemas.Event {
		t.Helper()
		var msgs []kafka.Message
		for _, v := range visitors {
			msgs = append(msgs, kafka.Message{Partition: v % 2, Value: rareRaw(strconv.Itoa(v), time.Now().Add(-time.Minute))})
		}
		producePartitions(t, e, e.topics["raw"], msgs)
		events += len(msgs)
		var evs []schemas.Event
		waitFor(t, 90*time.Second, phase+": events on the anonymized topic", func() bool {
			evs = evs[:0]
			for _, m := range e.readAll(e.topics["events"], 300*time.Millisecond) {
				var ev schemas.Event
				json.Unmarshal(m.Value, &ev)
				evs = append(evs, ev)
			}
			return len(evs) >= events
		})
		return evs
	}
	// Visitors 1 and 3 on partition 1, 2 on partition 0.
	suppressed(t, "three senders", produce("three senders", 1, 2, 3, 1, 2, 3))
	dump := e.redisDump()
	for _, v := range rarePlanted {
		if bytes.Contains(bytes.ToLower(dump), bytes.ToLower([]byte(v))) {
			t.Errorf("Redis holds %q in clear", v)
		}
	}
	produce("the fourth sender", 4)
	produce("a batch on each partition", 1, 2)
	evs := produce("after the release", 1, 2)
	last := map[int]schemas.Event{}
	for _, ev := range evs {
		if l, ok := last[ev.Source.Partition]; !ok || ev.Source.Offset > l.Source.Offset {
			last[ev.Source.Partition] = ev
		}
	}
	for p, ev := range last {
		if !released(ev) {
			t.Errorf("partition %d after the fourth sender: values not published: %+v", p, ev)
		}
	}
	a.stop(t, 30*time.Second)
	b.stop(t, 30*time.Second)
	for _, p := range []*proc{a, b} {
		for _, v := range rarePlanted {
			if bytes.Contains(bytes.ToLower(p.out.Bytes()), bytes.ToLower([]byte(v))) {
				t.Errorf("logs hold %q", v)
			}
		}
	}
	dump = e.redisDump()
	for _, v := range rarePlanted {
		if bytes.Contains(bytes.ToLower(dump), bytes.ToLower([]byte(v))) {
			t.Errorf("after the release, Redis holds %q in clear", v)
		}
	}
}

// ownsOne reports whether a process's latest "generation joined" log line
// assigns it exactly one partition.
func ownsOne(out []byte) bool {
	n := -1
	for _, l := range logLines(out) {
		if l["msg"] == "generation joined" {
			ps, _ := l["partitions"].([]any)
			n = len(ps)
		}
	}
	return n == 1
}

// producePartitions writes messages to the partitions they name.
func producePartitions(t *testing.T, e *env, topic string, msgs []kafka.Message) {
	t.Helper()
	testenv.ProducePartitions(t, e.brokers, topic, msgs...)
}
