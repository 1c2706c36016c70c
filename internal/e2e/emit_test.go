package e2e

// End-to-end tests of the emit stage on real Kafka and Redis: the
// `personas` binary runs `aggregate` and one or two `emit` processes; the
// tests write anonymized events straight into the events topic, crafted so
// that the default persona model puts their visitors into `researcher`,
// and read what emit publishes.
//
// The traffic pattern: each visitor sends 3 "Products Searched" and 8
// "Product Viewed" events (after the 11th event the model's researcher rule
// holds: product_views >= 8, searches >= 3, no cart adds), then more product
// views of one category. The views name categories (sports, grocery) that
// no earlier persona rule looks at, so nothing else claims the visitors.
// The test segment reads the researcher persona's sports share over the 1h
// window: sports views drive it in, grocery views (same visitors) out. The
// 1h window means nothing ages out during a test, however slow the machine.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
)

// sportsSegment enters when more than half of the researchers' events are
// sports views, and exits below 30 %.
const sportsSegment = `version: "e2e-emit-1"
segments:
  - name: sports_research
    title: Sports research
    description: Researchers mostly look at sports products.
    window: 1h
    personas: [researcher]
    enter: share("sports") > 0.5
    exit: share("sports") < 0.3
`

const (
	emitK      = 5
	emitSeg    = "sports_research"
	emitPerson = "researcher"
)

// newEmitEnv is newEnv with the emit stage made fast: a 1 s tick and
// snapshots on every tick, k = emitK, the test segment, and the lease TTL.
func newEmitEnv(t *testing.T, leaseTTL time.Duration) *env {
	t.Helper()
	segs := filepath.Join(t.TempDir(), "segments.yaml")
	if err := os.WriteFile(segs, []byte(sportsSegment), 0o600); err != nil {
		t.Fatal(err)
	}
	return newEnv(t, 2,
		"PERSONAS_EMIT_TICK=1s",
		"PERSONAS_EMIT_SNAPSHOT_EVERY=1s",
		"PERSONAS_EMIT_K="+strconv.Itoa(emitK),
		"PERSONAS_EMIT_LEASE_TTL="+leaseTTL.String(),
		"PERSONAS_EMIT_SEGMENTS="+segs,
		"PERSONAS_AGGREGATE_WINDOWS=5m,1h,24h",
	)
}

// traffic writes anonymized events into the events topic. Source
// coordinates grow with every event, as ingest's would, so the aggregate
// stage applies each one once.
type traffic struct {
	t      *testing.T
	e      *env
	offset int64
}

// pseudonym of visitor i of this test: 32 hex characters, like ingest's.
func (tr *traffic) pseudonym(i int) string {
	h := sha256.Sum256([]byte(tr.t.Name() + "/" + strconv.Itoa(i)))
	return hex.EncodeToString(h[:16])
}

func (tr *traffic) event(p, name, category string, now time.Time) kafka.Message {
	ev := schemas.Event{
		Schema:    schemas.EventV1,
		EventID:   uuid.NewString(),
		Type:      "track",
		Event:     name,
		Time:      now.UTC().Truncate(time.Minute).Format(time.RFC3339),
		Epoch:     now.Unix() / 86400,
		Pseudonym: p,
		Device:    &schemas.Device{Class: "desktop", Browser: "Firefox", OS: "Linux"},
		Language:  "en",
		Source:    schemas.Source{Topic: "clickstream.raw.e2e", Partition: 0, Offset: tr.offset},
	}
	if category != "" {
		ev.Properties = map[string]any{"category": category}
	}
	tr.offset++
	b, err := json.Marshal(ev)
	if err != nil {
		tr.t.Fatal(err)
	}
	return kafka.Message{Key: []byte(p), Value: b}
}

// researchers turns visitors [from, to) into researchers and gives each
// `views` more product views of category (all attributed to researcher).
func (tr *traffic) researchers(from, to int, category string, views int) {
	tr.t.Helper()
	now := time.Now()
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		p := tr.pseudonym(i)
		for range 3 {
			msgs = append(msgs, tr.event(p, "Products Searched", "", now))
		}
		for range 8 + views {
			msgs = append(msgs, tr.event(p, "Product Viewed", category, now))
		}
	}
	tr.produce(msgs)
}

// views gives visitors [from, to), researchers already, n more product
// views of category.
func (tr *traffic) views(from, to int, category string, n int) {
	tr.t.Helper()
	now := time.Now()
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		for range n {
			msgs = append(msgs, tr.event(tr.pseudonym(i), "Product Viewed", category, now))
		}
	}
	tr.produce(msgs)
}

// produce writes to the events topic, keyed by pseudonym (murmur2, like
// ingest): a visitor's events stay in one partition, in order.
func (tr *traffic) produce(msgs []kafka.Message) {
	tr.t.Helper()
	testenv.Produce(tr.t, tr.e.brokers, tr.e.topics["events"], msgs...)
}

// readTopic reads every message of topic up to its end at the time of the
// call (the high watermark of each partition, so nothing is missed for
// want of patience), from the start. Broker calls are retried: the test
// machine is slow and shared.
func (e *env) readTopic(topic string) []kafka.Message {
	e.t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 30 * time.Second}
	var ends map[int]int64
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if ends, err = highWatermarks(client, topic); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		e.t.Fatalf("offsets of %s: %v", topic, err)
	}
	var out []kafka.Message
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 200 * time.Millisecond})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			e.t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				r.Close()
				e.t.Fatalf("reading %s[%d] up to offset %d: %v", topic, p, end, err)
			}
			out = append(out, m)
			if m.Offset >= end-1 {
				break
			}
		}
		cancel()
		r.Close()
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}

func highWatermarks(client *kafka.Client, topic string) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, fmt.Errorf("topic %s not found", topic)
	}
	var req []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		req = append(req, kafka.LastOffsetOf(p.ID))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return nil, err
	}
	ends := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, p.Error
		}
		ends[p.Partition] = p.LastOffset
	}
	return ends, nil
}

// changeMsg is a message of the segment-change topic, decoded.
type changeMsg struct {
	raw kafka.Message
	ev  schemas.SegmentChange
}

// changes reads the segment-change topic; every message must match the
// schema, be keyed by its persona and carry its event_id as a header.
func (e *env) changes() []changeMsg {
	e.t.Helper()
	var out []changeMsg
	for _, m := range e.readTopic(e.topics["changes"]) {
		if err := schemas.ValidateJSON(schemas.SegmentChangeSchema, m.Value); err != nil {
			e.t.Fatalf("segment change does not match its schema: %v\n%s", err, m.Value)
		}
		var c schemas.SegmentChange
		if err := json.Unmarshal(m.Value, &c); err != nil {
			e.t.Fatal(err)
		}
		if string(m.Key) != c.Persona {
			e.t.Errorf("segment change keyed %q, want its persona %q", m.Key, c.Persona)
		}
		if h := headerValue(m, "event_id"); h != c.EventID {
			e.t.Errorf("event_id header %q, body %q", h, c.EventID)
		}
		out = append(out, changeMsg{m, c})
	}
	return out
}

func headerValue(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// snapshots reads the snapshot topic; every message must match the schema
// and every published (not suppressed) persona must have at least
// VisitorThreshold(k) visitors (P4 as a reader can check it).
func (e *env) snapshots() []schemas.Snapshot {
	e.t.Helper()
	var out []schemas.Snapshot
	for _, m := range e.readTopic(e.topics["snapshots"]) {
		if err := schemas.ValidateJSON(schemas.SnapshotSchema, m.Value); err != nil {
			e.t.Fatalf("snapshot does not match its schema: %v\n%s", err, m.Value)
		}
		var s schemas.Snapshot
		if err := json.Unmarshal(m.Value, &s); err != nil {
			e.t.Fatal(err)
		}
		if string(m.Key) != s.Window {
			e.t.Errorf("snapshot keyed %q, want its window %q", m.Key, s.Window)
		}
		for _, p := range s.Personas {
			if !p.Suppressed && (p.Visitors == nil || *p.Visitors < privacy.VisitorThreshold(s.K)) {
				e.t.Errorf("snapshot %s publishes %s with visitors %v below the threshold %d of k=%d", s.Window, p.Persona, p.Visitors, privacy.VisitorThreshold(s.K), s.K)
			}
		}
		out = append(out, s)
	}
	return out
}

func evaluatedAt(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("evaluated_at %q: %v", s, err)
	}
	return at
}

// waitEvaluations waits until the snapshots show n evaluations (distinct
// evaluated_at seconds) strictly after `after`: whoever holds the lease then
// has evaluated the segments n times since. It returns those snapshots.
func (e *env) waitEvaluations(after time.Time, n int, timeout time.Duration) []schemas.Snapshot {
	e.t.Helper()
	var got []schemas.Snapshot
	waitFor(e.t, timeout, fmt.Sprintf("%d evaluations after %s", n, after.Format("15:04:05.000")), func() bool {
		got = got[:0]
		seen := map[string]bool{}
		for _, s := range e.snapshots() {
			// evaluated_at has whole seconds: after its second ends.
			if evaluatedAt(e.t, s.EvaluatedAt).After(after) {
				got = append(got, s)
				seen[s.EvaluatedAt] = true
			}
		}
		return len(seen) >= n
	})
	return got
}

// waitChange waits for a change of the given type and sequence.
func (e *env) waitChange(typ string, seq int64, timeout time.Duration) schemas.SegmentChange {
	e.t.Helper()
	var found schemas.SegmentChange
	waitFor(e.t, timeout, typ+" on the segment-change topic", func() bool {
		for _, c := range e.changes() {
			if c.ev.Type == typ && c.ev.Sequence == seq {
				found = c.ev
				return true
			}
		}
		return false
	})
	return found
}

type wantChange struct {
	typ string
	seq int64
}

// checkChanges asserts that the topic holds exactly the wanted changes of
// the test segment and persona, in order; a message repeated must be the
// same event (same event_id, byte-identical). It returns the number of
// repeated messages.
func checkChanges(t *testing.T, got []changeMsg, want ...wantChange) int {
	t.Helper()
	first := map[string][]byte{}
	var distinct []wantChange
	dups := 0
	for _, c := range got {
		if c.ev.Segment != emitSeg || c.ev.Persona != emitPerson {
			t.Errorf("unexpected change %s %s/%s", c.ev.Type, c.ev.Segment, c.ev.Persona)
			continue
		}
		if b, ok := first[c.ev.EventID]; ok {
			dups++
			if string(b) != string(c.raw.Value) {
				t.Errorf("event_id %s published twice with different content:\n%s\n%s", c.ev.EventID, b, c.raw.Value)
			}
			continue
		}
		first[c.ev.EventID] = c.raw.Value
		distinct = append(distinct, wantChange{c.ev.Type, c.ev.Sequence})
	}
	if !reflect.DeepEqual(distinct, want) {
		t.Errorf("distinct changes on the topic: %v, want %v", distinct, want)
	}
	return dups
}

// TestEmitSegmentEnterExitAcrossRestarts drives the researcher persona into
// the segment and out again while `emit` is restarted twice in between,
// once with SIGTERM and once with SIGKILL: exactly one segment.entered and
// one segment.exited arrive, each matching the schema, and no restart
// announces anything again. At the end kcat, a client nobody here wrote,
// reads both topics.
func TestEmitSegmentEnterExitAcrossRestarts(t *testing.T) {
	began := time.Now()
	e := newEmitEnv(t, 4*time.Second)
	agg := e.start("aggregate")
	em := e.start("emit")
	tr := &traffic{t: t, e: e}

	// In: 8 researchers (above VisitorThreshold(5) = 6), all sports.
	tr.researchers(0, 8, "sports", 9)
	entered := e.waitChange(schemas.SegmentEntered, 1, 3*time.Minute)
	if entered.Figures.Suppressed || entered.Figures.Visitors == nil || *entered.Figures.Visitors != 8 {
		t.Fatalf("entered with figures %+v, want 8 visitors published", entered.Figures)
	}
	if entered.K != emitK || entered.Window != "1h" || entered.SegmentsVersion != "e2e-emit-1" || entered.ModelVersion == "" {
		t.Errorf("entered event metadata: %+v", entered)
	}

	// Restart with SIGTERM: the lease is released, the new process takes
	// over from the stored state and evaluates (sees the persona still in)
	// without announcing it again.
	em.stop(t, 30*time.Second)
	restarted := time.Now()
	em = e.start("emit")
	e.waitEvaluations(restarted, 3, 2*time.Minute)
	if n := len(e.changes()); n != 1 {
		t.Fatalf("after the SIGTERM restart the topic holds %d changes, want still 1", n)
	}

	// Restart with SIGKILL: no release; the new process waits for the
	// lease to run out, then continues.
	em.kill()
	restarted = time.Now()
	em = e.start("emit")
	e.waitEvaluations(restarted, 3, 2*time.Minute)
	if n := len(e.changes()); n != 1 {
		t.Fatalf("after the SIGKILL restart the topic holds %d changes, want still 1", n)
	}

	// Out: the same researchers look at groceries; sports falls to
	// 80/(80+240) = 25 % of their events.
	tr.views(0, 8, "grocery", 30)
	exited := e.waitChange(schemas.SegmentExited, 2, 3*time.Minute)
	if exited.Figures.Suppressed {
		t.Errorf("exited for the share, yet figures are suppressed: %+v", exited.Figures)
	}
	e.waitEvaluations(time.Now(), 3, 2*time.Minute)

	got := e.changes()
	dups := checkChanges(t, got, wantChange{schemas.SegmentEntered, 1}, wantChange{schemas.SegmentExited, 2})
	if dups != 0 {
		// Allowed by the contract (same event_id), but nothing here crashed
		// in the middle of a publication.
		t.Errorf("%d repeated segment changes; none expected in this run", dups)
	}
	for _, c := range got {
		if c.ev.EventID == entered.EventID {
			t.Logf("example segment.entered: %s", c.raw.Value)
		} else {
			t.Logf("example segment.exited: %s", c.raw.Value)
		}
	}

	t.Run("KcatConsumer", func(t *testing.T) { kcatConsumer(t, e, got) })

	em.stop(t, 30*time.Second)
	agg.stop(t, 30*time.Second)
	t.Logf("enter, SIGTERM and SIGKILL restarts, exit: %s", time.Since(began).Round(time.Second))
}

// TestEmitTwoInstancesAnnounceOnce runs two `emit` processes side by side:
// each change is published once. Then the leader is killed and the other
// instance announces the exit, continuing from the stored state.
func TestEmitTwoInstancesAnnounceOnce(t *testing.T) {
	began := time.Now()
	e := newEmitEnv(t, 6*time.Second)
	agg := e.start("aggregate")
	a := e.start("emit")
	b := e.start("emit")
	tr := &traffic{t: t, e: e}

	tr.researchers(0, 8, "sports", 9)
	e.waitChange(schemas.SegmentEntered, 1, 3*time.Minute)
	e.waitEvaluations(time.Now(), 3, 2*time.Minute)
	// Both instances ran the whole time; in this normal case the change is
	// on the topic exactly once: no duplicate at all, not even one with
	// the same event_id.
	if got := e.changes(); len(got) != 1 {
		t.Fatalf("two instances published %d messages for one change, want 1", len(got))
	}
	const published = `"segment change published"`
	var leader, other *proc
	switch inA, inB := strings.Contains(string(a.out.Bytes()), published), strings.Contains(string(b.out.Bytes()), published); {
	case inA && !inB:
		leader, other = a, b
	case inB && !inA:
		leader, other = b, a
	default:
		t.Fatalf("publishing instance unclear: in a's log %v, in b's %v", inA, inB)
	}
	for _, p := range []*proc{a, b} {
		if p.cmd.ProcessState != nil {
			t.Fatalf("an emit instance exited early:\n%s", tail(p.out.Bytes(), 20))
		}
	}

	// The leader dies without releasing the lease; the other instance takes
	// over when it runs out and announces the exit, not the entry again.
	leader.kill()
	tr.views(0, 8, "grocery", 30)
	e.waitChange(schemas.SegmentExited, 2, 3*time.Minute)
	e.waitEvaluations(time.Now(), 3, 2*time.Minute)
	got := e.changes()
	if dups := checkChanges(t, got, wantChange{schemas.SegmentEntered, 1}, wantChange{schemas.SegmentExited, 2}); dups != 0 {
		t.Logf("%d repeated messages with the same event_id after the leader was killed", dups)
	}
	if !strings.Contains(string(other.out.Bytes()), `"segment.exited"`) {
		t.Errorf("the surviving instance did not log publishing the exit:\n%s", tail(other.out.Bytes(), 20))
	}
	other.stop(t, 30*time.Second)
	agg.stop(t, 30*time.Second)
	t.Logf("two instances, leader killed: %s", time.Since(began).Round(time.Second))
}

// TestEmitKAnonymityBoundary: a persona with k-1 visitors in the window is
// never published, with enough visitors it is.
//
// The boundary is the one emit/privacy implements. Visitor counts are
// HyperLogLog estimates, so the gate asks for a safety margin of three
// standard errors: a persona is published only when its estimate reaches
// VisitorThreshold(k) = ⌈k·(1 + 3·0.0081)⌉, which for every k up to 41 is
// k+1. With k = 5 the threshold is 6: at k-1 = 4 visitors and at exactly
// k = 5 visitors the persona is suppressed ({persona, suppressed: true}, no
// counts) and no segment change names it; at 6 it is published and enters
// the segment. (At these sizes Redis' HyperLogLog counts exactly, so the
// test's visitor counts are the estimates.)
func TestEmitKAnonymityBoundary(t *testing.T) {
	began := time.Now()
	threshold := int(privacy.VisitorThreshold(emitK))
	if threshold != emitK+1 {
		t.Fatalf("VisitorThreshold(%d) = %d; this test is written for the margin of one visitor (k+1)", emitK, threshold)
	}
	e := newEmitEnv(t, 4*time.Second)
	agg := e.start("aggregate")
	em := e.start("emit")
	tr := &traffic{t: t, e: e}
	store := openStore(t, e)

	// researchersInRedis is the persona's visitor count as the aggregate
	// stored it (the 1h window the segment reads).
	researchersInRedis := func() int64 {
		now := time.Now()
		w, err := store.ReadWindow(context.Background(), now.Add(-time.Hour), now.Add(time.Minute))
		if err != nil || w.Personas[emitPerson] == nil {
			return 0
		}
		return w.Personas[emitPerson].Visitors
	}

	n := 0
	for _, crowd := range []int{emitK - 1, emitK} {
		tr.researchers(n, crowd, "sports", 9)
		n = crowd
		waitFor(t, 2*time.Minute, fmt.Sprintf("%d researchers in Redis", crowd), func() bool { return researchersInRedis() == int64(crowd) })
		applied := time.Now()
		snaps := e.waitEvaluations(applied, 2, 2*time.Minute)
		windows := map[string]bool{}
		for _, s := range snaps {
			windows[s.Window] = true
			f := personaIn(t, s, emitPerson)
			if !f.Suppressed || f.Visitors != nil || f.Events != nil || f.ByType != nil || f.ByCategory != nil || f.Entered != nil || f.Left != nil {
				t.Fatalf("%d researchers (k=%d, threshold %d): snapshot %s shows %+v, want suppressed with no counts", crowd, emitK, threshold, s.Window, f)
			}
		}
		for _, s := range snaps {
			if s.Window == "1h" && crowd == emitK {
				b, _ := json.Marshal(s)
				t.Logf("example snapshot with %d researchers (suppressed): %s", crowd, b)
				break
			}
		}
		if len(windows) != 3 {
			t.Fatalf("snapshots after the evaluations cover windows %v, want 5m, 1h and 24h", windows)
		}
		if got := e.changes(); len(got) != 0 {
			t.Fatalf("with %d researchers (below the threshold %d) a segment change was published: %s", crowd, threshold, got[0].raw.Value)
		}
	}
	// The raw JSON of a suppressed persona holds its name and the flag,
	// nothing else.
	for _, m := range e.readTopic(e.topics["snapshots"]) {
		var s struct {
			Personas []map[string]any `json:"personas"`
		}
		if err := json.Unmarshal(m.Value, &s); err != nil {
			t.Fatal(err)
		}
		for _, p := range s.Personas {
			if p["persona"] == emitPerson {
				keys := slices.Sorted(maps.Keys(p))
				if !reflect.DeepEqual(keys, []string{"persona", "suppressed"}) || p["suppressed"] != true {
					t.Fatalf("suppressed persona published as %v", p)
				}
			}
		}
	}

	// One more visitor: the threshold is reached; the persona is published
	// and enters the segment.
	tr.researchers(n, threshold, "sports", 9)
	c := e.waitChange(schemas.SegmentEntered, 1, 3*time.Minute)
	if c.Figures.Suppressed || c.Figures.Visitors == nil || *c.Figures.Visitors != int64(threshold) {
		t.Fatalf("entered with figures %+v, want %d visitors", c.Figures, threshold)
	}
	// The 1h window: the 5m one may have lost the first visitors by now
	// on a slow machine.
	snaps := e.waitEvaluations(evaluatedAt(t, c.EvaluatedAt), 1, 2*time.Minute)
	for _, s := range snaps {
		if s.Window != "1h" {
			continue
		}
		f := personaIn(t, s, emitPerson)
		if f.Suppressed || f.Visitors == nil || *f.Visitors != int64(threshold) {
			t.Fatalf("snapshot %s after the threshold shows %+v, want %d visitors", s.Window, f, threshold)
		}
	}
	em.stop(t, 30*time.Second)
	agg.stop(t, 30*time.Second)
	t.Logf("k boundary: %s", time.Since(began).Round(time.Second))
}

func personaIn(t *testing.T, s schemas.Snapshot, persona string) schemas.Figures {
	t.Helper()
	for _, p := range s.Personas {
		if p.Persona == persona {
			return p
		}
	}
	t.Fatalf("snapshot %s at %s does not list %s: %+v", s.Window, s.EvaluatedAt, persona, s.Personas)
	return schemas.Figures{}
}

// kcatConsumer reads the segment-change and snapshot topics with kcat
// (librdkafka, the Debian package), as an analytics team would, and checks
// that what it prints parses against the schemas and matches what the
// test's own reader saw.
func kcatConsumer(t *testing.T, e *env, want []changeMsg) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (apt-get install kcat): %v", err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", strings.Join(e.brokers, ","), "-C", "-e", "-q", "-o", "beginning"}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}

	// Segment changes in kcat's JSON envelope: key, payload, headers.
	type envelope struct {
		Topic     string   `json:"topic"`
		Partition int      `json:"partition"`
		Offset    int64    `json:"offset"`
		Key       string   `json:"key"`
		Payload   string   `json:"payload"`
		Headers   []string `json:"headers"`
	}
	var envelopes []envelope
	out := run("-t", e.topics["changes"], "-J")
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var env envelope
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			t.Fatalf("kcat -J printed a line that is not JSON: %v\n%s", err, line)
		}
		envelopes = append(envelopes, env)
	}
	if len(envelopes) != len(want) {
		t.Fatalf("kcat read %d segment changes, the test's reader %d", len(envelopes), len(want))
	}
	for i, env := range envelopes {
		if err := schemas.ValidateJSON(schemas.SegmentChangeSchema, []byte(env.Payload)); err != nil {
			t.Fatalf("kcat's payload does not match the schema: %v\n%s", err, env.Payload)
		}
		var c schemas.SegmentChange
		if err := json.Unmarshal([]byte(env.Payload), &c); err != nil {
			t.Fatal(err)
		}
		if env.Key != c.Persona {
			t.Errorf("kcat: key %q, want the persona %q", env.Key, c.Persona)
		}
		if len(env.Headers) != 2 || env.Headers[0] != "event_id" || env.Headers[1] != c.EventID {
			t.Errorf("kcat: headers %v, want [event_id %s]", env.Headers, c.EventID)
		}
		if env.Payload != string(want[i].raw.Value) {
			t.Errorf("kcat message %d differs from the test's reader:\n%s\n%s", i, env.Payload, want[i].raw.Value)
		}
	}
	t.Logf("kcat -J, first line: %s", strings.SplitN(string(out), "\n", 2)[0])

	// The header format docs/topics.md uses to drop duplicates with awk:
	// "event_id=<id>" TAB key TAB value.
	out = run("-t", e.topics["changes"], "-f", `%h\t%k\t%s\n`)
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 || i >= len(want) {
			t.Fatalf("kcat -f '%%h\\t%%k\\t%%s\\n' line %d: %q", i, line)
		}
		if f[0] != "event_id="+want[i].ev.EventID || f[1] != want[i].ev.Persona || f[2] != string(want[i].raw.Value) {
			t.Errorf("kcat -f line %d = %q", i, line)
		}
	}

	// Snapshots with a plain format: key TAB value per line.
	out = run("-t", e.topics["snapshots"], "-f", `%k\t%s\n`)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		t.Fatalf("kcat read %d snapshots", len(lines))
	}
	byWindow := map[string]int{}
	for _, line := range lines {
		key, value, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("kcat line without a tab: %q", line)
		}
		if err := schemas.ValidateJSON(schemas.SnapshotSchema, []byte(value)); err != nil {
			t.Fatalf("kcat's snapshot does not match the schema: %v\n%s", err, value)
		}
		var s schemas.Snapshot
		if err := json.Unmarshal([]byte(value), &s); err != nil {
			t.Fatal(err)
		}
		if key != s.Window {
			t.Errorf("kcat: snapshot key %q, want its window %q", key, s.Window)
		}
		byWindow[key]++
	}
	keys := make([]string, 0, len(byWindow))
	for k := range byWindow {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !reflect.DeepEqual(keys, []string{"1h", "24h", "5m"}) {
		t.Errorf("kcat: snapshot windows %v, want 1h, 24h, 5m", keys)
	}
	t.Logf("kcat read %d segment changes and %d snapshots %v; a snapshot line: %s", len(envelopes), len(lines), byWindow, lines[len(lines)-1])
}
