package redisx_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/internal/testenv"
)

// benchPersonas are twelve persona names, the size the issue asks for.
var benchPersonas = []string{
	"loyal_buyer", "cart_abandoner", "gift_shopper", "tech_enthusiast", "fashion_follower", "home_improver",
	"campaign_clicker", "mobile_bargain_hunter", "researcher", "weekend_planner", "night_owl", "casual_browser",
}

var (
	benchTypes      = []string{"page", "track", "identify", "screen"}
	benchCategories = []string{"electronics", "fashion", "beauty", "home", "garden", "toys", "books", "sports", "grocery", "baby"}
)

// windowData describes realistic figures: a shop with eventsPerMinute
// events from visitorsPerMinute active visitors a minute, over hours of
// buckets ending at end, spread over partitions.
type windowData struct {
	partitions        int
	hours             int
	eventsPerMinute   int
	visitorsPerMinute int
	dailyVisitors     int // population the active visitors are drawn from
	end               time.Time
}

// populate writes the figures through Store.Apply (one delta per
// partition and ten minutes) and, when mirror is set, into it too.
func (w windowData) populate(tb testing.TB, s aggregate.Store, mirror aggregate.Store) {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	endMin := w.end.Unix() / 60
	first := endMin - int64(w.hours*60)
	// A visitor keeps its persona most of the time; personas are skewed.
	personaOf := func(v int) int {
		x := (v * 2654435761) % 1000
		switch {
		case x < 350:
			return len(benchPersonas) - 1 // casual_browser
		case x < 500:
			return 8 // researcher
		default:
			return x % (len(benchPersonas) - 1)
		}
	}
	tokens := map[aggregate.Store][]int64{}
	for _, st := range []aggregate.Store{s, mirror} {
		if st == nil {
			continue
		}
		for p := 0; p < w.partitions; p++ {
			pos, err := st.Claim(ctx, p)
			if err != nil {
				tb.Fatal(err)
			}
			tokens[st] = append(tokens[st], pos.Token)
		}
	}
	off := make([]int64, w.partitions)
	for m0 := first; m0 < endMin; m0 += 10 {
		deltas := make([]*aggregate.Delta, w.partitions)
		for p := range deltas {
			deltas[p] = aggregate.NewDelta(p)
			deltas[p].Offset = off[p]
			off[p]++
		}
		for m := m0; m < min(m0+10, endMin); m++ {
			for i := 0; i < w.visitorsPerMinute; i++ {
				v := rng.IntN(w.dailyVisitors)
				p := v % w.partitions
				d := deltas[p]
				id := fmt.Sprintf("%032x", v)
				persona := benchPersonas[personaOf(v)]
				if rng.IntN(20) == 0 { // a flow: the visitor moves on
					from := benchPersonas[rng.IntN(len(benchPersonas))]
					if from != persona {
						d.Counters[aggregate.CounterKey{Minute: m, Persona: from, Metric: aggregate.Metric{Kind: aggregate.MetricFlowTo, Name: persona}}]++
						d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchFlow, Persona: from, To: persona}] = append(d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchFlow, Persona: from, To: persona}], id)
						d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchLeft, Persona: from}] = append(d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchLeft, Persona: from}], id)
						d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchEntered, Persona: persona}] = append(d.Sketches[aggregate.SketchKey{Minute: m, Kind: aggregate.SketchEntered, Persona: persona}], id)
					}
				}
				k := aggregate.SketchKey{Minute: m, Kind: aggregate.SketchVisitors, Persona: persona}
				d.Sketches[k] = append(d.Sketches[k], id)
				for e := 0; e < w.eventsPerMinute/w.visitorsPerMinute; e++ {
					d.Counters[aggregate.CounterKey{Minute: m, Persona: persona, Metric: aggregate.Metric{Kind: aggregate.MetricEvents}}]++
					d.Counters[aggregate.CounterKey{Minute: m, Persona: persona, Metric: aggregate.Metric{Kind: aggregate.MetricType, Name: benchTypes[rng.IntN(len(benchTypes))]}}]++
					if rng.IntN(2) == 0 {
						d.Counters[aggregate.CounterKey{Minute: m, Persona: persona, Metric: aggregate.Metric{Kind: aggregate.MetricCategory, Name: benchCategories[rng.IntN(len(benchCategories))]}}]++
					}
				}
			}
			deltas[rng.IntN(w.partitions)].Counters[aggregate.CounterKey{Minute: m, Persona: aggregate.BotPersona, Metric: aggregate.Metric{Kind: aggregate.MetricEvents}}] += 20
		}
		for st, toks := range tokens {
			for p, d := range deltas {
				if err := st.Apply(ctx, toks[p], d); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkAggStoreReadWindow reads persona figures from a standalone
// Redis holding 25 hours of realistic buckets up to now (12 personas, 6
// partitions, 3000 events from 600 active visitors a minute out of 60 000
// a day, 5 % of them changing persona): the dashboard, query and emit read
// path. Windows end now (as `personas query` and emit read them) and, for
// comparison, 37 minutes ago (ragged on both sides).
//
//	make test PKGS=./internal/redisx/... GOTESTFLAGS='-run ^$ -bench ReadWindow -benchtime 20x'
func BenchmarkAggStoreReadWindow(b *testing.B) {
	url := testenv.RedisURL(b)
	s := openStore(b, url)
	rc := testenv.Redis(b, url)
	now := time.Now()
	w := windowData{partitions: 6, hours: 25, eventsPerMinute: 3000, visitorsPerMinute: 600, dailyVisitors: 60000, end: now.Truncate(time.Minute).Add(time.Minute)}
	began := time.Now()
	w.populate(b, s, nil)
	b.Logf("populated %d hours x %d partitions in %s", w.hours, w.partitions, time.Since(began).Round(time.Millisecond))
	ctx := context.Background()
	for _, c := range []struct {
		name string
		win  time.Duration
		ago  time.Duration
	}{
		{"24h", 24 * time.Hour, 0},
		{"1h", time.Hour, 0},
		{"5m", 5 * time.Minute, 0},
		{"24h-ending-37m-ago", 24 * time.Hour, 37*time.Minute + 20*time.Second},
	} {
		b.Run(c.name, func(b *testing.B) {
			var f *aggregate.WindowFigures
			redis0, client0 := redisCPU(b, rc), clientCPU()
			for b.Loop() {
				end := time.Now().Add(-c.ago)
				var err error
				if f, err = s.ReadWindow(ctx, end.Add(-c.win), end); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time per read does not depend on how busy the machine is
			// (wall time does); the Redis figure includes other clients'
			// work on a shared server.
			b.ReportMetric(float64(redisCPU(b, rc)-redis0)/float64(b.N)/1e6, "redis-cpu-ms/op")
			b.ReportMetric(float64(clientCPU()-client0)/float64(b.N)/1e6, "client-cpu-ms/op")
			if len(f.Personas) != len(benchPersonas) {
				b.Fatalf("read %d personas, want %d", len(f.Personas), len(benchPersonas))
			}
		})
	}
}

// redisCPU returns the CPU time the Redis server has used (INFO cpu).
func redisCPU(tb testing.TB, rc redis.UniversalClient) time.Duration {
	var total float64
	for _, l := range strings.Split(rc.Info(context.Background(), "cpu").Val(), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatal(err)
			}
			total += x
		}
	}
	return time.Duration(total * float64(time.Second))
}

// clientCPU returns the CPU time this process has used.
func clientCPU() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
