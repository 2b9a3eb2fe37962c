//go:build race

package store_test

// raceEnabled: the race detector slows the pure-Go SQLite engine twentyfold,
// so timings mean nothing under it.
const raceEnabled = true
