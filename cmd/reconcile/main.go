// Command reconcile matches the refunds a run sent against what the providers
// record, and writes the reconciliation report.
//
//	reconcile [--ledger PATH [--batch ID]...] [--state FILE]... [--results FILE]...
//	          [--statement FILE]... [--lookup --config FILE] [--orders FILE]...
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
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	// A million-row reconciliation holds both sides in memory; a soft limit
	// makes the collector work harder instead of letting the heap double.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1280 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels the work (lookups stop, nothing more is
	// written, exit 130); reading a large input does not watch for it, so a
	// second signal must still stop the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
