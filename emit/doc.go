// Package emit holds the contract of the emit stage's state: the lease
// that makes one instance the evaluator, the segment states, and the outbox
// of events to publish. The pure logic is in emit/segment (segments,
// hysteresis, events) and emit/privacy (the k gate and noise); the loop that
// ties them to Kafka and Redis is in internal/stage.
//
// Exactly-once in effect: a tick's new states and the events they cause
// are committed to the store atomically (an outbox), under the lease's
// fencing token. Events are then published, and removed from the outbox
// once acknowledged. A crash after the commit leaves them in the outbox,
// and the next leader publishes them first: the same events, with the same
// deterministic ids. So every change is published at least once, and
// duplicates carry the same event id.
package emit
