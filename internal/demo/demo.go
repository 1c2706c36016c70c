// Package demo runs the whole Personas pipeline in one process, with
// nothing to install: franz-go's kfake as the Kafka-protocol broker,
// miniredis as Redis, and the synthetic generator (package synth) playing
// web-shop traffic into the raw topic in real time, a whole day compressed
// into a few minutes.
//
// The pipeline is the real one: app.New and app.Run with the ingest,
// aggregate and emit stages, talking to the in-process servers through the
// same kafka-go and go-redis clients and Lua scripts as in production. Only
// a few settings differ, so that a small demo publishes something within
// seconds; they are listed on screen and on the dashboard (see Settings).
//
// While it runs the terminal shows a live summary and the dashboard
// (package dashboard) is served on the HTTP address printed at start.
package demo

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/internal/app"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/dashboard"
	"github.com/personas-dev/personas/internal/kafkax"
)

// DefaultHTTP is the dashboard address the demo tries first; when it is
// taken, a free port is used.
const DefaultHTTP = "127.0.0.1:8080"

// segmentsYAML are the demo's segment definitions: the production ones
// read 1 h and 24 h windows with thresholds in the hundreds, which a demo
// of a few minutes never reaches.
//
//go:embed segments.yaml
var segmentsYAML []byte

// Options configure a demo run. Zero values take the defaults.
type Options struct {
	// Duration stops the demo after this long; 0 runs until ctx ends.
	Duration time.Duration
	// HTTP is the dashboard address. Default: DefaultHTTP, or a free
	// loopback port when that is taken.
	HTTP string
	// Rate is the mean number of synthetic events per second over a
	// simulated day. Default: 1000.
	Rate float64
	// DayLength is how long one simulated day lasts. Default: 10m.
	DayLength time.Duration
	// K is the k of the demo. Default: 20.
	K int
	// Visitors is the size of the synthetic population. Default: 20000.
	Visitors int
	// Seed makes the traffic reproducible. Default: 1.
	Seed uint64
	// Out receives the terminal view. Default: os.Stdout.
	Out io.Writer
	// Plain prints plain summary blocks even on a terminal.
	Plain bool
	// Every is how often the plain view prints a summary. Default: 5s.
	Every time.Duration
	// LogLevel is the level of the log file. Default: info.
	LogLevel string
	// Ready, when set, is called with the dashboard URL once the first
	// events went through the pipeline.
	Ready func(dashboardURL string)
}

func (o *Options) defaults() {
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.DayLength <= 0 {
		o.DayLength = 10 * time.Minute
	}
	if o.K == 0 {
		o.K = 20
	}
	if o.Visitors <= 0 {
		o.Visitors = 20000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
}

// Settings returns the pipeline configuration of the demo: the defaults,
// pointed at the in-process servers, with the few changes that make a
// small, short run publish (each is listed in Notes).
func Settings(brokers []string, redisURL, segmentsPath, httpAddr string, k int) config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.ClientID = "personas-demo"
	cfg.Kafka.Partitions = 3
	// Larger batches: miniredis builds a Lua interpreter per script call,
	// so the aggregate stage should apply many events per call.
	cfg.Kafka.Consumer.Linger = 250 * time.Millisecond
	cfg.Redis.URL = redisURL
	cfg.Aggregate.Windows = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}
	cfg.Emit.Segments = segmentsPath
	cfg.Emit.Tick = 2 * time.Second
	cfg.Emit.SnapshotEvery = 5 * time.Second
	cfg.Emit.LeaseTTL = 10 * time.Second
	cfg.Emit.K = k
	cfg.HTTP.Listen = httpAddr
	cfg.HTTP.ShutdownTimeout = 10 * time.Second
	return cfg
}

// Notes describe how the demo's settings differ from production.
func Notes(o Options) []string {
	return []string{
		fmt.Sprintf("k = %d (production default 100): personas with fewer than %d visitors are suppressed", o.K, privacy.VisitorThreshold(o.K)),
		"emit tick 2s, snapshots every 5s (production 30s, 1m)",
		"windows 1m, 5m, 15m and demo segments with low thresholds",
		fmt.Sprintf("a simulated day lasts %s, about %s synthetic events/s", segment.FormatWindow(o.DayLength), fmtInt(int64(o.Rate))),
		"in-process Kafka (kfake) and Redis (miniredis): nothing is kept after exit",
	}
}

// Run runs the demo until ctx is cancelled or opt.Duration has passed,
// then shuts the pipeline down gracefully and prints a summary.
func Run(ctx context.Context, opt Options) (err error) {
	opt.defaults()
	r := &runner{opt: opt, v: newView(opt.Out, opt.Plain), began: time.Now()}
	defer r.cleanup(&err)
	if err := r.start(ctx); err != nil {
		return err
	}
	final, failure := r.live(ctx)
	return r.stop(final, failure)
}

// runner is one demo run.
type runner struct {
	opt   Options
	v     *view
	began time.Time

	tmp     string // segments file; removed at exit
	logFile *os.File
	log     *zap.Logger
	emb     *Embedded
	cfg     config.Config
	a       *app.App
	src     *dashboard.Source
	tr      *traffic
	url     string

	stopPipeline context.CancelFunc
	runErr       chan error // the pipeline's result
	genErr       chan error // the generator's result
}

// start brings up the servers, the pipeline and the traffic, and waits
// for the first events to come through.
func (r *runner) start(ctx context.Context) error {
	v := r.v
	v.println("")
	v.println(v.style(ansiBold, "  Personas demo") + v.style(ansiDim, "  the whole pipeline in one process, on synthetic traffic"))
	v.println("")

	// The generator calibrates itself once (about a second): start early.
	type built struct {
		t   *traffic
		err error
	}
	tc := make(chan built, 1)
	go func() {
		t, err := newTraffic(r.opt.Seed, r.opt.Rate, r.opt.Visitors, r.opt.DayLength)
		tc <- built{t, err}
	}()

	done := v.step("Starting the in-process Kafka broker and Redis")
	var err error
	if r.emb, err = StartEmbedded(3); err != nil {
		done(false, err.Error())
		return err
	}
	done(true, fmt.Sprintf("kfake %s · miniredis %s", r.emb.Brokers[0], r.emb.Redis.Addr()))

	done = v.step("Starting the pipeline: ingest, aggregate and emit")
	fail := func(err error) error {
		done(false, err.Error())
		return err
	}
	if r.tmp, err = os.MkdirTemp("", "personas-demo-"); err != nil {
		return fail(err)
	}
	segPath := filepath.Join(r.tmp, "segments.yaml")
	if err := os.WriteFile(segPath, segmentsYAML, 0o600); err != nil {
		return fail(err)
	}
	if r.logFile, err = os.CreateTemp("", "personas-demo-*.log"); err != nil {
		return fail(err)
	}
	if r.log, err = fileLogger(r.logFile, r.opt.LogLevel); err != nil {
		return fail(err)
	}
	addr := r.opt.HTTP
	if addr == "" {
		addr = pickAddr(DefaultHTTP)
	}
	r.cfg = Settings(r.emb.Brokers, r.emb.RedisURL, segPath, addr, r.opt.K)
	if err := r.cfg.Validate(); err != nil {
		return fail(err)
	}
	// The pipeline gets its own context: on Ctrl-C the live view ends
	// first, then the pipeline is stopped gracefully.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stopPipeline = stop
	if r.a, err = app.New(runCtx, r.cfg, r.log); err != nil {
		return fail(err)
	}
	b := <-tc
	if b.err != nil {
		return fail(b.err)
	}
	r.tr = b.t
	dash := dashboard.Register(r.a, dashboard.Options{
		DefaultWindow: 5 * time.Minute,
		Demo: &dashboard.Demo{
			Notes:     Notes(r.opt),
			Generated: r.tr.Produced,
			ShopClock: r.tr.ShopClock,
		},
	})
	r.src = dash.Source()
	if err := createTopics(runCtx, r.a.Kafka, r.cfg); err != nil {
		return fail(err)
	}
	r.runErr = make(chan error, 1)
	go func() { r.runErr <- r.a.Run(runCtx, app.StageIngest, app.StageAggregate, app.StageEmit) }()
	select {
	case <-r.a.Ready:
	case err := <-r.runErr:
		r.runErr = nil
		if err == nil {
			err = errors.New("the pipeline stopped at start")
		}
		return fail(err)
	case <-ctx.Done():
		return fail(errors.New("interrupted"))
	}
	r.url = "http://" + r.a.HTTPAddr + "/"
	done(true, "logs: "+r.logFile.Name())

	r.genErr = make(chan error, 1)
	go func() { r.genErr <- r.tr.run(runCtx, r.a.Kafka, r.cfg.Kafka.Topics.Raw) }()
	done = v.step("Playing synthetic web-shop traffic through the pipeline")
	if waitFirst(ctx, r.src, 20*time.Second) {
		done(true, fmt.Sprintf("first events anonymized and aggregated · ready in %.1fs", time.Since(r.began).Seconds()))
	} else {
		done(false, "no event aggregated yet; see "+r.logFile.Name())
	}
	if r.opt.Ready != nil {
		r.opt.Ready(r.url)
	}
	v.println("")
	v.println("  Dashboard  " + v.style(ansiCyan+ansiBold, r.url))
	for _, n := range Notes(r.opt) {
		v.println(v.style(ansiDim, "  · "+n))
	}
	v.println("")
	return nil
}

// live shows the summary until ctx ends, opt.Duration passes or a part of
// the demo fails; it returns the last snapshot.
func (r *runner) live(ctx context.Context) (snapshot, error) {
	if r.opt.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.opt.Duration)
		defer cancel()
	}
	titles := map[string]string{}
	for _, p := range r.src.Personas() {
		titles[p.Name] = p.Title
	}
	every := time.Second
	if !r.v.tty {
		every = r.opt.Every
	}
	type reading struct {
		at time.Time
		st *dashboard.Stats
	}
	var hist []reading
	start := time.Now()
	snap := func(final bool) snapshot {
		budget := 3 * time.Second
		if final {
			budget = 10 * time.Second
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
		defer cancel()
		s := snapshot{
			elapsed: time.Since(start), shopClock: r.tr.ShopClock(), dayLen: r.opt.DayLength, url: r.url,
			k: r.opt.K, titles: titles, final: final,
		}
		if st, err := r.src.Stats(); err == nil {
			st.Generated = r.tr.Produced()
			s.stats = st
			now := time.Now()
			hist = append(hist, reading{now, st})
			// Rates over the last 3 s or more (since the previous block).
			i := 0
			for i < len(hist)-2 && now.Sub(hist[i+1].at) >= 3*time.Second {
				i++
			}
			hist = hist[i:]
			if len(hist) > 1 {
				s.rates = ratesOf(hist[0].st, st, now.Sub(hist[0].at))
			}
		}
		s.figures, _ = r.src.Figures(rctx, 5*time.Minute)
		var err error
		if s.changes, err = r.src.Changes(rctx, 20); err == nil && s.changes.Error != "" {
			err = errors.New(s.changes.Error)
		}
		if err != nil {
			s.changesErr = err.Error()
		}
		return s
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	defer r.v.leave()
	for first := true; ; first = false {
		// The plain view's first block comes after one interval, with rates.
		if r.v.tty || !first {
			r.v.frame(r.v.render(snap(false)))
		} else {
			snap(false) // the first counter reading, for the rates
		}
		select {
		case <-ctx.Done():
			return snap(true), nil
		case err := <-r.genErr:
			r.genErr = nil
			if err != nil {
				return snap(true), err
			}
		case err := <-r.runErr:
			r.runErr = nil
			if err == nil {
				err = errors.New("the pipeline stopped unexpectedly")
			}
			return snap(true), err
		case <-tick.C:
		}
	}
}

// stop shuts the pipeline down gracefully (every stage finishes and
// commits its batch in flight) and prints the summary.
func (r *runner) stop(final snapshot, failure error) error {
	v := r.v
	done := v.step("Stopping: finishing the batches in flight")
	r.stopPipeline()
	if r.runErr != nil {
		if err := <-r.runErr; err != nil && failure == nil {
			failure = err
		}
		r.runErr = nil
	}
	if failure != nil {
		done(false, failure.Error())
	} else {
		done(true, "")
	}
	v.println("")
	for _, l := range v.render(final) {
		v.println("  " + l)
	}
	v.println("")
	v.println(v.style(ansiDim, "  Everything ran in memory and is gone. To run on real Kafka and Redis, see docs/quickstart.md."))
	return failure
}

// cleanup releases what start acquired. The log file is kept when the run
// failed, and its name printed.
func (r *runner) cleanup(err *error) {
	if r.stopPipeline != nil {
		r.stopPipeline()
		if r.runErr != nil {
			<-r.runErr
		}
	}
	if r.a != nil {
		_ = r.a.Close()
	}
	if r.emb != nil {
		r.emb.Close()
	}
	if r.tmp != "" {
		_ = os.RemoveAll(r.tmp)
	}
	if r.logFile != nil {
		if r.log != nil {
			_ = r.log.Sync()
		}
		_ = r.logFile.Close()
		if *err == nil {
			_ = os.Remove(r.logFile.Name())
		} else {
			r.v.println(r.v.style(ansiDim, "  The pipeline's logs are kept in "+r.logFile.Name()))
		}
	}
}

// demoRetention is how long the in-process broker keeps the records of the
// busy topics; the segment-change feed is kept for the whole run.
const demoRetention = 3 * time.Minute

// createTopics creates the topics before the pipeline does, so that the
// busy ones get a retention that keeps the demo's memory flat.
func createTopics(ctx context.Context, conn *kafkax.Conn, cfg config.Config) error {
	t := cfg.Kafka.Topics
	// Retention drops whole segments only: small ones let it free memory.
	retention := []kafka.ConfigEntry{
		{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(demoRetention.Milliseconds(), 10)},
		{ConfigName: "segment.bytes", ConfigValue: strconv.Itoa(8 << 20)},
	}
	req := &kafka.CreateTopicsRequest{}
	for _, name := range []string{t.Raw, t.Events, t.SegmentChanges, t.Snapshots, t.DLQ} {
		tc := kafka.TopicConfig{Topic: name, NumPartitions: cfg.Kafka.Partitions, ReplicationFactor: 1}
		if name != t.SegmentChanges {
			tc.ConfigEntries = retention
		}
		req.Topics = append(req.Topics, tc)
	}
	res, err := conn.Client().CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create the demo topics: %w", err)
	}
	for name, e := range res.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, e)
		}
	}
	return nil
}

// waitFirst waits until the first event has gone all the way through
// ingest and aggregate.
func waitFirst(ctx context.Context, src *dashboard.Source, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if st, err := src.Stats(); err == nil && st.AggregateOut > 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// pickAddr returns addr when it is free, else a free loopback port.
func pickAddr(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	_ = ln.Close()
	return addr
}

// fileLogger writes the pipeline's JSON logs to f, keeping the terminal
// for the live view.
func fileLogger(f *os.File, level string) (*zap.Logger, error) {
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(f), l)), nil
}
