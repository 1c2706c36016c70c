package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/synth"
)

// topicSize returns the number of records in a topic: the sum of its
// partitions' high watermarks (the bench's topics are fresh, start at 0
// and hold no transaction markers).
func topicSize(ctx context.Context, conn *kafkax.Conn, topic string, partitions int) (int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := 0; p < partitions; p++ {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	res, err := conn.Client().ListOffsets(ctx, req)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return 0, po.Error
		}
		n += po.LastOffset
	}
	return n, nil
}

// deleteTopics deletes the bench's topics (and, best effort, its groups).
func deleteTopics(ctx context.Context, conn *kafkax.Conn, topics, groups []string) error {
	if len(groups) > 0 {
		_, _ = conn.Client().DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: groups})
	}
	if len(topics) == 0 {
		return nil
	}
	res, err := conn.Client().DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return err
	}
	var errs []error
	for t, e := range res.Errors {
		if e != nil && !errors.Is(e, kafka.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("%s: %w", t, e))
		}
	}
	return errors.Join(errs...)
}

// kafkaVersion reads the broker version from the kafka-clients jar on the
// broker JVM's class path ("" when unknown).
func kafkaVersion(pid int) string {
	if pid == 0 {
		return ""
	}
	re := regexp.MustCompile(`kafka-clients-([0-9][0-9A-Za-z.\-]*)\.jar`)
	cl := cmdline(pid)
	if m := re.FindStringSubmatch(cl); m != nil {
		return m[1]
	}
	for _, f := range strings.Fields(cl) {
		for _, entry := range strings.Split(f, ":") {
			if !strings.HasSuffix(entry, "/*") {
				continue
			}
			jars, _ := filepath.Glob(strings.TrimSuffix(entry, "*") + "kafka-clients-*.jar")
			for _, j := range jars {
				if m := re.FindStringSubmatch(filepath.Base(j)); m != nil {
					return m[1]
				}
			}
		}
	}
	return ""
}

// streamConfig is the synthetic stream of the throughput runs: the default
// web-shop mix (visitors of ten archetypes, 4 % bot events, 1 % bad events
// of every kind), a flat rate of eventsPerSecond in event time, and event
// times that end about now, so that every event is recent (inside the
// current epoch or its grace) whatever N is.
func streamConfig(n int, eventsPerSecond float64, seed uint64) synth.Config {
	c := synth.DefaultConfig()
	c.Seed = seed
	c.EventsPerSecond = eventsPerSecond
	c.Diurnal = 0
	span := time.Duration(float64(n) / eventsPerSecond * float64(time.Second))
	c.Start = time.Now().Add(-span)
	return c
}

// produceStats describes a produced stream.
type produceStats struct {
	Events  int64
	Bad     int64 // events synth made malformed
	Bots    int64
	Bytes   int64
	Seconds float64
}

// produce writes n synthetic events to topic as fast as the broker takes
// them: one goroutine generates, two write (acks from all replicas, lz4,
// like the pipeline). rewrite, when set, may change each value in place.
func produce(ctx context.Context, conn *kafkax.Conn, topic string, n int, sc synth.Config,
	rewrite func(i int, v []byte), prog Progress) (produceStats, error) {
	var st produceStats
	w := &kafka.Writer{
		Addr: kafka.TCP(conn.Brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
		// BatchBytes is before compression: a request stays under the
		// broker's default message.max.bytes (1 MiB) whatever lz4 makes of it.
		BatchSize: 2000, BatchBytes: 900 << 10, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll, Compression: kafka.Lz4, Transport: conn.Transport(),
	}
	defer w.Close()
	const chunk = 4000
	batches := make(chan []kafka.Message, 4)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var werr error
	var once sync.Once
	var mu sync.Mutex
	var written int64
	bar := prog.Start("produce", int64(n))
	defer bar.Done()
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if err := w.WriteMessages(ctx, b...); err != nil {
					once.Do(func() { werr = err; cancel() })
					continue
				}
				mu.Lock()
				written += int64(len(b))
				bar.Set(written)
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	g := synth.New(sc)
	var ev synth.Event
	// One arena per chunk: values are copied into it, so a chunk costs two
	// allocations instead of one per event.
	for i := 0; i < n && ctx.Err() == nil; {
		m := min(chunk, n-i)
		msgs := make([]kafka.Message, m)
		var arena []byte
		type span struct{ k0, k1, v0, v1 int }
		spans := make([]span, m)
		for j := 0; j < m; j++ {
			g.Next(&ev)
			if rewrite != nil {
				rewrite(i+j, ev.Value)
			}
			if ev.Bad != synth.Valid {
				st.Bad++
			}
			if ev.Bot {
				st.Bots++
			}
			k0 := len(arena)
			arena = append(arena, ev.Key...)
			v0 := len(arena)
			arena = append(arena, ev.Value...)
			spans[j] = span{k0, v0, v0, len(arena)}
			msgs[j].Time = ev.Time
			if ev.Key == nil {
				spans[j].k0 = -1
			}
		}
		for j := range msgs {
			s := spans[j]
			if s.k0 >= 0 {
				msgs[j].Key = arena[s.k0:s.k1:s.k1]
			}
			msgs[j].Value = arena[s.v0:s.v1:s.v1]
		}
		st.Bytes += int64(len(arena))
		select {
		case batches <- msgs:
		case <-ctx.Done():
		}
		i += m
	}
	close(batches)
	wg.Wait()
	st.Seconds = time.Since(start).Seconds()
	st.Events = written
	if werr != nil {
		return st, fmt.Errorf("produce to %s: %w", topic, shortWriteErr(werr))
	}
	return st, ctx.Err()
}

// shortWriteErr keeps the first of kafka-go's per-message write errors.
func shortWriteErr(err error) error {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil {
				return fmt.Errorf("%d of %d messages failed, first: %w", we.Count(), len(we), e)
			}
		}
	}
	return err
}

// uniqueVisitor rewrites the anonymousId of an event in place with a UUID
// made from i, so that every event comes from a visitor of its own (with
// the identifier fields set to anonymousId only). It keeps the length, so
// the JSON stays valid.
func uniqueVisitor(i int, v []byte) {
	k := bytes.Index(v, []byte(`"anonymousId":"`))
	if k < 0 {
		return
	}
	k += len(`"anonymousId":"`)
	if len(v) < k+36 || v[k+36] != '"' {
		return
	}
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(i>>16), uint64(i))
	copy(v[k:k+36], id)
}

// Clean deletes what earlier bench runs left behind (interrupted with
// SIGKILL, or run with --keep): every topic named bench.* and every Redis
// key under bench:.
func Clean(ctx context.Context, brokers []string, redisURLs ...string) (topics int, err error) {
	conn, err := kafkax.NewConn(config.Kafka{Brokers: brokers, ClientID: "personas-bench"})
	if err != nil {
		return 0, err
	}
	md, err := conn.Client().Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return 0, err
	}
	var names []string
	for _, t := range md.Topics {
		if strings.HasPrefix(t.Name, "bench.") {
			names = append(names, t.Name)
		}
	}
	if err := deleteTopics(ctx, conn, names, nil); err != nil {
		return 0, err
	}
	for _, u := range redisURLs {
		if u == "" {
			continue
		}
		rc, err := openRedis(ctx, u)
		if err != nil {
			return len(names), err
		}
		err = deletePrefix(ctx, rc, "bench:")
		rc.Close()
		if err != nil {
			return len(names), err
		}
	}
	return len(names), nil
}
