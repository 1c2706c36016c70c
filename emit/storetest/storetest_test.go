package storetest_test

import (
	"testing"

	"github.com/personas-dev/personas/emit"
	"github.com/personas-dev/personas/emit/storetest"
)

func TestMemStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) emit.Store { return emit.NewMemStore(nil) })
}
