// Package redisx is the Redis adapter of Personas: it opens a standalone or
// cluster client from the one URL setting, and holds the Redis
// implementations of the stages' state-store interfaces.
//
// Key layout rule: every key a single atomic call touches carries the same
// hash tag ({...}), so the layout works on Redis Cluster unchanged.
package redisx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
)

// Open connects to the Redis named by cfg.URL. A URL with ?addr= parameters
// is a cluster (go-redis's ParseClusterURL form); a single node that
// reports cluster_enabled:1 is used as a cluster too. Errors never repeat
// the URL (it may hold a password).
func Open(ctx context.Context, cfg config.Redis) (redis.UniversalClient, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("redis.url: not a URL")
	}
	tlsConf, err := kafkax.TLSConfig(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("redis.tls: %w", err)
	}
	timeouts := func(dial, rw *time.Duration) {
		*dial = cfg.Timeout
		*rw = cfg.Timeout
	}
	if u.Query().Has("addr") {
		opt, err := redis.ParseClusterURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url: %s", sanitize(err))
		}
		timeouts(&opt.DialTimeout, &opt.ReadTimeout)
		opt.WriteTimeout = opt.ReadTimeout
		if tlsConf != nil {
			opt.TLSConfig = mergeTLS(opt.TLSConfig, tlsConf)
		}
		return redis.NewClusterClient(opt), nil
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %s", sanitize(err))
	}
	timeouts(&opt.DialTimeout, &opt.ReadTimeout)
	opt.WriteTimeout = opt.ReadTimeout
	if tlsConf != nil {
		opt.TLSConfig = mergeTLS(opt.TLSConfig, tlsConf)
	}
	single := redis.NewClient(opt)
	// A single node may be part of a cluster: ask it. If Redis is not up
	// yet, keep the standalone client; the caller's readiness check retries.
	info, err := single.Info(ctx, "cluster").Result()
	if err == nil && strings.Contains(info, "cluster_enabled:1") {
		_ = single.Close()
		copt := &redis.ClusterOptions{
			Addrs:        []string{opt.Addr},
			Username:     opt.Username,
			Password:     opt.Password,
			TLSConfig:    opt.TLSConfig,
			DialTimeout:  opt.DialTimeout,
			ReadTimeout:  opt.ReadTimeout,
			WriteTimeout: opt.WriteTimeout,
		}
		return redis.NewClusterClient(copt), nil
	}
	return single, nil
}

// mergeTLS adds the configured CA and client certificate to the TLS
// configuration a rediss:// URL implies (which only names the server).
func mergeTLS(fromURL, configured *tls.Config) *tls.Config {
	out := configured.Clone()
	if fromURL != nil && out.ServerName == "" {
		out.ServerName = fromURL.ServerName
	}
	return out
}

// sanitize drops anything after "://" from a go-redis parse error, which
// can quote the URL.
func sanitize(err error) string {
	s := err.Error()
	if i := strings.Index(s, "://"); i >= 0 {
		return s[:i] + "://(redacted)"
	}
	return s
}

// IsCluster reports whether c talks to a Redis Cluster.
func IsCluster(c redis.UniversalClient) bool {
	_, ok := c.(*redis.ClusterClient)
	return ok
}

// Ping checks that Redis answers: the readiness probe for Redis.
func Ping(ctx context.Context, c redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.Ping(ctx).Err()
		})
	}
	return c.Ping(ctx).Err()
}
