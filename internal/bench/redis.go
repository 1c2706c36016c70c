package bench

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/redisx"
)

func openRedis(ctx context.Context, url string) (redis.UniversalClient, error) {
	return redisx.Open(ctx, config.Redis{URL: url, Timeout: 10 * time.Second})
}

// eachNode runs f on the server (standalone) or on every master (cluster).
func eachNode(ctx context.Context, c redis.UniversalClient, f func(ctx context.Context, n *redis.Client) error) error {
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, f)
	}
	if n, ok := c.(*redis.Client); ok {
		return f(ctx, n)
	}
	return nil
}

// infoField reads one field of an INFO section.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return v
		}
	}
	return ""
}

// redisCPU returns the CPU time used by the Redis server(s) so far
// (used_cpu_user + used_cpu_sys of INFO cpu, summed over masters).
func redisCPU(ctx context.Context, c redis.UniversalClient) (time.Duration, error) {
	var mu sync.Mutex
	var total float64
	err := eachNode(ctx, c, func(ctx context.Context, n *redis.Client) error {
		info, err := n.Info(ctx, "cpu").Result()
		if err != nil {
			return err
		}
		u, _ := strconv.ParseFloat(infoField(info, "used_cpu_user"), 64)
		s, _ := strconv.ParseFloat(infoField(info, "used_cpu_sys"), 64)
		mu.Lock()
		total += u + s
		mu.Unlock()
		return nil
	})
	return time.Duration(total * float64(time.Second)), err
}

// redisVersion returns the server version.
func redisVersion(ctx context.Context, c redis.UniversalClient) string {
	v := ""
	_ = eachNode(ctx, c, func(ctx context.Context, n *redis.Client) error {
		info, err := n.Info(ctx, "server").Result()
		if err == nil && v == "" {
			v = infoField(info, "redis_version")
		}
		return err
	})
	return v
}

// deletePrefix deletes every key under prefix (SCAN and UNLINK on each
// master).
func deletePrefix(ctx context.Context, c redis.UniversalClient, prefix string) error {
	return eachNode(ctx, c, func(ctx context.Context, n *redis.Client) error {
		iter := n.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			// One key per call: on a cluster the keys of one batch may
			// live in different slots of this master.
			p := n.Pipeline()
			for _, k := range batch {
				p.Unlink(ctx, k)
			}
			_, err := p.Exec(ctx)
			batch = batch[:0]
			return err
		}
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		return flush()
	})
}
