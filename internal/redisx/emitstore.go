package redisx

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/emit"
	"github.com/personas-dev/personas/emit/segment"
)

// EmitStore is the Redis implementation of emit.Store. All keys share the
// hash tag {<prefix>emit}, so Commit is one single-slot script:
//
//	<prefix>{<prefix>emit}:lease     holder id, expires after the lease TTL
//	<prefix>{<prefix>emit}:token     fencing token, +1 per change of holder
//	<prefix>{<prefix>emit}:states    hash segment/persona -> JSON state
//	<prefix>{<prefix>emit}:outbox    hash event id -> JSON {seq, topic, key, value}
//	<prefix>{<prefix>emit}:seq       outbox order counter
//	<prefix>{<prefix>emit}:snap      unix ms of the last committed snapshot
type EmitStore struct {
	c                                       redis.UniversalClient
	lease, token, states, outbox, seq, snap string
	acquire, commit                         *redis.Script
}

// NewEmitStore returns the store under a key prefix.
func NewEmitStore(c redis.UniversalClient, prefix string) *EmitStore {
	tag := prefix + "{" + prefix + "emit}:"
	return &EmitStore{
		c: c, lease: tag + "lease", token: tag + "token", states: tag + "states",
		outbox: tag + "outbox", seq: tag + "seq", snap: tag + "snap",
		acquire: redis.NewScript(acquireScript), commit: redis.NewScript(commitScript),
	}
}

const acquireScript = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('INCR', KEYS[2])
end
return -1
`

// commitScript: KEYS lease, token, states, outbox, seq, snap.
// ARGV holder, token, lastSnapMs, nStates, (field, json)*, nEvents, (id, json-without-seq)*
//
// The states hash is replaced (emit.Store: Commit replaces the states), not
// merged; an event id already in the outbox keeps its entry and its place.
const commitScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return redis.error_reply('NOTLEADER')
end
local a = 4
local n = tonumber(ARGV[a]); a = a + 1
redis.call('DEL', KEYS[3])
for i = 1, n do
  redis.call('HSET', KEYS[3], ARGV[a], ARGV[a+1]); a = a + 2
end
n = tonumber(ARGV[a]); a = a + 1
for i = 1, n do
  if redis.call('HEXISTS', KEYS[4], ARGV[a]) == 0 then
    local s = redis.call('INCR', KEYS[5])
    redis.call('HSET', KEYS[4], ARGV[a], s .. '|' .. ARGV[a+1])
  end
  a = a + 2
end
local last = tonumber(redis.call('GET', KEYS[6]) or '0')
if tonumber(ARGV[3]) > last then
  redis.call('SET', KEYS[6], ARGV[3])
end
return 1
`

// Acquire implements emit.Store.
func (s *EmitStore) Acquire(ctx context.Context, holder string, ttl time.Duration) (int64, bool, error) {
	n, err := s.acquire.Run(ctx, s.c, []string{s.lease, s.token}, holder, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("redis: emit lease: %w", err)
	}
	return n, n > 0, nil
}

// Release implements emit.Store.
func (s *EmitStore) Release(ctx context.Context, holder string) error {
	const release = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
	return s.c.Eval(ctx, release, []string{s.lease}, holder).Err()
}

// States implements emit.Store.
func (s *EmitStore) States(ctx context.Context) (map[segment.Key]segment.State, error) {
	all, err := s.c.HGetAll(ctx, s.states).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: emit states: %w", err)
	}
	out := make(map[segment.Key]segment.State, len(all))
	for f, v := range all {
		k, err := segment.ParseKey(f)
		if err != nil {
			continue
		}
		var st segment.State
		if err := json.Unmarshal([]byte(v), &st); err != nil {
			continue
		}
		out[k] = st
	}
	return out, nil
}

type outboxValue struct {
	Topic string `json:"topic"`
	Key   []byte `json:"key"`
	Value string `json:"value"`
}

// Commit implements emit.Store.
func (s *EmitStore) Commit(ctx context.Context, holder string, token int64, states map[segment.Key]segment.State, events []emit.Outboxed, lastSnapshot time.Time) error {
	args := []any{holder, strconv.FormatInt(token, 10), lastSnapshot.UnixMilli(), len(states)}
	keys := make([]segment.Key, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		b, _ := json.Marshal(states[k])
		args = append(args, k.String(), b)
	}
	args = append(args, len(events))
	for _, e := range events {
		b, _ := json.Marshal(outboxValue{Topic: e.Topic, Key: e.Key, Value: string(e.Value)})
		args = append(args, e.ID, b)
	}
	err := s.commit.Run(ctx, s.c, []string{s.lease, s.token, s.states, s.outbox, s.seq, s.snap}, args...).Err()
	if err != nil && strings.Contains(err.Error(), "NOTLEADER") {
		return emit.ErrNotLeader
	}
	if err != nil {
		return fmt.Errorf("redis: emit commit: %w", err)
	}
	return nil
}

// Pending implements emit.Store.
func (s *EmitStore) Pending(ctx context.Context) ([]emit.Outboxed, error) {
	all, err := s.c.HGetAll(ctx, s.outbox).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: emit outbox: %w", err)
	}
	type item struct {
		seq int64
		o   emit.Outboxed
	}
	items := make([]item, 0, len(all))
	for id, v := range all {
		seqStr, body, ok := strings.Cut(v, "|")
		if !ok {
			continue
		}
		seq, _ := strconv.ParseInt(seqStr, 10, 64)
		var ov outboxValue
		if err := json.Unmarshal([]byte(body), &ov); err != nil {
			continue
		}
		items = append(items, item{seq, emit.Outboxed{ID: id, Topic: ov.Topic, Key: ov.Key, Value: []byte(ov.Value)}})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	out := make([]emit.Outboxed, len(items))
	for i, it := range items {
		out[i] = it.o
	}
	return out, nil
}

// Done implements emit.Store.
func (s *EmitStore) Done(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.c.HDel(ctx, s.outbox, ids...).Err()
}

// LastSnapshot implements emit.Store.
func (s *EmitStore) LastSnapshot(ctx context.Context) (time.Time, error) {
	v, err := s.c.Get(ctx, s.snap).Int64()
	if err == redis.Nil {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("redis: emit snapshot time: %w", err)
	}
	return time.UnixMilli(v), nil
}
