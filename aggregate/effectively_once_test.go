package aggregate_test

// An in-memory model of the aggregate stage under every fault the design
// names (docs/architecture.md, "aggregate: effectively once"): ingest retry
// duplicates, crashes at any point of a batch, retried store calls whose
// first attempt did or did not take effect, and zombies that lost their
// partition. The figures must equal the reference exactly (the in-memory
// store counts distinct visitors with sets, not sketches).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/model"
	"github.com/personas-dev/personas/ingest"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/reference"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// partitionLogs generates synthetic raw events, runs them through the real
// ingest transform, writes them as ingest does (batches per raw partition,
// some written again as on a retry) and splits them into events partitions
// by pseudonym. It returns the partition logs and, in order, every record.
func partitionLogs(t testing.TB, events, partitions int, seed uint64, retryShare float64) ([][]aggregate.Message, [][]byte) {
	t.Helper()
	const rawParts = 3
	now := time.Now()
	cfg := synth.DefaultConfig()
	cfg.Seed = seed
	cfg.Visitors = 300
	cfg.BadShare = 0
	cfg.Diurnal = 0
	cfg.EventsPerSecond = float64(events) / 240
	cfg.Start = now.Add(-5 * time.Minute)
	g := synth.New(cfg)
	opt := ingest.DefaultOptions()
	opt.PropertyAllowlist = config.Default().Ingest.PropertyAllowlist
	tr, err := ingest.NewTransformer(opt, ingest.NewEphemeralKeys())
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ key, val []byte }
	raw := make([][]rec, rawParts)
	var next [rawParts]int64
	var ev synth.Event
	for i := 0; i < events; i++ {
		g.Next(&ev)
		p := i % rawParts
		if len(ev.Key) > 0 {
			h := fnv.New32a()
			_, _ = h.Write(ev.Key)
			p = int(h.Sum32() % rawParts)
		}
		in := ingest.Input{Value: ev.Value, Time: ev.Time, Source: schemas.Source{Topic: "raw", Partition: p, Offset: next[p]}}
		next[p]++
		out, rej, err := tr.Transform(context.Background(), &in, now)
		if err != nil {
			t.Fatal(err)
		}
		if rej == nil {
			raw[p] = append(raw[p], rec{bytes.Clone(out.Key), bytes.Clone(out.JSON)})
		}
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	logs := make([][]aggregate.Message, partitions)
	var all [][]byte
	write := func(rs []rec) {
		for _, r := range rs {
			h := fnv.New32a()
			_, _ = h.Write(r.key)
			p := int(h.Sum32() % uint32(partitions))
			logs[p] = append(logs[p], aggregate.Message{Offset: int64(len(logs[p])), Value: r.val})
			all = append(all, r.val)
		}
	}
	pos := make([]int, rawParts)
	pending := make([][]rec, rawParts)
	for {
		var live []int
		for p := range raw {
			if pos[p] < len(raw[p]) || pending[p] != nil {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			break
		}
		p := live[rng.IntN(len(live))]
		if pending[p] != nil {
			write(pending[p])
			pending[p] = nil
			continue
		}
		n := min(5+rng.IntN(60), len(raw[p])-pos[p])
		batch := raw[p][pos[p] : pos[p]+n]
		pos[p] += n
		switch x := rng.Float64(); {
		case x < retryShare/2:
			write(batch[:1+rng.IntN(len(batch))])
			pending[p] = batch
		case x < retryShare:
			write(batch)
			pending[p] = batch
		default:
			write(batch)
		}
	}
	return logs, all
}

// faultyStore wraps a store: LoadVisitors and Apply fail at random, and an
// Apply may take effect and still report a failure (a reply lost to a
// timeout or a dropped connection).
type faultyStore struct {
	aggregate.Store
	rng                            *rand.Rand
	loadFail, applyFail, replyLost float64
	lost                           int
}

var errInjected = errors.New("injected dependency failure")

func (s *faultyStore) LoadVisitors(ctx context.Context, p int, ps []string) (map[string][]byte, error) {
	if s.rng.Float64() < s.loadFail {
		return nil, errInjected
	}
	return s.Store.LoadVisitors(ctx, p, ps)
}

func (s *faultyStore) Apply(ctx context.Context, token int64, d *aggregate.Delta) error {
	if s.rng.Float64() < s.applyFail {
		return errInjected
	}
	err := s.Store.Apply(ctx, token, d)
	if err == nil && s.rng.Float64() < s.replyLost {
		s.lost++
		return errInjected
	}
	return err
}

// owner is an instance's hold on a partition: what internal/stage does.
type owner struct {
	token int64
	b     *aggregate.Builder
	cache *aggregate.VisitorCache
}

func claim(t *testing.T, s aggregate.Store, p int, cache *aggregate.VisitorCache) *owner {
	pos, err := s.Claim(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	cache.Drop(p)
	return &owner{token: pos.Token, b: aggregate.NewBuilder(p, model.Default(), 24*time.Hour, time.Hour, pos, cache), cache: cache}
}

// process runs one batch as the stage does: Scan, load, Build, Apply,
// Commit, retrying the same batch on a dependency error. crash, when set,
// is called between the steps and ends the attempt (the process died) when
// it returns true. It returns ErrFenced when the owner lost the partition.
func (o *owner) process(s aggregate.Store, p int, msgs []aggregate.Message, crash func() bool) (crashed bool, err error) {
	ctx := context.Background()
	for {
		need := o.b.Scan(msgs)
		loaded, err := s.LoadVisitors(ctx, p, need)
		if errors.Is(err, errInjected) {
			continue
		}
		if err != nil {
			return false, err
		}
		d := o.b.Build(loaded)
		if crash() {
			return true, nil
		}
		err = s.Apply(ctx, o.token, d)
		if errors.Is(err, errInjected) {
			continue // the runner keeps the batch and retries it
		}
		if err != nil {
			return false, err
		}
		if crash() {
			return true, nil
		}
		o.b.Commit()
		return false, nil
	}
}

// TestEffectivelyOnceUnderFaults runs a stream with ingest duplicates
// through partition owners that crash, retry, and get fenced, and checks
// every minute's figures against the reference exactly.
func TestEffectivelyOnceUnderFaults(t *testing.T) {
	const partitions = 3
	seed := uint64(time.Now().UnixNano() % 1_000_000)
	t.Logf("seed %d", seed)
	logs, all := partitionLogs(t, 4000, partitions, seed, 0.1)
	ref, err := reference.Compute(model.Default(), all)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Duplicates == 0 {
		t.Fatal("no duplicates in the stream")
	}
	for _, tc := range []struct {
		name                           string
		loadFail, applyFail, replyLost float64
		crash, zombie                  float64
		cacheSize                      int
	}{
		{name: "clean", cacheSize: 100000},
		{name: "crashes", crash: 0.2, cacheSize: 100000},
		{name: "failed calls", loadFail: 0.1, applyFail: 0.1, cacheSize: 100000},
		{name: "lost replies", replyLost: 0.15, cacheSize: 100000},
		{name: "zombies", zombie: 0.05, cacheSize: 100000},
		{name: "everything, small cache", loadFail: 0.05, applyFail: 0.05, replyLost: 0.1, crash: 0.1, zombie: 0.03, cacheSize: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			mem := aggregate.NewMemStore()
			s := &faultyStore{Store: mem, rng: rand.New(rand.NewPCG(seed, 4)), loadFail: tc.loadFail, applyFail: tc.applyFail, replyLost: tc.replyLost}
			cache := aggregate.NewVisitorCache(tc.cacheSize)
			owners := make([]*owner, partitions)
			var crashes, zombies int
			crash := func() bool { return rng.Float64() < tc.crash/2 }
			for steps := 0; steps < 100000; steps++ {
				p := rng.IntN(partitions)
				if owners[p] == nil {
					owners[p] = claim(t, s, p, cache)
				}
				o := owners[p]
				next := o.b.Position().Offset + 1
				if next >= int64(len(logs[p])) {
					done := true
					for q := range logs {
						if owners[q] == nil || owners[q].b.Position().Offset+1 < int64(len(logs[q])) {
							done = false
						}
					}
					if done {
						break
					}
					continue
				}
				if rng.Float64() < tc.zombie {
					// Another instance takes the partition (with its own
					// cache); the old owner still holds its batch.
					zombies++
					owners[p] = claim(t, s, p, aggregate.NewVisitorCache(tc.cacheSize))
					end := min(next+int64(1+rng.IntN(80)), int64(len(logs[p])))
					if _, err := o.process(s, p, logs[p][next:end], func() bool { return false }); !errors.Is(err, aggregate.ErrFenced) {
						t.Fatalf("a zombie's apply returned %v, want ErrFenced", err)
					}
					continue
				}
				// Batches may start before the owner's position (a replay
				// from an older Kafka offset): those records are skipped.
				start := max(0, next-int64(rng.IntN(5)))
				end := min(next+int64(1+rng.IntN(120)), int64(len(logs[p])))
				crashed, err := o.process(s, p, logs[p][start:end], crash)
				if err != nil {
					t.Fatal(err)
				}
				if crashed {
					// The whole process dies: every partition is claimed
					// again, with an empty cache.
					crashes++
					cache = aggregate.NewVisitorCache(tc.cacheSize)
					clear(owners)
				}
			}
			for m := ref.Minutes[0]; m <= ref.Minutes[len(ref.Minutes)-1]; m++ {
				compareExact(t, mem, ref, m, m+1)
			}
			compareExact(t, mem, ref, ref.Minutes[0]-60, ref.Minutes[len(ref.Minutes)-1]+60)
			t.Logf("%d records, %d events, %d duplicates; %d crashes, %d zombies, %d lost replies",
				len(all), ref.Events, ref.Duplicates, crashes, zombies, s.lost)
		})
	}
}

func compareExact(t *testing.T, s aggregate.Store, ref *reference.Figures, from, to int64) {
	t.Helper()
	start, end := time.Unix(from*60, 0), time.Unix(to*60, 0)
	got, err := s.ReadWindow(context.Background(), start, end)
	if err != nil {
		t.Fatal(err)
	}
	want := ref.Window(from, to)
	want.Start, want.End, want.Window = start, end, end.Sub(start)
	if !reflect.DeepEqual(got, want) {
		d := reference.Diff(got, want, 0)
		t.Errorf("window %s..%s differs from the reference: %s", start.UTC().Format("15:04"), end.UTC().Format("15:04"), fmt.Sprint(d))
	}
}
