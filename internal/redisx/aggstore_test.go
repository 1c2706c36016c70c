package redisx_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/storetest"
	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/testenv"
)

// openClient opens a client of url with the product's settings and a fresh
// key prefix whose keys are deleted when the test ends.
func openClient(t testing.TB, url string) (redis.UniversalClient, string) {
	t.Helper()
	prefix := testenv.Prefix(t)
	testenv.CleanRedis(t, url, prefix)
	cfg := config.Default().Redis
	cfg.URL = url
	c, err := redisx.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, prefix
}

func openStore(t testing.TB, url string) *redisx.AggStore {
	t.Helper()
	c, prefix := openClient(t, url)
	return redisx.NewAggStore(c, prefix, 25*time.Hour)
}

func TestAggStoreContractStandalone(t *testing.T) {
	url := testenv.RedisURL(t)
	t.Parallel()
	storetest.Run(t, func(t *testing.T) aggregate.Store { return openStore(t, url) })
}

func TestAggStoreContractCluster(t *testing.T) {
	url := testenv.RedisClusterURL(t)
	t.Parallel()
	storetest.Run(t, func(t *testing.T) aggregate.Store {
		s := openStore(t, url)
		return s
	})
}
