package main

import "fmt"

// cmdRun is not built yet.
func cmdRun(e env, args []string) int {
	fmt.Fprintln(e.stderr, "bulkrefund run: not implemented yet")
	return exitUsage
}
