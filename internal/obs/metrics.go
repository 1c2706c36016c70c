package obs

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/ingest/scrub"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/schemas"
)

// Metrics holds every Prometheus metric of the process. Label values are
// stage names, partitions, reason codes and kinds: bounded sets, never
// input values.
type Metrics struct {
	Registry *prometheus.Registry

	EventsIn        *prometheus.CounterVec
	EventsOut       *prometheus.CounterVec
	DLQ             *prometheus.CounterVec
	DuplicatesTotal *prometheus.CounterVec
	BotEvents       prometheus.Counter
	Scrubbed        *prometheus.CounterVec
	BatchSize       *prometheus.HistogramVec
	BatchDuration   *prometheus.HistogramVec
	ConsumerLag     *prometheus.GaugeVec
	Retries         *prometheus.CounterVec
	Recoveries      *prometheus.CounterVec
	RecoverySeconds *prometheus.HistogramVec
	Assigned        *prometheus.GaugeVec
	DependencyUp    *prometheus.GaugeVec
	RedisRoundTrips *prometheus.CounterVec
	StoreErrors     *prometheus.CounterVec
	CacheHits       prometheus.CounterFunc
	CacheMisses     prometheus.CounterFunc
	CacheSize       prometheus.GaugeFunc
	Leader          prometheus.Gauge
	SegmentChanges  *prometheus.CounterVec
	Suppressed      *prometheus.CounterVec
	Snapshots       prometheus.Counter
	RareSuppressed  *prometheus.CounterVec
	RareReleased    *prometheus.CounterVec
}

// NewMetrics registers all metrics in a fresh registry (plus Go and
// process collectors).
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{Registry: r}
	m.EventsIn = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_events_in_total", Help: "Messages read by a stage."}, []string{"stage"})
	m.EventsOut = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_events_out_total", Help: "Events a stage produced (ingest) or applied (aggregate)."}, []string{"stage"})
	m.DLQ = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_dlq_total", Help: "Messages sent to the DLQ, by stage and reason code."}, []string{"stage", "reason"})
	m.DuplicatesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_duplicates_dropped_total", Help: "Ingest retry duplicates the aggregate stage dropped."}, []string{"stage"})
	m.BotEvents = prometheus.NewCounter(prometheus.CounterOpts{Name: "personas_bot_events_total", Help: "Events flagged as bots (counted, excluded from personas)."})
	m.Scrubbed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_scrubbed_total", Help: "Events in which the scrubber replaced an identifier, by kind."}, []string{"kind"})
	m.BatchSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "personas_batch_size", Help: "Messages per processed batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}, []string{"stage"})
	m.BatchDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "personas_batch_duration_seconds", Help: "Time to process one batch, including writes.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}, []string{"stage"})
	m.ConsumerLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "personas_consumer_lag", Help: "Messages behind the partition's high watermark, at the last fetch."}, []string{"stage", "partition"})
	m.Retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_retries_total", Help: "Retries after a dependency failed (the batch is kept)."}, []string{"stage"})
	m.Recoveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_recoveries_total", Help: "Times processing resumed after failures."}, []string{"stage"})
	m.RecoverySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "personas_recovery_seconds", Help: "How long processing was paused before it resumed.", Buckets: prometheus.ExponentialBuckets(0.1, 2, 12)}, []string{"stage"})
	m.Assigned = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "personas_partitions_assigned", Help: "Partitions this instance owns."}, []string{"stage"})
	m.DependencyUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "personas_dependency_up", Help: "1 when the last readiness check of a dependency passed."}, []string{"dependency"})
	m.RedisRoundTrips = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_redis_round_trips_total", Help: "Calls to Redis (a pipeline or script is one)."}, []string{"stage"})
	m.StoreErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_state_store_errors_total", Help: "Failed state-store calls."}, []string{"stage"})
	m.Leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "personas_emit_leader", Help: "1 while this instance holds the emit lease."})
	m.SegmentChanges = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_segment_changes_total", Help: "Segment changes published, by type."}, []string{"type"})
	m.Suppressed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_suppressed_figures_total", Help: "Persona figures withheld because they describe fewer than k visitors."}, []string{"window"})
	m.Snapshots = prometheus.NewCounter(prometheus.CounterOpts{Name: "personas_snapshots_total", Help: "Persona snapshots published."})
	m.RareReleased = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_rare_values_released_total", Help: "Open-ended values released once enough distinct visitors sent them."}, []string{"field"})
	m.RareSuppressed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "personas_rare_values_suppressed_total", Help: "Open-ended values replaced by a placeholder because too few visitors sent them."}, []string{"field"})
	for _, c := range []prometheus.Collector{m.EventsIn, m.EventsOut, m.DLQ, m.DuplicatesTotal, m.BotEvents, m.Scrubbed,
		m.BatchSize, m.BatchDuration, m.ConsumerLag, m.Retries, m.Recoveries, m.RecoverySeconds, m.Assigned,
		m.DependencyUp, m.RedisRoundTrips, m.StoreErrors, m.Leader, m.SegmentChanges, m.Suppressed, m.Snapshots,
		m.RareSuppressed, m.RareReleased} {
		f(c)
	}
	m.initSeries()
	return m
}

// initSeries creates the series whose label values are known in advance,
// at zero: a counter that has never moved is still scraped, so rate() and
// absent() alerts work from the first scrape.
func (m *Metrics) initSeries() {
	for _, st := range []string{"ingest", "aggregate", "emit"} {
		for _, v := range []*prometheus.CounterVec{m.EventsIn, m.EventsOut, m.DuplicatesTotal, m.Retries, m.Recoveries, m.RedisRoundTrips, m.StoreErrors} {
			v.WithLabelValues(st)
		}
		m.Assigned.WithLabelValues(st)
		m.BatchSize.WithLabelValues(st)
		m.BatchDuration.WithLabelValues(st)
		m.RecoverySeconds.WithLabelValues(st)
	}
	for _, r := range ingest.Reasons {
		m.DLQ.WithLabelValues("ingest", string(r))
	}
	for _, t := range []string{schemas.SegmentEntered, schemas.SegmentExited} {
		m.SegmentChanges.WithLabelValues(t)
	}
	for _, k := range strings.Split(scrub.All.String(), "|") {
		m.Scrubbed.WithLabelValues(k)
	}
	for _, f := range []string{"event", "path", "query", "search", "referrer", "campaign", "properties"} {
		m.RareReleased.WithLabelValues(f)
		m.RareSuppressed.WithLabelValues(f)
	}
}

// InitWindows creates the per-window series of the configured windows.
func (m *Metrics) InitWindows(windows []string) {
	for _, w := range windows {
		m.Suppressed.WithLabelValues(w)
	}
}

// CacheStats wires the visitor cache counters (hits, misses, size).
func (m *Metrics) CacheStats(hits, misses func() float64, size func() float64) {
	m.CacheHits = prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "personas_visitor_cache_hits_total", Help: "Visitor-state lookups served from memory."}, hits)
	m.CacheMisses = prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "personas_visitor_cache_misses_total", Help: "Visitor-state lookups that needed Redis."}, misses)
	m.CacheSize = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "personas_visitor_cache_entries", Help: "Visitor states held in memory."}, size)
	m.Registry.MustRegister(m.CacheHits, m.CacheMisses, m.CacheSize)
}

// Stage returns the stage.Metrics of one stage.
func (m *Metrics) Stage(stage string) *StageMetrics { return &StageMetrics{m: m, stage: stage} }

// StageMetrics implements stage.Metrics.
type StageMetrics struct {
	m     *Metrics
	stage string
}

// EventsIn implements stage.Metrics.
func (s *StageMetrics) EventsIn(stage string, n int) {
	s.m.EventsIn.WithLabelValues(stage).Add(float64(n))
}

// EventsOut implements stage.Metrics.
func (s *StageMetrics) EventsOut(stage string, n int) {
	s.m.EventsOut.WithLabelValues(stage).Add(float64(n))
}

// Rejected implements stage.Metrics.
func (s *StageMetrics) Rejected(stage, reason string) { s.m.DLQ.WithLabelValues(stage, reason).Inc() }

// Duplicates implements stage.Metrics.
func (s *StageMetrics) Duplicates(stage string, n int) {
	s.m.DuplicatesTotal.WithLabelValues(stage).Add(float64(n))
}

// Bots implements stage.Metrics.
func (s *StageMetrics) Bots(n int) { s.m.BotEvents.Add(float64(n)) }

// Scrubbed implements stage.Metrics: kinds is "email|phone".
func (s *StageMetrics) Scrubbed(kinds string) {
	for _, k := range strings.Split(kinds, "|") {
		if k != "" {
			s.m.Scrubbed.WithLabelValues(k).Inc()
		}
	}
}

// Applied implements stage.Metrics.
func (s *StageMetrics) Applied(int, int, time.Duration) {}

// RedisRoundTrips implements stage.Metrics.
func (s *StageMetrics) RedisRoundTrips(n int) {
	s.m.RedisRoundTrips.WithLabelValues(s.stage).Add(float64(n))
}

// RareSuppressed implements stage.Metrics.
func (s *StageMetrics) RareSuppressed(field string, n int) {
	s.m.RareSuppressed.WithLabelValues(field).Add(float64(n))
}

// RareReleased implements stage.Metrics.
func (s *StageMetrics) RareReleased(field string, n int) {
	s.m.RareReleased.WithLabelValues(field).Add(float64(n))
}

// Observer returns the kafkax.Observer of a stage.
func (m *Metrics) Observer(stage string, onRetry func(error), onRecovered func()) kafkax.Observer {
	return &observer{m: m, stage: stage, onRetry: onRetry, onRecovered: onRecovered}
}

type observer struct {
	m           *Metrics
	stage       string
	onRetry     func(error)
	onRecovered func()
}

func (o *observer) Assigned(string, int) { o.m.Assigned.WithLabelValues(o.stage).Inc() }
func (o *observer) Revoked(_ string, p int) {
	o.m.Assigned.WithLabelValues(o.stage).Dec()
	o.m.ConsumerLag.DeleteLabelValues(o.stage, strconv.Itoa(p))
}
func (o *observer) Batch(_ string, _ int, n int, took time.Duration) {
	o.m.BatchSize.WithLabelValues(o.stage).Observe(float64(n))
	o.m.BatchDuration.WithLabelValues(o.stage).Observe(took.Seconds())
}
func (o *observer) Retry(_ string, _ int, err error) {
	o.m.Retries.WithLabelValues(o.stage).Inc()
	if o.onRetry != nil {
		o.onRetry(err)
	}
}
func (o *observer) Recovered(_ string, _ int, after time.Duration) {
	o.m.Recoveries.WithLabelValues(o.stage).Inc()
	o.m.RecoverySeconds.WithLabelValues(o.stage).Observe(after.Seconds())
	if o.onRecovered != nil {
		o.onRecovered()
	}
}
func (o *observer) Lag(_ string, p int, lag int64) {
	o.m.ConsumerLag.WithLabelValues(o.stage, strconv.Itoa(p)).Set(float64(lag))
}
func (o *observer) GroupError(err error) {
	o.m.Retries.WithLabelValues(o.stage).Inc()
	if o.onRetry != nil {
		o.onRetry(err)
	}
}
func (o *observer) GroupJoined() {
	if o.onRecovered != nil {
		o.onRecovered()
	}
}
