package ingest

import (
	"context"
	"crypto/rand"
	"sync"
	"time"
)

// EphemeralKeys holds epoch keys in this process only: random, never
// written anywhere, gone when the process ends. For `personas strip`, the
// demo and tests; several instances need the shared Redis key store.
type EphemeralKeys struct {
	mu   sync.Mutex
	keys map[int64][]byte
}

// NewEphemeralKeys returns an empty in-process key store.
func NewEphemeralKeys() *EphemeralKeys { return &EphemeralKeys{keys: map[int64][]byte{}} }

// Key implements Keys.
func (e *EphemeralKeys) Key(_ context.Context, epoch int64, _ time.Time) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.keys[epoch]
	if !ok {
		k = make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		e.keys[epoch] = k
	}
	return k, nil
}
