//go:build race

package demo

// raceEnabled: the race detector slows the whole pipeline down several times.
const raceEnabled = true
