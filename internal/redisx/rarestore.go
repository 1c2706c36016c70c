package redisx

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/ingest"
)

// rareShards spreads the rare-value hashes over Redis Cluster slots.
const rareShards = 16

// RareStore is the Redis implementation of ingest.RareStore.
//
// Layout: per counting period and shard, one hash
// <prefix>{<prefix>rare<shard>}:<period>, field = 8-byte keyed hash of the
// field and value, value = "R" once released, else the 4-byte keyed hashes
// of its distinct senders so far (at most k-1 of them). No value and no
// pseudonym is stored in clear, and the key that hashes them rotates with
// the period. Each hash expires two periods after its period starts. A
// value released in a period is marked "R" in the next period's hash too,
// under its hash with the next period's key (created ahead), so it stays
// released through the next period; it may sit in another shard there.
// Memory (measured by TestRareRedisMemory): about 60 bytes per distinct
// value sighted by one sender, 100 with nine.
type RareStore struct {
	c      redis.UniversalClient
	prefix string
	script *redis.Script
	// RoundTrips counts Redis calls (metrics).
	RoundTrips func(int)
}

// NewRareStore returns the store under a key prefix.
func NewRareStore(c redis.UniversalClient, prefix string) *RareStore {
	return &RareStore{c: c, prefix: prefix, script: redis.NewScript(rareScript), RoundTrips: func(int) {}}
}

// rareScript: KEYS current. ARGV expireAtMs, then (hash, sender, k)*.
// Returns the hashes that are released.
const rareScript = `
local cur = KEYS[1]
local out = {}
for i = 2, #ARGV, 3 do
  local h, tag, k = ARGV[i], ARGV[i+1], tonumber(ARGV[i+2])
  local v = redis.call('HGET', cur, h)
  if v == 'R' then
    out[#out+1] = h
  else
    v = v or ''
    local found = false
    for j = 1, #v, 4 do
      if string.sub(v, j, j + 3) == tag then found = true break end
    end
    if not found then v = v .. tag end
    if #v / 4 >= k then
      redis.call('HSET', cur, h, 'R')
      out[#out+1] = h
    else
      redis.call('HSET', cur, h, v)
    end
  end
end
redis.call('PEXPIREAT', cur, ARGV[1])
return out
`

func (s *RareStore) key(shard int, period int64) string {
	tag := s.prefix + "{" + s.prefix + "rare" + strconv.Itoa(shard) + "}"
	return tag + ":" + strconv.FormatInt(period, 10)
}

// Observe implements ingest.RareStore: one pipelined script call per
// shard touched (one round trip per node), and when values are released a
// second pipelined call that marks them released in the next period.
func (s *RareStore) Observe(ctx context.Context, period int64, expireAt, nextExpireAt time.Time, ss []ingest.Sighting) ([]uint64, error) {
	rel, err := s.observe(ctx, period, expireAt, ss, false)
	if err != nil || len(rel) == 0 {
		return rel, err
	}
	// A value's hash changes with the period's key, and the next period's
	// hash may fall in another shard (another Cluster slot) than this
	// one's: mark it there from here, under its next-period hash.
	next := make(map[uint64]uint64, len(ss))
	for _, x := range ss {
		next[x.Value] = x.Next
	}
	pipe := s.c.Pipeline()
	touched := map[int]bool{}
	for _, h := range rel {
		n := next[h]
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], n)
		sh := int(n % rareShards)
		pipe.HSet(ctx, s.key(sh, period+1), string(b[:]), "R")
		touched[sh] = true
	}
	for sh := range touched {
		pipe.PExpireAt(ctx, s.key(sh, period+1), nextExpireAt)
	}
	s.RoundTrips(1)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis: rare values: %w", err)
	}
	return rel, nil
}

func (s *RareStore) observe(ctx context.Context, period int64, expireAt time.Time, ss []ingest.Sighting, retried bool) ([]uint64, error) {
	byShard := map[int][]any{}
	for _, x := range ss {
		sh := int(x.Value % rareShards)
		var h [8]byte
		var t [4]byte
		binary.BigEndian.PutUint64(h[:], x.Value)
		binary.BigEndian.PutUint32(t[:], x.Sender)
		byShard[sh] = append(byShard[sh], string(h[:]), string(t[:]), x.K)
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.Cmd, 0, len(byShard))
	for sh, args := range byShard {
		args = append([]any{expireAt.UnixMilli()}, args...)
		cmds = append(cmds, s.script.EvalSha(ctx, pipe, []string{s.key(sh, period)}, args...))
	}
	s.RoundTrips(1)
	if _, err := pipe.Exec(ctx); err != nil {
		if retried || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			return nil, fmt.Errorf("redis: rare values: %w", err)
		}
		// First use on this server: load the script and retry once.
		if err := s.script.Load(ctx, s.c).Err(); err != nil {
			return nil, fmt.Errorf("redis: rare values: %w", err)
		}
		if cc, ok := s.c.(*redis.ClusterClient); ok {
			_ = cc.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return s.script.Load(ctx, n).Err() })
		}
		return s.observe(ctx, period, expireAt, ss, true)
	}
	var out []uint64
	for _, c := range cmds {
		vals, err := c.StringSlice()
		if err != nil {
			return nil, fmt.Errorf("redis: rare values: %w", err)
		}
		for _, v := range vals {
			if len(v) == 8 {
				out = append(out, binary.BigEndian.Uint64([]byte(v)))
			}
		}
	}
	return out, nil
}
