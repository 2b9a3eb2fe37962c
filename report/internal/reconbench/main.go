// Command reconbench writes the inputs of the reconciliation benchmark: a
// results file, a statement and an orders ledger for N orders (default one
// million), with known category counts, and the same refunds of ours as a
// ledger (ledger.db; -ledger=false to skip it). See docs/bench-report.md.
//
//	go run ./report/internal/reconbench -n 1000000 -dir /tmp/reconbench
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulkrefund/bulkrefund/report/internal/gen"
)

func main() {
	n := flag.Int("n", 1_000_000, "orders (one refund each)")
	dir := flag.String("dir", "reconbench", "output `DIR`")
	ledger := flag.Bool("ledger", true, "also write our refunds as a ledger, DIR/ledger.db (replaced if present)")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	e, err := gen.Write(*dir, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *ledger {
		path := filepath.Join(*dir, "ledger.db")
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			os.Remove(p)
		}
		if err := gen.WriteLedger(context.Background(), path, *n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	json.NewEncoder(os.Stdout).Encode(e)
}
