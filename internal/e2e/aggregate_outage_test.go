package e2e

import (
	"testing"
	"time"

	"github.com/personas-dev/personas/internal/testenv"
)

// TestAggregateRedisOutage stops Redis for about ten seconds in the middle
// of a run (promise D4). The test has a redis-server of its own (append-only
// file, so a stop and start keeps the data, as any Redis holding
// exactly-once state must) so that the shared one stays up for parallel
// tests. While Redis is down the stage pauses with backoff, keeps its
// batch, logs it, and /readyz answers 503; when Redis is back it resumes by
// itself, logs the recovery, /readyz answers 200, and the figures equal the
// reference exactly.
func TestAggregateRedisOutage(t *testing.T) {
	const partitions = 3
	seed := testSeed(t)
	keepLogsOnFailure(t)
	r := startOwnRedis(t)
	e := newEnv(t, partitions, "PERSONAS_REDIS_URL="+r.url, "PERSONAS_KAFKA_CONSUMER_MAX_BATCH=200")
	stream := makeAggStream(t, streamOpts{events: 9000, seed: seed, visitors: 500, span: 4 * time.Minute, retryShare: 0.06})
	n := len(stream.msgs)
	store, rc := openAggStore(t, r.url, e.prefix)

	e.produceInOrder(stream.msgs[:n/3])
	p := e.start("aggregate")
	addr := p.httpAddr(t)
	waitFor(t, 120*time.Second, "the stage to apply something and be ready", func() bool {
		return applied(t, rc, e.prefix, partitions) > 0 && readyz(addr) == 200
	})

	// Redis goes away; events keep arriving.
	at := applied(t, rc, e.prefix, partitions)
	r.stop()
	down := time.Now()
	t.Logf("redis stopped at %d of %d records applied", at, n)
	e.produceInOrder(stream.msgs[n/3 : n*2/3])
	waitFor(t, 60*time.Second, "the stage to log the paused batch", func() bool {
		return countLogs(p.out.Bytes(), "batch failed, paused with backoff") > 0
	})
	waitFor(t, 30*time.Second, "/readyz to answer 503", func() bool { return readyz(addr) == 503 })
	if d := time.Until(down.Add(10 * time.Second)); d > 0 {
		time.Sleep(d)
	}
	select {
	case err := <-p.done:
		t.Fatalf("the stage exited while Redis was down: %v\n%s", err, tail(p.out.Bytes(), 30))
	default:
	}
	if readyz(addr) != 503 {
		t.Error("/readyz does not answer 503 while Redis is down")
	}
	retries := metric(addr, `personas_retries_total{stage="aggregate"}`)

	// Redis is back: the stage resumes by itself.
	r.start()
	t.Logf("redis down for %s; %v retries", time.Since(down).Round(100*time.Millisecond), retries)
	e.produceInOrder(stream.msgs[n*2/3:])
	waitFor(t, 90*time.Second, "the stage to log its recovery", func() bool {
		return countLogs(p.out.Bytes(), "dependency recovered") > 0
	})
	waitFor(t, 60*time.Second, "/readyz to answer 200 again", func() bool { return readyz(addr) == 200 })
	e.waitCaughtUp(rc, partitions, 180*time.Second)
	if readyz(addr) != 200 {
		t.Error("/readyz is not 200 after the stage caught up")
	}
	msgs := e.readEvents(n)
	ref := aggCompare(t, store, rc, e.prefix, partitions, msgs)
	if ref.Events != stream.unique || ref.Duplicates != stream.dups {
		t.Fatalf("reference: %d events, %d duplicates; the stream has %d and %d", ref.Events, ref.Duplicates, stream.unique, stream.dups)
	}
	if got := metric(addr, `personas_duplicates_dropped_total{stage="aggregate"}`); got != float64(stream.dups) {
		t.Errorf("personas_duplicates_dropped_total = %v, want %d", got, stream.dups)
	}
	if metric(addr, `personas_recoveries_total{stage="aggregate"}`) < 1 {
		t.Error("personas_recoveries_total did not count the recovery")
	}
	p.stop(t, 30*time.Second)
	t.Logf("%d records (%d events, %d duplicates); paused %d times, recovered %d times",
		n, ref.Events, ref.Duplicates, countLogs(p.out.Bytes(), "batch failed, paused with backoff"), countLogs(p.out.Bytes(), "dependency recovered"))
}

// TestAggregateRedisCluster runs the stage against the real 3-master Redis
// Cluster (PERSONAS_REDIS_URL is the cluster URL; the key layout keeps each
// partition's keys in one slot), with a crash in the middle, and compares
// the figures with the reference.
func TestAggregateRedisCluster(t *testing.T) {
	const partitions = 4
	seed := testSeed(t)
	keepLogsOnFailure(t)
	url := testenv.RedisClusterURL(t)
	e := newEnv(t, partitions, "PERSONAS_REDIS_URL="+url, "PERSONAS_KAFKA_CONSUMER_MAX_BATCH=300")
	testenv.CleanRedis(t, url, e.prefix)
	stream := makeAggStream(t, streamOpts{events: 9000, seed: seed, visitors: 500, span: 4 * time.Minute, retryShare: 0.06})
	n := len(stream.msgs)
	store, rc := openAggStore(t, url, e.prefix)

	e.produceInOrder(stream.msgs[:n/2])
	p := e.start("aggregate")
	waitFor(t, 120*time.Second, "progress on the cluster", func() bool {
		return applied(t, rc, e.prefix, partitions) > 1000
	})
	p.kill()
	e.produceInOrder(stream.msgs[n/2:])
	p = e.start("aggregate")
	e.waitCaughtUp(rc, partitions, 240*time.Second)
	msgs := e.readEvents(n)
	ref := aggCompare(t, store, rc, e.prefix, partitions, msgs)
	if ref.Events != stream.unique || ref.Duplicates != stream.dups {
		t.Fatalf("reference: %d events, %d duplicates; the stream has %d and %d", ref.Events, ref.Duplicates, stream.unique, stream.dups)
	}
	e.assertStable(store, ref)
	p.stop(t, 30*time.Second)
	t.Logf("%d records (%d events, %d duplicates) on Redis Cluster, one SIGKILL", n, ref.Events, ref.Duplicates)
}

// TestAggregateStartsWhileRedisDown starts the stage while Redis is down
// (and its partitions cannot be claimed), then starts Redis: the stage
// must claim its partitions by itself, apply the waiting events exactly,
// say so in its logs, and turn ready.
func TestAggregateStartsWhileRedisDown(t *testing.T) {
	const partitions = 2
	seed := testSeed(t)
	keepLogsOnFailure(t)
	r := startOwnRedis(t)
	e := newEnv(t, partitions, "PERSONAS_REDIS_URL="+r.url)
	stream := makeAggStream(t, streamOpts{events: 3000, seed: seed, visitors: 300, span: 3 * time.Minute, retryShare: 0.06})
	n := len(stream.msgs)
	store, rc := openAggStore(t, r.url, e.prefix)
	e.produceInOrder(stream.msgs)

	r.stop()
	p := e.start("aggregate")
	addr := p.httpAddr(t)
	waitFor(t, 90*time.Second, "the stage to retry claiming its partitions", func() bool {
		return countLogs(p.out.Bytes(), "cannot open partition state, retrying") > 0
	})
	if code := readyz(addr); code != 503 {
		t.Errorf("/readyz = %d while Redis is down, want 503", code)
	}
	r.start()
	e.waitCaughtUp(rc, partitions, 120*time.Second)
	waitFor(t, 30*time.Second, "/readyz to answer 200 once Redis is back and the partitions are claimed", func() bool {
		return readyz(addr) == 200
	})
	if countLogs(p.out.Bytes(), "dependency recovered") == 0 {
		t.Error("the stage did not log its recovery")
	}
	msgs := e.readEvents(n)
	ref := aggCompare(t, store, rc, e.prefix, partitions, msgs)
	if ref.Events != stream.unique {
		t.Fatalf("reference: %d events; the stream has %d", ref.Events, stream.unique)
	}
	p.stop(t, 30*time.Second)
}
