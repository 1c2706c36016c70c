package aggregate

import (
	"testing"
	"time"
)

// TestPlanBucketsCoversExactly checks the invariant of PlanBuckets: every
// minute of the range is covered exactly once, by an hour or a minute bucket.
func TestPlanBucketsCoversExactly(t *testing.T) {
	for from := int64(0); from < 200; from += 7 {
		for to := from; to < from+300; to += 11 {
			p := PlanBuckets(from, to)
			seen := map[int64]int{}
			for _, h := range p.Hours {
				for m := h * 60; m < h*60+60; m++ {
					seen[m]++
				}
			}
			for _, m := range p.Minutes {
				seen[m]++
			}
			if len(seen) != int(to-from) {
				t.Fatalf("[%d,%d): covered %d minutes", from, to, len(seen))
			}
			for m, n := range seen {
				if m < from || m >= to || n != 1 {
					t.Fatalf("[%d,%d): minute %d covered %d times", from, to, m, n)
				}
			}
			if len(p.Minutes) > 118 {
				t.Fatalf("[%d,%d): %d minute reads; edges must be under two hours", from, to, len(p.Minutes))
			}
		}
	}
}

func TestMinuteRangeRoundsOut(t *testing.T) {
	s := time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC)
	e := s.Add(90 * time.Second)
	from, to := MinuteRange(s, e)
	if to-from != 2 || from != s.Unix()/60 {
		t.Fatalf("got [%d,%d)", from, to)
	}
}
