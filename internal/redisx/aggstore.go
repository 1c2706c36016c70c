package redisx

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/internal/retry"
)

// AggStore is the Redis implementation of aggregate.Store.
//
// Layout, per events partition N, all under one hash tag {<prefix>pN} so
// that each Apply is a single-slot script on Redis Cluster:
//
//	<prefix>{<prefix>pN}:pos              hash: tok (fencing token), off (last applied offset),
//	                                      w:<topic>:<partition> (source high watermarks)
//	<prefix>{<prefix>pN}:m:<unix minute>  hash: <persona>|<metric> -> count
//	<prefix>{<prefix>pN}:t:<unix minute/10> hash: the same, summed per ten minutes
//	<prefix>{<prefix>pN}:h:<unix hour>    hash: the same, summed per hour
//	<prefix>{<prefix>pN}:q:<unix minute/360> hash: the same, summed per quarter day (6 h)
//	<prefix>{<prefix>pN}:s:<kind>:<persona>[><to>]:m:<minute> (and :t:, :h:, :q:)  HyperLogLog
//	<prefix>{<prefix>pN}:v:<pseudonym>    string: encoded visitor state, expires with its epoch
//	<prefix>partitions                    set of partitions with state (for readers)
//
// Buckets expire after the retention. The coarser buckets let a 24 h
// window be read from at most 3 quarter, 10 hour, 10 ten-minute and 18
// minute buckets (aggregate.PlanBuckets) instead of 1440, and a window that
// ends now from fewer (see ReadWindow).
type AggStore struct {
	c         redis.UniversalClient
	prefix    string
	retention time.Duration
	apply     *redis.Script
	claim     *redis.Script
	now       func() time.Time
	// RoundTrips counts calls to Redis (metrics: round trips per event).
	// ReadWindow calls it from several goroutines at once.
	RoundTrips func(n int)
}

// NewAggStore returns a store with the given key prefix and bucket retention.
func NewAggStore(c redis.UniversalClient, prefix string, retention time.Duration) *AggStore {
	return &AggStore{
		c:          c,
		prefix:     prefix,
		retention:  retention,
		apply:      redis.NewScript(applyScript),
		claim:      redis.NewScript(claimScript),
		now:        time.Now,
		RoundTrips: func(int) {},
	}
}

func (s *AggStore) tag(p int) string {
	return s.prefix + "{" + s.prefix + "p" + strconv.Itoa(p) + "}"
}

func (s *AggStore) posKey(p int) string { return s.tag(p) + ":pos" }

func (s *AggStore) registryKey() string { return s.prefix + "partitions" }

// bucketLevels are the bucket sizes (minutes) and their key letters.
var bucketLevels = []struct {
	minutes int64
	letter  string
}{{1, "m"}, {aggregate.TenMinutes, "t"}, {aggregate.HourMinutes, "h"}, {aggregate.QuarterMinutes, "q"}}

func sketchBase(tag string, k aggregate.SketchKey) string {
	b := tag + ":s:" + string(k.Kind) + ":" + k.Persona
	if k.Kind == aggregate.SketchFlow {
		b += ">" + k.To
	}
	return b
}

func counterField(persona string, m aggregate.Metric) string {
	return persona + "|" + string(m.Kind) + m.Name
}

func parseCounterField(f string) (persona string, m aggregate.Metric, ok bool) {
	persona, rest, ok := strings.Cut(f, "|")
	if !ok || rest == "" {
		return "", aggregate.Metric{}, false
	}
	return persona, aggregate.Metric{Kind: rest[0], Name: rest[1:]}, true
}

// claimScript bumps the fencing token and returns it with the position.
const claimScript = `
local tok = redis.call('HINCRBY', KEYS[1], 'tok', 1)
local all = redis.call('HGETALL', KEYS[1])
return {tok, all}
`

// applyScript applies one delta atomically. ARGV layout:
// token, offset, nSources, (field, value)*, nHashes, (expireAt, nFields, (field, incr)*)*,
// nSketches, (expireAt, nElems, elem*)*, nVisitors, (value, expireAtMs)*.
// KEYS: pos, then one key per hash, sketch and visitor in that order.
const applyScript = `
local pos = KEYS[1]
if redis.call('HGET', pos, 'tok') ~= ARGV[1] then
  return redis.error_reply('FENCED partition claimed by another owner')
end
local off = tonumber(redis.call('HGET', pos, 'off') or '-1')
if tonumber(ARGV[2]) <= off then
  return 0
end
local a = 3
local k = 2
local n = tonumber(ARGV[a]); a = a + 1
for i = 1, n do
  redis.call('HSET', pos, ARGV[a], ARGV[a+1]); a = a + 2
end
n = tonumber(ARGV[a]); a = a + 1
for i = 1, n do
  local key = KEYS[k]; k = k + 1
  local exp = ARGV[a]; local nf = tonumber(ARGV[a+1]); a = a + 2
  for j = 1, nf do
    redis.call('HINCRBY', key, ARGV[a], ARGV[a+1]); a = a + 2
  end
  redis.call('EXPIREAT', key, exp)
end
n = tonumber(ARGV[a]); a = a + 1
for i = 1, n do
  local key = KEYS[k]; k = k + 1
  local exp = ARGV[a]; local ne = tonumber(ARGV[a+1]); a = a + 2
  local j = 0
  while j < ne do
    local m = math.min(ne - j, 500)
    redis.call('PFADD', key, unpack(ARGV, a + j, a + j + m - 1))
    j = j + m
  end
  a = a + ne
  redis.call('EXPIREAT', key, exp)
end
n = tonumber(ARGV[a]); a = a + 1
for i = 1, n do
  redis.call('SET', KEYS[k], ARGV[a], 'PXAT', ARGV[a+1]); k = k + 1; a = a + 2
end
redis.call('HSET', pos, 'off', ARGV[2])
return 1
`

// Claim implements aggregate.Store.
func (s *AggStore) Claim(ctx context.Context, partition int) (aggregate.Position, error) {
	pos := aggregate.Position{Offset: -1, Sources: map[aggregate.SourceKey]int64{}}
	if err := s.c.SAdd(ctx, s.registryKey(), partition).Err(); err != nil {
		return pos, fmt.Errorf("redis: register partition: %w", err)
	}
	s.RoundTrips(2)
	res, err := s.claim.Run(ctx, s.c, []string{s.posKey(partition)}).Slice()
	if err != nil {
		return pos, fmt.Errorf("redis: claim partition %d: %w", partition, err)
	}
	if len(res) != 2 {
		return pos, errors.New("redis: claim: unexpected reply")
	}
	pos.Token, _ = res[0].(int64)
	fields, _ := res[1].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		f, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch {
		case f == "off":
			pos.Offset = n
		case strings.HasPrefix(f, "w:"):
			rest := f[2:]
			i := strings.LastIndexByte(rest, ':')
			if i < 0 {
				continue
			}
			p, err := strconv.Atoi(rest[i+1:])
			if err != nil {
				continue
			}
			pos.Sources[aggregate.SourceKey{Topic: rest[:i], Partition: p}] = n
		}
	}
	return pos, nil
}

// LoadVisitors implements aggregate.Store with one MGET.
func (s *AggStore) LoadVisitors(ctx context.Context, partition int, pseudonyms []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(pseudonyms))
	if len(pseudonyms) == 0 {
		return out, nil
	}
	tag := s.tag(partition)
	keys := make([]string, len(pseudonyms))
	for i, p := range pseudonyms {
		keys[i] = tag + ":v:" + p
	}
	s.RoundTrips(1)
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: load visitors: %w", err)
	}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[pseudonyms[i]] = []byte(str)
		}
	}
	return out, nil
}

// Apply implements aggregate.Store with one script call.
func (s *AggStore) Apply(ctx context.Context, token int64, d *aggregate.Delta) error {
	tag := s.tag(d.Partition)
	keys := []string{s.posKey(d.Partition)}
	args := []any{token, d.Offset, len(d.Sources)}
	for _, k := range slices.SortedFunc(maps.Keys(d.Sources), cmpSource) {
		args = append(args, "w:"+k.Topic+":"+strconv.Itoa(k.Partition), d.Sources[k])
	}

	// Counters: group by minute and by hour.
	type bucket struct {
		key    string
		expire int64
		fields map[string]int64
	}
	buckets := map[string]*bucket{}
	add := func(key string, expire int64, field string, v int64) {
		b := buckets[key]
		if b == nil {
			b = &bucket{key: key, expire: expire, fields: map[string]int64{}}
			buckets[key] = b
		}
		b.fields[field] += v
	}
	ret := int64(s.retention / time.Second)
	for k, v := range d.Counters {
		f := counterField(k.Persona, k.Metric)
		for _, l := range bucketLevels {
			b := floorDiv(k.Minute, l.minutes)
			add(tag+":"+l.letter+":"+strconv.FormatInt(b, 10), (b+1)*l.minutes*60+ret, f, v)
		}
	}
	args = append(args, len(buckets))
	for _, key := range slices.Sorted(maps.Keys(buckets)) {
		b := buckets[key]
		keys = append(keys, key)
		args = append(args, b.expire, len(b.fields))
		for _, f := range slices.Sorted(maps.Keys(b.fields)) {
			args = append(args, f, b.fields[f])
		}
	}

	// Sketches: the distinct pseudonyms of each minute's sketch, sorted
	// once; a bucket of a coarser level takes the list of its only minute
	// in the batch as it is (nearly always), and merges when several
	// minutes fall into it. (A set per bucket and level cost a map insert
	// per pseudonym and level, the largest part of encoding a delta.)
	type sketch struct {
		expire int64
		elems  []string
		merged bool
	}
	sketches := map[string]*sketch{}
	for k, ids := range d.Sketches {
		ids = distinct(ids)
		base := sketchBase(tag, k)
		for _, l := range bucketLevels {
			b := floorDiv(k.Minute, l.minutes)
			key := base + ":" + l.letter + ":" + strconv.FormatInt(b, 10)
			if sk := sketches[key]; sk == nil {
				sketches[key] = &sketch{expire: (b+1)*l.minutes*60 + ret, elems: ids}
			} else {
				// The full slice expression makes append copy: the list
				// may be another bucket's too.
				sk.elems = append(sk.elems[:len(sk.elems):len(sk.elems)], ids...)
				sk.merged = true
			}
		}
	}
	args = append(args, len(sketches))
	for _, key := range slices.Sorted(maps.Keys(sketches)) {
		sk := sketches[key]
		if sk.merged {
			sk.elems = distinct(sk.elems)
		}
		keys = append(keys, key)
		args = append(args, sk.expire, len(sk.elems))
		for _, e := range sk.elems {
			args = append(args, e)
		}
	}

	args = append(args, len(d.Visitors))
	for _, v := range d.Visitors {
		keys = append(keys, tag+":v:"+v.Pseudonym)
		args = append(args, v.State, v.ExpireAt.UnixMilli())
	}

	s.RoundTrips(1)
	err := s.apply.Run(ctx, s.c, keys, args...).Err()
	if err != nil && strings.Contains(err.Error(), "FENCED") {
		return retry.Fatal(aggregate.ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("redis: apply partition %d: %w", d.Partition, err)
	}
	return nil
}

// distinct returns the distinct strings of ids, sorted, in a new slice.
func distinct(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

func cmpSource(a, b aggregate.SourceKey) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return a.Partition - b.Partition
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Partitions implements aggregate.Store.
func (s *AggStore) Partitions(ctx context.Context) ([]int, error) {
	s.RoundTrips(1)
	members, err := s.c.SMembers(ctx, s.registryKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: partitions: %w", err)
	}
	out := make([]int, 0, len(members))
	for _, m := range members {
		if p, err := strconv.Atoi(m); err == nil {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ReadWindow implements aggregate.Store. It plans the buckets once, then
// reads every partition concurrently (on a cluster each partition is one
// slot, so reads spread over the nodes; on a single Redis the client parses
// one partition while the server works on another), each in two pipelined
// round trips:
//
//  1. The partition's counter hashes over the bucket plan
//     (aggregate.PlanBuckets): whole quarter days, hours and ten-minute
//     spans from their buckets, the ragged ends from minute buckets. When
//     the window reaches the present, its last part is read from the
//     quarter (or else hour) bucket it ends in, after one EXISTS shows that
//     the bucket holds nothing after the window (the rest lies in the
//     future); where it does (events timestamped ahead of the clock), a
//     third round trip reads the planned buckets instead.
//  2. One PFCOUNT per sketch, over only the buckets whose hash holds the
//     sketch's counter: a sketch is written together with its counter, in
//     the same bucket, so the other keys do not exist and would only cost
//     lookups (most persona-to-persona flows are absent from most
//     minutes).
//
// Distinct counts are summed over partitions (their visitor sets are
// disjoint): small sketches count (nearly) exactly on their own, while one
// PFCOUNT over all partitions' keys is off by up to 3 % around a hundred
// visitors.
func (s *AggStore) ReadWindow(ctx context.Context, start, end time.Time) (*aggregate.WindowFigures, error) {
	parts, err := s.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	from, to := aggregate.MinuteRange(start, end)
	plan := aggregate.PlanBuckets(from, to)
	var buckets []plannedBucket
	for _, l := range []struct {
		n      []int64
		size   int64
		letter string
	}{{plan.Quarters, aggregate.QuarterMinutes, "q"}, {plan.Hours, aggregate.HourMinutes, "h"}, {plan.Tens, aggregate.TenMinutes, "t"}, {plan.Minutes, 1, "m"}} {
		for _, n := range l.n {
			buckets = append(buckets, plannedBucket{":" + l.letter + ":" + strconv.FormatInt(n, 10), n * l.size})
		}
	}

	// The tail: when the window reaches the present, the largest bucket
	// that starts inside the window and ends after it replaces the planned
	// buckets it covers, if it holds nothing after the window.
	var tail *plannedBucket
	var after []string // key suffixes of the tail bucket's part after the window
	if to > from && to >= s.now().Unix()/60 {
		for _, l := range []struct {
			size   int64
			letter string
		}{{aggregate.QuarterMinutes, "q"}, {aggregate.HourMinutes, "h"}} {
			b := floorDiv(to-1, l.size)
			first := b * l.size
			if first < from || to == first+l.size {
				continue
			}
			n := 0
			for _, pb := range buckets {
				if pb.start >= first {
					n++
				}
			}
			if n < 2 {
				break
			}
			tail = &plannedBucket{":" + l.letter + ":" + strconv.FormatInt(b, 10), first}
			hourEnd := -floorDiv(-to, 60) * 60
			for m := to; m < min(hourEnd, first+l.size); m++ {
				after = append(after, ":m:"+strconv.FormatInt(m, 10))
			}
			for h := hourEnd / 60; h < (first+l.size)/60; h++ {
				after = append(after, ":h:"+strconv.FormatInt(h, 10))
			}
			break
		}
	}

	results := make([]partFigures, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.readPartition(ctx, s.tag(p), buckets, tail, after)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	acc := aggregate.NewWindowAccumulator(start, end)
	for _, r := range results {
		for f, n := range r.counters {
			if persona, m, ok := parseCounterField(f); ok {
				acc.AddCounter(persona, m, n)
			}
		}
		for k, n := range r.distinct {
			acc.AddDistinct(k, n)
		}
	}
	return acc.Figures(), nil
}

// plannedBucket is a bucket a window read covers.
type plannedBucket struct {
	sfx   string // ":q:<n>", ":h:<n>", ":t:<n>" or ":m:<n>": the bucket's key suffix
	start int64  // its first minute
}

// partFigures are one partition's figures over a window: counters by
// hash field, distinct counts by sketch.
type partFigures struct {
	counters map[string]int64
	distinct map[aggregate.SketchKey]int64
}

// readPartition reads one partition's buckets and sketches (see
// ReadWindow).
func (s *AggStore) readPartition(ctx context.Context, tag string, planned []plannedBucket, tail *plannedBucket, after []string) (partFigures, error) {
	type bucket struct {
		sfx string
		cmd *redis.MapStringStringCmd
	}
	var buckets []bucket
	var tailCmd *redis.MapStringStringCmd
	var afterCmd *redis.IntCmd
	pipe := s.c.Pipeline()
	for _, pb := range planned {
		if tail == nil || pb.start < tail.start {
			buckets = append(buckets, bucket{pb.sfx, pipe.HGetAll(ctx, tag+pb.sfx)})
		}
	}
	if tail != nil {
		tailCmd = pipe.HGetAll(ctx, tag+tail.sfx)
		keys := make([]string, len(after))
		for j, sfx := range after {
			keys[j] = tag + sfx
		}
		afterCmd = pipe.Exists(ctx, keys...)
	}
	s.RoundTrips(1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return partFigures{}, fmt.Errorf("redis: read window: %w", err)
	}
	if tail != nil {
		if afterCmd.Val() == 0 {
			buckets = append(buckets, bucket{tail.sfx, tailCmd})
		} else {
			again := s.c.Pipeline()
			for _, pb := range planned {
				if pb.start >= tail.start {
					buckets = append(buckets, bucket{pb.sfx, again.HGetAll(ctx, tag+pb.sfx)})
				}
			}
			s.RoundTrips(1)
			if _, err := again.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return partFigures{}, fmt.Errorf("redis: read window: %w", err)
			}
		}
	}

	out := partFigures{counters: map[string]int64{}, distinct: map[aggregate.SketchKey]int64{}}
	// The buckets (indexes into buckets) where each sketch exists.
	in := map[aggregate.SketchKey][]int{}
	add := func(k aggregate.SketchKey, b int) {
		if l := in[k]; len(l) == 0 || l[len(l)-1] != b {
			in[k] = append(l, b)
		}
	}
	for b, c := range buckets {
		for f, v := range c.cmd.Val() {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			out.counters[f] += n
			persona, m, ok := parseCounterField(f)
			if !ok || persona == aggregate.BotPersona {
				continue
			}
			switch m.Kind {
			case aggregate.MetricEvents:
				add(aggregate.SketchKey{Kind: aggregate.SketchVisitors, Persona: persona}, b)
			case aggregate.MetricFlowTo:
				add(aggregate.SketchKey{Kind: aggregate.SketchFlow, Persona: persona, To: m.Name}, b)
				add(aggregate.SketchKey{Kind: aggregate.SketchLeft, Persona: persona}, b)
				add(aggregate.SketchKey{Kind: aggregate.SketchEntered, Persona: m.Name}, b)
			}
		}
	}
	if len(in) == 0 {
		return out, nil
	}
	type sketchRead struct {
		key aggregate.SketchKey
		cmd *redis.IntCmd
	}
	sreads := make([]sketchRead, 0, len(in))
	pipe = s.c.Pipeline()
	for sk, bs := range in {
		base := sketchBase(tag, sk)
		keys := make([]string, len(bs))
		for j, b := range bs {
			keys[j] = base + buckets[b].sfx
		}
		sreads = append(sreads, sketchRead{key: sk, cmd: pipe.PFCount(ctx, keys...)})
	}
	s.RoundTrips(1)
	if _, err := pipe.Exec(ctx); err != nil {
		return partFigures{}, fmt.Errorf("redis: read sketches: %w", err)
	}
	for _, sr := range sreads {
		out.distinct[sr.key] = sr.cmd.Val()
	}
	return out, nil
}

// ForgetVisitors deletes the stored states of the given pseudonyms in every
// partition. Counters and sketches are aggregates over at least k visitors
// when published and are not per visitor, so they stay.
func (s *AggStore) ForgetVisitors(ctx context.Context, pseudonyms []string) (int64, error) {
	parts, err := s.Partitions(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		tag := s.tag(p)
		for _, ps := range pseudonyms {
			d, err := s.c.Del(ctx, tag+":v:"+ps).Result()
			if err != nil {
				return n, fmt.Errorf("redis: forget: %w", err)
			}
			n += d
		}
	}
	return n, nil
}
