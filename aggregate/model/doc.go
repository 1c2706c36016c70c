// Package model is the persona model: the per-visitor features, the persona
// rules over them, and the compact visitor state the aggregate stage keeps
// per pseudonym. It is pure: no Kafka, no Redis, no logging, no clock.
//
// # The model
//
// A model is YAML (personas.yaml; the built-in one is default.yaml, see
// Default and docs/personas.md). It names a version, the product
// categories, optionally the event-name vocabulary, the features (counters
// with a condition over one event) and the personas (ordered rules over the
// visitor's features; the first that holds wins, a default catches the
// rest). Conditions and rules are expressions in expr-lang/expr, type
// checked against their env when the model is parsed: Parse reports every
// problem at once, each naming the feature or persona, the expression and
// the compiler's message.
//
// # Evaluation
//
// The aggregate stage does, per anonymized event of a pseudonym and in the
// order of its partition:
//
//	v := load(pseudonym)              // Visitor.UnmarshalBinary, or a zero Visitor
//	from, to := eval.Apply(v, event)  // Observe + Classify
//	count(to)                         // the event counts for persona to
//	if from >= 0 && from != to {
//		flow(from, to)            // the visitor moved between personas
//	}
//	buf, _ = v.AppendBinary(buf[:0])
//	store(pseudonym, buf)             // expires with the epoch
//
// A Model is immutable and shared; an Evaluator holds scratch space and is
// used by one goroutine (make one per worker with Model.NewEvaluator).
//
// Determinism: Observe reads only the event (its own time, never the
// clock), the visitor and the model, so the same events in the same order
// give the same state and personas however they are batched, and whether or
// not the visitor went through the store or a restart in between; the
// tests check all three.
//
// Speed: conditions are compiled twice, by expr (the reference, and the
// fallback) and into typed Go closures for the common subset of the
// language (comparisons, arithmetic, boolean logic, `in` lists, string
// prefix/suffix/contains, share() and views()). Feature conditions are
// dispatched on the event name, so an event evaluates only the few that can
// hold for it. With the default model Observe + Classify takes well under a
// microsecond and allocates nothing.
//
// # Visitor state
//
// Visitor holds counters (one uint32 per feature and per category, in a
// single slice), a few built-ins, the first-touch campaign and the persona
// last assigned. AppendBinary writes it in a versioned, sparse varint
// encoding (35-75 bytes for typical visitors of the default model);
// UnmarshalBinary never panics and rejects anything AppendBinary cannot
// have written. State carries a fingerprint of the model's layout: after a
// model change that adds, removes or reorders features, old state starts
// afresh instead of being misread.
package model
