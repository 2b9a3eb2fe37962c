package main

import "fmt"

// cmdSandbox is not built yet.
func cmdSandbox(e env, args []string) int {
	fmt.Fprintln(e.stderr, "bulkrefund sandbox: not implemented yet")
	return exitUsage
}
