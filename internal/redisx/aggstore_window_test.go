package redisx_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/internal/reference"
	"github.com/personas-dev/personas/internal/testenv"
)

// TestAggStoreReadWindowMatchesMemStore writes the same realistic figures
// (ten hours, twelve personas, four partitions, flows) to the Redis store
// and to the in-memory store, and reads many windows from both: windows in
// the past, ragged on both sides (quarter, hour, ten-minute and minute
// buckets), windows that end now while events timestamped a few minutes
// ahead of the clock sit in the last bucket (the read must not take the
// bucket whole), and windows that end after all data (it may). Counters
// must be equal, distinct counts within the HyperLogLog tolerance. It runs
// on a single Redis and on a cluster.
func TestAggStoreReadWindowMatchesMemStore(t *testing.T) {
	url := testenv.RedisURL(t)
	t.Parallel()
	testReadWindowMatchesMemStore(t, url)
}

func TestAggStoreReadWindowMatchesMemStoreCluster(t *testing.T) {
	url := testenv.RedisClusterURL(t)
	t.Parallel()
	testReadWindowMatchesMemStore(t, url)
}

func testReadWindowMatchesMemStore(t *testing.T, url string) {
	s := openStore(t, url)
	var trips atomic.Int64
	s.RoundTrips = func(n int) { trips.Add(int64(n)) }
	mem := aggregate.NewMemStore()
	now := time.Now()
	w := windowData{partitions: 4, hours: 10, eventsPerMinute: 120, visitorsPerMinute: 40, dailyVisitors: 3000,
		end: now.Truncate(time.Minute).Add(4 * time.Minute)} // the last events are ahead of the clock
	w.populate(t, s, mem)
	ctx := context.Background()

	check := func(name string, start, end time.Time) int {
		t.Helper()
		trips.Store(0)
		got, err := s.ReadWindow(ctx, start, end)
		if err != nil {
			t.Fatal(err)
		}
		n := int(trips.Load())
		want, err := mem.ReadWindow(ctx, start, end)
		if err != nil {
			t.Fatal(err)
		}
		if d := reference.Diff(got, want, 0.02); len(d) > 0 {
			t.Errorf("%s [%s, %s): Redis differs from memory:\n  %s", name, start.Format("15:04:05"), end.Format("15:04:05"), strings.Join(d, "\n  "))
		}
		if len(want.Personas) == 0 && name != "empty" {
			t.Errorf("%s: no data in the window; the test reads nothing", name)
		}
		return n
	}
	for _, c := range []struct {
		name       string
		start, end time.Duration // from now
	}{
		{"past, ragged", -9*time.Hour - 7*time.Minute - 30*time.Second, -2*time.Hour - 13*time.Minute},
		{"past, one minute", -3 * time.Hour, -3*time.Hour + time.Minute},
		{"past, inside an hour", -5*time.Hour - 44*time.Minute, -5*time.Hour - 3*time.Minute},
		{"past, whole hours", -time.Duration(now.Minute())*time.Minute - 6*time.Hour, -time.Duration(now.Minute()) * time.Minute},
		{"1h to now", -time.Hour, 0},
		{"5m to now", -5 * time.Minute, 0},
		{"24h to now", -24 * time.Hour, 0},
		{"past 10m", -17 * time.Minute, -7 * time.Minute},
		{"empty", -30 * time.Hour, -26 * time.Hour},
	} {
		check(c.name, now.Add(c.start), now.Add(c.end))
	}
	// Windows ending now: the events ahead of the clock sit after the
	// window in its last bucket, so the read falls back to the planned
	// buckets (an extra round trip per partition). Windows ending after the
	// data take the last bucket whole (the registry, then counters and
	// sketches per partition).
	if n := check("24h to now, data ahead", now.Add(-24*time.Hour), now); n != 1+3*w.partitions {
		t.Errorf("24h window ending now with data ahead of it took %d round trips, want %d (a fallback read in every partition)", n, 1+3*w.partitions)
	}
	later := now.Add(6 * time.Minute)
	for _, win := range []time.Duration{24 * time.Hour, 3 * time.Hour, time.Hour, 20 * time.Minute} {
		if n := check("to after the data", later.Add(-win), later); n != 1+2*w.partitions {
			t.Errorf("%s window after all data took %d round trips, want %d", win, n, 1+2*w.partitions)
		}
	}
}
