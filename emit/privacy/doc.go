// Package privacy is the k-anonymity gate of the emit stage and the optional
// noise on top of it (promise P4). It is pure: no I/O, no clock, no logging.
//
// # The k rule
//
// Every count that leaves the system must describe at least k distinct
// visitors in its window (k ≥ 2, default 100). Below that a figure is
// suppressed, never rounded or shown as "<k": a persona below k is published
// as {"persona": ..., "suppressed": true} and nothing else.
//
// Visitor counts are HyperLogLog estimates (Redis PFCOUNT, 16384 registers,
// standard error 1.04/√16384 = 0.81%). An estimate of exactly k can stand for
// a true crowd of k-1, so the gate asks for a safety margin of three standard
// errors: a visitor count is published only when
//
//	estimate ≥ ⌈k·(1 + 3·0.0081)⌉   (VisitorThreshold; 103 for k = 100)
//
// For a true crowd of k-1 to pass, the estimate must be off by more than
// 3σ upwards, which happens with probability about 0.1% at large cardinality.
// At the cardinalities k lives at (tens to a few thousand) Redis is much
// better than 0.81%: with n ≪ 16384 almost every visitor lands in a register
// of its own, the estimator behaves like linear counting, and its relative
// standard deviation is about 1/√(2·16384) = 0.55% (for n = 100: ±0.55
// visitors; the sparse encoding Redis uses there changes the memory layout,
// not the registers, so the error is the same). The 3·0.81% margin is then
// more than 4σ wide, and the probability that an estimate at the threshold
// hides a crowd below k is below 1e-5. The margin costs little: a persona
// needs 103 instead of 100 visitors to be shown at the default k. The same
// threshold is used for every visitor count (visitors, entered, left, flows),
// whether it comes from a sketch or not, so there is one rule to audit.
//
// # Buckets: counts of events, not of visitors
//
// Per-type and per-category figures count events, and the aggregate keeps no
// distinct-visitor sketch per bucket. They are published only inside a
// persona that is itself publishable, and a bucket whose event count is below
// k is dropped. Because every visitor who contributes to a bucket contributes
// at least one event, events < k proves that fewer than k visitors are
// behind the bucket: "3 toys events among 500 tech enthusiasts" singles out a
// handful of people, and joined with another window or a visitor's own
// knowledge of what they did, one of them. The converse does not hold: one
// busy visitor can make 150 events, so a kept bucket is known to come from a
// persona crowd of at least k but not to be spread over k people. The rule
// removes every bucket that certainly describes fewer than k visitors; the
// remaining risk (a bucket dominated by a few heavy visitors) is bounded by
// the aggregate stage capping per-visitor contributions, not here.
//
// Buckets can add up to a published total (by_type partitions events), so
// dropping one small bucket alone would let a reader recover it by
// subtraction. When the dropped buckets of a map add up to between 1 and k-1
// events, the smallest kept buckets are dropped too until the dropped sum
// reaches k (complementary suppression). In the same way a persona's entered
// (left) count is dropped from a window when the withheld flows into (out of)
// it add up to a non-zero number below the visitor threshold, so the
// published flows cannot be subtracted from it.
//
// # Noise
//
// A Noiser adds calibrated noise to each published count: None, Laplace(ε)
// or Geometric(ε) (two-sided geometric, integer-valued; preferred, because
// it has no floating-point artefacts). The scale is 1/ε for sensitivity 1:
// adding or removing one visitor changes a visitor count by at most 1, so each
// published visitor count is ε-differentially private with respect to one
// visitor. Event counts have sensitivity 1 per event; a visitor who
// contributes c events to a count is protected with c·ε only, unless the
// aggregate caps per-visitor contributions.
//
// ε is per published count and per publication. Counts in the same document
// describe overlapping crowds, and the same window is published again on
// every tick (rolling windows overlap almost completely from one tick to the
// next), so privacy loss composes: publishing n noisy counts about the same
// visitors costs up to n·ε. Repeated publication lets a reader average the
// noise away. Noise is therefore a blur on individual numbers, not a budget;
// k is the guarantee.
//
// Noise is applied after the k decision: publish or suppress is decided on
// the true estimate, so the bare fact that a persona, bucket or flow is shown
// reveals that its true value reached the threshold. That one bit is not
// covered by ε (a reader who knows every other visitor can learn whether one
// more crossed the threshold), and neither are segment decisions, which are
// taken on the un-noised, k-gated figures. The upside is the hard promise:
// no count is ever published whose true estimate is below the threshold.
// Noisy values are rounded to integers and clamped at k from below (so at 0
// too): a published number is never below k, which keeps P4 checkable by a
// reader. Clamping and rounding are post-processing and cost no privacy.
//
// What neither k nor noise protects against: differencing of rolling
// windows. Two publishable figures of the same persona a tick apart, or of
// the 5m and 1h windows, differ by the few visitors that came or went in
// between; a difference of two counts ≥ k can describe one person. Noise
// blurs such differences by its scale (≈1.4/ε per count); k does not.
package privacy
