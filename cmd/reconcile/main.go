// Command reconcile matches the refunds a run sent against what the providers
// record, and writes the reconciliation report. It is the cron binary of
// `bulkrefund reconcile`: the same command (internal/cli), without the rest.
//
//	reconcile [--ledger PATH [--batch ID]...] [--state FILE]... [--results FILE]...
//	          [--statement FILE]... [--lookup [--config FILE]] [--orders FILE]...
//	          [--from DATE --to DATE] [--amount-tolerance N] [--operator NAME]
//	          [--csv DIR] [--json FILE] -o report.xlsx
//	reconcile resolve EXCEPTION --note TEXT --by NAME [--ledger PATH]
//
// Exit codes, for cron: 0 every refund matched or agreed failed, or an
// exception explained; 1 unexplained exceptions or pending refunds remain;
// 2 bad usage or unreadable input; 130 interrupted.
package main

import (
	"context"
	"io"
	"os"

	"github.com/bulkrefund/bulkrefund/internal/cli"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := cli.NewReconcileCmd("reconcile")
	cli.Setup(root, "reconcile")
	return cli.Execute(ctx, root, args, stdout, stderr)
}
