package testenv

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkaTimeout bounds each admin or produce call the helpers make.
const kafkaTimeout = 60 * time.Second

// maxTopicBase keeps generated names well below Kafka's 249-character limit.
const maxTopicBase = 180

// adminClient returns a kafka-go client with its own transport. kafka-go's transports
// answer Metadata requests from a cache refreshed every MetadataTTL, and the shared
// DefaultTransport refreshes only every 6 s; a private transport with a short TTL sees
// new topics and leaders quickly. The returned func closes its connections.
func adminClient(brokers []string) (*kafka.Client, func()) {
	tr := &kafka.Transport{
		ClientID:    "personas-testenv",
		MetadataTTL: 200 * time.Millisecond,
	}
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: kafkaTimeout, Transport: tr}
	return c, tr.CloseIdleConnections
}

// topicName builds base + "-" + hash of the test name + "-" + random hex, using only
// the characters Kafka allows in topic names ([a-zA-Z0-9._-]). Underscores in base
// become '-' because Kafka warns that '.' and '_' collide in metric names.
func topicName(t testing.TB, base string) string {
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	clean := strings.Trim(b.String(), ".-")
	if clean == "" {
		clean = "test"
	}
	if len(clean) > maxTopicBase {
		clean = clean[:maxTopicBase]
	}
	return clean + "-" + testHash(t) + "-" + randomSuffix(4)
}

// Topic creates a fresh, uniquely named topic with the given number of partitions on
// the broker from PERSONAS_KAFKA_BROKERS, waits until every partition has a leader,
// and deletes the topic when the test ends (best effort). The name is base followed
// by a hash of the test name and a random suffix, e.g. "clickstream.raw-1f2e3d4c-a1b2c3d4".
// The replication factor is the broker's default (1 on the test broker).
func Topic(t testing.TB, base string, partitions int) string {
	t.Helper()
	brokers := Kafka(t)
	if partitions < 1 {
		t.Fatalf("testenv.Topic(%q): partitions must be at least 1, got %d", base, partitions)
	}
	name := topicName(t, base)

	client, closeClient := adminClient(brokers)
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()

	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{
			Topic:             name,
			NumPartitions:     partitions,
			ReplicationFactor: -1, // the broker's default.replication.factor
		}},
	})
	if err != nil {
		t.Fatalf("testenv.Topic: creating topic %s on %v: %v (is Kafka up? see scripts/services status)", name, brokers, err)
	}
	if err := res.Errors[name]; err != nil {
		t.Fatalf("testenv.Topic: broker refused topic %s: %v", name, err)
	}
	t.Cleanup(func() { deleteTopic(t, brokers, name) })

	if err := waitForLeaders(ctx, client, name, partitions); err != nil {
		t.Fatalf("testenv.Topic: topic %s: %v", name, err)
	}
	return name
}

// waitForLeaders polls metadata until topic has exactly n partitions, each with a
// leader and no error.
func waitForLeaders(ctx context.Context, client *kafka.Client, topic string, n int) error {
	var last string
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		switch {
		case err != nil:
			last = err.Error()
		case len(md.Topics) != 1:
			last = fmt.Sprintf("metadata names %d topics", len(md.Topics))
		case md.Topics[0].Error != nil:
			last = md.Topics[0].Error.Error()
		default:
			ready := 0
			for _, p := range md.Topics[0].Partitions {
				if p.Error == nil && p.Leader.Host != "" {
					ready++
				}
			}
			if ready == n && len(md.Topics[0].Partitions) == n {
				return nil
			}
			last = fmt.Sprintf("%d of %d partitions have a leader", ready, n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions did not get leaders in time (last: %s): %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func deleteTopic(t testing.TB, brokers []string, name string) {
	client, closeClient := adminClient(brokers)
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
	if err == nil {
		err = res.Errors[name]
	}
	if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Logf("testenv: could not delete topic %s (ignored): %v", name, err)
	}
}

// Partitions returns the partition ids of topic, sorted.
func Partitions(t testing.TB, brokers []string, topic string) []int {
	t.Helper()
	client, closeClient := adminClient(brokers)
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("testenv: metadata for topic %s on %v: %v (is Kafka up? see scripts/services status)", topic, brokers, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		var terr error
		if len(md.Topics) == 1 {
			terr = md.Topics[0].Error
		}
		t.Fatalf("testenv: topic %s not found on %v: %v", topic, brokers, terr)
	}
	ids := make([]int, 0, len(md.Topics[0].Partitions))
	for _, p := range md.Topics[0].Partitions {
		ids = append(ids, p.ID)
	}
	sort.Ints(ids)
	return ids
}

// Produce writes msgs to topic with acks=all and waits until the broker has them.
// Partitions are chosen from the key with murmur2, as Java clients do; messages
// without a key go to a random partition. A message's own Topic must be empty or
// equal to topic. The topic must exist (see Topic).
func Produce(t testing.TB, brokers []string, topic string, msgs ...kafka.Message) {
	t.Helper()
	produce(t, brokers, topic, kafka.Murmur2Balancer{}, msgs)
}

// ProducePartitions is Produce with the partition taken from each message's
// Partition field instead of its key.
func ProducePartitions(t testing.TB, brokers []string, topic string, msgs ...kafka.Message) {
	t.Helper()
	produce(t, brokers, topic, kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }), msgs)
}

// produce writes with a private transport: the process-wide DefaultTransport caches
// metadata for 6 s and so answers "Unknown Topic Or Partition" for a topic created
// moments ago.
func produce(t testing.TB, brokers []string, topic string, balancer kafka.Balancer, msgs []kafka.Message) {
	t.Helper()
	if len(msgs) == 0 {
		return
	}
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		if m.Topic != "" && m.Topic != topic {
			t.Fatalf("testenv.Produce: message %d is for topic %q, not %q", i, m.Topic, topic)
		}
		m.Topic = topic
		out[i] = m
	}
	tr := &kafka.Transport{ClientID: "personas-testenv", MetadataTTL: time.Second}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     balancer,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    1000,
		BatchBytes:   1 << 20, // Kafka's default message.max.bytes is about 1 MiB
		MaxAttempts:  10,
		Transport:    tr,
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()
	err := w.WriteMessages(ctx, out...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("testenv.Produce: writing %d messages to %s on %v: %v", len(out), topic, brokers, err)
	}
}

// Consume reads topic from the earliest offset of every partition, without a
// consumer group (nothing is committed), until it has n messages or timeout passes,
// and returns them ordered by partition and offset. It returns fewer than n messages
// when the timeout passes first (the caller checks the count); with n <= 0 it reads
// until the timeout and returns everything it saw.
func Consume(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []kafka.Message {
	t.Helper()
	partitions := Partitions(t, brokers, topic)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	var (
		mu   sync.Mutex
		got  []kafka.Message
		errs []error
		wg   sync.WaitGroup
	)
	for _, p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   brokers,
			Topic:     topic,
			Partition: p,
			MinBytes:  1,
			MaxBytes:  10 << 20,
			MaxWait:   100 * time.Millisecond,
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("partition %d: %w", p, err))
						mu.Unlock()
						cancel()
					}
					return
				}
				mu.Lock()
				if n <= 0 || len(got) < n {
					got = append(got, m)
				}
				if n > 0 && len(got) >= n {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("testenv.Consume: reading %s: %v", topic, errors.Join(errs...))
	}
	sort.SliceStable(got, func(i, j int) bool {
		if got[i].Partition != got[j].Partition {
			return got[i].Partition < got[j].Partition
		}
		return got[i].Offset < got[j].Offset
	})
	if n > 0 && len(got) < n {
		t.Logf("testenv.Consume: got %d of %d messages from %s within %v", len(got), n, topic, timeout)
	}
	return got
}
