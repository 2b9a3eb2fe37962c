package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/cli"
	"github.com/bulkrefund/bulkrefund/money"
)

type statusFlags struct {
	ledger, batch, refund, sheet string
	maxRows                      int
}

func newStatusCmd(e env) *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status [FILE | --batch ID | --refund NO]",
		Short: "Show where refunds stand in the ledger",
		Long: `Show where refunds stand in the ledger. With no argument: every batch with
its counts by state. With a sheet FILE (its batch is found from its content;
- reads it from standard input) or --batch ID: counts and amounts by provider,
account, currency and state, then every failed, unknown, pending and blocked
row. With --refund NO: every refund numbered NO, in any batch.

Exit: 0 every refund shown succeeded, 1 some are failed, unknown, pending,
blocked or not yet sent, 2 bad usage, no ledger or no such batch.`,
		Example: `  bulkrefund status
  bulkrefund status refunds.xlsx
  bulkrefund status --batch 0123456789ab
  bulkrefund status --refund R20261100001-1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return cli.Usagef("one sheet FILE at a time, got %d", len(args))
			}
			return nil
		},
		ValidArgsFunction: sheetFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return cli.Exit(withSheet(e, "status", args[0], func(e env, path string) int { return cmdStatus(e, []string{path}, f) }))
			}
			return cli.Exit(cmdStatus(e, nil, f))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.ledger, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else ~/.local/state/bulkrefund/ledger.db)")
	fl.StringVar(&f.batch, "batch", "", "show one batch: its `ID` or a unique prefix")
	fl.StringVar(&f.refund, "refund", "", "show every refund numbered `NO`, in any batch")
	fl.StringVar(&f.sheet, "sheet", "", "XLSX sheet of FILE")
	fl.IntVar(&f.maxRows, "max-rows", 200, "list at most `N` failed, unknown, pending and blocked rows (0: all)")
	cmd.MarkFlagFilename("ledger", "db")
	return cmd
}

// cmdStatus shows where a run's refunds stand: counts and amounts by
// provider, account, currency and state, then every failed, unknown and
// pending row. The state is named by --state, or found from the sheet FILE
// (its content decides the default state path). Exit 0: every refund
// succeeded; 1: some are failed, unknown, pending or not yet sent; 2: bad
// usage or no state.
func cmdStatus(e env, files []string, f statusFlags) int {
	ledgerFlag, batchID, refundNo, sheetName, maxRows := &f.ledger, &f.batch, &f.refund, &f.sheet, &f.maxRows
	if (len(files) == 1 && (*batchID != "" || *refundNo != "")) || (*batchID != "" && *refundNo != "") {
		fmt.Fprintln(e.stderr, "bulkrefund status: give one of the sheet FILE, --batch ID or --refund NO (see 'bulkrefund status --help')")
		return exitUsage
	}
	ctx := context.Background()
	l, err := app.OpenLedgerExisting(ctx, app.LedgerSpec(*ledgerFlag))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(e.stderr, "bulkrefund status: no ledger at %s: nothing has been run yet (or give --ledger)\n", app.LedgerSpec(*ledgerFlag))
		} else {
			fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
		}
		return exitUsage
	}
	defer l.Close()
	switch {
	case *refundNo != "":
		return statusRefund(e, l, *refundNo)
	case len(files) == 1:
		p, err := app.Load(app.SheetSpec{Path: files[0], Sheet: *sheetName}, "")
		if err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
			return exitUsage
		}
		*batchID = p.Meta.BatchID
	case *batchID == "":
		return statusAll(e, l)
	}
	st, err := l.View(ctx, *batchID)
	if err != nil {
		if errors.Is(err, store.ErrNoBatch) && len(files) == 1 {
			fmt.Fprintf(e.stderr, "bulkrefund status: this sheet has not been run against ledger %s\n", l.Where())
		} else {
			fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
		}
		return exitUsage
	}
	defer st.Close()
	m, err := st.Meta(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
		return exitUsage
	}
	counts, err := st.Counts(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
		return exitUsage
	}

	w := e.stdout
	fmt.Fprintf(w, "Batch %.16s (%s): %d rows from %s (sha256 %.16s), planned %s by %s on %s\n", m.BatchID, m.Status, m.Items, m.SourcePath,
		m.SourceSHA256, m.Created.Local().Format(time.RFC3339), m.Operator, m.Host)
	fmt.Fprintf(w, "Ledger: %s\n\n", l.Where())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "provider\taccount\tcurrency\tstate\trows\tamount\t")
	byState := map[store.State]int{}
	type pc struct {
		p string
		c money.Currency
	}
	totalRows := map[pc]int{}
	totalAmt := map[pc]int64{}
	var order []pc
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t\n", c.Provider, c.Account, c.Currency, c.State, c.Items, money.Format(c.Amount, c.Currency))
		byState[c.State] += c.Items
		k := pc{c.Provider, c.Currency}
		if _, ok := totalRows[k]; !ok {
			order = append(order, k)
		}
		totalRows[k] += c.Items
		totalAmt[k] += c.Amount
	}
	for _, k := range order {
		fmt.Fprintf(tw, "%s\t(all)\t%s\t(all)\t%d\t%s\t\n", k.p, k.c, totalRows[k], money.Format(totalAmt[k], k.c))
	}
	tw.Flush()
	fmt.Fprint(w, "\nBy state:")
	for _, s := range store.States {
		if byState[s] > 0 {
			fmt.Fprintf(w, " %s %d", s, byState[s])
		}
	}
	fmt.Fprintln(w)

	listed := 0
	var more int
	for _, want := range []store.State{store.Failed, store.Unknown, store.Pending, store.Blocked, store.Submitting} {
		if byState[want] == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s rows:\n", want)
		st.Each(ctx, func(r store.Record) error {
			if r.State != want {
				return nil
			}
			if *maxRows > 0 && listed >= *maxRows {
				more++
				return nil
			}
			listed++
			fmt.Fprintf(w, "  row %d  %s %s  order %s  refund %s  %s %s  attempts %d  last %s  %s\n", r.Row, r.Provider, r.Account,
				r.OrderNo, r.RefundNo, money.Format(r.Amount, r.Currency), r.Currency, r.Attempts, fmtWhen(r.LastAttempt), reasonOf(r))
			return nil
		})
	}
	if more > 0 {
		fmt.Fprintf(w, "  ... and %d more (--max-rows 0 lists all)\n", more)
	}
	if byState[store.Succeeded] == m.Items {
		return exitOK
	}
	return exitFailures
}

func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// statusAll lists every batch of the ledger with its counts by state.
func statusAll(e env, l *store.SQL) int {
	ctx := context.Background()
	ms, err := l.Batches(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
		return exitUsage
	}
	w := e.stdout
	fmt.Fprintf(w, "Ledger %s: %d batch(es)\n\n", l.Where(), len(ms))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "batch\tplanned\tby\tstatus\trows\tstates\tsource\t")
	clean := true
	for _, m := range ms {
		v, err := l.View(ctx, m.BatchID)
		if err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
			return exitUsage
		}
		counts, err := v.Counts(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
			return exitUsage
		}
		by := map[store.State]int{}
		for _, c := range counts {
			by[c.State] += c.Items
		}
		var parts []string
		for _, s := range store.States {
			if by[s] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", s, by[s]))
			}
		}
		if by[store.Succeeded] != m.Items {
			clean = false
		}
		fmt.Fprintf(tw, "%.16s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", m.BatchID, m.Created.Local().Format("2006-01-02 15:04"), m.Operator, m.Status, m.Items,
			strings.Join(parts, ", "), m.SourcePath)
	}
	tw.Flush()
	fmt.Fprintln(w, "\n`bulkrefund status --batch ID` shows one batch; `--refund NO` one refund.")
	if clean {
		return exitOK
	}
	return exitFailures
}

// statusRefund shows every refund of the ledger with one refund number
// (several where the number is reused across providers, accounts or, for
// Upay, orders), with the batches that hold it.
func statusRefund(e env, l *store.SQL, no string) int {
	ctx := context.Background()
	var recs []store.Record
	if err := l.Refunds(ctx, store.Query{RefundNo: no}, func(r store.Record) error { recs = append(recs, r); return nil }); err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
		return exitUsage
	}
	if len(recs) == 0 {
		fmt.Fprintf(e.stderr, "bulkrefund status: no refund numbered %q in ledger %s\n", no, l.Where())
		return exitFailures
	}
	w := e.stdout
	clean := true
	for _, r := range recs {
		fmt.Fprintf(w, "%s %s order %s refund %s: %s %s %s, %s\n", r.Provider, r.Account, r.OrderNo, r.RefundNo, r.Action,
			money.Format(r.Amount, r.Currency), r.Currency, r.State)
		fmt.Fprintf(w, "  planned %s in batch %.16s; attempts %d, last %s\n", fmtWhen(r.PlannedAt), r.FirstBatch, r.Attempts, fmtWhen(r.LastAttempt))
		if r.ProviderRefundID != "" {
			fmt.Fprintf(w, "  provider refund id %s\n", r.ProviderRefundID)
		}
		if why := reasonOf(r); why != "" {
			fmt.Fprintf(w, "  %s\n", why)
		}
		if r.State != store.Succeeded {
			clean = false
		}
	}
	if clean {
		return exitOK
	}
	return exitFailures
}
