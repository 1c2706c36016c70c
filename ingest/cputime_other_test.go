//go:build !linux

package ingest

func cpuNanos(int) int64 { return 0 }
