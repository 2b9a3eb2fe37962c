package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/cli"
)

func newLedgerCmd(e env) *cobra.Command {
	var ledger string
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Import earlier state files into the ledger; back it up",
		Long: `The ledger holds every refund ever planned (docs/ledger.md).

  import STATE.db...  adopt per-batch state files of earlier versions
  backup FILE         write a consistent copy, one file, while runs go on`,
	}
	cmd.PersistentFlags().StringVar(&ledger, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else ~/.local/state/bulkrefund/ledger.db)")
	cmd.AddCommand(&cobra.Command{
		Use:   "import STATE.db...",
		Short: "Adopt per-batch state files of earlier versions into the ledger",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return cli.Exit(cmdLedger(e, "import", ledger, args))
		},
	}, &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the ledger to FILE (which must not exist)",
		Args:  cli.OneFile,
		RunE: func(_ *cobra.Command, args []string) error {
			return cli.Exit(cmdLedger(e, "backup", ledger, args))
		},
	})
	return cmd
}

// cmdLedger runs `ledger import` and `ledger backup`.
func cmdLedger(e env, sub, ledgerFlag string, files []string) int {
	ctx := context.Background()
	switch sub {
	case "import":
		l, err := app.OpenLedger(ctx, app.LedgerSpec(ledgerFlag), false)
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
		l, err := app.OpenLedgerExisting(ctx, app.LedgerSpec(ledgerFlag))
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
	return exitUsage
}
