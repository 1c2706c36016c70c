// Package e2e tests the personas binary end to end against real Kafka and
// real Redis: the promises as a user and an SRE see them.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "personas-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "personas")
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/personas-dev/personas/cmd/personas")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building personas:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's isolated world: fresh topics, groups and key prefix on
// the shared real servers.
type env struct {
	t        *testing.T
	brokers  []string
	redisURL string
	prefix   string
	topics   map[string]string // raw, events, changes, snapshots, dlq
	vars     []string
}

func newEnv(t *testing.T, partitions int, extra ...string) *env {
	t.Helper()
	e := &env{t: t, brokers: testenv.Kafka(t), redisURL: testenv.RedisURL(t), prefix: testenv.Prefix(t)}
	testenv.CleanRedis(t, e.redisURL, e.prefix)
	e.topics = map[string]string{
		"raw":       testenv.Topic(t, "raw", partitions),
		"events":    testenv.Topic(t, "events", partitions),
		"changes":   testenv.Topic(t, "changes", 1),
		"snapshots": testenv.Topic(t, "snapshots", 1),
		"dlq":       testenv.Topic(t, "dlq", 1),
	}
	e.vars = append([]string{
		"PERSONAS_KAFKA_BROKERS=" + strings.Join(e.brokers, ","),
		"PERSONAS_REDIS_URL=" + e.redisURL,
		"PERSONAS_REDIS_KEY_PREFIX=" + e.prefix,
		"PERSONAS_KAFKA_TOPICS_RAW=" + e.topics["raw"],
		"PERSONAS_KAFKA_TOPICS_EVENTS=" + e.topics["events"],
		"PERSONAS_KAFKA_TOPICS_SEGMENT_CHANGES=" + e.topics["changes"],
		"PERSONAS_KAFKA_TOPICS_SNAPSHOTS=" + e.topics["snapshots"],
		"PERSONAS_KAFKA_TOPICS_DLQ=" + e.topics["dlq"],
		"PERSONAS_KAFKA_GROUPS_INGEST=" + e.prefix + "ingest",
		"PERSONAS_KAFKA_GROUPS_AGGREGATE=" + e.prefix + "aggregate",
		"PERSONAS_KAFKA_CREATE_TOPICS=false",
		"PERSONAS_KAFKA_CONSUMER_SESSION_TIMEOUT=6s",
		"PERSONAS_HTTP_LISTEN=127.0.0.1:0",
		"PERSONAS_LOG_LEVEL=info",
	}, extra...)
	return e
}

// proc is a running personas process with its combined output captured.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// logs collects the output of every process a test started (canary search).
var logs = struct {
	sync.Mutex
	all map[string][]*syncBuffer
}{all: map[string][]*syncBuffer{}}

func (e *env) start(args ...string) *proc {
	e.t.Helper()
	return e.startBinary(binary, args...)
}

// stop sends SIGTERM and waits for a clean exit within timeout.
func (p *proc) stop(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("personas exited with %v after SIGTERM; output:\n%s", err, tail(p.out.Bytes(), 40))
		}
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		t.Fatalf("personas did not exit within %s of SIGTERM; output:\n%s", timeout, tail(p.out.Bytes(), 40))
	}
	return time.Since(began)
}

// kill sends SIGKILL: no cleanup of any kind.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func tail(b []byte, lines int) string {
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// readAll reads every message of a topic from the start, until no new
// message arrived for quiet.
func (e *env) readAll(topic string, quiet time.Duration) []kafka.Message {
	e.t.Helper()
	var out []kafka.Message
	parts := testenv.Partitions(e.t, e.brokers, topic)
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			e.t.Fatal(err)
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), quiet)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				break
			}
			out = append(out, m)
		}
		r.Close()
	}
	return out
}

// redisDump returns every key and value under the test's prefix, as text
// (binary values included byte for byte), for canary searches.
func (e *env) redisDump() []byte {
	e.t.Helper()
	c := testenv.Redis(e.t, e.redisURL)
	ctx := context.Background()
	var b bytes.Buffer
	for _, k := range testenv.RedisKeys(e.t, e.redisURL, e.prefix) {
		b.WriteString(k)
		b.WriteByte('\n')
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			continue
		}
		switch typ {
		case "string":
			v, _ := c.Get(ctx, k).Bytes()
			b.Write(v)
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "set":
			b.WriteString(strings.Join(c.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			b.WriteString(strings.Join(c.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "list":
			b.WriteString(strings.Join(c.LRange(ctx, k, 0, -1).Val(), "\n"))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// consumerLag returns the total lag of a consumer group on a topic.
func (e *env) consumerLag(group, topic string) int64 {
	e.t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	parts := testenv.Partitions(e.t, e.brokers, topic)
	req := &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}}
	res, err := client.OffsetFetch(ctx, req)
	if err != nil {
		e.t.Fatalf("offset fetch: %v", err)
	}
	committed := map[int]int64{}
	for _, p := range res.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	offReq := map[string][]kafka.OffsetRequest{}
	for _, p := range parts {
		offReq[topic] = append(offReq[topic], kafka.LastOffsetOf(p))
	}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: offReq})
	if err != nil {
		e.t.Fatalf("list offsets: %v", err)
	}
	var lag int64
	for _, p := range lo.Topics[topic] {
		c := committed[p.Partition]
		if c < 0 {
			c = 0
		}
		lag += p.LastOffset - c
	}
	return lag
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var _ = redis.Nil
var _ io.Writer = (*syncBuffer)(nil)
