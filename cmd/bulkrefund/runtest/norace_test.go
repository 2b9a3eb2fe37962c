//go:build !race

package runtest

const raceEnabled = false
