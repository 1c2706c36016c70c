// Package ingest is the privacy transform: it turns a raw clickstream event
// (which holds personal data) into an anonymized event that anyone may read.
//
// Order of the steps, each of which can reject the event with a Reason:
// byte-level limits (size, UTF-8, NUL, depth, number of values) and strict
// JSON syntax (one pass, scanJSON), JSON parsing, duplicate keys, the raw-event schema, the visitor identifier, the
// event time against the live epochs. Then the identifier becomes a
// pseudonym (HMAC-SHA256 under the epoch's random key) and the event is
// projected onto an allowlist: only the fields of the anonymized-event
// schema are ever written, each scrubbed or generalised (see
// docs/privacy.md).
//
// The package is pure: no Kafka, Redis or logging. Keys (epoch keys) and
// ValuePolicy (rare-value suppression) are interfaces implemented at the
// edges.
package ingest
