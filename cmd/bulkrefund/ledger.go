package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// cmdLedger manages the ledger itself: `ledger import STATE.db…` adopts
// per-batch state files of earlier versions; `ledger backup FILE` writes a
// consistent copy while runs may be going on.
func cmdLedger(e env, args []string) int {
	usage := func() {
		fmt.Fprintln(e.stderr, "usage: bulkrefund ledger import [--ledger PATH] STATE.db...\n"+
			"       bulkrefund ledger backup [--ledger PATH] FILE")
	}
	if len(args) == 0 {
		usage()
		return exitUsage
	}
	fs := flag.NewFlagSet("ledger "+args[0], flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	ledgerFlag := fs.String("ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else the user's state directory)")
	files, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	ctx := context.Background()
	switch args[0] {
	case "import":
		if len(files) == 0 {
			usage()
			return exitUsage
		}
		l, err := app.OpenLedger(ctx, app.LedgerSpec(*ledgerFlag), false)
		if err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund ledger import: %v\n", err)
			return exitUsage
		}
		defer l.Close()
		code := exitOK
		for _, f := range files {
			res, err := store.ImportState(ctx, l, f, app.Operator())
			if err != nil {
				fmt.Fprintf(e.stderr, "bulkrefund ledger import: %s: %v\n", f, err)
				code = exitUsage
				continue
			}
			what := "imported"
			if res.Plan.Resumed {
				what = "already in the ledger"
			}
			fmt.Fprintf(e.stdout, "%s: batch %.16s %s: %d rows (%d new refunds, %d known), %d states adopted, %d kept as the ledger had them\n",
				f, res.Plan.Meta.BatchID, what, res.Plan.Meta.Items, res.Plan.New, res.Plan.Known, res.Adopted, res.Kept)
		}
		fmt.Fprintf(e.stdout, "Ledger: %s\n", l.Where())
		return code
	case "backup":
		if len(files) != 1 {
			usage()
			return exitUsage
		}
		l, err := app.OpenLedgerExisting(ctx, app.LedgerSpec(*ledgerFlag))
		if err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund ledger backup: %v\n", err)
			return exitUsage
		}
		defer l.Close()
		if err := l.Backup(ctx, files[0]); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund ledger backup: %v\n", err)
			return exitFailures
		}
		fmt.Fprintf(e.stdout, "Backed up %s to %s\n", l.Where(), files[0])
		return exitOK
	}
	usage()
	return exitUsage
}
