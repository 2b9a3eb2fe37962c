package main

import "fmt"

// cmdValidate is not built yet.
func cmdValidate(e env, args []string) int {
	fmt.Fprintln(e.stderr, "bulkrefund validate: not implemented yet")
	return exitUsage
}
