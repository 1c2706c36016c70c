//go:build race

package ingest

// raceEnabled: the race detector slows the transform about tenfold; the
// corpus tests shrink their synthetic streams under it.
const raceEnabled = true
