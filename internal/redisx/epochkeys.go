package redisx

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// EpochKeys is the shared epoch-key store (ingest.Keys): the first instance
// that needs an epoch's key creates 32 random bytes and stores them with
// SET NX and an absolute expiry (end of epoch plus grace); every instance
// then reads the same key. Keys live only in Redis and in process memory,
// never in files, logs or configuration, and Redis deletes them at expiry.
// Each process caches a key until its expiry, so the hot path makes no
// Redis call.
type EpochKeys struct {
	c      redis.UniversalClient
	prefix string
	name   string
	mu     sync.Mutex
	cache  map[int64]cachedKey
	now    func() time.Time
}

type cachedKey struct {
	key      []byte
	expireAt time.Time
}

// NewEpochKeys returns the pseudonym key store under the given key prefix.
func NewEpochKeys(c redis.UniversalClient, prefix string) *EpochKeys {
	return &EpochKeys{c: c, prefix: prefix, name: "epochkey:", cache: map[int64]cachedKey{}, now: time.Now}
}

// NewRareKeys returns the store of the keys that hash rare-value
// sightings: the same mechanism in its own name space, so no key ever
// serves two purposes.
func NewRareKeys(c redis.UniversalClient, prefix string) *EpochKeys {
	return &EpochKeys{c: c, prefix: prefix, name: "rarekey:", cache: map[int64]cachedKey{}, now: time.Now}
}

// KeyName is the Redis key holding an epoch's key (tests check its expiry).
func (e *EpochKeys) KeyName(epoch int64) string {
	return e.prefix + e.name + strconv.FormatInt(epoch, 10)
}

// Key implements ingest.Keys.
func (e *EpochKeys) Key(ctx context.Context, epoch int64, expireAt time.Time) ([]byte, error) {
	now := e.now()
	e.mu.Lock()
	if k, ok := e.cache[epoch]; ok && now.Before(k.expireAt) {
		e.mu.Unlock()
		return k.key, nil
	}
	// Forget expired keys: a destroyed key must not survive in memory.
	for ep, k := range e.cache {
		if !now.Before(k.expireAt) {
			clear(k.key)
			delete(e.cache, ep)
		}
	}
	e.mu.Unlock()
	if !now.Before(expireAt) {
		return nil, errors.New("epoch key requested after its expiry")
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	name := e.KeyName(epoch)
	// SET NX keeps the first creator's key; GET returns whichever won.
	if err := e.c.SetArgs(ctx, name, fresh, redis.SetArgs{Mode: "NX", ExpireAt: expireAt}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis: epoch key: %w", err)
	}
	val, err := e.c.Get(ctx, name).Bytes()
	if err != nil {
		return nil, fmt.Errorf("redis: epoch key: %w", err)
	}
	if len(val) != 32 {
		return nil, errors.New("redis: epoch key has the wrong length")
	}
	clear(fresh)
	e.mu.Lock()
	e.cache[epoch] = cachedKey{key: val, expireAt: expireAt}
	e.mu.Unlock()
	return val, nil
}

// Peek returns an epoch's key if it still exists, without creating it.
func (e *EpochKeys) Peek(ctx context.Context, epoch int64) ([]byte, bool, error) {
	val, err := e.c.Get(ctx, e.KeyName(epoch)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: epoch key: %w", err)
	}
	return val, true, nil
}

// Destroy deletes an epoch's key before its expiry (crypto-shredding: from
// then on nobody can compute that epoch's pseudonyms). Events of that epoch
// that arrive later are rejected as epoch_expired only after the instances'
// caches expire; restart ingest to make it immediate.
func (e *EpochKeys) Destroy(ctx context.Context, epoch int64) error {
	e.mu.Lock()
	if k, ok := e.cache[epoch]; ok {
		clear(k.key)
		delete(e.cache, epoch)
	}
	e.mu.Unlock()
	return e.c.Del(ctx, e.KeyName(epoch)).Err()
}
