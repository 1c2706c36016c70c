package redisx

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
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
//	<prefix>{<prefix>pN}:h:<unix hour>    hash: the same, summed per hour
//	<prefix>{<prefix>pN}:s:<kind>:<persona>[><to>]:m:<minute> (and :h:<hour>)  HyperLogLog
//	<prefix>{<prefix>pN}:v:<pseudonym>    string: encoded visitor state, expires with its epoch
//	<prefix>partitions                    set of partitions with state (for readers)
//
// Minute and hour buckets expire after the retention; hour buckets let a
// 24 h window be read from 24 hashes instead of 1440.
type AggStore struct {
	c         redis.UniversalClient
	prefix    string
	retention time.Duration
	apply     *redis.Script
	claim     *redis.Script
	// RoundTrips counts calls to Redis (metrics: round trips per event).
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
		RoundTrips: func(int) {},
	}
}

func (s *AggStore) tag(p int) string {
	return s.prefix + "{" + s.prefix + "p" + strconv.Itoa(p) + "}"
}

func (s *AggStore) posKey(p int) string { return s.tag(p) + ":pos" }

func (s *AggStore) registryKey() string { return s.prefix + "partitions" }

func minuteKey(tag string, m int64) string { return tag + ":m:" + strconv.FormatInt(m, 10) }
func hourKey(tag string, h int64) string   { return tag + ":h:" + strconv.FormatInt(h, 10) }

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
		add(minuteKey(tag, k.Minute), (k.Minute+1)*60+ret, f, v)
		h := floorDiv(k.Minute, 60)
		add(hourKey(tag, h), (h+1)*3600+ret, f, v)
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

	type sketch struct {
		expire int64
		elems  map[string]struct{}
	}
	sketches := map[string]*sketch{}
	addS := func(key string, expire int64, ids []string) {
		sk := sketches[key]
		if sk == nil {
			sk = &sketch{expire: expire, elems: map[string]struct{}{}}
			sketches[key] = sk
		}
		for _, id := range ids {
			sk.elems[id] = struct{}{}
		}
	}
	for k, ids := range d.Sketches {
		base := sketchBase(tag, k)
		addS(base+":m:"+strconv.FormatInt(k.Minute, 10), (k.Minute+1)*60+ret, ids)
		h := floorDiv(k.Minute, 60)
		addS(base+":h:"+strconv.FormatInt(h, 10), (h+1)*3600+ret, ids)
	}
	args = append(args, len(sketches))
	for _, key := range slices.Sorted(maps.Keys(sketches)) {
		sk := sketches[key]
		keys = append(keys, key)
		args = append(args, sk.expire, len(sk.elems))
		for _, e := range slices.Sorted(maps.Keys(sk.elems)) {
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

// ReadWindow implements aggregate.Store: one pipelined read of the bucket
// hashes of every partition, then one pipelined PFCOUNT per sketch and
// partition over the same buckets.
func (s *AggStore) ReadWindow(ctx context.Context, start, end time.Time) (*aggregate.WindowFigures, error) {
	parts, err := s.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	from, to := aggregate.MinuteRange(start, end)
	plan := aggregate.PlanBuckets(from, to)
	acc := aggregate.NewWindowAccumulator(start, end)

	type partRead struct {
		tag    string
		hashes []*redis.MapStringStringCmd
	}
	reads := make([]partRead, len(parts))
	pipe := s.c.Pipeline()
	for i, p := range parts {
		tag := s.tag(p)
		reads[i].tag = tag
		for _, h := range plan.Hours {
			reads[i].hashes = append(reads[i].hashes, pipe.HGetAll(ctx, hourKey(tag, h)))
		}
		for _, m := range plan.Minutes {
			reads[i].hashes = append(reads[i].hashes, pipe.HGetAll(ctx, minuteKey(tag, m)))
		}
	}
	s.RoundTrips(1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis: read window: %w", err)
	}

	type sketchRead struct {
		key aggregate.SketchKey
		cmd *redis.IntCmd
	}
	var sreads []sketchRead
	pipe = s.c.Pipeline()
	for _, r := range reads {
		sks := map[aggregate.SketchKey]bool{}
		for _, c := range r.hashes {
			for f, v := range c.Val() {
				persona, m, ok := parseCounterField(f)
				if !ok {
					continue
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					continue
				}
				acc.AddCounter(persona, m, n)
				switch m.Kind {
				case aggregate.MetricEvents:
					sks[aggregate.SketchKey{Kind: aggregate.SketchVisitors, Persona: persona}] = true
				case aggregate.MetricFlowTo:
					sks[aggregate.SketchKey{Kind: aggregate.SketchFlow, Persona: persona, To: m.Name}] = true
					sks[aggregate.SketchKey{Kind: aggregate.SketchLeft, Persona: persona}] = true
					sks[aggregate.SketchKey{Kind: aggregate.SketchEntered, Persona: m.Name}] = true
				}
			}
		}
		for sk := range sks {
			if sk.Persona == aggregate.BotPersona {
				continue
			}
			base := sketchBase(r.tag, sk)
			keys := make([]string, 0, len(plan.Hours)+len(plan.Minutes))
			for _, h := range plan.Hours {
				keys = append(keys, base+":h:"+strconv.FormatInt(h, 10))
			}
			for _, m := range plan.Minutes {
				keys = append(keys, base+":m:"+strconv.FormatInt(m, 10))
			}
			sreads = append(sreads, sketchRead{key: sk, cmd: pipe.PFCount(ctx, keys...)})
		}
	}
	if len(sreads) > 0 {
		s.RoundTrips(1)
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redis: read sketches: %w", err)
		}
		for _, sr := range sreads {
			acc.AddDistinct(sr.key, sr.cmd.Val())
		}
	}
	return acc.Figures(), nil
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
