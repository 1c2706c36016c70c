package e2e

// The fault suite (issue 6; promises D1-D4, O2): synthetic clickstream
// (about 1 % bad events, bots, the realistic mix) goes through `personas
// run` on real Kafka and Redis while the suite does to it what production
// does: SIGKILL at random moments, Redis stopped for 10 s, the Kafka broker
// restarted, latency, cut connections and black holes between the pipeline
// and Redis or Kafka (toxiproxy), the consumer group scaled from 1 to 3
// instances and back, and SIGTERM with a batch in flight.
//
// The faults run in phases. During a phase events keep arriving; after it
// the suite waits until the pipeline took everything in and checks it
// against the input: every valid raw record has its anonymized event and
// every bad one its DLQ record (by source coordinates and payload SHA-256),
// and the persona counters in Redis equal reference.Compute over the events
// topic. Differences are counted as events lost or double-counted for that
// phase's fault. At the end: every persona figure minute by minute equals
// the reference, the DLQ holds exactly the bad events, every segment change
// was announced once (a repeat only with the same event_id and content),
// and both consumer groups have no lag. The table goes to the test log (and
// to PERSONAS_FAULTS_REPORT when set).
//
//	make test-faults                        the full run: PERSONAS_FAULTS=full, 200k events, 10 kills
//	make test                               runs the short form (30k events, 3 kills)
//	PERSONAS_FAULTS=off make test           skips it
//	AGGTEST_SEED=n                          repeats a run's random choices

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/internal/faults"
	"github.com/personas-dev/personas/internal/reference"
)

const shutdownTimeout = 20 * time.Second

// faultSegments makes segment changes happen during the run: every persona
// enters when its crowd in the window is large, and leaves the 5-minute
// segment again once that window has slid past the stream's event times.
const faultSegments = `version: "faults-1"
segments:
  - name: busy_5m
    title: Busy in the last five minutes
    description: A persona with a crowd in the last five minutes.
    window: 5m
    enter: visitors >= 30
    exit: visitors < 20
  - name: busy_1h
    title: Busy in the last hour
    description: A persona with a crowd in the last hour.
    window: 1h
    enter: visitors >= 30
    exit: visitors < 20
`

func TestFaults(t *testing.T) {
	mode := faults.ModeFromEnv()
	if mode == faults.Off {
		t.Skip("PERSONAS_FAULTS=off")
	}
	plan := faults.PlanFor(mode)
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 6))
	keepLogsOnFailure(t)
	began := time.Now()
	segs := filepath.Join(t.TempDir(), "segments.yaml")
	if err := os.WriteFile(segs, []byte(faultSegments), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, plan.Partitions,
		"PERSONAS_EMIT_SEGMENTS="+segs,
		"PERSONAS_EMIT_TICK=2s",
		"PERSONAS_EMIT_SNAPSHOT_EVERY=10s",
		"PERSONAS_EMIT_K=5",
		"PERSONAS_EMIT_LEASE_TTL=6s",
		"PERSONAS_HTTP_SHUTDOWN_TIMEOUT="+shutdownTimeout.String(),
	)
	w.generator(seed, plan.Events, plan.Span)
	e := w.e
	t.Logf("fault suite, %s form: %d events, %d partitions, %d kills, outages of %s; setup took %s",
		plan.Mode, plan.Events, plan.Partitions, plan.Kills, plan.Outage, time.Since(began).Round(time.Second))

	table := &faults.Table{}
	raw := newTailer(w.kafka.brokers, e.topics["raw"])
	events := newTailer(w.kafka.brokers, e.topics["events"])
	dlq := newTailer(w.kafka.brokers, e.topics["dlq"])
	var lostSoFar, doubleSoFar int64

	// check waits until the pipeline took in everything produced and
	// compares; what changed since the last check belongs to row.
	check := func(row *faults.Row) {
		t.Helper()
		quiet := time.Now()
		w.waitQuiet(15 * time.Minute)
		quietTook := time.Since(quiet)
		t0 := time.Now()
		rawNew := raw.catchUp(t)
		eventsNew := events.catchUp(t)
		dlqNew := dlq.catchUp(t)
		t1 := time.Now()
		// Events lost or counted twice: per minute, what the figures count
		// against the distinct events of the topic; and every raw record
		// against what ingest made of it.
		w.countEvents(eventsNew)
		lostE, double, diffs := w.eventCountDiff()
		lostI, problems := w.inputCheck(rawNew, eventsNew, dlqNew)
		lost := lostE + lostI
		row.Lost += max(0, lost-lostSoFar)
		row.Double += max(0, double-doubleSoFar)
		lostSoFar, doubleSoFar = max(lost, lostSoFar), max(double, doubleSoFar)
		if len(problems) > 0 {
			t.Errorf("after %s: %d input records not handled as they should be:\n  %s", row.Fault, len(problems), strings.Join(problems[:min(len(problems), 20)], "\n  "))
		}
		if len(diffs) > 0 {
			t.Errorf("after %s: event counts differ from the events topic:\n  %s", row.Fault, strings.Join(diffs[:min(len(diffs), 20)], "\n  "))
		}
		// The full run also compares every persona counter with the
		// reference after each fault (the short form does it at the end).
		t2 := time.Now()
		distinct, dups := len(w.counts.seen), len(events.msgs)-len(w.counts.seen)
		if plan.Mode == faults.Full {
			ref, err := reference.Compute(model.Default(), values(byPartition(events.msgs)))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, other := w.counterDiff(ref.Counters, ref.Minutes); len(other) > 0 {
				t.Errorf("after %s: %d persona counters differ from the reference:\n  %s", row.Fault, len(other), strings.Join(other[:min(len(other), 20)], "\n  "))
			}
		}
		t.Logf("check: read topics %s, counts and input %s, reference %s", t1.Sub(t0).Round(100*time.Millisecond),
			t2.Sub(t1).Round(100*time.Millisecond), time.Since(t2).Round(100*time.Millisecond))
		t.Logf("%-26s checked at %s (caught up in %s): %d raw records, %d events (%d distinct, %d ingest duplicates), %d DLQ records; lost %d, double-counted %d",
			row.Fault, time.Since(began).Round(time.Second), quietTook.Round(100*time.Millisecond), len(raw.msgs), len(events.msgs), distinct, dups, len(dlq.msgs), lost, double)
	}

	// phase runs inject while events arrive at the plan's rate, keeps them
	// coming a little longer, then checks.
	phase := func(name string, inject func(row *faults.Row)) {
		t.Helper()
		row := table.Row(name)
		prod := w.produce(plan.Rate, plan.Events)
		injected := time.Now()
		inject(row)
		t.Logf("%-26s injected and recovered in %s", name, time.Since(injected).Round(100*time.Millisecond))
		time.Sleep(2 * time.Second)
		n, err := prod.stop()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		row.Events += n
		check(row)
	}
	// recovered records the time to recover from a fault that ended at end.
	recovered := func(row *faults.Row, end time.Time) {
		t.Helper()
		d := w.progressAfter(end, 5*time.Minute)
		if d < 0 {
			t.Fatalf("%s: the pipeline made no progress within 5 minutes of the fault's end", row.Fault)
		}
		row.Recover = append(row.Recover, d)
	}
	main := func() *proc { return w.procs[0] }

	// A backlog before the first start: the first faults hit a pipeline
	// that is catching up.
	backlog := plan.Events / 10
	if err := w.write(t.Context(), w.next(backlog)); err != nil {
		t.Fatal(err)
	}
	w.startPipeline()
	waitFor(t, 5*time.Minute, "the pipeline to apply its first events", func() bool { return w.applied() > 0 })
	t.Logf("first events applied %s after the start", time.Since(began).Round(time.Second))

	// 1. SIGKILL at random moments, restarting each time. Every other kill
	// waits for progress first (its recovery is measured); the others hit
	// the new process a moment after its start: during the group join, the
	// partition claim or its first batch.
	phase("SIGKILL", func(row *faults.Row) {
		for k := 1; k <= plan.Kills; k++ {
			time.Sleep(randDur(rng, 300*time.Millisecond, 6*time.Second))
			at := w.applied()
			p := main()
			p.kill()
			w.remove(p)
			row.Injected++
			w.startPipeline()
			restarted := time.Now()
			t.Logf("kill %d at %d events applied", k, at)
			if k%2 == 1 || k == plan.Kills {
				recovered(row, restarted)
			}
		}
	})

	// 2. Redis stopped (SIGTERM: it writes its append-only file) for the
	// outage, then started again. /readyz must say so meanwhile.
	phase("Redis stop/start", func(row *faults.Row) {
		time.Sleep(2 * time.Second)
		addr := main().httpAddr(t)
		if err := w.redis.stop(); err != nil {
			t.Fatal(err)
		}
		row.Injected++
		down := time.Now()
		sawDown := waitReadyz(addr, 503, plan.Outage)
		time.Sleep(time.Until(down.Add(plan.Outage)))
		if err := w.redis.start(); err != nil {
			t.Fatal(err)
		}
		end := time.Now()
		recovered(row, end)
		sawUp := waitReadyz(addr, 200, 2*time.Minute)
		row.Note = readyNote(sawDown, sawUp)
		if !sawDown || !sawUp {
			t.Errorf("Redis stop: /readyz %s", row.Note)
		}
	})

	// 3. The Kafka broker restarted (graceful stop, start; data kept).
	phase("Kafka broker restart", func(row *faults.Row) {
		time.Sleep(2 * time.Second)
		addr := main().httpAddr(t)
		stopped := time.Now()
		if err := w.kafka.stop(); err != nil {
			t.Fatal(err)
		}
		row.Injected++
		sawDown := waitReadyz(addr, 503, 30*time.Second)
		if err := w.kafka.start(); err != nil {
			t.Fatal(err)
		}
		end := time.Now()
		t.Logf("Kafka broker down for %s", end.Sub(stopped).Round(time.Second))
		recovered(row, end)
		sawUp := waitReadyz(addr, 200, 3*time.Minute)
		row.Note = readyNote(sawDown, sawUp)
		if !sawDown || !sawUp {
			t.Errorf("Kafka restart: /readyz %s", row.Note)
		}
	})

	// 4. The proxies: latency, cut connections, black holes.
	type proxyFault struct {
		name   string
		proxy  *faults.Proxy
		inject func(*faults.Proxy) error
		heal   func(*faults.Proxy) error
		down   bool // /readyz must fail meanwhile
	}
	latency := func(p *faults.Proxy) error { return p.Latency(250, 100) }
	blackhole := func(p *faults.Proxy) error { return p.Blackhole() }
	cut := func(p *faults.Proxy) error { return p.Cut() }
	clear := func(p *faults.Proxy) error { return p.Clear() }
	restore := func(p *faults.Proxy) error { return p.Restore() }
	proxyFaults := []proxyFault{
		{"Redis latency 250±100 ms", w.rp, latency, clear, false},
		{"Redis connections cut", w.rp, cut, restore, true},
		{"Kafka latency 250±100 ms", w.kp, latency, clear, false},
		{"Kafka connections cut", w.kp, cut, restore, true},
	}
	if plan.Mode == faults.Full {
		proxyFaults = append(proxyFaults,
			proxyFault{"Redis black hole", w.rp, blackhole, clear, true},
			proxyFault{"Kafka black hole", w.kp, blackhole, clear, true})
	}
	for _, f := range proxyFaults {
		phase(f.name, func(row *faults.Row) {
			time.Sleep(2 * time.Second)
			addr := main().httpAddr(t)
			if err := f.inject(f.proxy); err != nil {
				t.Fatal(err)
			}
			row.Injected++
			began := time.Now()
			var sawDown bool
			if f.down {
				sawDown = waitReadyz(addr, 503, plan.Outage)
			}
			time.Sleep(time.Until(began.Add(plan.Outage)))
			if err := f.heal(f.proxy); err != nil {
				t.Fatal(err)
			}
			end := time.Now()
			recovered(row, end)
			if f.down {
				sawUp := waitReadyz(addr, 200, 3*time.Minute)
				row.Note = readyNote(sawDown, sawUp)
				if !sawDown || !sawUp {
					t.Errorf("%s: /readyz %s", f.name, row.Note)
				}
			}
		})
	}

	// 5. Scale the consumer groups from 1 to 3 instances and back to 1
	// (SIGTERM, each must exit cleanly within its deadline).
	phase("scale 1→3→1", func(row *faults.Row) {
		time.Sleep(2 * time.Second)
		up := time.Now()
		extra := []*proc{w.startPipeline(), w.startPipeline()}
		row.Injected++
		for _, p := range w.procs {
			addr := p.httpAddr(t)
			waitFor(t, 3*time.Minute, "every instance to own aggregate and ingest partitions", func() bool {
				return metric(addr, `personas_partitions_assigned{stage="aggregate"}`) >= 1 &&
					metric(addr, `personas_partitions_assigned{stage="ingest"}`) >= 1
			})
		}
		t.Logf("3 instances share the partitions %s after the scale-up", time.Since(up).Round(100*time.Millisecond))
		recovered(row, up)
		time.Sleep(5 * time.Second)
		down := time.Now()
		for _, p := range extra {
			took, err := term(p, shutdownTimeout+30*time.Second)
			w.remove(p)
			if err != nil {
				t.Errorf("scale-down: an instance exited with %v after SIGTERM (%s); output:\n%s", err, took.Round(time.Millisecond), tail(p.out.Bytes(), 30))
			} else {
				t.Logf("scale-down: instance exited cleanly %s after SIGTERM", took.Round(time.Millisecond))
			}
		}
		recovered(row, down)
	})

	// 6. SIGTERM with batches in flight (Redis made slow so that a batch
	// is always under way): the process finishes and commits them, exits 0
	// within http.shutdown_timeout, and everything it applied is
	// committed.
	phase("SIGTERM (graceful)", func(row *faults.Row) {
		time.Sleep(2 * time.Second)
		if err := w.rp.Latency(150, 50); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		p := main()
		before := w.applied()
		took, err := term(p, shutdownTimeout+30*time.Second)
		w.remove(p)
		row.Injected++
		after := w.applied()
		if err != nil {
			t.Errorf("SIGTERM: exit %v after %s (deadline %s); output:\n%s", err, took.Round(time.Millisecond), shutdownTimeout, tail(p.out.Bytes(), 40))
		}
		if countLogs(p.out.Bytes(), "shutdown complete") != 1 {
			t.Errorf("SIGTERM: no 'shutdown complete' in the log")
		}
		committed := w.committed(e.prefix+"aggregate", e.topics["events"])
		offs := appliedOffsets(t, w.rc, e.prefix, w.parts)
		for part, o := range offs {
			if o >= 0 && committed[part] != o+1 {
				t.Errorf("SIGTERM: aggregate partition %d applied up to %d but committed %d: the batch in flight was not finished and committed", part, o, committed[part])
			}
		}
		row.Note = fmt.Sprintf("exit 0 in %.1f s (deadline %s); %d events applied after the signal", took.Seconds(), shutdownTimeout, after-before)
		t.Logf("SIGTERM: %s", row.Note)
		if err := w.rp.Clear(); err != nil {
			t.Fatal(err)
		}
		w.startPipeline()
		recovered(row, time.Now())
	})

	// The rest of the events without faults, then the final checks.
	last := table.Row("none (rest of the stream)")
	if rest := plan.Events - w.producedCount(); rest > 0 {
		if err := w.write(t.Context(), w.next(rest)); err != nil {
			t.Fatal(err)
		}
		last.Events = rest
	}
	check(last)

	// Final: every figure, minute by minute, against the reference.
	all := byPartition(events.msgs)
	ref := aggCompare(t, w.store, w.rc, e.prefix, w.parts, all)
	e.assertStable(w.store, ref)

	// Every segment change announced once: repeats only with the same
	// event_id and content; never two ids for one (segment, persona,
	// sequence).
	changes := e.changes()
	type seqKey struct {
		segment, persona string
		seq              int64
	}
	ids := map[seqKey]string{}
	content := map[string]string{}
	repeats := 0
	for _, c := range changes {
		k := seqKey{c.ev.Segment, c.ev.Persona, c.ev.Sequence}
		if id, ok := ids[k]; ok && id != c.ev.EventID {
			t.Errorf("segment change %s/%s #%d announced with two ids: %s and %s", k.segment, k.persona, k.seq, id, c.ev.EventID)
		}
		ids[k] = c.ev.EventID
		if b, ok := content[c.ev.EventID]; ok {
			repeats++
			if b != string(c.raw.Value) {
				t.Errorf("event_id %s published twice with different content", c.ev.EventID)
			}
		}
		content[c.ev.EventID] = string(c.raw.Value)
	}
	if len(changes) == 0 {
		t.Error("no segment change was announced at all: the check above proved nothing")
	}
	snaps := e.snapshots() // checks k on every published figure

	// Shut down cleanly and check the lag of both groups.
	for _, p := range slices.Clone(w.procs) {
		if took, err := term(p, shutdownTimeout+30*time.Second); err != nil {
			t.Errorf("final SIGTERM: %v after %s", err, took.Round(time.Millisecond))
		}
		w.remove(p)
	}
	for _, g := range [][2]string{{"ingest", "raw"}, {"aggregate", "events"}} {
		var lag int64
		waitFor(t, 2*time.Minute, "the lag of "+g[0], func() bool {
			var err error
			lag, err = w.lag(e.prefix+g[0], e.topics[g[1]])
			return err == nil
		})
		if lag != 0 {
			t.Errorf("consumer group %s has lag %d on %s at the end", g[0], lag, g[1])
		}
	}

	// Redis memory for sizing (docs/operations.md): everything the run left.
	mem, _ := w.rc.Info(t.Context(), "memory").Result()
	keys, _ := w.rc.DBSize(t.Context()).Result()
	t.Logf("Redis after the run: %d keys, %s, %s", keys, infoField(mem, "used_memory_human"), infoField(mem, "used_memory_dataset"))

	md := table.Markdown()
	t.Logf("%d raw records (%d bad), %d events (%d ingest duplicates), %d DLQ records, %d segment changes (%d repeats, same id), %d snapshots, %d persona minutes compared; %s in all\n\n%s",
		len(raw.msgs), len(w.badRecords(raw.msgs)), len(events.msgs), ref.Duplicates, len(dlq.msgs), len(ids), repeats, len(snaps), len(ref.Minutes),
		time.Since(began).Round(time.Second), md)
	if path := os.Getenv("PERSONAS_FAULTS_REPORT"); path != "" {
		header := fmt.Sprintf("Fault suite, %s form, seed %d, %s: %d raw records (%d bad), %d partitions, run took %s.\n\n",
			plan.Mode, seed, time.Now().UTC().Format("2006-01-02"), len(raw.msgs), len(w.badRecords(raw.msgs)), plan.Partitions, time.Since(began).Round(time.Second))
		if err := os.WriteFile(path, []byte(header+md), 0o644); err != nil {
			t.Errorf("writing %s: %v", path, err)
		}
	}
}

// waitReadyz polls /readyz until it answers code, for at most timeout.
func waitReadyz(addr string, code int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if readyz(addr) == code {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func readyNote(down, up bool) string {
	s := "/readyz "
	if down {
		s += "503 during"
	} else {
		s += "NOT 503 during"
	}
	if up {
		return s + ", 200 after"
	}
	return s + ", NOT 200 after"
}

// infoField returns "name=value" of one field of a Redis INFO reply.
func infoField(info, name string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+":"); ok {
			return name + "=" + v
		}
	}
	return name + "=?"
}
