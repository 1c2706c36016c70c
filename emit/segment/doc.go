// Package segment is the pure core of the emit stage: segment definitions
// (segments.yaml), their evaluation over persona figures with hysteresis,
// dwell and the k rule, deterministic event ids, and the builders of the
// segment-change events and persona snapshots. It does no I/O besides
// reading a segments file: no Kafka, Redis, clock or logging.
//
// One evaluation, as the emit stage runs it on each tick:
//
//	res, err := segment.Evaluate(cfg, states, segment.Input{Now: now, K: k,
//		Current: cur, Previous: prev, Personas: model.Names()})
//	for w, f := range cur { pub[w] = privacy.GateWindow(f, k, noise) }
//	for _, c := range res.Changes { ev, err := segment.BuildChange(c, &pub[c.Window], meta) ... }
//	snap, err := segment.BuildSnapshot(&pub[w], meta, now, snapshotEvery)
//	// store res.States (with the pending events) before publishing
//
// Conditions read the figures through privacy's gate without noise, so a
// decision never rests on a figure that describes fewer than k visitors; the
// published figures are the same gate with noise, drawn once per evaluation
// and shared by the events and the snapshot. See docs/segments.md.
package segment
