package testenv

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const redisTimeout = 30 * time.Second

// Prefix returns a Redis key prefix unique to this call, e.g. "test:1f2e3d4c:a1b2c3d4:"
// (a hash of the test name, then random hex). It holds no '{' or '}', so keys under it
// still spread over all Redis Cluster slots, as production keys do. Pair it with
// CleanRedis to delete the keys when the test ends.
func Prefix(t testing.TB) string {
	return "test:" + testHash(t) + ":" + randomSuffix(4) + ":"
}

// OpenRedis opens a go-redis client for a standalone or cluster URL: a URL with addr
// query parameters, or one whose server runs in cluster mode, gives a
// *redis.ClusterClient (go-redis ParseClusterURL), anything else a *redis.Client
// (go-redis ParseURL). The caller closes it.
func OpenRedis(ctx context.Context, rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	if !u.Query().Has("addr") {
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis URL %s: %w", u.Redacted(), err)
		}
		c := redis.NewClient(opt)
		info, err := c.Info(ctx, "cluster").Result()
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("redis at %s: %w", opt.Addr, err)
		}
		if !strings.Contains(info, "cluster_enabled:1") {
			return c, nil
		}
		_ = c.Close()
	}
	opt, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis cluster URL %s: %w", u.Redacted(), err)
	}
	c := redis.NewClusterClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis cluster at %v: %w", opt.Addrs, err)
	}
	return c, nil
}

// Redis returns a client for rawURL (see OpenRedis), closed when the test ends.
func Redis(t testing.TB, rawURL string) redis.UniversalClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	c, err := OpenRedis(ctx, rawURL)
	if err != nil {
		t.Fatalf("testenv.Redis: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// CleanRedis deletes every key starting with prefix from the Redis at rawURL when the
// test ends (on a cluster: on every master). Failures are logged, not fatal.
func CleanRedis(t testing.TB, rawURL, prefix string) {
	t.Helper()
	if prefix == "" {
		t.Fatal("testenv.CleanRedis: an empty prefix would delete every key")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
		defer cancel()
		c, err := OpenRedis(ctx, rawURL)
		if err != nil {
			t.Logf("testenv.CleanRedis: keys under %q not deleted: %v", prefix, err)
			return
		}
		defer c.Close()
		if _, err := scanKeys(ctx, c, prefix, true); err != nil {
			t.Logf("testenv.CleanRedis: deleting keys under %q: %v", prefix, err)
		}
	})
}

// RedisKeys returns all keys starting with prefix, sorted (on a cluster: from every
// master). Privacy tests use it to search keys and values for identifiers.
func RedisKeys(t testing.TB, rawURL, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	c, err := OpenRedis(ctx, rawURL)
	if err != nil {
		t.Fatalf("testenv.RedisKeys: %v", err)
	}
	defer c.Close()
	keys, err := scanKeys(ctx, c, prefix, false)
	if err != nil {
		t.Fatalf("testenv.RedisKeys: %v", err)
	}
	sort.Strings(keys)
	return keys
}

// scanKeys SCANs for keys under prefix on a standalone server or on every cluster
// master, deleting them when del is set. It returns the keys it found.
func scanKeys(ctx context.Context, c redis.UniversalClient, prefix string, del bool) ([]string, error) {
	pattern := globEscape(prefix) + "*"
	var (
		mu  sync.Mutex
		all []string
	)
	each := func(ctx context.Context, node *redis.Client) error {
		keys, err := scanNode(ctx, node, pattern, del)
		mu.Lock()
		all = append(all, keys...)
		mu.Unlock()
		return err
	}
	switch c := c.(type) {
	case *redis.ClusterClient:
		if err := c.ForEachMaster(ctx, each); err != nil {
			return all, err
		}
	case *redis.Client:
		if err := each(ctx, c); err != nil {
			return all, err
		}
	default:
		return nil, fmt.Errorf("unsupported redis client type %T", c)
	}
	return all, nil
}

func scanNode(ctx context.Context, node *redis.Client, pattern string, del bool) ([]string, error) {
	var (
		found  []string
		cursor uint64
	)
	for {
		keys, next, err := node.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return found, fmt.Errorf("SCAN on %s: %w", node.Options().Addr, err)
		}
		found = append(found, keys...)
		if del && len(keys) > 0 {
			// One UNLINK per key: keys of one node can sit in different cluster
			// slots, and a multi-key UNLINK across slots fails with CROSSSLOT.
			_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Unlink(ctx, k)
				}
				return nil
			})
			if err != nil {
				return found, fmt.Errorf("UNLINK on %s: %w", node.Options().Addr, err)
			}
		}
		if next == 0 {
			return found, nil
		}
		cursor = next
	}
}

// globEscape escapes the characters Redis' glob-style MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
