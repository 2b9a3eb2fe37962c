package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/cli"
)

type submitFlags struct {
	config, ledger, sheet string
	maxErrors             int
}

func newSubmitCmd(e env) *cobra.Command {
	var f submitFlags
	cmd := &cobra.Command{
		Use:   "submit FILE",
		Short: "Record a sheet as a batch waiting for a second person's approval",
		Long: `Validate the sheet, check it against the limits of the provider config's
"controls" section and against the ledger, and record it as a batch waiting
for a checker: someone other than you approves it (bulkrefund approve, or the
web page) before it can run, where the controls ask for approval. Nothing is
sent. You are the operating-system user running this command.

Exit: 0 submitted, 1 invalid rows, 2 over the limits, a refund number the
ledger holds for another refund, or bad usage (nothing recorded).`,
		Example: `  bulkrefund submit 2026-11-refunds.xlsx --config providers.json`,
		Args:    cli.OneFile,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.Exit(cmdSubmit(e, args[0], f))
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "provider config `FILE` whose controls apply (default: $BULKREFUND_CONFIG, else the user config directory's bulkrefund/config.json)")
	fl.StringVar(&f.ledger, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else ~/.local/state/bulkrefund/ledger.db)")
	fl.StringVar(&f.sheet, "sheet", "", "XLSX sheet to read (default: the first visible sheet)")
	fl.IntVar(&f.maxErrors, "max-errors", 20, "print at most `N` invalid-row lines")
	return cmd
}

// findControls reads the controls of the provider config the flag names,
// or that the usual places hold; none if there is no config.
func findControls(flag string) (*app.Controls, error) {
	cfg, err := cli.FindConfig(flag)
	if err != nil {
		return nil, err
	}
	return app.ReadControls(cfg.Path)
}

func cmdSubmit(e env, path string, f submitFlags) int {
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund submit: "+format+"\n", a...) }
	ctx := context.Background()
	ctl, err := findControls(f.config)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	p, err := app.Load(app.SheetSpec{Path: path, Sheet: f.sheet, MaxErrors: f.maxErrors}, "")
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	if p.Validation.Invalid > 0 {
		sheet.PrintReport(e.stdout, e.stderr, path, p.Validation, p.Errors)
		errf("%d invalid rows: nothing was submitted (fix them and submit again)", p.Validation.Invalid)
		return exitFailures
	}
	// The limits before the ledger: a refused sheet leaves nothing behind.
	if _, err := ctl.CheckLimits(p.Items); err != nil {
		errf("%v", err)
		return exitUsage
	}
	l, err := app.OpenLedger(ctx, app.LedgerSpec(f.ledger), false)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer l.Close()
	who := app.Operator()
	res, err := app.Submit(ctx, l, p, who, ctl)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	id := res.Meta.BatchID
	fmt.Fprintf(e.stdout, "Submitted batch %s: %d refunds from %s, by %s\n", id, len(p.Items), path, who)
	writePlanTable(e.stdout, app.Totals(p.Items), app.CurrencyTotals(p.Items))
	if need, why := ctl.NeedsApproval(app.CurrencyTotals(p.Items)); need {
		fmt.Fprintf(e.stdout, "It needs a second person's approval: %s.\nA checker other than %s approves it with:\n  bulkrefund approve %.16s\n", why, who, id)
	} else {
		fmt.Fprintln(e.stdout, "The controls ask no approval for it; a checker may still approve or reject it.")
	}
	fmt.Fprintf(e.stdout, "Ledger: %s\n", l.Where())
	return exitOK
}

// typedTotals asks for each total in turn; one that does not match sends
// nothing.
func typedTotals(in *bufio.Reader, out io.Writer, totals []app.Total) bool {
	fmt.Fprintln(out, "This batch is above the amount that needs its total typed to confirm it.")
	for _, t := range totals {
		fmt.Fprintf(out, "Type the %s total of these %d refunds, as the plan shows it: ", t.Currency, t.Rows)
		line, _ := in.ReadString('\n')
		if !app.TypedTotalMatches(line, t) {
			fmt.Fprintf(out, "%q is not the %s total. Nothing sent.\n", strings.TrimSpace(line), t.Currency)
			return false
		}
	}
	return true
}

// batchSummary prints what a checker decides on: the batch, its maker, its
// sheet and totals.
func batchSummary(w io.Writer, ctx context.Context, l *store.SQL, st app.ApprovalState) error {
	items, err := app.BatchItems(ctx, l, st.Meta.BatchID)
	if err != nil {
		return err
	}
	m := st.Meta
	fmt.Fprintf(w, "Batch %s: %d refunds from %s (sha256 %s)\n", m.BatchID, m.Items, m.SourcePath, m.SourceSHA256)
	fmt.Fprintf(w, "Submitted by %s; status %s\n", st.Submitter(), m.Status)
	writePlanTable(w, app.Totals(items), app.CurrencyTotals(items))
	return nil
}

func describeDecisionError(err error) string {
	switch {
	case errors.Is(err, app.ErrSelfApproval):
		return err.Error() + ": another checker must approve it"
	case errors.Is(err, store.ErrNoBatch):
		return err.Error() + " (give the id `bulkrefund submit` printed, or a unique prefix of it)"
	}
	return err.Error()
}
