package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/cli"
	"github.com/bulkrefund/bulkrefund/money"
)

type statusFlags struct {
	state, sheet string
	maxRows      int
}

func newStatusCmd(e env) *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status (FILE | --state PATH)",
		Short: "Show where a run's refunds stand",
		Long: `Show where a run's refunds stand: counts and amounts by provider, account,
currency and state, then every failed, unknown and pending row. The state is
--state PATH, or found from the sheet FILE's content as run finds it (- reads
the sheet from standard input).

Exit: 0 every refund succeeded, 1 some are failed, unknown, pending or not
yet sent, 2 bad usage or no state.`,
		Example: `  bulkrefund status refunds.xlsx
  bulkrefund status --state ~/.local/state/bulkrefund/0123456789abcdef.db`,
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
	fl.StringVar(&f.state, "state", "", "checkpoint state `PATH`")
	fl.StringVar(&f.sheet, "sheet", "", "XLSX sheet of FILE")
	fl.IntVar(&f.maxRows, "max-rows", 200, "list at most `N` failed, unknown and pending rows (0: all)")
	cmd.MarkFlagFilename("state", "db")
	return cmd
}

// cmdStatus shows where a run's refunds stand: counts and amounts by
// provider, account, currency and state, then every failed, unknown and
// pending row. The state is named by --state, or found from the sheet FILE
// (its content decides the default state path). Exit 0: every refund
// succeeded; 1: some are failed, unknown, pending or not yet sent; 2: bad
// usage or no state.
func cmdStatus(e env, files []string, f statusFlags) int {
	statePath, sheetName, maxRows := &f.state, &f.sheet, &f.maxRows
	switch {
	case *statePath == "" && len(files) == 1:
		var items []batch.Item
		items, _, code := loadSheet(e, files[0], *sheetName, 0, "status")
		if code == exitUsage {
			return code
		}
		// With invalid rows, the state is the one `run --skip-invalid` made.
		*statePath = store.DefaultPath(batch.Identity(items))
	case *statePath != "" && len(files) == 0:
	default:
		fmt.Fprintln(e.stderr, "bulkrefund status: give the sheet FILE or --state PATH, one of them (see 'bulkrefund status --help')")
		return exitUsage
	}

	st, err := store.OpenSQLiteExisting(*statePath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(e.stderr, "bulkrefund status: no state at %s: this sheet has not been run (or give --state)\n", *statePath)
		} else {
			fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
		}
		return exitUsage
	}
	defer st.Close()
	ctx := context.Background()
	m, err := st.Meta(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund status: %s: %v\n", *statePath, err)
		return exitUsage
	}
	counts, err := st.Counts(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund status: %v\n", err)
		return exitUsage
	}

	w := e.stdout
	fmt.Fprintf(w, "Batch %.16s: %d rows from %s (sha256 %.16s), started %s by %s on %s\n", m.BatchID, m.Items, m.SourcePath,
		m.SourceSHA256, m.Created.Local().Format(time.RFC3339), m.Operator, m.Host)
	fmt.Fprintf(w, "State: %s\n\n", *statePath)
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
	for _, want := range []store.State{store.Failed, store.Unknown, store.Pending, store.Submitting} {
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
