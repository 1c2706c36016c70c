package e2e

import (
	"testing"
	"time"
)

// TestAggregateResumesFromStoredPosition runs the stage to the end of the
// stream, then starts it in a new consumer group (as after lost or reset
// committed offsets): it must resume after the position stored with the
// figures, not replay the topic (which would count everything twice), and
// report the group's lag as 0 although there is nothing left to read.
func TestAggregateResumesFromStoredPosition(t *testing.T) {
	const partitions = 2
	seed := testSeed(t)
	keepLogsOnFailure(t)
	e := newEnv(t, partitions)
	stream := makeAggStream(t, streamOpts{events: 3000, seed: seed, visitors: 300, span: 3 * time.Minute, retryShare: 0.06})
	n := len(stream.msgs)
	store, rc := openAggStore(t, e.redisURL, e.prefix)
	e.produceInOrder(stream.msgs)

	p := e.start("aggregate")
	e.waitCaughtUp(rc, partitions, 120*time.Second)
	p.stop(t, 30*time.Second)

	group := e.prefix + "aggregate-new"
	e.vars = append(e.vars, "PERSONAS_KAFKA_GROUPS_AGGREGATE="+group)
	p = e.start("aggregate")
	addr := p.httpAddr(t)
	waitFor(t, 120*time.Second, "the new group to own every partition", func() bool {
		return metric(addr, `personas_partitions_assigned{stage="aggregate"}`) == partitions
	})
	waitFor(t, 60*time.Second, "the new group's lag to be 0", func() bool {
		return e.consumerLag(group, e.topics["events"]) == 0
	})
	if got := metric(addr, `personas_events_in_total{stage="aggregate"}`); got != 0 {
		t.Errorf("the restarted stage read %v records; it must resume after the stored position", got)
	}
	ref := aggCompare(t, store, rc, e.prefix, partitions, e.readEvents(n))
	if ref.Events != stream.unique {
		t.Fatalf("reference: %d events; the stream has %d", ref.Events, stream.unique)
	}
	p.stop(t, 30*time.Second)
}
