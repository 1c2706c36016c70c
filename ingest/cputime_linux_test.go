package ingest

import "syscall"

// cpuNanos returns the CPU time (user + system) of the whole process
// (who == 0, RUSAGE_SELF: every thread, so GC workers count too) or of the
// calling OS thread (who == 1, RUSAGE_THREAD) in nanoseconds.
func cpuNanos(who int) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
