package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestAggregateRebalance runs the aggregate stage as one instance, then
// three in the same consumer group, then one again, while the stream
// (with ingest duplicates) is produced. Partitions move between instances
// twice; every move claims the partition (fencing its previous owner) and
// resumes after the stored position. At the end the figures equal the
// reference exactly, and the logs show no partition lost to a fence.
func TestAggregateRebalance(t *testing.T) {
	const partitions = 6
	seed := testSeed(t)
	keepLogsOnFailure(t)
	e := newEnv(t, partitions, "PERSONAS_KAFKA_CONSUMER_MAX_BATCH=200")
	stream := makeAggStream(t, streamOpts{events: 12000, seed: seed, visitors: 600, span: 4 * time.Minute, retryShare: 0.06})
	n := len(stream.msgs)
	parts := [][2]int{{0, n / 4}, {n / 4, n / 2}, {n / 2, n * 3 / 4}, {n * 3 / 4, n}}
	store, rc := openAggStore(t, e.redisURL, e.prefix)

	e.produceInOrder(stream.msgs[parts[0][0]:parts[0][1]])
	a := e.start("aggregate")
	aAddr := a.httpAddr(t)
	waitFor(t, 120*time.Second, "instance A to apply something", func() bool {
		return applied(t, rc, e.prefix, partitions) > 0
	})

	// Scale out to three while events arrive.
	b := e.start("aggregate")
	c := e.start("aggregate")
	e.produceInOrder(stream.msgs[parts[1][0]:parts[1][1]])
	bAddr, cAddr := b.httpAddr(t), c.httpAddr(t)
	assigned := func(addr string) float64 {
		return metric(addr, `personas_partitions_assigned{stage="aggregate"}`)
	}
	waitFor(t, 180*time.Second, "the six partitions to spread over the three instances", func() bool {
		na, nb, nc := assigned(aAddr), assigned(bAddr), assigned(cAddr)
		return na > 0 && nb > 0 && nc > 0 && na+nb+nc == partitions
	})
	t.Logf("three instances own %v/%v/%v partitions", assigned(aAddr), assigned(bAddr), assigned(cAddr))
	e.produceInOrder(stream.msgs[parts[2][0]:parts[2][1]])
	before := applied(t, rc, e.prefix, partitions)
	waitFor(t, 120*time.Second, "progress with three instances", func() bool {
		return applied(t, rc, e.prefix, partitions) > before+500 || applied(t, rc, e.prefix, partitions) == int64(parts[2][1])
	})
	dupsBC := metric(bAddr, `personas_duplicates_dropped_total{stage="aggregate"}`) +
		metric(cAddr, `personas_duplicates_dropped_total{stage="aggregate"}`)

	// Back to one: B and C leave gracefully (SIGTERM finishes the batch in
	// flight and commits it), A takes all partitions back.
	b.stop(t, 60*time.Second)
	c.stop(t, 60*time.Second)
	e.produceInOrder(stream.msgs[parts[3][0]:parts[3][1]])
	waitFor(t, 180*time.Second, "instance A to own all partitions again", func() bool {
		return assigned(aAddr) == partitions
	})
	e.waitCaughtUp(rc, partitions, 240*time.Second)
	// B and C may drop a few more between the scrape and their exit, so
	// the sum is a lower bound of what was dropped; never more than exist.
	dups := dupsBC + metric(aAddr, `personas_duplicates_dropped_total{stage="aggregate"}`)
	if dups > float64(stream.dups) {
		t.Errorf("the instances dropped %v duplicates, but the stream has only %d", dups, stream.dups)
	}
	msgs := e.readEvents(n)
	ref := aggCompare(t, store, rc, e.prefix, partitions, msgs)
	if ref.Events != stream.unique || ref.Duplicates != stream.dups {
		t.Fatalf("reference: %d events, %d duplicates; the stream has %d and %d", ref.Events, ref.Duplicates, stream.unique, stream.dups)
	}
	e.assertStable(store, ref)

	// No partition was stopped by a fence: with graceful hand-overs the old
	// owner finishes its batch before the new owner claims.
	var fenced []string
	for name, p := range map[string]*proc{"A": a, "B": b, "C": c} {
		for _, l := range logLines(p.out.Bytes()) {
			msg, _ := l["msg"].(string)
			errText, _ := l["error"].(string)
			if strings.Contains(errText, "FENCED") || strings.Contains(errText, "fenced") || msg == "partition stopped" {
				fenced = append(fenced, name+": "+msg+": "+errText)
			}
		}
	}
	if len(fenced) > 0 {
		t.Errorf("partitions were fenced during graceful rebalances:\n  %s", strings.Join(fenced, "\n  "))
	}
	gens := countLogs(a.out.Bytes(), "generation joined")
	a.stop(t, 60*time.Second)
	t.Logf("%d records (%d events, %d duplicates, at least %v dropped as counted by the instances), instance A joined %d generations",
		n, ref.Events, ref.Duplicates, dups, gens)
}
