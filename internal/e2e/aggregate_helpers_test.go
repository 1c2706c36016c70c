package e2e

// Helpers of the aggregate-stage end-to-end tests (aggregate_*_test.go): a
// known stream of anonymized events with the duplicates ingest makes on
// retries, progress and lag probes, a comparison of everything in Redis
// with the independent reference, and a private redis-server that a test
// may stop and start.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/app"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/reference"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// hllTolerance is the relative tolerance of distinct counts (Redis
// HyperLogLog, standard error 0.81 %): about 2.5 standard errors, plus one
// (reference.Diff adds it) for tiny counts.
const hllTolerance = 0.02

// streamOpts describes a synthetic stream of anonymized events.
type streamOpts struct {
	events   int           // synthetic raw events (a few are rejected by ingest)
	seed     uint64        // synth seed
	visitors int           // synth visitor population
	span     time.Duration // event-time span, ending about a minute ago
	rawParts int           // partitions of the (simulated) raw topic
	// retryShare is the share of ingest batches that are written again, as
	// when ingest crashes or fails between its write and its commit.
	retryShare float64
}

// aggStream is a stream of anonymized events in the order ingest writes
// them, duplicates included.
type aggStream struct {
	msgs     []kafka.Message // Key: pseudonym, Value: anonymized event JSON
	unique   int             // distinct events (event ids)
	dups     int             // records that repeat an earlier event
	rejected int             // raw events the ingest transform rejected
}

// makeAggStream generates synthetic raw events, runs each through the real
// ingest transform (ephemeral epoch keys) with source coordinates of a
// simulated raw topic, and simulates ingest's batches per raw partition,
// including its retries: a batch (or the last two) is written again after
// other partitions' batches, or a batch is first written only in part
// (a failed chunk) and then whole; the last batch of one partition is
// always written again at the end. So duplicates are contiguous runs of
// one source partition's records, repeated later, with the same event id
// and source coordinates, exactly as kafkax.OrderedWriter can produce them.
func makeAggStream(t *testing.T, o streamOpts) aggStream {
	t.Helper()
	if o.rawParts <= 0 {
		o.rawParts = 4
	}
	if o.span <= 0 {
		o.span = 3 * time.Minute
	}
	now := time.Now()
	cfg := synth.DefaultConfig()
	cfg.Seed = o.seed
	cfg.Visitors = o.visitors
	cfg.BadShare = 0
	cfg.Diurnal = 0
	cfg.EventsPerSecond = float64(o.events) / o.span.Seconds()
	cfg.Start = now.Add(-o.span - time.Minute)
	g := synth.New(cfg)
	tr, err := ingest.NewTransformer(app.IngestOptions(config.Default().Ingest), ingest.NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ key, val []byte }
	raw := make([][]rec, o.rawParts)
	next := make([]int64, o.rawParts)
	var s aggStream
	var ev synth.Event
	ctx := context.Background()
	for i := 0; i < o.events; i++ {
		g.Next(&ev)
		p := i % o.rawParts
		if len(ev.Key) > 0 { // a tracker keys by anonymousId
			h := fnv.New32a()
			_, _ = h.Write(ev.Key)
			p = int(h.Sum32() % uint32(o.rawParts))
		}
		off := next[p]
		next[p]++
		in := ingest.Input{Value: ev.Value, Time: ev.Time,
			Source: schemas.Source{Topic: "clickstream.raw", Partition: p, Offset: off}}
		out, rej, err := tr.Transform(ctx, &in, now)
		if err != nil {
			t.Fatal(err)
		}
		if rej != nil { // ingest sends it to the DLQ; its offset is used up
			s.rejected++
			continue
		}
		raw[p] = append(raw[p], rec{bytes.Clone(out.Key), bytes.Clone(out.JSON)})
	}

	rng := rand.New(rand.NewPCG(o.seed, 99))
	write := func(rs []rec) {
		for _, r := range rs {
			s.msgs = append(s.msgs, kafka.Message{Key: r.key, Value: r.val})
		}
	}
	pos := make([]int, o.rawParts)
	pending := make([][]rec, o.rawParts) // a retry to write before the partition's next batch
	last := make([][]rec, o.rawParts)    // the partition's previous batch
	for {
		var live []int
		for p := range raw {
			if pos[p] < len(raw[p]) || pending[p] != nil {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			break
		}
		p := live[rng.IntN(len(live))]
		if pending[p] != nil {
			write(pending[p])
			pending[p] = nil
			continue
		}
		n := min(10+rng.IntN(140), len(raw[p])-pos[p])
		batch := raw[p][pos[p] : pos[p]+n]
		pos[p] += n
		switch x := rng.Float64(); {
		case x < o.retryShare/3: // a chunk failed: part written, then all again
			write(batch[:1+rng.IntN(len(batch))])
			pending[p] = batch
		case x < o.retryShare*2/3: // written, commit lost: replayed later
			write(batch)
			pending[p] = batch
		case x < o.retryShare && last[p] != nil: // two batches replayed
			write(batch)
			pending[p] = append(slices.Clip(last[p]), batch...)
		default:
			write(batch)
		}
		last[p] = batch
	}
	// Ingest crashed after its very last write and replayed it: the stream
	// always ends with duplicates.
	if p := rng.IntN(o.rawParts); last[p] != nil {
		write(last[p])
	}
	ids := map[string]bool{}
	for _, m := range s.msgs {
		ids[eventID(t, m.Value)] = true
	}
	s.unique = len(ids)
	s.dups = len(s.msgs) - s.unique
	return s
}

func eventID(t *testing.T, v []byte) string {
	var ev struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(v, &ev); err != nil || ev.EventID == "" {
		t.Fatalf("not an anonymized event: %v", err)
	}
	return ev.EventID
}

// dupsIn counts the records of msgs whose event id came earlier in all
// (msgs is a part of all, produced after everything before it).
func dupsIn(t *testing.T, before, part []kafka.Message) int {
	seen := map[string]bool{}
	for _, m := range before {
		seen[eventID(t, m.Value)] = true
	}
	n := 0
	for _, m := range part {
		id := eventID(t, m.Value)
		if seen[id] {
			n++
		}
		seen[id] = true
	}
	return n
}

// produceInOrder writes msgs in chunks, each acknowledged before the next,
// so that every events partition keeps the write order.
func (e *env) produceInOrder(msgs []kafka.Message) {
	e.t.Helper()
	for len(msgs) > 0 {
		n := min(len(msgs), 5000)
		testenv.Produce(e.t, e.brokers, e.topics["events"], msgs[:n]...)
		msgs = msgs[n:]
	}
}

// readEvents reads the events topic back, partition by partition, and
// checks the property the aggregate stage relies on (docs/architecture.md):
// within an events partition, a record of a source partition is either new
// with a source offset above every earlier one of that source, or a repeat
// of an earlier event.
func (e *env) readEvents(want int) []kafka.Message {
	e.t.Helper()
	msgs := testenv.Consume(e.t, e.brokers, e.topics["events"], want, 60*time.Second)
	if len(msgs) != want {
		e.t.Fatalf("events topic holds %d records, want %d", len(msgs), want)
	}
	type src struct {
		part, raw int
	}
	high := map[src]int64{}
	seen := map[string]bool{}
	for _, m := range msgs {
		var ev schemas.Event
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			e.t.Fatal(err)
		}
		k := src{m.Partition, ev.Source.Partition}
		h, ok := high[k]
		if !ok {
			h = -1
		}
		switch {
		case seen[ev.EventID] && ev.Source.Offset <= h:
		case !seen[ev.EventID] && ev.Source.Offset > h:
			high[k] = ev.Source.Offset
		default:
			e.t.Fatalf("the test producer broke ingest's write order in partition %d at offset %d", m.Partition, m.Offset)
		}
		seen[ev.EventID] = true
	}
	return msgs
}

// posKey is the Redis key of a partition's applied position (layout in
// internal/redisx/aggstore.go).
func posKey(prefix string, partition int) string {
	return prefix + "{" + prefix + "p" + strconv.Itoa(partition) + "}:pos"
}

// appliedOffsets returns each partition's stored (applied) offset, -1 when
// none, read without claiming (a claim would fence the running stage).
func appliedOffsets(t *testing.T, rc redis.UniversalClient, prefix string, partitions int) []int64 {
	t.Helper()
	out := make([]int64, partitions)
	for p := range out {
		v, err := rc.HGet(context.Background(), posKey(prefix, p), "off").Int64()
		switch {
		case err == redis.Nil:
			out[p] = -1
		case err != nil:
			out[p] = -2 // Redis unreachable: unknown
		default:
			out[p] = v
		}
	}
	return out
}

// applied is how many records the stage has applied (or skipped) so far.
func applied(t *testing.T, rc redis.UniversalClient, prefix string, partitions int) int64 {
	var n int64
	for _, o := range appliedOffsets(t, rc, prefix, partitions) {
		if o >= 0 {
			n += o + 1
		}
	}
	return n
}

// endOffsets returns the offset after the last record of each partition.
func (e *env) endOffsets(topic string) map[int]int64 {
	e.t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := map[string][]kafka.OffsetRequest{}
	for _, p := range testenv.Partitions(e.t, e.brokers, topic) {
		req[topic] = append(req[topic], kafka.LastOffsetOf(p))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		e.t.Fatalf("list offsets: %v", err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.LastOffset
	}
	return out
}

// waitCaughtUp waits until the stage applied every record of the events
// topic (stored positions at the end of every partition) and the group's
// committed offsets show no lag.
func (e *env) waitCaughtUp(rc redis.UniversalClient, partitions int, timeout time.Duration) {
	e.t.Helper()
	group := e.prefix + "aggregate"
	end := e.endOffsets(e.topics["events"])
	waitFor(e.t, timeout, "the aggregate stage to apply every record and commit (lag 0)", func() bool {
		offs := appliedOffsets(e.t, rc, e.prefix, partitions)
		for p, o := range offs {
			if o+1 != end[p] {
				return false
			}
		}
		return e.consumerLag(group, e.topics["events"]) == 0
	})
}

// aggCompare checks the figures in Redis against reference.Compute over
// the events topic (msgs, in partition order): every counter of every
// bucket (minute, ten-minute, hour, quarter day) exactly (events, types,
// categories, flows, bots), and every persona figure read through the store
// minute by minute, over the whole span and over windows ending now,
// distinct counts within the HyperLogLog tolerance. It returns the
// reference.
func aggCompare(t *testing.T, store aggregate.Store, rc redis.UniversalClient, prefix string, partitions int, msgs []kafka.Message) *reference.Figures {
	t.Helper()
	ref, err := reference.Compute(model.Default(), values(msgs))
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Minutes) == 0 {
		t.Fatal("the reference has no events")
	}
	ctx := context.Background()
	from, to := ref.Minutes[0], ref.Minutes[len(ref.Minutes)-1]+1

	// Raw counters, bucket by bucket, summed over partitions, at every
	// level: minutes, ten minutes, hours and quarter days.
	var total int64
	for k, v := range ref.Counters {
		if k.Metric.Kind == aggregate.MetricEvents {
			total += v
		}
	}
	for _, l := range []struct {
		letter string
		size   int64
	}{{"m", 1}, {"t", 10}, {"h", 60}, {"q", 360}} {
		got := map[aggregate.CounterKey]int64{}
		want := map[aggregate.CounterKey]int64{}
		for k, v := range ref.Counters {
			k.Minute /= l.size
			want[k] += v
		}
		for p := 0; p < partitions; p++ {
			tag := prefix + "{" + prefix + "p" + strconv.Itoa(p) + "}"
			for b := from / l.size; b <= (to-1)/l.size; b++ {
				readCounters(t, rc, tag+":"+l.letter+":"+strconv.FormatInt(b, 10), b, got)
			}
		}
		if d := diffCounters(got, want); len(d) > 0 {
			t.Errorf("%s-bucket counters differ from the reference (%d differences):\n  %s", l.letter, len(d), strings.Join(d[:min(len(d), 30)], "\n  "))
		}
	}
	if total != int64(ref.Events) {
		t.Errorf("the reference counts %d events in its counters but applied %d", total, ref.Events)
	}

	// Persona figures as the store reads them, minute by minute.
	for m := from; m < to; m++ {
		w, err := store.ReadWindow(ctx, time.Unix(m*60, 0), time.Unix((m+1)*60, 0))
		if err != nil {
			t.Fatal(err)
		}
		if d := reference.Diff(w, ref.Window(m, m+1), hllTolerance); len(d) > 0 {
			t.Errorf("minute %s differs from the reference:\n  %s", time.Unix(m*60, 0).UTC().Format("15:04"), strings.Join(d, "\n  "))
		}
	}
	// And over windows that use the hour buckets: the whole span, and the
	// span widened to whole hours on both sides.
	for _, r := range [][2]int64{{from, to}, {from / 60 * 60, (to + 59) / 60 * 60}, {from - 90, to + 90}} {
		w, err := store.ReadWindow(ctx, time.Unix(r[0]*60, 0), time.Unix(r[1]*60, 0))
		if err != nil {
			t.Fatal(err)
		}
		if d := reference.Diff(w, ref.Window(r[0], r[1]), hllTolerance); len(d) > 0 {
			t.Errorf("window %s..%s differs from the reference:\n  %s", time.Unix(r[0]*60, 0).UTC().Format("15:04"),
				time.Unix(r[1]*60, 0).UTC().Format("15:04"), strings.Join(d, "\n  "))
		}
	}
	// Rolling windows ending now, as emit and `personas query` read them.
	for _, win := range []time.Duration{24 * time.Hour, time.Hour, 10 * time.Minute} {
		end := time.Now()
		w, err := store.ReadWindow(ctx, end.Add(-win), end)
		if err != nil {
			t.Fatal(err)
		}
		f, l := aggregate.MinuteRange(end.Add(-win), end)
		if d := reference.Diff(w, ref.Window(f, l), hllTolerance); len(d) > 0 {
			t.Errorf("the %s window ending now differs from the reference:\n  %s", win, strings.Join(d, "\n  "))
		}
	}
	return ref
}

func readCounters(t *testing.T, rc redis.UniversalClient, key string, bucket int64, into map[aggregate.CounterKey]int64) {
	t.Helper()
	fields, err := rc.HGetAll(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", key, err)
	}
	for f, v := range fields {
		persona, rest, ok := strings.Cut(f, "|")
		if !ok || rest == "" {
			t.Fatalf("bad counter field %q in %s", f, key)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("bad counter %q=%q in %s", f, v, key)
		}
		into[aggregate.CounterKey{Minute: bucket, Persona: persona, Metric: aggregate.Metric{Kind: rest[0], Name: rest[1:]}}] += n
	}
}

func diffCounters(got, want map[aggregate.CounterKey]int64) []string {
	var out []string
	for k, w := range want {
		if got[k] != w {
			out = append(out, fmt.Sprintf("bucket %d %s %c%s: got %d, want %d", k.Minute, k.Persona, k.Metric.Kind, k.Metric.Name, got[k], w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("bucket %d %s %c%s: got %d, want none", k.Minute, k.Persona, k.Metric.Kind, k.Metric.Name, g))
		}
	}
	slices.Sort(out)
	return out
}

// openAggStore opens the Redis store of a test's prefix on url.
func openAggStore(t *testing.T, url, prefix string) (*redisx.AggStore, redis.UniversalClient) {
	t.Helper()
	cfg := config.Default().Redis
	cfg.URL = url
	c, err := redisx.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return redisx.NewAggStore(c, prefix, config.Default().Aggregate.Retention), c
}

// httpAddr returns the address the process serves /metrics and /readyz
// on, from its "http server listening" log line.
func (p *proc) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	waitFor(t, 60*time.Second, "the process to log its HTTP address", func() bool {
		for _, l := range logLines(p.out.Bytes()) {
			if l["msg"] == "http server listening" {
				addr, _ = l["addr"].(string)
				return addr != ""
			}
		}
		return false
	})
	return addr
}

// logLines parses the JSON log lines of a process (other lines are skipped).
func logLines(b []byte) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// countLogs counts the log lines whose message starts with msg.
func countLogs(b []byte, msg string) int {
	n := 0
	for _, l := range logLines(b) {
		if s, _ := l["msg"].(string); strings.HasPrefix(s, msg) {
			n++
		}
	}
	return n
}

// metric returns the value of a Prometheus sample (name with its labels,
// e.g. `personas_duplicates_dropped_total{stage="aggregate"}`) from the
// process's /metrics, or -1 when the process does not answer; 0 when the
// sample is absent.
func metric(addr, sample string) float64 {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// readyz returns the status code of /readyz, 0 when there is no answer.
func readyz(addr string) int {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// ownRedis is a redis-server of one test, with append-only persistence so
// that a stop and start keeps its data (as the Redis of a deployment must:
// a Redis without persistence loses the applied positions on restart, and
// with them the exactly-once guarantee).
type ownRedis struct {
	t    *testing.T
	dir  string
	port string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	r := &ownRedis{t: t, dir: t.TempDir(), port: port, url: "redis://127.0.0.1:" + port + "/0"}
	r.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("own redis-server log:\n%s", r.log())
		}
		if r.cmd != nil {
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--pidfile", filepath.Join(r.dir, "redis.pid"), "--logfile", filepath.Join(r.dir, "redis.log"),
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(r.cmd, r.done)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + r.port})
	defer c.Close()
	waitFor(r.t, 30*time.Second, "own redis-server to answer", func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
}

// stop shuts the server down as an operator would (SIGTERM: it writes its
// append-only file and exits), keeping the data for the next start.
func (r *ownRedis) stop() {
	r.t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.t.Fatal("own redis-server did not stop within 30s of SIGTERM")
	}
	r.cmd = nil
}

func (r *ownRedis) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return tail(b, 20)
}

// assertStable reads the figures of the reference's whole span twice, two
// seconds apart: once caught up, nothing may move.
func (e *env) assertStable(store aggregate.Store, ref *reference.Figures) {
	e.t.Helper()
	from, to := time.Unix(ref.Minutes[0]*60, 0), time.Unix((ref.Minutes[len(ref.Minutes)-1]+1)*60, 0)
	a, err := store.ReadWindow(context.Background(), from, to)
	if err != nil {
		e.t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	b, err := store.ReadWindow(context.Background(), from, to)
	if err != nil {
		e.t.Fatal(err)
	}
	if d := reference.Diff(b, a, 0); len(d) > 0 {
		e.t.Errorf("figures moved after the stage caught up:\n  %s", strings.Join(d, "\n  "))
	}
}

// keepLogsOnFailure writes the full output of every process the test
// started to files when the test fails (the harness shows only a tail),
// and names them in the test log.
func keepLogsOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs.Lock()
		bufs := logs.all[t.Name()]
		logs.Unlock()
		dir, err := os.MkdirTemp("", "personas-e2e-logs-")
		if err != nil {
			return
		}
		for i, b := range bufs {
			name := filepath.Join(dir, fmt.Sprintf("process-%d.log", i+1))
			if os.WriteFile(name, b.Bytes(), 0o600) == nil {
				t.Logf("full output of process %d: %s", i+1, name)
			}
		}
	})
}

// startBinary is env.start with another build of personas (for example
// one without the race detector, for benchmarks).
func (e *env) startBinary(bin string, args ...string) *proc {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), e.vars...)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: buf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	logs.Lock()
	logs.all[e.t.Name()] = append(logs.all[e.t.Name()], buf)
	logs.Unlock()
	e.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}
