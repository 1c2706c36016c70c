package kafkax_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/synth"
)

// BenchmarkOrderedWriter writes batches of 2000 realistic records (1.1 KB
// synthetic events keyed by 32-character pseudonyms, as ingest writes
// them) to a real broker's 6-partition topic with the production producer
// settings (acks from all replicas, lz4). One op is one batch; allocations
// are per batch; cpu-ns/record is the client's CPU time. It needs PERSONAS_KAFKA_BROKERS (skipped otherwise):
//
//	go test -run '^$' -bench OrderedWriter -benchmem ./internal/kafkax/
func BenchmarkOrderedWriter(b *testing.B) { benchmarkOrderedWriter(b, "lz4", 2000) }

// BenchmarkOrderedWriterSmall writes batches of 60 records, what a stage
// writes per partition and linger under steady traffic: per-request costs
// (the broker's above all) dominate.
func BenchmarkOrderedWriterSmall(b *testing.B) { benchmarkOrderedWriter(b, "lz4", 60) }

// BenchmarkOrderedWriterNoCompression is BenchmarkOrderedWriter without
// compression (kafka.producer.compression: none), to show what lz4 costs.
func BenchmarkOrderedWriterNoCompression(b *testing.B) { benchmarkOrderedWriter(b, "none", 2000) }

func benchmarkOrderedWriter(b *testing.B, compression string, n int) {
	brokers := testenv.Kafka(b)
	topic := testenv.Topic(b, "bench.writer", 6)
	conn := &kafkax.Conn{Brokers: brokers, ClientID: "bench"}
	w := kafkax.NewOrderedWriter(conn, conn.Transport(), config.Producer{BatchSize: 2000, BatchTimeout: 2 * time.Millisecond, Acks: "all", Compression: compression})
	defer w.Close()

	cfg := synth.DefaultConfig()
	cfg.Start = time.Now()
	g := synth.New(cfg)
	var ev synth.Event
	msgs := make([]kafka.Message, n)
	bytes := 0
	for i := range msgs {
		g.Next(&ev)
		sum := sha256.Sum256([]byte(strconv.Itoa(i % 700)))
		msgs[i] = kafka.Message{Topic: topic, Key: []byte(hex.EncodeToString(sum[:16])), Value: append([]byte(nil), ev.Value...)}
		bytes += len(msgs[i].Value) + 32
	}
	ctx := context.Background()
	if err := w.Write(ctx, msgs); err != nil { // warm: metadata, connections
		b.Fatal(err)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	broker := brokerPID(brokers[0])
	b.ResetTimer()
	cpu0, bcpu0 := processCPU(), pidCPU(broker)
	for i := 0; i < b.N; i++ {
		if err := w.Write(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time of this process per record: what the client costs, apart
	// from the broker and from neighbours on a shared machine.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*len(msgs)), "cpu-ns/record")
	if broker != 0 {
		// The broker's CPU per record (it shares the machine with others'
		// traffic: compare runs taken together).
		b.ReportMetric(float64(pidCPU(broker)-bcpu0)/float64(b.N*len(msgs)), "broker-cpu-ns/record")
	}
}

// brokerPID finds the local broker process listening on addr's port (0 if
// none is found): the socket inode in /proc/net/tcp, then the process
// holding it.
func brokerPID(addr string) int {
	_, port, _ := strings.Cut(addr, ":")
	want, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			_, hp, _ := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseInt(hp, 16, 32); err == nil && int(p) == want {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if l, err := os.Readlink(fd); err == nil && inodes[l] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}

// pidCPU returns a process's user+system CPU time in nanoseconds.
func pidCPU(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * int64(time.Second) / 100
}

// processCPU returns the user+system CPU time of this process (all
// threads, so the garbage collector counts) in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
