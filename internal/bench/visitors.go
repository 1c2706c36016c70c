package bench

import (
	"context"
	"time"

	"github.com/personas-dev/personas/internal/redisx"
)

// visitors measures memory with a million distinct visitors in one epoch:
// the same synthetic stream, but each event's anonymousId is replaced by
// one of its own and the pipeline identifies visitors by anonymousId only,
// so every event is a new visitor: the worst case for the visitor cache
// (every lookup misses, every state is loaded, written and cached) and for
// Redis (a state key per visitor). The distinct count is read back from
// the persona figures (HyperLogLog).
func (r *runner) visitors(ctx context.Context) error {
	o := r.opt
	raw := "bench." + r.id + ".visitors.raw"
	if err := r.createTopics(ctx, raw); err != nil {
		return err
	}
	// Bots (excluded from persona figures) and malformed events are about
	// 6 % of the stream: produce enough for o.Visitors human visitors (1 %
	// more, so that the HyperLogLog count, within 0.81 %, shows it).
	n := int(float64(o.Visitors)/0.935) + 1
	r.say("      producing %d events, each from a visitor of its own", n)
	begin := time.Now()
	if _, err := produce(ctx, r.conn, raw, n, streamConfig(n, o.EventsPerSecond, 3), uniqueVisitor, o.Progress); err != nil {
		return err
	}
	total, err := topicSize(ctx, r.conn, raw, o.Partitions)
	if err != nil {
		return err
	}
	const run = "visitors"
	res, err := r.runE2E(ctx, run, raw, total, 1, o.RedisURL, map[string]string{"PERSONAS_INGEST_IDENTIFIER_FIELDS": "anonymousId"})
	if err != nil {
		return err
	}
	res.Name, res.Command = "run, every event a new visitor", "personas run"
	r.ratio(res)
	// The figures' distinct visitors over the stream's whole span.
	store := redisx.NewAggStore(r.redis, "bench:"+r.id+":"+run+":", 25*time.Hour)
	span := time.Duration(float64(n) / o.EventsPerSecond * float64(time.Second))
	figs, err := store.ReadWindow(ctx, begin.Add(-span-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	for _, p := range figs.Personas {
		r.rep.Distinct += p.Visitors
	}
	r.rep.Visitors = res
	r.say("      %s; %d distinct visitors in the figures", r.line(res), r.rep.Distinct)
	return nil
}
