package e2e

// The world of the fault suite (faults_test.go) and the readiness tests
// (faults_ready_test.go): a Kafka broker of their own, a Redis of their
// own, and toxiproxy between both and the pipeline.
//
//   - Kafka: the kafka-faults broker of scripts/services, not the shared
//     one: the suite stops and restarts its broker, which would break every
//     other test running at the same time. The pipeline reaches it only
//     through the proxy: it bootstraps at the broker's FAULTS advertised
//     address (where the proxy listens) and is told that address again in
//     the metadata, so it never leaves the proxy. The test's own producer
//     and readers use the PLAINTEXT listener directly.
//   - Redis: a redis-server of the test with append-only persistence and
//     appendfsync always. The exactly-once state (applied positions, epoch
//     keys, the emit outbox) lives in Redis: a Redis without persistence
//     comes back empty after a stop, and the pipeline would then apply every
//     event again from the start of the topic.
//   - toxiproxy runs in the test process (internal/faults).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/internal/faults"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// repoRoot is the module root (tests run in their package directory).
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scripts", "services")); err != nil {
		t.Fatalf("scripts/services not found from %s: %v", dir, err)
	}
	return dir
}

// services runs scripts/services with args and returns its output.
func services(t testing.TB, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(t), "scripts", "services"), args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("scripts/services %s: %w\n%s", strings.Join(args, " "), err, tail(out, 30))
	}
	return string(out), nil
}

// faultKafka is the fault suite's own broker (scripts/services kafka-faults).
type faultKafka struct {
	t          testing.TB
	brokers    []string // PLAINTEXT, for the test's own clients
	listener   string   // the FAULTS listener: the proxy's upstream
	advertised string   // what FAULTS advertises: where the proxy listens
}

// startFaultKafka starts (or finds running) the kafka-faults broker. Like
// the other integration tests it skips without PERSONAS_KAFKA_BROKERS
// (plain `go test`), or fails when services are required.
func startFaultKafka(t *testing.T) *faultKafka {
	t.Helper()
	testenv.Kafka(t) // skip or fail like every integration test
	ports := strings.Fields(os.Getenv("PERSONAS_SVC_FAULTS_KAFKA_PORTS"))
	if len(ports) == 0 {
		ports = []string{"19192", "19193", "19195", "19196"} // scripts/services' defaults
	}
	if len(ports) != 4 {
		t.Fatalf("PERSONAS_SVC_FAULTS_KAFKA_PORTS must name 4 ports, got %q", ports)
	}
	began := time.Now()
	if _, err := services(t, 10*time.Minute, "up", "kafka-faults"); err != nil {
		t.Fatalf("starting the fault suite's broker: %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Logf("kafka-faults broker started in %s", d.Round(time.Second))
	}
	// Like scripts/test: kept running for fast reruns, except on CI. The
	// broker is stopped after the package's last user of it: TestFaults, or
	// the readiness test when TestFaults is off.
	last := t.Name() == "TestFaults" || faults.ModeFromEnv() == faults.Off
	if last && os.Getenv("CI") == "true" && os.Getenv("PERSONAS_KEEP_SERVICES") != "1" {
		t.Cleanup(func() {
			if _, err := services(t, 5*time.Minute, "down", "kafka-faults"); err != nil {
				t.Logf("stopping kafka-faults: %v", err)
			}
		})
	}
	return &faultKafka{t: t, brokers: []string{"127.0.0.1:" + ports[0]},
		listener: "127.0.0.1:" + ports[2], advertised: "127.0.0.1:" + ports[3]}
}

// stop stops the broker gracefully, keeping its data; start brings it back.
func (k *faultKafka) stop() error {
	_, err := services(k.t, 5*time.Minute, "stop", "kafka-faults")
	return err
}

func (k *faultKafka) start() error {
	_, err := services(k.t, 10*time.Minute, "start", "kafka-faults")
	return err
}

// faultRedis is a redis-server of one test with append-only persistence
// and appendfsync always (see the file comment).
type faultRedis struct {
	t    testing.TB
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func startFaultRedis(t *testing.T) *faultRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if testenv.Required() {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	r := &faultRedis{t: t, dir: t.TempDir(), addr: freePort(t)}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

func (r *faultRedis) url() string { return "redis://" + r.addr + "/0" }

func (r *faultRedis) start() error {
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log"),
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no")
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(r.cmd, r.done)
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		// LOADING while it replays the append-only file: wait for it.
		if err := c.Ping(context.Background()).Err(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			return fmt.Errorf("own redis-server does not answer: %v\n%s", err, tail(b, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts Redis down as an operator does (SIGTERM: it finishes its
// append-only file and exits).
func (r *faultRedis) stop() error {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		r.cmd = nil
		return nil
	case <-time.After(60 * time.Second):
		return errors.New("own redis-server did not stop within 60s of SIGTERM")
	}
}

// world is one fault test's setup: env (topics, groups, key prefix, the
// pipeline's settings) plus the servers and proxies.
type world struct {
	t      *testing.T
	e      *env
	kafka  *faultKafka
	redis  *faultRedis
	kp, rp *faults.Proxy // Kafka and Redis proxies
	rc     redis.UniversalClient
	store  *redisx.AggStore
	parts  int
	procs  []*proc // running pipeline instances; procs[0] is the main one

	// Bookkeeping of what the test produced.
	mu       sync.Mutex
	bad      map[string]synth.BadKind // payload SHA-256 -> kind
	produced int
	gen      *synth.Generator
	writer   *kafka.Writer
	in       inputs
	counts   eventCounts
}

// newWorld sets everything up; extra are more PERSONAS_* settings of the
// pipeline processes.
func newWorld(t *testing.T, partitions int, extra ...string) *world {
	t.Helper()
	fk := startFaultKafka(t)
	fr := startFaultRedis(t)
	tp, err := faults.StartToxiproxy()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%x", sha256.Sum256([]byte(t.Name())))[:8]
	kp, err := tp.Proxy("kafka-"+name, fk.advertised, fk.listener)
	if err != nil {
		t.Fatalf("%v (is something else listening on %s, the FAULTS advertised address?)", err, fk.advertised)
	}
	t.Cleanup(func() { _ = kp.Delete() })
	rp, err := tp.Proxy("redis-"+name, "127.0.0.1:0", fr.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rp.Delete() })

	// The harness (newEnv, testenv.Topic) takes the servers from the
	// environment: point it at this test's own ones. The processes get the
	// proxies instead (later entries of their environment win).
	t.Setenv(testenv.EnvKafkaBrokers, strings.Join(fk.brokers, ","))
	t.Setenv(testenv.EnvRedisURL, fr.url())
	vars := append([]string{
		"PERSONAS_KAFKA_BROKERS=" + kp.Listen,
		"PERSONAS_REDIS_URL=redis://" + rp.Listen + "/0",
	}, extra...)
	e := newEnv(t, partitions, vars...)
	store, rc := openAggStore(t, fr.url(), e.prefix)
	w := &world{t: t, e: e, kafka: fk, redis: fr, kp: kp, rp: rp, rc: rc, store: store, parts: partitions,
		bad: map[string]synth.BadKind{}}
	w.writer = &kafka.Writer{
		Addr:         kafka.TCP(fk.brokers...),
		Topic:        e.topics["raw"],
		Balancer:     kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    500,
		BatchBytes:   1 << 20,
		MaxAttempts:  3,
		Transport:    &kafka.Transport{ClientID: "personas-faults-producer", MetadataTTL: 2 * time.Second, DialTimeout: 5 * time.Second},
	}
	t.Cleanup(func() { _ = w.writer.Close() })
	return w
}

// generator prepares the synthetic stream: n events with ~1 % bad ones,
// realistic mix and bots, event times over span, ending a minute ago.
func (w *world) generator(seed uint64, n int, span time.Duration) {
	cfg := synth.DefaultConfig()
	cfg.Seed = seed
	cfg.Visitors = max(2000, n/10)
	cfg.BadShare = 0.01
	cfg.Diurnal = 0 // a flat rate: event times stay in the past
	cfg.EventsPerSecond = float64(n) / span.Seconds()
	cfg.Start = time.Now().Add(-span - time.Minute)
	w.gen = synth.New(cfg)
}

// next returns the next n generated records, noting the bad ones.
func (w *world) next(n int) []kafka.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]kafka.Message, 0, n)
	var ev synth.Event
	for i := 0; i < n; i++ {
		w.gen.Next(&ev)
		m := kafka.Message{Key: bytes.Clone(ev.Key), Value: bytes.Clone(ev.Value), Time: ev.Time}
		if ev.Bad != synth.Valid {
			sum := sha256.Sum256(m.Value)
			w.bad[hex.EncodeToString(sum[:])] = ev.Bad
		}
		out = append(out, m)
	}
	w.produced += n
	return out
}

// write writes msgs to the raw topic, retrying until the broker took them
// (the broker may be restarting) or ctx ends. A retry after a write whose
// acknowledgement was lost can write a record twice: the checks work from
// what the raw topic holds, not from what was sent.
func (w *world) write(ctx context.Context, msgs []kafka.Message) error {
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := w.writer.WriteMessages(wctx, msgs...)
		cancel()
		if err == nil {
			return nil
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) {
			// Only the failed ones again.
			var again []kafka.Message
			for i, e := range werrs {
				if e != nil {
					again = append(again, msgs[i])
				}
			}
			msgs = again
		}
		if ctx.Err() != nil {
			return fmt.Errorf("producing: %w (last error %v)", ctx.Err(), err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(min(attempt, 10)) * 500 * time.Millisecond):
		}
	}
}

// producer writes generated events at rate per second from the moment it
// is started until stop is called; stop returns how many it wrote.
type producer struct {
	stopc chan struct{}
	done  chan struct{}
	n     int
	err   error
}

func (w *world) produce(rate, limit int) *producer {
	p := &producer{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		tick := 200 * time.Millisecond
		per := max(1, rate/5)
		next := time.Now()
		for p.n < limit {
			select {
			case <-p.stopc:
				return
			default:
			}
			n := min(per, limit-p.n)
			if err := w.write(ctx, w.next(n)); err != nil {
				p.err = err
				return
			}
			p.n += n
			next = next.Add(tick)
			if d := time.Until(next); d > 0 {
				select {
				case <-p.stopc:
					return
				case <-time.After(d):
				}
			} else {
				next = time.Now() // fell behind (broker down): no burst to catch up
			}
		}
	}()
	return p
}

func (p *producer) stop() (int, error) {
	select {
	case <-p.stopc:
	default:
		close(p.stopc)
	}
	<-p.done
	return p.n, p.err
}

// startPipeline starts one more `personas run` and returns it with its
// HTTP address.
func (w *world) startPipeline() *proc {
	w.t.Helper()
	p := w.e.start("run")
	w.procs = append(w.procs, p)
	return p
}

// remove drops p from the running instances.
func (w *world) remove(p *proc) {
	for i, q := range w.procs {
		if q == p {
			w.procs = append(w.procs[:i], w.procs[i+1:]...)
			return
		}
	}
}

// term sends SIGTERM and waits up to timeout; it returns how long the exit
// took and the process's error (nil: exit code 0).
func term(p *proc, timeout time.Duration) (time.Duration, error) {
	began := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for the harness cleanup and later readers
		return time.Since(began), err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		return time.Since(began), fmt.Errorf("did not exit within %s of SIGTERM", timeout)
	}
}

// applied is how many events-topic records the aggregate stage applied (its
// stored positions; read directly from Redis, not through the proxy). -1
// when Redis does not answer.
func (w *world) applied() int64 {
	var n int64
	for _, o := range appliedOffsets(w.t, w.rc, w.e.prefix, w.parts) {
		if o == -2 {
			return -1
		}
		if o >= 0 {
			n += o + 1
		}
	}
	return n
}

// progressAfter waits until the pipeline applies events again after a
// fault ended at end, and returns how long after end that was: the time to
// recover. It returns -1 when nothing moved within timeout.
func (w *world) progressAfter(end time.Time, timeout time.Duration) time.Duration {
	base := int64(-1)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n := w.applied()
		if n >= 0 {
			if base < 0 {
				base = n
			} else if n > base {
				return time.Since(end)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return -1
}

// tailer reads a topic incrementally: each catchUp reads what was added to
// every partition since the last one, up to the high watermark.
type tailer struct {
	brokers []string
	topic   string
	next    map[int]int64
	msgs    []kafka.Message // in partition order within each catchUp
}

func newTailer(brokers []string, topic string) *tailer {
	return &tailer{brokers: brokers, topic: topic, next: map[int]int64{}}
}

func (tl *tailer) catchUp(t testing.TB) []kafka.Message {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(tl.brokers...), Timeout: 30 * time.Second}
	var ends map[int]int64
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if ends, err = highWatermarks(client, tl.topic); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("offsets of %s: %v", tl.topic, err)
	}
	parts := make([]int, 0, len(ends))
	for p := range ends {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	// Partitions in parallel: the suite reads hundreds of thousands of
	// records in all, on a busy machine.
	got := make([][]kafka.Message, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		from, end := tl.next[p], ends[p]
		if from >= end {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: tl.brokers, Topic: tl.topic, Partition: p,
				MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 200 * time.Millisecond, QueueCapacity: 1000})
			defer r.Close()
			if err := r.SetOffset(from); err != nil {
				errs[i] = err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			for next := from; next < end; {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					errs[i] = fmt.Errorf("reading %s[%d] at %d (end %d): %w", tl.topic, p, next, end, err)
					return
				}
				got[i] = append(got[i], m)
				next = m.Offset + 1
			}
		}()
	}
	wg.Wait()
	var added []kafka.Message
	for i, p := range parts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if n := len(got[i]); n > 0 {
			added = append(added, got[i]...)
			tl.next[p] = got[i][n-1].Offset + 1
		}
	}
	tl.msgs = append(tl.msgs, added...)
	return added
}

// byPartition returns the messages ordered by partition, then offset (the
// order reference.Compute needs within each partition).
func byPartition(ms []kafka.Message) []kafka.Message {
	out := append([]kafka.Message(nil), ms...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}

// waitQuiet waits until the pipeline has taken in everything produced so
// far: ingest's group has no lag on the raw topic, then aggregate applied
// every record of the events topic and its group has no lag either. Broker
// errors (it may have just restarted) only mean "not yet".
func (w *world) waitQuiet(timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	e := w.e
	waitFor(w.t, time.Until(deadline), "ingest to consume and commit every raw record (lag 0)", func() bool {
		lag, err := w.lag(e.prefix+"ingest", e.topics["raw"])
		return err == nil && lag == 0
	})
	var end map[int]int64
	waitFor(w.t, time.Until(deadline), "the end offsets of the events topic", func() bool {
		var err error
		end, err = w.ends(e.topics["events"])
		return err == nil
	})
	waitFor(w.t, time.Until(deadline), "aggregate to apply every events record and commit (lag 0)", func() bool {
		offs := appliedOffsets(w.t, w.rc, e.prefix, w.parts)
		for p, o := range offs {
			if o+1 != end[p] {
				return false
			}
		}
		lag, err := w.lag(e.prefix+"aggregate", e.topics["events"])
		return err == nil && lag == 0
	})
}

func (w *world) admin() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(w.kafka.brokers...), Timeout: 20 * time.Second,
		Transport: &kafka.Transport{ClientID: "personas-faults-admin", MetadataTTL: time.Second}}
}

// ends returns the end offset (high watermark) of every partition of topic.
func (w *world) ends(topic string) (map[int]int64, error) {
	return highWatermarks(w.admin(), topic)
}

// committedOffsets returns a group's committed offset per partition of topic.
func (w *world) committedOffsets(group, topic string) (map[int]int64, error) {
	ends, err := w.ends(topic)
	if err != nil {
		return nil, err
	}
	parts := make([]int, 0, len(ends))
	for p := range ends {
		parts = append(parts, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := w.admin().OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		return nil, res.Error
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, p.Error
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// lag is the total lag of a group on topic: end offsets minus committed.
func (w *world) lag(group, topic string) (int64, error) {
	ends, err := w.ends(topic)
	if err != nil {
		return 0, err
	}
	com, err := w.committedOffsets(group, topic)
	if err != nil {
		return 0, err
	}
	var lag int64
	for p, end := range ends {
		lag += end - max(0, com[p])
	}
	return lag, nil
}

// committed is committedOffsets, retried; it fails the test when the broker
// does not answer for two minutes.
func (w *world) committed(group, topic string) map[int]int64 {
	w.t.Helper()
	var out map[int]int64
	waitFor(w.t, 2*time.Minute, "the committed offsets of "+group, func() bool {
		var err error
		out, err = w.committedOffsets(group, topic)
		return err == nil
	})
	return out
}

// counterDiff compares the event counters in Redis with the reference's:
// for every (minute, persona), events missing (lost) and events too many
// (double), plus the number of other counters (types, categories, flows)
// that differ.
func (w *world) counterDiff(ref map[aggregate.CounterKey]int64, minutes []int64) (lost, double int64, other []string) {
	w.t.Helper()
	got := map[aggregate.CounterKey]int64{}
	prefix := w.e.prefix
	for p := 0; p < w.parts; p++ {
		tag := prefix + "{" + prefix + "p" + strconv.Itoa(p) + "}"
		for _, m := range minutes {
			readCounters(w.t, w.rc, tag+":m:"+strconv.FormatInt(m, 10), m, got)
		}
	}
	for _, d := range diffCounters(got, ref) {
		other = append(other, d)
	}
	for k, want := range ref {
		if k.Metric.Kind != aggregate.MetricEvents {
			continue
		}
		if g := got[k]; g < want {
			lost += want - g
		} else {
			double += g - want
		}
	}
	for k, g := range got {
		if _, ok := ref[k]; !ok && k.Metric.Kind == aggregate.MetricEvents {
			double += g
		}
	}
	return lost, double, other
}

// coord is a raw record's place: partition and offset.
type coord struct {
	p int
	o int64
}

// inputs is what the checks learned from the topics so far (incremental:
// each check reads only what was added since the last).
type inputs struct {
	evAt  map[coord]bool
	dlqAt map[coord]schemas.DLQRecord
	raw   map[coord]bool
	lost  int64
}

// inputCheck matches every raw record with what ingest made of it: a valid
// record must have its anonymized event (by source coordinates) and no DLQ
// record; a bad one a DLQ record with its payload's hash and a fitting
// reason, and no event. It takes the records added to the three topics
// since the last call (when ingest has consumed every raw record so far)
// and returns the valid records without an event so far (lost) and a
// description of every other mismatch found in this call.
func (w *world) inputCheck(raw, events, dlq []kafka.Message) (lost int64, problems []string) {
	in := &w.in
	if in.evAt == nil {
		in.evAt, in.dlqAt, in.raw = map[coord]bool{}, map[coord]schemas.DLQRecord{}, map[coord]bool{}
	}
	for _, m := range events {
		var ev schemas.Event
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			problems = append(problems, fmt.Sprintf("events topic holds a non-event at %d/%d", m.Partition, m.Offset))
			continue
		}
		in.evAt[coord{ev.Source.Partition, ev.Source.Offset}] = true
	}
	for _, m := range dlq {
		var rec schemas.DLQRecord
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			problems = append(problems, "DLQ holds a record that is not JSON")
			continue
		}
		if rec.Stage != "ingest" || rec.Source.Topic != w.e.topics["raw"] {
			problems = append(problems, fmt.Sprintf("DLQ record from stage %s topic %s (reason %s)", rec.Stage, rec.Source.Topic, rec.Reason))
			continue
		}
		c := coord{rec.Source.Partition, rec.Source.Offset}
		if old, ok := in.dlqAt[c]; ok && old.ID != rec.ID {
			problems = append(problems, fmt.Sprintf("two DLQ records with different ids for raw %d/%d", c.p, c.o))
		}
		in.dlqAt[c] = rec
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range raw {
		c := coord{m.Partition, m.Offset}
		in.raw[c] = true
		sum := sha256.Sum256(m.Value)
		h := hex.EncodeToString(sum[:])
		kind, isBad := w.bad[h]
		rec, inDLQ := in.dlqAt[c]
		switch {
		case !isBad && !in.evAt[c]:
			in.lost++
			if inDLQ {
				problems = append(problems, fmt.Sprintf("valid raw record %d/%d went to the DLQ: %s %s", c.p, c.o, rec.Reason, rec.Rule))
			}
		case !isBad && inDLQ:
			problems = append(problems, fmt.Sprintf("valid raw record %d/%d is both an event and in the DLQ (%s)", c.p, c.o, rec.Reason))
		case isBad && !inDLQ:
			problems = append(problems, fmt.Sprintf("bad raw record %d/%d (%s) is not in the DLQ (event: %v)", c.p, c.o, kind, in.evAt[c]))
		case isBad && rec.PayloadSHA256 != h:
			problems = append(problems, fmt.Sprintf("DLQ record of %d/%d has hash %s, the payload %s", c.p, c.o, rec.PayloadSHA256[:12], h[:12]))
		case isBad && !contains(expectedReasons[kind], rec.Reason):
			problems = append(problems, fmt.Sprintf("bad raw record %d/%d (%s) has reason %s, want one of %v", c.p, c.o, kind, rec.Reason, expectedReasons[kind]))
		case isBad && in.evAt[c]:
			problems = append(problems, fmt.Sprintf("bad raw record %d/%d (%s) also made an event", c.p, c.o, kind))
		}
	}
	for c := range in.dlqAt {
		if !in.raw[c] {
			problems = append(problems, fmt.Sprintf("DLQ record for raw %d/%d, which the raw topic does not hold (yet)", c.p, c.o))
		}
	}
	return in.lost, problems
}

// randDur returns a random duration in [lo, hi).
func randDur(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

func (w *world) producedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.produced
}

// badRecords returns the raw records whose payload the generator made bad.
func (w *world) badRecords(raw []kafka.Message) []kafka.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []kafka.Message
	for _, m := range raw {
		sum := sha256.Sum256(m.Value)
		if _, ok := w.bad[hex.EncodeToString(sum[:])]; ok {
			out = append(out, m)
		}
	}
	return out
}

// eventCounts is what the events topic holds so far: distinct events per
// minute of event time (incremental: each check adds what it read).
type eventCounts struct {
	seen    map[string]bool
	minutes map[int64]int64
}

// countEvents adds newly read records of the events topic.
func (w *world) countEvents(added []kafka.Message) {
	ec := &w.counts
	if ec.seen == nil {
		ec.seen, ec.minutes = map[string]bool{}, map[int64]int64{}
	}
	for _, m := range added {
		var ev struct {
			EventID string `json:"event_id"`
			Time    string `json:"time"`
		}
		if err := json.Unmarshal(m.Value, &ev); err != nil || ev.EventID == "" {
			w.t.Fatalf("events topic holds a non-event at %d/%d: %v", m.Partition, m.Offset, err)
		}
		if ec.seen[ev.EventID] {
			continue
		}
		ec.seen[ev.EventID] = true
		at, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil {
			w.t.Fatalf("event time %q: %v", ev.Time, err)
		}
		ec.minutes[at.Unix()/60]++
	}
}

// eventCountDiff compares, minute by minute, the events the figures in
// Redis count (the events counters of every persona, bots included, summed
// over the events partitions) with the distinct events of the topic: fewer
// is events lost, more is events counted twice. It reads five minutes
// either side of the stream too, so that events counted in a wrong minute
// show up.
func (w *world) eventCountDiff() (lost, double int64, diffs []string) {
	w.t.Helper()
	ec := &w.counts
	if len(ec.minutes) == 0 {
		return 0, 0, nil
	}
	lo, hi := int64(1<<62), int64(0)
	for m := range ec.minutes {
		lo, hi = min(lo, m), max(hi, m)
	}
	prefix := w.e.prefix
	for m := lo - 5; m <= hi+5; m++ {
		got := map[aggregate.CounterKey]int64{}
		for p := 0; p < w.parts; p++ {
			readCounters(w.t, w.rc, prefix+"{"+prefix+"p"+strconv.Itoa(p)+"}:m:"+strconv.FormatInt(m, 10), m, got)
		}
		var n int64
		for k, v := range got {
			if k.Metric.Kind == aggregate.MetricEvents {
				n += v
			}
		}
		want := ec.minutes[m]
		switch {
		case n < want:
			lost += want - n
		case n > want:
			double += n - want
		}
		if n != want {
			diffs = append(diffs, fmt.Sprintf("minute %s: figures count %d events, the topic holds %d", time.Unix(m*60, 0).UTC().Format("15:04"), n, want))
		}
	}
	return lost, double, diffs
}
