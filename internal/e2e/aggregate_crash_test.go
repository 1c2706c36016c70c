package e2e

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// testSeed returns a random seed, or AGGTEST_SEED to rerun a failure.
func testSeed(t *testing.T) uint64 {
	if s := os.Getenv("AGGTEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("AGGTEST_SEED=%q: %v", s, err)
		}
		return n
	}
	s := rand.Uint64() % 1_000_000
	t.Logf("seed %d (rerun with AGGTEST_SEED=%d)", s, s)
	return s
}

// TestAggregateCrashRecovery is the effectively-once proof of issue 4 on
// real Kafka and Redis: a known stream of anonymized events, with the
// duplicates ingest writes on retries, is aggregated by `personas
// aggregate`, which is SIGKILLed at random points six times (mid-batch,
// right after a start, during the group join) and restarted. Once it has
// caught up, every counter in Redis equals the reference computed directly
// from the topic, every persona figure minute by minute too (distinct counts
// within the HyperLogLog tolerance), and the duplicates were dropped.
func TestAggregateCrashRecovery(t *testing.T) {
	const partitions = 3
	seed := testSeed(t)
	keepLogsOnFailure(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t, partitions, "PERSONAS_KAFKA_CONSUMER_MAX_BATCH=150")
	stream := makeAggStream(t, streamOpts{events: 14000, seed: seed, visitors: 600, span: 4 * time.Minute, retryShare: 0.08})
	if stream.dups == 0 {
		t.Fatal("the stream has no duplicates")
	}
	// The first 90 % in seven parts: one before the first start, one more
	// before each kill (so a kill always finds work in progress); the rest
	// (with duplicates of earlier parts) after the last restart, so the
	// last process must drop duplicates itself.
	n := len(stream.msgs)
	cut2 := n * 9 / 10
	const kills = 6
	parts := make([]int, kills+2) // part i is msgs[parts[i]:parts[i+1]]
	parts[1] = cut2 / 3
	for i := 2; i <= kills+1; i++ {
		parts[i] = parts[1] + (cut2-parts[1])*(i-1)/kills
	}
	e.produceInOrder(stream.msgs[:parts[1]])
	store, rc := openAggStore(t, e.redisURL, e.prefix)

	began := time.Now()
	p := e.start("aggregate")
	for k := 1; k <= kills; k++ {
		e.produceInOrder(stream.msgs[parts[k]:parts[k+1]])
		switch k {
		case 2: // right after a start: during the group join or the claim
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
		default: // mid-stream: after a random amount of progress
			target := min(applied(t, rc, e.prefix, partitions)+int64(100+rng.IntN(1200)), int64(parts[k+1]))
			waitFor(t, 180*time.Second, "progress before a kill", func() bool {
				return applied(t, rc, e.prefix, partitions) >= target
			})
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		}
		at := applied(t, rc, e.prefix, partitions)
		p.kill()
		t.Logf("kill %d: SIGKILL at %d of %d records applied, %d produced (%s)", k, at, n, parts[k+1], time.Since(began).Round(100*time.Millisecond))
		p = e.start("aggregate")
	}
	e.produceInOrder(stream.msgs[cut2:])
	lastDups := dupsIn(t, stream.msgs[:cut2], stream.msgs[cut2:])
	if lastDups == 0 {
		t.Fatal("no duplicates after the last restart")
	}

	e.waitCaughtUp(rc, partitions, 240*time.Second)
	t.Logf("caught up %s after the first start", time.Since(began).Round(100*time.Millisecond))
	msgs := e.readEvents(n)
	ref := aggCompare(t, store, rc, e.prefix, partitions, msgs)
	if ref.Events != stream.unique || ref.Duplicates != stream.dups {
		t.Fatalf("reference: %d events, %d duplicates; the stream has %d and %d", ref.Events, ref.Duplicates, stream.unique, stream.dups)
	}

	// The last process read at least the last part; the duplicates in it
	// must have been dropped by the source watermarks and counted.
	addr := p.httpAddr(t)
	dropped := metric(addr, `personas_duplicates_dropped_total{stage="aggregate"}`)
	if dropped < float64(lastDups) || dropped > float64(stream.dups) {
		t.Errorf("personas_duplicates_dropped_total = %v, want between %d (duplicates produced after the last restart) and %d (all)", dropped, lastDups, stream.dups)
	}
	// Figures are stable: nothing moves once caught up.
	e.assertStable(store, ref)
	p.stop(t, 30*time.Second)
	t.Logf("%d records (%d events, %d ingest duplicates, %d after the last restart, %d dropped by the last process), %d kills, %d minutes compared",
		n, ref.Events, ref.Duplicates, lastDups, int(dropped), kills, len(ref.Minutes))
}
