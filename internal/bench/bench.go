// Package bench is the end-to-end benchmark of Personas (`make bench`,
// `personas bench`): it produces a realistic synthetic clickstream into real
// Kafka and measures, in one run and on the same broker, a kafka-go
// pass-through (the I/O limit), the ingest stage alone, the aggregate stage
// alone, `personas run` end to end (throughput and produce-to-figure
// latency), scale-out over several instances and Redis Cluster, and a
// stream with a million distinct visitors (memory).
//
// Every measured component is a subprocess of the personas binary, so its
// CPU time (/proc/<pid>/stat) and peak RSS (VmHWM) are its own; progress
// and Redis round trips come from its /metrics. Redis CPU comes from INFO
// cpu deltas and Kafka broker CPU from the broker JVM's /proc stat, over
// the same window. Every run uses fresh topics, consumer groups and a
// fresh Redis key prefix, all deleted at the end.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
)

// Options configures a benchmark run.
type Options struct {
	// Events is how many synthetic events each throughput run processes.
	Events int
	// Partitions of every topic the bench creates. Default 6.
	Partitions int
	// EventsPerSecond is the synthetic stream's rate in event time (it
	// sets the visitor population and how many minute buckets a batch
	// touches). Default 10000.
	EventsPerSecond float64
	// Instances are the consumer-group sizes of the scaling runs of
	// `personas run` (1 is the main run and always measured).
	Instances []int
	// ClusterURL, when set, adds a run of `personas run` on Redis Cluster.
	ClusterURL string
	// Latency is how long the latency run produces at half the end-to-end
	// maximum rate (0: skip it).
	Latency time.Duration
	// LatencyRate, when set, is the latency run's rate instead of half the
	// end-to-end maximum (to look at latency at other loads).
	LatencyRate float64
	// Visitors is the size of the distinct-visitors run: that many human
	// visitors, each with one event (0: skip it).
	Visitors int
	// MemoryLimit, when set, is the GOMEMLIMIT of every component.
	MemoryLimit string
	// Compression, when set, overrides kafka.producer.compression of every
	// component (the raw stream is always produced with lz4, as trackers do).
	Compression string
	// Binary is the personas executable the components run as.
	Binary string
	// Brokers and RedisURL name the servers.
	Brokers  []string
	RedisURL string
	// Doc is the Markdown file the results are written into ("" = none).
	Doc string
	// Command is the command line shown in the results.
	Command string
	// Keep keeps the topics and Redis keys (for inspection).
	Keep bool
	// ProfileDir, when set, receives CPU and heap profiles of every
	// component, taken while it runs under load.
	ProfileDir string
	// Steps limits the run to some of Steps (nil: all). aggregate runs
	// ingest first; latency runs run first.
	Steps []string
	// ProfileFor is the length of those CPU profiles. Default 5s.
	ProfileFor time.Duration
	// Progress draws progress bars (nil: none).
	Progress Progress
	// Out receives the step results and the report.
	Out io.Writer
}

// Progress draws progress bars.
type Progress interface {
	Start(label string, total int64) Bar
}

// Bar is one progress bar.
type Bar interface {
	Set(n int64)
	Done()
}

type nopProgress struct{}

func (nopProgress) Start(string, int64) Bar { return nopBar{} }

type nopBar struct{}

func (nopBar) Set(int64) {}
func (nopBar) Done()     {}

// Result is one measured component.
type Result struct {
	Name      string
	Command   string
	Instances int
	// Events processed in the measured window, and its length.
	Events  int64
	Seconds float64
	Rate    float64
	// Ratio is Rate over the pass-through's rate of the same run.
	Ratio float64
	// CPUPerM is the components' CPU seconds per million events.
	CPUPerM float64
	// RSS is the largest peak RSS (VmHWM) of one instance, in bytes.
	RSS int64
	// RoundTrips is Redis calls per input event over the whole run.
	RoundTrips float64
	// RedisCPUPerM and KafkaCPUPerM are the servers' CPU seconds per
	// million events over the window (-1: not measurable).
	RedisCPUPerM float64
	KafkaCPUPerM float64
	Note         string
}

// Latency is the produce-to-figure latency of the end-to-end run at a
// fixed rate.
type Latency struct {
	Rate          float64 // target produce rate, events/s
	Achieved      float64 // achieved produce rate
	Events        int     // events measured
	P50, P99, Max time.Duration
	// The median latency of the first and the last quarter of the events:
	// equal when the pipeline keeps up with the rate.
	FirstQuarterP50, LastQuarterP50 time.Duration
}

// Report is everything a run measured.
type Report struct {
	Started     time.Time
	Machine     Machine
	Versions    map[string]string
	Options     Options
	Stream      produceStats
	Results     []*Result
	Latency     *Latency
	Scaling     []*Result
	Visitors    *Result
	Distinct    int64 // distinct visitors in the visitors run (HyperLogLog)
	LoadBefore  string
	LoadAfter   string
	Environment string
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs     int
	CPUModel string
	Memory   int64
}

type runner struct {
	opt    Options
	conn   *kafkax.Conn
	redis  redis.UniversalClient
	id     string
	dir    string
	kpid   int
	topics []string
	groups []string
	rep    *Report
	out    io.Writer
	pass   *Result
}

// Run runs the benchmark and returns its report; it writes the results
// into opt.Doc when set.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Partitions <= 0 {
		opt.Partitions = 6
	}
	if opt.EventsPerSecond <= 0 {
		opt.EventsPerSecond = 10000
	}
	if opt.ProfileFor <= 0 {
		opt.ProfileFor = 5 * time.Second
	}
	if opt.Progress == nil {
		opt.Progress = nopProgress{}
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	if opt.Events <= 0 {
		return nil, errors.New("bench: events must be > 0")
	}
	conn, err := kafkax.NewConn(config.Kafka{Brokers: opt.Brokers, ClientID: "personas-bench"})
	if err != nil {
		return nil, err
	}
	rc, err := openRedis(ctx, opt.RedisURL)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("bench: redis %s: %w", config.RedactURL(opt.RedisURL), err)
	}
	if err := conn.Ping(ctx); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	dir, err := os.MkdirTemp("", "personas-bench-")
	if err != nil {
		return nil, err
	}
	// The components run from a copy of the binary: the checkout's
	// bin/personas may be rebuilt while the bench runs.
	bin := filepath.Join(dir, "personas")
	if err := copyFile(opt.Binary, bin); err != nil {
		return nil, fmt.Errorf("bench: copy %s: %w", opt.Binary, err)
	}
	opt.Binary = bin
	defer os.Remove(bin)
	r := &runner{
		opt:   opt,
		conn:  conn,
		redis: rc,
		id:    time.Now().UTC().Format("20060102t150405"),
		dir:   dir,
		out:   opt.Out,
	}
	if _, port, err := net.SplitHostPort(opt.Brokers[0]); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			r.kpid = pidListening(p)
		}
	}
	r.rep = &Report{
		Started:    time.Now(),
		Machine:    Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Memory: memTotal()},
		Versions:   versions(ctx, rc, r.kpid),
		Options:    opt,
		LoadBefore: loadAvg(),
	}
	r.say("bench %s: %d events, %d partitions, logs in %s", r.id, opt.Events, opt.Partitions, dir)
	if r.kpid == 0 {
		r.say("note: the Kafka broker's process was not found on this machine; its CPU is not measured")
	}
	defer func() {
		if opt.Keep {
			r.say("kept topics %s and Redis keys bench:%s:*", strings.Join(r.topics, ","), r.id)
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := deleteTopics(cctx, conn, r.topics, r.groups); err != nil {
			r.say("cleanup: %v", err)
		}
		if err := deletePrefix(cctx, rc, "bench:"+r.id+":"); err != nil {
			r.say("cleanup: %v", err)
		}
		if opt.ClusterURL != "" {
			if cc, err := openRedis(cctx, opt.ClusterURL); err == nil {
				_ = deletePrefix(cctx, cc, "bench:"+r.id+":")
				cc.Close()
			}
		}
	}()
	if err := r.run(ctx); err != nil {
		return r.rep, err
	}
	r.rep.LoadAfter = loadAvg()
	if opt.Doc != "" {
		if err := WriteDoc(opt.Doc, r.rep); err != nil {
			return r.rep, err
		}
		r.say("results written to %s", opt.Doc)
	}
	return r.rep, nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.out, format+"\n", args...)
}

func versions(ctx context.Context, rc redis.UniversalClient, kpid int) map[string]string {
	v := map[string]string{"Go": runtime.Version(), "Kafka": kafkaVersion(kpid), "Redis": redisVersion(ctx, rc)}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/segmentio/kafka-go":
				v["kafka-go"] = d.Version
			case "github.com/redis/go-redis/v9":
				v["go-redis"] = d.Version
			}
		}
	}
	return v
}

// names are the topics, groups and key prefix of one measured run.
type names struct {
	raw, events, dlq, changes, snapshots string
	ingestGroup, aggGroup                string
	prefix                               string
}

func (r *runner) names(run, raw string) names {
	t := "bench." + r.id + "." + run + "."
	n := names{
		raw: raw, events: t + "events", dlq: t + "dlq", changes: t + "changes", snapshots: t + "snapshots",
		ingestGroup: t + "ingest", aggGroup: t + "aggregate",
		prefix: "bench:" + r.id + ":" + run + ":",
	}
	r.groups = append(r.groups, n.ingestGroup, n.aggGroup)
	return n
}

func (r *runner) createTopics(ctx context.Context, topics ...string) error {
	r.topics = append(r.topics, topics...)
	return r.conn.EnsureTopics(ctx, r.opt.Partitions, 1, topics...)
}

// env is a stage process's settings.
func (r *runner) env(n names, redisURL string) map[string]string {
	return map[string]string{
		"PERSONAS_KAFKA_BROKERS":                strings.Join(r.opt.Brokers, ","),
		"PERSONAS_KAFKA_PARTITIONS":             strconv.Itoa(r.opt.Partitions),
		"PERSONAS_KAFKA_TOPICS_RAW":             n.raw,
		"PERSONAS_KAFKA_TOPICS_EVENTS":          n.events,
		"PERSONAS_KAFKA_TOPICS_DLQ":             n.dlq,
		"PERSONAS_KAFKA_TOPICS_SEGMENT_CHANGES": n.changes,
		"PERSONAS_KAFKA_TOPICS_SNAPSHOTS":       n.snapshots,
		"PERSONAS_KAFKA_GROUPS_INGEST":          n.ingestGroup,
		"PERSONAS_KAFKA_GROUPS_AGGREGATE":       n.aggGroup,
		"PERSONAS_REDIS_URL":                    redisURL,
		"PERSONAS_REDIS_KEY_PREFIX":             n.prefix,
	}
}

// Steps of a bench run, in order.
var Steps = []string{"pass", "ingest", "aggregate", "run", "latency", "scaling", "visitors"}

func (r *runner) step(name string) bool {
	return len(r.opt.Steps) == 0 || slices.Contains(r.opt.Steps, name)
}

func (r *runner) run(ctx context.Context) error {
	o := r.opt
	raw := "bench." + r.id + ".raw"
	if err := r.createTopics(ctx, raw); err != nil {
		return err
	}
	r.say("\nproducing %d synthetic events into %s", o.Events, raw)
	st, err := produce(ctx, r.conn, raw, o.Events, streamConfig(o.Events, o.EventsPerSecond, 1), nil, o.Progress)
	if err != nil {
		return err
	}
	r.rep.Stream = st
	r.say("      %d events (%.1f%% bot, %.1f%% malformed), %.0f MB, %.1f s (%.0f events/s)",
		st.Events, pct(st.Bots, st.Events), pct(st.Bad, st.Events), float64(st.Bytes)/1e6, st.Seconds, float64(st.Events)/st.Seconds)
	rawTotal, err := topicSize(ctx, r.conn, raw, o.Partitions)
	if err != nil {
		return err
	}

	// (1) The I/O limit: consume and produce the same bytes.
	if r.step("pass") {
		r.say("\npass-through (kafka-go consume + produce, no processing)")
		pass := "bench." + r.id + ".pass"
		passGroup := pass + ".group"
		r.groups = append(r.groups, passGroup)
		if err := r.createTopics(ctx, pass); err != nil {
			return err
		}
		n := r.names("pass", raw)
		pt, err := r.measure(ctx, spec{label: "pass-through", args: []string{"bench", "passthrough", "--from", raw, "--to", pass, "--group", passGroup},
			env: r.env(n, o.RedisURL), stages: []string{StagePassthrough},
			progress: counter(`personas_events_in_total{stage="passthrough"}`), total: rawTotal})
		if err != nil {
			return err
		}
		pt.Name, pt.Command = "pass-through", "personas bench passthrough"
		r.pass = pt
		r.add(pt)
	}

	// (2) ingest alone, then (3) aggregate alone on what ingest produced.
	if r.step("ingest") || r.step("aggregate") {
		r.say("\ningest stage alone")
		ni := r.names("ingest", raw)
		if err := r.createTopics(ctx, ni.events, ni.dlq); err != nil {
			return err
		}
		ig, err := r.measure(ctx, spec{label: "ingest", args: []string{"ingest"}, env: r.env(ni, o.RedisURL), stages: []string{"ingest"},
			progress: counter(`personas_events_in_total{stage="ingest"}`), total: rawTotal})
		if err != nil {
			return err
		}
		ig.Name, ig.Command = "ingest", "personas ingest"
		r.add(ig)
		eventsTotal, err := topicSize(ctx, r.conn, ni.events, o.Partitions)
		if err != nil {
			return err
		}
		if r.step("aggregate") {
			r.say("\naggregate stage alone (on the %d events ingest produced)", eventsTotal)
			na := r.names("aggregate", raw)
			na.events = ni.events
			if err := r.createTopics(ctx, na.dlq); err != nil {
				return err
			}
			ag, err := r.measure(ctx, spec{label: "aggregate", args: []string{"aggregate"}, env: r.env(na, o.RedisURL), stages: []string{"aggregate"},
				progress: counter(`personas_events_in_total{stage="aggregate"}`), total: eventsTotal})
			if err != nil {
				return err
			}
			ag.Name, ag.Command = "aggregate", "personas aggregate"
			r.add(ag)
		}
	}

	// (4) personas run, end to end.
	var e2e *Result
	if r.step("run") || (r.step("latency") && o.LatencyRate <= 0) {
		r.say("\npersonas run, end to end")
		if e2e, err = r.runE2E(ctx, "run", raw, rawTotal, 1, o.RedisURL, nil); err != nil {
			return err
		}
		e2e.Name, e2e.Command = "run (end to end)", "personas run"
		r.add(e2e)
	}
	if r.step("latency") && o.Latency > 0 {
		var rate float64
		if o.LatencyRate > 0 {
			rate = o.LatencyRate
			r.say("\nlatency: personas run fed at %.0f events/s for %s", rate, o.Latency)
		} else {
			rate = e2e.Rate / 2
			r.say("\nlatency: personas run fed at %.0f events/s (50 %% of %.0f) for %s", rate, e2e.Rate, o.Latency)
		}
		lat, err := r.latency(ctx, rate, o.Latency)
		if err != nil {
			return err
		}
		r.rep.Latency = lat
		r.say("      produce to visible figure: p50 %s, p99 %s, max %s over %d events (%.0f events/s achieved); median %s in the first quarter, %s in the last",
			ms(lat.P50), ms(lat.P99), ms(lat.Max), lat.Events, lat.Achieved, ms(lat.FirstQuarterP50), ms(lat.LastQuarterP50))
	}

	if r.step("scaling") {
		for _, k := range o.Instances {
			if k <= 1 {
				continue
			}
			r.say("\npersonas run x %d instances in one consumer group", k)
			res, err := r.runE2E(ctx, "run"+strconv.Itoa(k), raw, rawTotal, k, o.RedisURL, nil)
			if errors.Is(err, errTooShort) {
				// A quick run (few events) can finish before the group is stable:
				// say so and go on rather than lose the other figures.
				r.say("      not measured: %v", err)
				continue
			}
			if err != nil {
				return err
			}
			res.Name, res.Command = fmt.Sprintf("run x %d instances", k), "personas run"
			r.ratio(res)
			r.rep.Scaling = append(r.rep.Scaling, res)
			r.say("      %s", r.line(res))
		}
		if o.ClusterURL != "" {
			r.say("\npersonas run on the 3-master Redis Cluster")
			res, err := r.runE2E(ctx, "cluster", raw, rawTotal, 1, o.ClusterURL, nil)
			if err != nil {
				return err
			}
			res.Name, res.Command = "run, Redis Cluster", "personas run"
			r.ratio(res)
			r.rep.Scaling = append(r.rep.Scaling, res)
			r.say("      %s", r.line(res))
		}
	}
	if r.step("visitors") && o.Visitors > 0 {
		r.say("\ndistinct visitors (memory)")
		if err := r.visitors(ctx); err != nil {
			return err
		}
	}
	return nil
}

// errTooShort: every instance owned its partitions for too short a time to measure.
var errTooShort = errors.New("the run was too short to measure")

// ratio sets a result's rate relative to the pass-through (0: none ran).
func (r *runner) ratio(res *Result) {
	if r.pass != nil && r.pass.Rate > 0 {
		res.Ratio = res.Rate / r.pass.Rate
	}
}

func (r *runner) add(res *Result) {
	r.ratio(res)
	r.rep.Results = append(r.rep.Results, res)
	r.say("      %s", r.line(res))
}

func (r *runner) line(res *Result) string {
	ratio := ""
	if res.Ratio > 0 {
		ratio = fmt.Sprintf(" (%.0f%% of pass-through)", res.Ratio*100)
	}
	return fmt.Sprintf("%.0f events/s%s, %.2f CPU-s per 1M events, peak RSS %.0f MB, %.4f Redis round trips/event",
		res.Rate, ratio, res.CPUPerM, mb(res.RSS), res.RoundTrips)
}

// runE2E measures k instances of `personas run` in one group on fresh
// topics, groups and prefix, reading raw from the start.
func (r *runner) runE2E(ctx context.Context, run, raw string, rawTotal int64, k int, redisURL string, extra map[string]string) (*Result, error) {
	n := r.names(run, raw)
	if err := r.createTopics(ctx, n.events, n.dlq, n.changes, n.snapshots); err != nil {
		return nil, err
	}
	env := r.env(n, redisURL)
	maps.Copy(env, extra)
	// Done when ingest has read every raw record and aggregate every
	// record ingest wrote (known once ingest is done: it counts a batch
	// only after its writes are acknowledged).
	var eventsTotal int64 = -1
	done := func(ctx context.Context, m map[string]float64) (bool, error) {
		if m[`personas_events_in_total{stage="ingest"}`] < float64(rawTotal) {
			return false, nil
		}
		if eventsTotal < 0 {
			var err error
			if eventsTotal, err = topicSize(ctx, r.conn, n.events, r.opt.Partitions); err != nil {
				return false, err
			}
		}
		return m[`personas_events_in_total{stage="aggregate"}`] >= float64(eventsTotal), nil
	}
	var rc redis.UniversalClient
	if redisURL != r.opt.RedisURL {
		c, err := openRedis(ctx, redisURL)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		rc = c
	}
	return r.measure(ctx, spec{label: run, args: []string{"run"}, env: env, instances: k, redis: rc,
		stages: []string{"ingest", "aggregate"}, progress: counter(`personas_events_in_total{stage="ingest"}`),
		total: rawTotal, done: done})
}

// withLimit adds the memory limit and the compression override to a
// component's environment.
func (r *runner) withLimit(env map[string]string) map[string]string {
	env = maps.Clone(env)
	if r.opt.MemoryLimit != "" {
		env["GOMEMLIMIT"] = r.opt.MemoryLimit
	}
	if r.opt.Compression != "" {
		env["PERSONAS_KAFKA_PRODUCER_COMPRESSION"] = r.opt.Compression
	}
	return env
}

// counter returns a progress function reading one series.
func counter(series string) func(map[string]float64) float64 {
	return func(m map[string]float64) float64 { return m[series] }
}

// spec describes one measured component.
type spec struct {
	label     string
	args      []string
	env       map[string]string
	instances int
	// redis is the server whose CPU is measured (default: the standalone one).
	redis redis.UniversalClient
	// stages are the consuming stages of the component: measuring starts
	// once every instance owns partitions of each.
	stages []string
	// progress reads the count of input events; the run is done when it
	// reaches total, or when done says so.
	progress func(map[string]float64) float64
	total    int64
	done     func(context.Context, map[string]float64) (bool, error)
}

func assignedSeries(stage string) string {
	return `personas_partitions_assigned{stage="` + stage + `"}`
}

// measure starts k instances of a component, follows its progress on
// /metrics and measures the window from the first sample in which every
// instance has its partitions and events flow, to the sample in which the
// work is done (default: progress reaches total).
func (r *runner) measure(ctx context.Context, sp spec) (*Result, error) {
	label, k, rc, progress, total, done := sp.label, max(sp.instances, 1), sp.redis, sp.progress, sp.total, sp.done
	if rc == nil {
		rc = r.redis
	}
	if done == nil {
		done = func(_ context.Context, m map[string]float64) (bool, error) { return progress(m) >= float64(total), nil }
	}
	var kids []*child
	defer func() {
		for _, c := range kids {
			c.stop()
		}
	}()
	for i := 0; i < k; i++ {
		name := label
		if k > 1 {
			name += "-" + strconv.Itoa(i+1)
		}
		c, err := startChild(r.opt.Binary, r.dir, r.id+"-"+name, sp.args, r.withLimit(sp.env))
		if err != nil {
			return nil, err
		}
		kids = append(kids, c)
	}
	bar := r.opt.Progress.Start(label, total)
	defer bar.Done()

	type sample struct {
		t        time.Time
		n        float64
		cpu      time.Duration
		redisCPU time.Duration
		kafkaCPU time.Duration
	}
	snap := func(n float64) (s sample, err error) {
		s.t, s.n = time.Now(), n
		for _, c := range kids {
			cpu, err := procCPU(c.pid())
			if err != nil {
				return s, err
			}
			s.cpu += cpu
		}
		s.redisCPU, err = redisCPU(ctx, rc)
		if err != nil {
			s.redisCPU = -1
		}
		s.kafkaCPU = -1
		if r.kpid != 0 {
			if v, err := procCPU(r.kpid); err == nil {
				s.kafkaCPU = v
			}
		}
		return s, nil
	}
	var first, last sample
	started := false
	lastN, lastMove := -1.0, time.Now()
	profiled := make(chan struct{})
	profiling := false
	var final map[string]float64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		for _, c := range kids {
			if c.exited() {
				return nil, fmt.Errorf("%s exited early (%v); its log %s ends with:\n%s", c.name, c.err, c.log, c.tail(20))
			}
		}
		// Stable: every instance owns partitions of every stage, and
		// together they own all of them (no rebalance in progress).
		sum := map[string]float64{}
		stable := true
		ok := true
		for _, c := range kids {
			m, err := c.scrape(ctx)
			if err != nil {
				ok = false // not listening yet
				break
			}
			for key, v := range m {
				sum[key] += v
			}
			for _, st := range sp.stages {
				if m[assignedSeries(st)] <= 0 {
					stable = false
				}
			}
		}
		for _, st := range sp.stages {
			if sum[assignedSeries(st)] != float64(r.opt.Partitions) {
				stable = false
			}
		}
		if !ok {
			if time.Since(lastMove) > 2*time.Minute {
				return nil, fmt.Errorf("%s does not serve /metrics; its log %s ends with:\n%s", label, kids[0].log, kids[0].tail(20))
			}
			continue
		}
		n := progress(sum)
		bar.Set(int64(n))
		if n != lastN {
			lastN, lastMove = n, time.Now()
		} else if time.Since(lastMove) > 2*time.Minute {
			return nil, fmt.Errorf("%s made no progress for 2 minutes at %.0f of %d; log %s ends with:\n%s", label, n, total, kids[0].log, kids[0].tail(20))
		}
		if !started && n > 0 && stable {
			s, err := snap(n)
			if err != nil {
				return nil, err
			}
			first, started = s, true
			if r.opt.ProfileDir != "" {
				profiling = true
				go func() {
					defer close(profiled)
					for _, c := range kids {
						p := filepath.Join(r.opt.ProfileDir, c.name[len(r.id)+1:]+".cpu.pprof")
						if err := c.profile(ctx, p, r.opt.ProfileFor); err != nil {
							r.say("      profile of %s: %v", c.name, err)
						}
					}
				}()
			}
		}
		if !started {
			continue
		}
		fin, err := done(ctx, sum)
		if err != nil {
			return nil, err
		}
		if fin {
			if last, err = snap(n); err != nil {
				return nil, err
			}
			final = sum
			break
		}
	}
	if profiling {
		<-profiled
	}
	res := &Result{Instances: k}
	for _, c := range kids {
		if hwm, err := procStatus(c.pid(), "VmHWM"); err == nil && hwm > res.RSS {
			res.RSS = hwm
		}
	}
	res.Events = int64(last.n - first.n)
	res.Seconds = last.t.Sub(first.t).Seconds()
	if res.Events <= 0 || res.Seconds <= 0 {
		return nil, fmt.Errorf("%s: %w (%d events in %.3f s): give more events", label, errTooShort, res.Events, res.Seconds)
	}
	res.Rate = float64(res.Events) / res.Seconds
	perM := func(d time.Duration) float64 { return d.Seconds() / float64(res.Events) * 1e6 }
	res.CPUPerM = perM(last.cpu - first.cpu)
	res.RedisCPUPerM, res.KafkaCPUPerM = -1, -1
	if first.redisCPU >= 0 && last.redisCPU >= 0 {
		res.RedisCPUPerM = perM(last.redisCPU - first.redisCPU)
	}
	if first.kafkaCPU >= 0 && last.kafkaCPU >= 0 {
		res.KafkaCPUPerM = perM(last.kafkaCPU - first.kafkaCPU)
	}
	var rt float64
	for key, v := range final {
		if strings.HasPrefix(key, "personas_redis_round_trips_total") {
			rt += v
		}
	}
	res.RoundTrips = rt / last.n
	return res, nil
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b) * 100
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 0, 64) + " ms" }
