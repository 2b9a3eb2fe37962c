package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/report/history"
)

// newResolveCmd is `reconcile resolve EXCEPTION --note TEXT --by NAME`: an
// auditor's explanation of an open exception, kept in the ledger's history
// and audit trail (nothing is edited or deleted). The next reconciliation
// lists the exception under Resolved and leaves it out of the exit code.
func newResolveCmd() *cobra.Command {
	var note, by, ledger string
	cmd := &cobra.Command{
		Use:   "resolve EXCEPTION --note TEXT --by NAME",
		Short: "Record an auditor's explanation of an open exception",
		Long: `Record an auditor's explanation of an open exception of the nightly
reconciliation, with the time and the author, in the ledger's exception history
and its audit trail. Nothing is edited or deleted: a second explanation adds to
the first. The next reconciliation lists the exception on the Resolved sheet,
with the note, and leaves it out of the exit code while it stays in the category
explained.

EXCEPTION is the report's exception_id, or a refund number or provider refund id
that exactly one open exception has.`,
		Example: `  reconcile resolve 'upay/100000330000000001/SQB20261100004/order refunded total' \
      --note "manual refund by the store, ticket 912" --by ann
  reconcile resolve R20261100004-1 --note "…" --by ann`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch len(args) {
			case 1:
				return nil
			case 0:
				return Usagef("which exception? give its exception_id (or a refund number)")
			}
			return Usagef("one exception at a time, got %d: %s", len(args), strings.Join(args, " "))
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case strings.TrimSpace(note) == "":
				return Usagef("--note is required: the explanation is what an auditor reads")
			case strings.TrimSpace(by) == "":
				return Usagef("--by is required: who explains it")
			}
			return Exit(resolve(cmd.Context(), args[0], note, by, ledger, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&note, "note", "", "the explanation `TEXT`")
	fl.StringVar(&by, "by", "", "who explains it: `NAME`")
	fl.StringVar(&ledger, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else the user's state directory)")
	cmd.MarkFlagFilename("ledger", "db")
	return cmd
}

func resolve(ctx context.Context, target, note, by, ledger string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "reconcile resolve: %v\n", err)
		return exitUsage
	}
	l, err := app.OpenLedgerExisting(ctx, app.LedgerSpec(ledger))
	if err != nil {
		return fail(err)
	}
	defer l.Close()
	h, err := history.Open(ctx, l)
	if err != nil {
		return fail(err)
	}
	e, err := h.Resolve(ctx, target, note, by, time.Now())
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "explained %s (%s, open %d night(s) since %s) by %s at %s\n", e.Exception.ID, e.Category,
		e.Exception.NightsOpen, e.Exception.FirstSeen.Format(time.RFC3339), e.By, e.At.UTC().Format(time.RFC3339))
	return exitOK
}
