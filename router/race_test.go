//go:build race

package router

// raceEnabled: the race detector is on, and sync.Pool drops items at
// random, so allocations are not what they are in production.
const raceEnabled = true
