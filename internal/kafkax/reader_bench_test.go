package kafkax_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/synth"
)

// BenchmarkPartitionReader reads one partition of realistic records (1.1 KB
// synthetic events, lz4, written in batches of 2000 as the stages write
// them) through the consumer's partition reader, in batches of 2000: the
// consume side of every stage. One op is one record; cpu-ns/record is this
// process's CPU time. It needs PERSONAS_KAFKA_BROKERS (skipped otherwise):
//
//	go test -run '^$' -bench PartitionReader -benchmem -benchtime 100000x ./internal/kafkax/
func BenchmarkPartitionReader(b *testing.B) {
	brokers := testenv.Kafka(b)
	topic := testenv.Topic(b, "bench.reader", 1)
	conn := &kafkax.Conn{Brokers: brokers, ClientID: "bench"}
	w := kafkax.NewOrderedWriter(conn, conn.Transport(), config.Producer{BatchSize: 2000, Acks: "all", Compression: "lz4"})
	cfg := synth.DefaultConfig()
	cfg.Start = time.Now()
	cfg.BadShare = 0
	g := synth.New(cfg)
	var ev synth.Event
	ctx := context.Background()
	msgs := make([]kafka.Message, 2000)
	for written := 0; written < b.N; written += len(msgs) {
		for i := range msgs {
			g.Next(&ev)
			msgs[i] = kafka.Message{Topic: topic, Key: []byte("k"), Value: append([]byte(nil), ev.Value...)}
		}
		if err := w.Write(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	r := kafkax.NewPartitionReader(conn, kafkax.ReaderConfig{Topic: topic, Partition: 0, MaxBatch: 2000})
	defer r.Close()
	if err := r.SetOffset(0); err != nil {
		b.Fatal(err)
	}
	batch := make([]kafka.Message, 0, 2000)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for n := 0; n < b.N; {
		var err error
		if batch, err = r.Fill(ctx, batch[:0], 20*time.Millisecond); err != nil {
			b.Fatal(err)
		}
		n += len(batch)
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/record")
}
