package aggregate

import (
	"testing"
	"time"
)

// TestPlanBucketsCoversExactly checks the invariant of PlanBuckets: every
// minute of the range is covered exactly once, by an hour, a ten-minute or
// a minute bucket, and the edges take few reads.
func TestPlanBucketsCoversExactly(t *testing.T) {
	for from := int64(-130); from < 800; from += 7 {
		for to := from; to < from+1600; to += 11 {
			p := PlanBuckets(from, to)
			seen := map[int64]int{}
			for _, q := range p.Quarters {
				for m := q * 360; m < q*360+360; m++ {
					seen[m]++
				}
			}
			for _, h := range p.Hours {
				for m := h * 60; m < h*60+60; m++ {
					seen[m]++
				}
			}
			for _, x := range p.Tens {
				for m := x * 10; m < x*10+10; m++ {
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
			if len(p.Minutes) > 18 || len(p.Tens) > 10 || len(p.Hours) > 10 {
				t.Fatalf("[%d,%d): %d minute, %d ten-minute and %d hour reads; at most 9, 5 and 5 per edge", from, to, len(p.Minutes), len(p.Tens), len(p.Hours))
			}
		}
	}
}

// TestPlanBuckets24h checks the plan of a day-long window that ends in the
// middle of a minute, a ten-minute span and an hour.
func TestPlanBuckets24h(t *testing.T) {
	end := time.Date(2026, 3, 4, 10, 37, 20, 0, time.UTC)
	from, to := MinuteRange(end.Add(-24*time.Hour), end)
	p := PlanBuckets(from, to)
	// 10:37..11:00 = 10:37,38,39 + 10:40,10:50; hours 11; quarters 12-18,
	// 18-24, 00-06; hours 06..09; 10:00..10:38 = 10:00,10:10,10:20 + 10:30..10:37.
	if len(p.Quarters) != 3 || len(p.Hours) != 5 || len(p.Tens) != 5 || len(p.Minutes) != 3+8 {
		t.Fatalf("plan of a 24h window: %d quarters, %d hours, %d tens, %d minutes", len(p.Quarters), len(p.Hours), len(p.Tens), len(p.Minutes))
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
