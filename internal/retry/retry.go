// Package retry is the one place that decides what is retried and how
// fast: every stage hands its dependency errors here instead of deciding on
// its own.
//
// The rule is simple because the pipeline's effects are idempotent: every
// error from Kafka or Redis is retried with capped exponential backoff, and
// the batch in hand is kept, until it succeeds (D4). Only errors marked
// Fatal stop a partition: a lost fence (another instance owns the partition
// now) or a programming error that a retry cannot fix.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"regexp"
	"time"
)

// Backoff is capped exponential backoff with jitter.
type Backoff struct {
	// Min is the first delay. Default: 100ms.
	Min time.Duration
	// Max caps the delay. Default: 10s.
	Max time.Duration
}

// DefaultBackoff starts at 100 ms and caps at 10 s: a Redis restart of a few
// seconds is bridged within a second or two of its return, and a long outage
// costs one attempt per 10 s per partition.
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}

// Delay returns the wait before attempt n (1-based), with ±20 % jitter so
// that partitions do not retry in lockstep.
func (b Backoff) Delay(n int) time.Duration {
	if b.Min <= 0 {
		b = DefaultBackoff
	}
	d := b.Min
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return j
}

type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// Fatal marks err as not retryable.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return fatal{err}
}

// IsFatal reports whether err (or an error it wraps) was marked Fatal.
func IsFatal(err error) bool {
	var f fatal
	return errors.As(err, &f)
}

var userinfo = regexp.MustCompile(`://[^/@\s]*@`)

// Redact returns err with any URL credentials removed from its text, for
// logging: client libraries sometimes repeat the address they dialled.
func Redact(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	r := userinfo.ReplaceAllString(s, "://***@")
	if r == s {
		return err
	}
	return errors.New(r)
}

// Sleep waits for d or until ctx is done, and reports whether the full wait
// passed (false: stop retrying, ctx is done).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
