package synth

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkNext measures generation speed with the default configuration (1 % bad
// events, 4 % bots). It reports events/s of wall time and events per CPU-second of
// the generating thread (the better figure on a shared, busy machine):
//
//	go test -run '^$' -bench BenchmarkNext -benchmem -cpu 1 ./synth
func BenchmarkNext(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Start = testStart
	g := New(cfg)
	var ev Event
	for i := 0; i < 20000; i++ { // warm buffers and the visitor pool a little
		g.Next(&ev)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	bytes := 0
	b.ResetTimer()
	c0, w0 := threadCPU(), time.Now()
	for i := 0; i < b.N; i++ {
		g.Next(&ev)
		bytes += len(ev.Value)
	}
	cpu, wall := threadCPU()-c0, time.Since(w0)
	b.StopTimer()
	b.SetBytes(int64(bytes / max(b.N, 1)))
	b.ReportMetric(float64(b.N)/wall.Seconds(), "events/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
}

// BenchmarkNextCanaries measures canary mode (privacy tests; not a hot path).
func BenchmarkNextCanaries(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Start = testStart
	cfg.Canaries = true
	g := New(cfg)
	var ev Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.Next(&ev)
	}
}
