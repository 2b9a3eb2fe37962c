package main

import "fmt"

// cmdStatus is not built yet.
func cmdStatus(e env, args []string) int {
	fmt.Fprintln(e.stderr, "bulkrefund status: not implemented yet")
	return exitUsage
}
