package redisx_test

import (
	"testing"

	"github.com/personas-dev/personas/emit"
	"github.com/personas-dev/personas/emit/storetest"
	"github.com/personas-dev/personas/internal/redisx"
	"github.com/personas-dev/personas/internal/testenv"
)

func openEmitStore(t *testing.T, url string) emit.Store {
	t.Helper()
	c, prefix := openClient(t, url)
	return redisx.NewEmitStore(c, prefix)
}

func TestEmitStoreContractStandalone(t *testing.T) {
	url := testenv.RedisURL(t)
	t.Parallel()
	storetest.Run(t, func(t *testing.T) emit.Store { return openEmitStore(t, url) })
}

func TestEmitStoreContractCluster(t *testing.T) {
	url := testenv.RedisClusterURL(t)
	t.Parallel()
	storetest.Run(t, func(t *testing.T) emit.Store { return openEmitStore(t, url) })
}
