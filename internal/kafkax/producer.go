package kafkax

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"

	"github.com/personas-dev/personas/internal/config"
)

// maxRequestBytes keeps one produce request per partition under the
// broker's default message.max.bytes (1 MiB), with room for record overhead.
const maxRequestBytes = 900 << 10

// Produce retries within one Write: short, because the caller retries the
// whole call with its own, longer backoff and reports it (D4).
const (
	produceAttempts   = 5
	produceBackoffMin = 50 * time.Millisecond
	produceBackoffMax = time.Second
	produceTimeout    = 10 * time.Second
	// partitionsTTL is how long a topic's partition count is trusted: the
	// same refresh period as the Transport's metadata cache, so added
	// partitions are used within about a minute.
	partitionsTTL = 30 * time.Second
)

// OrderedWriter writes messages so that, per target partition, every call's
// messages form record batches written one after the other: a later batch
// is never written before an earlier one is acknowledged, and the rest of a
// call is not written once a batch failed.
//
// Why: the aggregate stage drops ingest's retry duplicates by keeping, per
// source partition, the highest source offset applied. That is only exact if
// a retried write can never land behind a later one. kafka-go's Writer may
// split a large call into several batches for one partition and keep writing
// the later ones after an earlier one failed.
//
// How: it partitions the messages itself (Murmur2, like the Java client, so
// keys land where Kafka Streams and other Java producers would put them)
// and writes in rounds: each round is one produce request per broker that
// carries the next record batch of every target partition that broker
// leads; a partition's next batch goes in the round after its previous
// one was acknowledged. Compared with kafka-go's Writer (one request per
// partition) this cuts the produce requests of a call from the number of
// partitions to the number of brokers, which is what the broker's CPU
// follows when batches are small (steady traffic); and it avoids the
// Writer's per-call costs, which dominated the stages' writes: a buffer of
// BatchSize messages allocated and zeroed per partition and call (about
// 2 MB for a 2000-message call), and BatchTimeout waited per call.
//
// An OrderedWriter is used by one goroutine at a time (one per input
// partition); it shares the connection pool of its Transport with the others.
type OrderedWriter struct {
	client      *kafka.Client
	transport   kafka.RoundTripper
	acks        kafka.RequiredAcks
	compression kafka.Compression
	batchSize   int
	balancer    kafka.Murmur2Balancer

	topics map[string]*topicLeaders
	ids    []int // 0..n-1, the balancer's partition list
	// parts holds the messages of one call per target partition; its
	// buffers are reused from call to call.
	parts map[topicPartition]*partitionBatch
	used  []*partitionBatch
}

type topicPartition struct {
	topic     string
	partition int
}

// topicLeaders is a topic's partition leaders (broker ids), from the
// Transport's metadata cache.
type topicLeaders struct {
	leaders []int
	fetched time.Time
}

// NewOrderedWriter returns a writer with acks from all in-sync replicas (or
// the leader, when configured) and the configured compression. Batches hold
// at most p.BatchSize messages and maxRequestBytes per partition.
func NewOrderedWriter(conn *Conn, transport *kafka.Transport, p config.Producer) *OrderedWriter {
	acks := kafka.RequireAll
	if p.Acks == "leader" {
		acks = kafka.RequireOne
	}
	batch := p.BatchSize
	if batch <= 0 {
		batch = 2000
	}
	return &OrderedWriter{
		client:      &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Timeout: produceTimeout, Transport: transport},
		transport:   transport,
		acks:        acks,
		compression: compression(p.Compression),
		batchSize:   batch,
		topics:      map[string]*topicLeaders{},
		parts:       map[topicPartition]*partitionBatch{},
	}
}

func compression(name string) kafka.Compression {
	switch name {
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	return 0
}

// Write writes msgs (each with its Topic set) and returns when all are
// acknowledged, or the first error. On error, some prefix of each target
// partition's batches may have been written: the caller retries the whole
// call, and readers see duplicates (with the same deterministic ids), never
// a reordering. Records without a time get the time of the call.
func (o *OrderedWriter) Write(ctx context.Context, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	now := time.Now()
	for _, pb := range o.used {
		pb.msgs, pb.done, pb.attempts = pb.msgs[:0], 0, 0
	}
	o.used = o.used[:0]
	for i := range msgs {
		m := &msgs[i]
		tl, err := o.leaders(ctx, m.Topic, now)
		if err != nil {
			return err
		}
		key := topicPartition{m.Topic, o.balancer.Balance(*m, o.ids[:len(tl.leaders)]...)}
		pb := o.parts[key]
		if pb == nil {
			pb = &partitionBatch{topicPartition: key}
			o.parts[key] = pb
		}
		if len(pb.msgs) == 0 {
			o.used = append(o.used, pb)
		}
		pb.msgs = append(pb.msgs, m)
	}
	backoff := produceBackoffMin
	for {
		pending, err := o.round(ctx, now)
		if err != nil || !pending {
			return err
		}
		if o.anyRetry() {
			// Some partition's batch failed with a temporary error: it
			// goes again in the next round, after a pause.
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			backoff = min(2*backoff, produceBackoffMax)
		}
	}
}

func (o *OrderedWriter) anyRetry() bool {
	for _, pb := range o.used {
		if pb.retry {
			return true
		}
	}
	return false
}

// round sends the next batch of every partition with messages left, one
// request per broker, and records the outcome. It reports whether messages
// are left, and the error that ends the call (a failed batch whose
// partition may not be retried).
func (o *OrderedWriter) round(ctx context.Context, now time.Time) (pending bool, err error) {
	reqs := map[int]*produceAPI.Request{}
	var sent []*partitionBatch
	results := map[topicPartition]error{}
	for _, pb := range o.used {
		if pb.done == len(pb.msgs) {
			continue
		}
		pb.cut(o.batchSize, now)
		tl, err := o.leaders(ctx, pb.topic, time.Now())
		if err != nil {
			results[pb.topicPartition] = err
			sent = append(sent, pb)
			continue
		}
		leader := -1
		if pb.partition < len(tl.leaders) {
			leader = tl.leaders[pb.partition]
		}
		req := reqs[leader]
		if req == nil {
			req = &produceAPI.Request{Acks: int16(o.acks), Timeout: int32(produceTimeout / time.Millisecond)}
			reqs[leader] = req
		}
		var rt *produceAPI.RequestTopic
		for i := range req.Topics {
			if req.Topics[i].Topic == pb.topic {
				rt = &req.Topics[i]
			}
		}
		if rt == nil {
			req.Topics = append(req.Topics, produceAPI.RequestTopic{Topic: pb.topic})
			rt = &req.Topics[len(req.Topics)-1]
		}
		rt.Partitions = append(rt.Partitions, produceAPI.RequestPartition{
			Partition: int32(pb.partition),
			RecordSet: protocol.RecordSet{Attributes: protocol.Attributes(o.compression) & 7, Records: pb},
		})
		sent = append(sent, pb)
	}
	if len(sent) == 0 {
		return false, nil
	}
	// One request per broker; several brokers in parallel.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := o.produce(ctx, req)
			mu.Lock()
			maps.Copy(results, res)
			mu.Unlock()
		}()
	}
	wg.Wait()
	var errs []error
	for _, pb := range sent {
		err := results[pb.topicPartition]
		pb.retry = false
		if err == nil {
			pb.done, pb.attempts = pb.end, 0
			continue
		}
		pb.attempts++
		if errors.Is(err, kafka.NotLeaderForPartition) || errors.Is(err, kafka.LeaderNotAvailable) || errors.Is(err, kafka.UnknownTopicOrPartition) {
			delete(o.topics, pb.topic) // ask for the leaders again
		}
		if pb.attempts < produceAttempts && ctx.Err() == nil && retriable(err) {
			pb.retry = true
			continue
		}
		errs = append(errs, fmt.Errorf("kafka: produce to %s/%d: %w", pb.topic, pb.partition, err))
	}
	if len(errs) > 0 {
		return true, errors.Join(errs...)
	}
	return true, nil
}

// produce sends one request and returns the outcome per partition.
func (o *OrderedWriter) produce(ctx context.Context, req *produceAPI.Request) map[topicPartition]error {
	out := map[topicPartition]error{}
	fail := func(err error) map[topicPartition]error {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				out[topicPartition{t.Topic, int(p.Partition)}] = err
			}
		}
		return out
	}
	rctx, cancel := context.WithTimeout(ctx, produceTimeout)
	defer cancel()
	m, err := o.transport.RoundTrip(rctx, o.client.Addr, req)
	if err != nil {
		return fail(err)
	}
	if o.acks == kafka.RequireNone {
		return out
	}
	res, ok := m.(*produceAPI.Response)
	if !ok {
		return fail(fmt.Errorf("unexpected response %T", m))
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			out[topicPartition{t.Topic, int(p.Partition)}] = errors.New("no response for the partition")
		}
	}
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			var err error
			if p.ErrorCode != 0 {
				err = kafka.Error(p.ErrorCode)
			}
			out[topicPartition{t.Topic, int(p.Partition)}] = err
		}
	}
	return out
}

// leaders returns a topic's partition leaders, from the Transport's
// metadata cache, remembered for partitionsTTL.
func (o *OrderedWriter) leaders(ctx context.Context, topic string, now time.Time) (*topicLeaders, error) {
	if tl, ok := o.topics[topic]; ok && now.Sub(tl.fetched) < partitionsTTL {
		return tl, nil
	}
	res, err := o.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("kafka: metadata of %s: %w", topic, err)
	}
	var tl *topicLeaders
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("kafka: metadata of %s: %w", topic, t.Error)
		}
		tl = &topicLeaders{leaders: make([]int, len(t.Partitions)), fetched: now}
		for _, p := range t.Partitions {
			if p.ID >= 0 && p.ID < len(tl.leaders) {
				tl.leaders[p.ID] = p.Leader.ID
			}
		}
	}
	if tl == nil || len(tl.leaders) == 0 {
		return nil, fmt.Errorf("kafka: topic %s has no partitions: %w", topic, kafka.UnknownTopicOrPartition)
	}
	o.topics[topic] = tl
	for len(o.ids) < len(tl.leaders) {
		o.ids = append(o.ids, len(o.ids))
	}
	return tl, nil
}

// partitionBatch is one call's messages for one target partition. It is
// also the record reader of the batch being written (msgs[done:end]), so
// records go to the encoder without copying.
type partitionBatch struct {
	topicPartition
	msgs     []*kafka.Message
	done     int  // messages acknowledged
	end      int  // end of the batch in flight
	attempts int  // failed attempts of the batch in flight
	retry    bool // the batch in flight goes again

	next     int
	now      time.Time
	rec      kafka.Record
	key, val bytesReader
}

// cut chooses the next batch: from done, at most batchSize messages and
// maxRequestBytes (at least one message), and rewinds the reader to it.
func (pb *partitionBatch) cut(batchSize int, now time.Time) {
	end, size := pb.done, 0
	for end < len(pb.msgs) && end-pb.done < batchSize {
		m := pb.msgs[end]
		s := len(m.Key) + len(m.Value) + 64
		for _, h := range m.Headers {
			s += len(h.Key) + len(h.Value)
		}
		if end > pb.done && size+s > maxRequestBytes {
			break
		}
		size += s
		end++
	}
	pb.end, pb.next, pb.now = end, pb.done, now
}

// ReadRecord implements kafka.RecordReader.
func (pb *partitionBatch) ReadRecord() (*kafka.Record, error) {
	if pb.next >= pb.end {
		return nil, io.EOF
	}
	m := pb.msgs[pb.next]
	pb.next++
	pb.rec = kafka.Record{Time: m.Time, Headers: m.Headers}
	if pb.rec.Time.IsZero() {
		// A zero time would be sent as 0 (1970): time-based retention
		// would then delete a segment as soon as it is rolled.
		pb.rec.Time = pb.now
	}
	if m.Key != nil {
		pb.key.Reset(m.Key)
		pb.rec.Key = &pb.key
	}
	if m.Value != nil {
		pb.val.Reset(m.Value)
		pb.rec.Value = &pb.val
	}
	return &pb.rec, nil
}

type bytesReader struct{ bytes.Reader }

func (*bytesReader) Close() error { return nil }

// retriable reports errors worth another attempt at once: Kafka's
// temporary errors (leader moved, not enough replicas, timeout) and
// dropped connections.
func retriable(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded)
}

// Close releases nothing: connections belong to the shared Transport.
func (o *OrderedWriter) Close() error { return nil }
