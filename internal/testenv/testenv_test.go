package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// fakeTB records Fatalf/Skipf and stops the goroutine like the real ones do.
type fakeTB struct {
	testing.TB
	name        string
	fatal, skip string
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return f.name }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runFake runs fn with a fakeTB on its own goroutine, as testing does.
func runFake(fn func(testing.TB)) *fakeTB {
	f := &fakeTB{name: "TestFake"}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(f)
	}()
	wg.Wait()
	return f
}

func TestMissingServiceSkipsOrFails(t *testing.T) {
	getters := map[string]func(testing.TB){
		EnvKafkaBrokers:    func(tb testing.TB) { Kafka(tb) },
		EnvRedisURL:        func(tb testing.TB) { RedisURL(tb) },
		EnvRedisClusterURL: func(tb testing.TB) { RedisClusterURL(tb) },
	}
	for name, get := range getters {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "")
			t.Setenv(EnvRequireServices, "")
			f := runFake(get)
			if f.skip == "" || f.fatal != "" {
				t.Errorf("without %s and without %s: want a skip, got skip=%q fatal=%q", name, EnvRequireServices, f.skip, f.fatal)
			}
			if !strings.Contains(f.skip, "make test") || !strings.Contains(f.skip, "scripts/services up") {
				t.Errorf("skip message should say how to start the services: %q", f.skip)
			}

			t.Setenv(EnvRequireServices, "1")
			f = runFake(get)
			if f.fatal == "" || f.skip != "" {
				t.Errorf("without %s and with %s=1: want a failure, got skip=%q fatal=%q", name, EnvRequireServices, f.skip, f.fatal)
			}
			if !strings.Contains(f.fatal, name) {
				t.Errorf("failure message should name %s: %q", name, f.fatal)
			}
		})
	}
}

func TestKafkaBrokerList(t *testing.T) {
	t.Setenv(EnvKafkaBrokers, " 127.0.0.1:1 ,127.0.0.1:2,, ")
	var got []string
	f := runFake(func(tb testing.TB) { got = Kafka(tb) })
	if f.fatal != "" || f.skip != "" {
		t.Fatalf("unexpected fatal=%q skip=%q", f.fatal, f.skip)
	}
	if want := []string{"127.0.0.1:1", "127.0.0.1:2"}; !slices.Equal(got, want) {
		t.Errorf("Kafka() = %q, want %q", got, want)
	}
	t.Setenv(EnvKafkaBrokers, " , ")
	f = runFake(func(tb testing.TB) { Kafka(tb) })
	if f.fatal == "" {
		t.Errorf("a broker list without brokers should fail the test")
	}
}

var validTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func TestTopicNames(t *testing.T) {
	bases := []string{"clickstream.raw", "personas.events.v1", "", "under_score", "a/b c:ü", strings.Repeat("x", 400), "..--"}
	seen := map[string]bool{}
	for _, base := range bases {
		name := topicName(t, base)
		if !validTopic.MatchString(name) {
			t.Errorf("topicName(%q) = %q: not a valid Kafka topic name", base, name)
		}
		if strings.Contains(name, "_") {
			t.Errorf("topicName(%q) = %q: contains '_'", base, name)
		}
		if !strings.Contains(name, testHash(t)) {
			t.Errorf("topicName(%q) = %q: lacks the test hash %s", base, name, testHash(t))
		}
		if seen[name] {
			t.Errorf("topicName(%q) = %q: not unique", base, name)
		}
		seen[name] = true
	}
	if got := topicName(t, "clickstream.raw"); !strings.HasPrefix(got, "clickstream.raw-") {
		t.Errorf("topicName keeps a valid base: got %q", got)
	}
}

func TestPrefixes(t *testing.T) {
	a, b := Prefix(t), Prefix(t)
	if a == b {
		t.Errorf("Prefix returned %q twice", a)
	}
	for _, p := range []string{a, b} {
		if strings.ContainsAny(p, "{}*?[]\\ ") || !strings.HasPrefix(p, "test:") || !strings.HasSuffix(p, ":") {
			t.Errorf("Prefix() = %q: want test:<hash>:<random>: without glob or hash-tag characters", p)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	if got, want := globEscape(`a*b?c[d]e\f`), `a\*b\?c\[d\]e\\f`; got != want {
		t.Errorf("globEscape = %q, want %q", got, want)
	}
}

// --- integration tests against the real servers -----------------------------------

func TestKafkaTopicProduceConsume(t *testing.T) {
	brokers := Kafka(t)
	topic := Topic(t, "testenv.roundtrip", 3)
	if got := Partitions(t, brokers, topic); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Partitions(%s) = %v, want [0 1 2]", topic, got)
	}

	const n = 90
	var msgs []kafka.Message
	want := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("visitor-%d", i), fmt.Sprintf("event-%d", i)
		want[v] = k
		msgs = append(msgs, kafka.Message{
			Key:     []byte(k),
			Value:   []byte(v),
			Headers: []kafka.Header{{Key: "h", Value: []byte(v)}},
		})
	}
	start := time.Now()
	Produce(t, brokers, topic, msgs...)
	got := Consume(t, brokers, topic, n, time.Minute)
	t.Logf("produced and consumed %d messages in %v", n, time.Since(start))
	if len(got) != n {
		t.Fatalf("consumed %d messages, want %d", len(got), n)
	}

	partitionsUsed := map[int]int{}
	balancer := kafka.Murmur2Balancer{}
	for i, m := range got {
		if want[string(m.Value)] != string(m.Key) {
			t.Errorf("message %s/%d: key %q value %q was not produced", m.Topic, m.Offset, m.Key, m.Value)
		}
		delete(want, string(m.Value))
		if len(m.Headers) != 1 || string(m.Headers[0].Value) != string(m.Value) {
			t.Errorf("message %d: headers %v lost", i, m.Headers)
		}
		if p := balancer.Balance(m, 0, 1, 2); p != m.Partition {
			t.Errorf("key %q landed in partition %d, murmur2 says %d", m.Key, m.Partition, p)
		}
		if i > 0 && got[i-1].Partition == m.Partition && got[i-1].Offset >= m.Offset {
			t.Errorf("messages not ordered by partition and offset at %d", i)
		}
		partitionsUsed[m.Partition]++
	}
	if len(want) != 0 {
		t.Errorf("%d produced messages were not consumed", len(want))
	}
	if len(partitionsUsed) != 3 {
		t.Errorf("keys spread over partitions %v, want all 3", partitionsUsed)
	}

	// No consumer group: a second read starts from the beginning again, and n <= 0
	// reads everything until the timeout.
	again := Consume(t, brokers, topic, 0, 3*time.Second)
	if len(again) != n {
		t.Errorf("second Consume read %d messages, want %d", len(again), n)
	}
}

func TestProduceWithoutKeys(t *testing.T) {
	brokers := Kafka(t)
	topic := Topic(t, "testenv.nokeys", 2)
	Produce(t, brokers, topic, kafka.Message{Value: []byte("a")}, kafka.Message{Topic: topic, Value: []byte("b")})
	got := Consume(t, brokers, topic, 2, 30*time.Second)
	if len(got) != 2 {
		t.Fatalf("consumed %d messages, want 2", len(got))
	}
}

func TestConsumeStopsAtTimeout(t *testing.T) {
	brokers := Kafka(t)
	topic := Topic(t, "testenv.empty", 1)
	start := time.Now()
	got := Consume(t, brokers, topic, 1, 2*time.Second)
	if len(got) != 0 {
		t.Errorf("empty topic gave %d messages", len(got))
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Consume with a 2s timeout took %v", d)
	}
}

func TestTopicDeletedAtCleanup(t *testing.T) {
	brokers := Kafka(t)
	var names []string
	t.Run("create", func(t *testing.T) {
		a := Topic(t, "testenv.cleanup", 2)
		b := Topic(t, "odd name/with:chars", 1)
		if a == b {
			t.Fatalf("two Topic calls returned %s", a)
		}
		names = []string{a, b}
	})
	if len(names) != 2 {
		t.Fatal("subtest did not create the topics")
	}
	client, closeClient := adminClient(brokers)
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range names {
		for {
			md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
			if err == nil && len(md.Topics) == 1 && errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("topic %s still exists after its test ended (err=%v)", name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// testCleanRedis checks Prefix, CleanRedis and RedisKeys on one server.
func testCleanRedis(t *testing.T, rawURL string, wantCluster bool) {
	c := Redis(t, rawURL)
	if _, isCluster := c.(*redis.ClusterClient); isCluster != wantCluster {
		t.Fatalf("Redis(%s) gave %T, want cluster=%v", rawURL, c, wantCluster)
	}
	ctx := context.Background()

	// The prefix holds glob characters; base+"xyz:k" is another prefix's key that an
	// unescaped MATCH pattern (base + "[x]*?:*") would match and delete.
	base := Prefix(t)
	prefix := base + "[x]*?:"
	decoy := base + "xyz:k"
	CleanRedis(t, rawURL, base+"xyz:")
	if err := c.Set(ctx, decoy, "keep", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	const n = 300
	t.Run("use", func(t *testing.T) {
		CleanRedis(t, rawURL, prefix)
		for i := range n - 1 {
			if err := c.Set(ctx, fmt.Sprintf("%skey:%d", prefix, i), "v", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.HSet(ctx, prefix+"hash", "f", 1).Err(); err != nil {
			t.Fatal(err)
		}
		if keys := RedisKeys(t, rawURL, prefix); len(keys) != n {
			t.Fatalf("RedisKeys found %d keys under %q, want %d", len(keys), prefix, n)
		}
		if cc, ok := c.(*redis.ClusterClient); ok {
			var mu sync.Mutex
			perMaster := map[string]int{}
			err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
				keys, err := scanNode(ctx, node, globEscape(prefix)+"*", false)
				mu.Lock()
				perMaster[node.Options().Addr] = len(keys)
				mu.Unlock()
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(perMaster) != 3 {
				t.Errorf("cluster has %d masters, want 3: %v", len(perMaster), perMaster)
			}
			for addr, k := range perMaster {
				if k == 0 {
					t.Errorf("no test keys on master %s (%v): prefix must not pin keys to one slot", addr, perMaster)
				}
			}
		}
	})
	if keys := RedisKeys(t, rawURL, prefix); len(keys) != 0 {
		t.Errorf("%d keys under %q survived CleanRedis: %v", len(keys), prefix, keys[:min(5, len(keys))])
	}
	if n, err := c.Exists(ctx, decoy).Result(); err != nil || n != 1 {
		t.Errorf("CleanRedis deleted another prefix's key %s (exists=%d, err=%v)", decoy, n, err)
	}
}

func TestCleanRedisStandalone(t *testing.T) {
	testCleanRedis(t, RedisURL(t), false)
}

func TestCleanRedisCluster(t *testing.T) {
	testCleanRedis(t, RedisClusterURL(t), true)
}

func TestOpenRedisDetectsClusterMode(t *testing.T) {
	u, err := url.Parse(RedisClusterURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = "" // a single seed address, no addr parameters
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := OpenRedis(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*redis.ClusterClient); !ok {
		t.Fatalf("OpenRedis(%s) = %T, want *redis.ClusterClient", u, c)
	}
	// Keys in different slots work through the cluster client.
	p := Prefix(t)
	CleanRedis(t, u.String(), p)
	for i := range 20 {
		if err := c.Set(ctx, fmt.Sprintf("%s%d", p, i), i, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRedisUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err := OpenRedis(ctx, "redis://:secret@127.0.0.1:1/0?dial_timeout=1s&max_retries=-1")
	if err == nil {
		t.Fatal("OpenRedis on a closed port succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}
