package aggregate_test

import (
	"testing"

	"github.com/personas-dev/personas/aggregate"
	"github.com/personas-dev/personas/aggregate/storetest"
)

func TestMemStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) aggregate.Store { return aggregate.NewMemStore() })
}
