// Command reconcile matches the refunds a run sent against what the providers
// record, and writes the reconciliation report.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "usage: reconcile [flags] -o report.xlsx (not implemented yet)")
	os.Exit(2)
}
