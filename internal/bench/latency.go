package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/valyala/fastjson"

	"github.com/personas-dev/personas/internal/retry"
	"github.com/personas-dev/personas/synth"
)

// latency measures produce-to-visible-figure latency of `personas run` at
// a fixed produce rate, per event and exactly rather than by counting:
//
//   - produced: the bench hands each raw event to its producer at the
//     event's time in a flat-rate synthetic stream (Poisson-like arrivals,
//     Config.Diurnal 0) and records that instant as the record's
//     timestamp; the producer's completion callback reports where it landed
//     (raw partition p, offset o), so produced[p][o] is its birth.
//   - placed: a side reader follows the events topic; every anonymized
//     event carries its source coordinates, so the bench learns that raw
//     (p, o) became events-topic record (N, x).
//   - visible: every 5 ms the bench reads each events partition's applied
//     offset from Redis (the position the aggregate script moves in the
//     same atomic call that changes the figures). Record (N, x) is visible
//     from the first poll that shows offset >= x: from then on every
//     reader of the persona figures (query, emit) sees it.
//
// Latency = visible - produced, for every event that reached the figures;
// the poll interval bounds the overestimate at 5 ms plus a Redis round
// trip.
func (r *runner) latency(ctx context.Context, rate float64, dur time.Duration) (*Latency, error) {
	o := r.opt
	raw := "bench." + r.id + ".lat.raw"
	n := r.names("lat", raw)
	if err := r.createTopics(ctx, raw, n.events, n.dlq, n.changes, n.snapshots); err != nil {
		return nil, err
	}
	c, err := startChild(o.Binary, r.dir, r.id+"-latency", []string{"run"}, r.withLimit(r.env(n, o.RedisURL)))
	if err != nil {
		return nil, err
	}
	defer c.stop()
	// Wait until both stages own every partition.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c.exited() {
			return nil, fmt.Errorf("latency run exited early (%v); its log %s ends with:\n%s", c.err, c.log, c.tail(20))
		}
		m, err := c.scrape(ctx)
		if err == nil && m[assignedSeries("ingest")] == float64(o.Partitions) && m[assignedSeries("aggregate")] == float64(o.Partitions) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("latency run: partitions not assigned after 2 minutes; log %s", c.log)
		}
		if !retry.Sleep(ctx, 100*time.Millisecond) {
			return nil, ctx.Err()
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	// placed[N][x] = raw (p, o) of events record (N, x).
	type src struct {
		p int32
		o int64
	}
	placed := make([][]src, o.Partitions)
	var placedMu sync.Mutex
	for part := 0; part < o.Partitions; part++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := kafka.NewReader(kafka.ReaderConfig{
				Brokers: o.Brokers, Topic: n.events, Partition: part, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 50 * time.Millisecond,
				ErrorLogger: kafka.LoggerFunc(func(string, ...any) {}),
			})
			defer rd.Close()
			var p fastjson.Parser
			for {
				m, err := rd.ReadMessage(ctx)
				if err != nil {
					return
				}
				s := src{p: -1}
				if v, err := p.ParseBytes(m.Value); err == nil {
					s = src{p: int32(v.GetInt("source", "partition")), o: v.GetInt64("source", "offset")}
				}
				placedMu.Lock()
				for int64(len(placed[part])) < m.Offset {
					placed[part] = append(placed[part], src{p: -1})
				}
				placed[part] = append(placed[part], s)
				placedMu.Unlock()
			}
		}()
	}

	// polls[N] = (time, applied offset) series.
	type poll struct {
		t   time.Time
		off int64
	}
	polls := make([][]poll, o.Partitions)
	var pollMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		cmds := make([]*redis.StringCmd, o.Partitions)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pipe := r.redis.Pipeline()
			for part := range cmds {
				cmds[part] = pipe.HGet(ctx, posKey(n.prefix, part), "off")
			}
			_, _ = pipe.Exec(ctx)
			now := time.Now()
			pollMu.Lock()
			for part, cmd := range cmds {
				if v, err := strconv.ParseInt(cmd.Val(), 10, 64); err == nil {
					if l := len(polls[part]); l == 0 || polls[part][l-1].off != v {
						polls[part] = append(polls[part], poll{now, v})
					}
				}
			}
			pollMu.Unlock()
		}
	}()

	// produced[p][o] = when raw (p, o) was handed to the producer.
	produced := make([][]time.Time, o.Partitions)
	var prodMu sync.Mutex
	var prodErr error
	w := &kafka.Writer{
		Addr: kafka.TCP(o.Brokers...), Topic: raw, Balancer: &kafka.Murmur2Balancer{},
		BatchSize: 2000, BatchTimeout: 2 * time.Millisecond, RequiredAcks: kafka.RequireAll,
		Compression: kafka.Lz4, Transport: r.conn.Transport(), Async: true,
		Completion: func(msgs []kafka.Message, err error) {
			prodMu.Lock()
			defer prodMu.Unlock()
			if err != nil {
				prodErr = err
				return
			}
			for _, m := range msgs {
				ps := produced[m.Partition]
				for int64(len(ps)) <= m.Offset {
					ps = append(ps, time.Time{})
				}
				ps[m.Offset] = m.Time
				produced[m.Partition] = ps
			}
		},
	}
	sc := synth.DefaultConfig()
	sc.EventsPerSecond, sc.Diurnal, sc.Seed = rate, 0, 2
	sc.Start = time.Now()
	g := synth.New(sc)
	var ev synth.Event
	bar := o.Progress.Start("latency", int64(dur/time.Second))
	start := time.Now()
	sent := 0
	g.Next(&ev)
	var batch []kafka.Message
	for time.Since(start) < dur {
		// Hand over every event that is due, then sleep until the next.
		now := time.Now()
		batch = batch[:0]
		for ev.Time.Sub(sc.Start) <= now.Sub(start) {
			batch = append(batch, kafka.Message{Key: bytes.Clone(ev.Key), Value: bytes.Clone(ev.Value), Time: now})
			g.Next(&ev)
		}
		if len(batch) > 0 {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				return nil, err
			}
			sent += len(batch)
		}
		bar.Set(int64(time.Since(start) / time.Second))
		if wait := ev.Time.Sub(sc.Start) - time.Since(start); wait > 0 {
			if !retry.Sleep(ctx, max(wait, time.Millisecond)) {
				return nil, ctx.Err()
			}
		}
	}
	achieved := float64(sent) / time.Since(start).Seconds()
	if err := w.Close(); err != nil { // flushes
		return nil, err
	}
	bar.Done()
	if prodErr != nil {
		return nil, fmt.Errorf("latency run: produce: %w", prodErr)
	}

	// Wait until everything that will reach the figures is visible.
	eventsTotal := int64(-1)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		m, err := c.scrape(ctx)
		if err == nil && m[`personas_events_in_total{stage="ingest"}`] >= float64(sent) {
			if eventsTotal < 0 {
				if eventsTotal, err = topicSize(ctx, r.conn, n.events, o.Partitions); err != nil {
					return nil, err
				}
			}
			placedMu.Lock()
			pollMu.Lock()
			var seen, applied int64
			for part := range placed {
				seen += int64(len(placed[part]))
				if l := len(polls[part]); l > 0 {
					applied += polls[part][l-1].off + 1
				}
			}
			pollMu.Unlock()
			placedMu.Unlock()
			if seen >= eventsTotal && applied >= eventsTotal {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, errors.New("latency run: events not applied within 2 minutes after producing stopped")
		}
		if !retry.Sleep(ctx, 50*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
	cancel()
	wg.Wait()

	type sample struct{ born, lat time.Duration }
	var all []sample
	var lats []time.Duration
	for part, recs := range placed {
		ps := polls[part]
		for x, s := range recs {
			if s.p < 0 || int(s.p) >= len(produced) || s.o >= int64(len(produced[s.p])) {
				continue
			}
			born := produced[s.p][s.o]
			i, _ := slices.BinarySearchFunc(ps, int64(x), func(p poll, x int64) int {
				if p.off < x {
					return -1
				}
				return 1
			})
			if born.IsZero() || i >= len(ps) {
				continue
			}
			lats = append(lats, ps[i].t.Sub(born))
			all = append(all, sample{born.Sub(start), ps[i].t.Sub(born)})
		}
	}
	if len(lats) == 0 {
		return nil, errors.New("latency run: no event reached the figures")
	}
	slices.Sort(lats)
	q := func(l []time.Duration, f float64) time.Duration { return l[min(len(l)-1, int(f*float64(len(l))))] }
	// The median of the first and the last quarter of the run: a pipeline
	// that keeps up has the same; one that falls behind, a growing one.
	slices.SortFunc(all, func(a, b sample) int { return cmp.Compare(a.born, b.born) })
	quarter := func(from int) time.Duration {
		part := make([]time.Duration, 0, len(all)/4+1)
		for _, s := range all[from : from+len(all)/4] {
			part = append(part, s.lat)
		}
		if len(part) == 0 {
			return 0
		}
		slices.Sort(part)
		return q(part, 0.5)
	}
	return &Latency{Rate: rate, Achieved: achieved, Events: len(lats), P50: q(lats, 0.50), P99: q(lats, 0.99), Max: lats[len(lats)-1],
		FirstQuarterP50: quarter(0), LastQuarterP50: quarter(len(all) - len(all)/4)}, nil
}

// posKey is the aggregate store's position hash of an events partition
// (layout documented in internal/redisx.AggStore).
func posKey(prefix string, partition int) string {
	return prefix + "{" + prefix + "p" + strconv.Itoa(partition) + "}:pos"
}
