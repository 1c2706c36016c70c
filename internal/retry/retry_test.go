package retry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDelayGrowsAndCaps(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		got := b.Delay(n)
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("Delay(%d) = %s, want %s ±20%%", n, got, want)
		}
	}
}

func TestFatal(t *testing.T) {
	base := errors.New("fence lost")
	err := fmt.Errorf("apply: %w", Fatal(base))
	if !IsFatal(err) || !errors.Is(err, base) {
		t.Fatal("wrapped fatal not recognised")
	}
	if IsFatal(base) || Fatal(nil) != nil {
		t.Fatal("plain errors are retryable")
	}
}

func TestRedact(t *testing.T) {
	err := Redact(errors.New("dial redis://user:hunter2@10.0.0.1:6379: refused"))
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "10.0.0.1") {
		t.Fatalf("got %q", err)
	}
}
