package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/report"
	"github.com/bulkrefund/bulkrefund/report/history"
)

type reconcileFlags struct {
	in                    report.Inputs
	lookup                bool
	cfgPath, from, to, tz string
	out, csvDir, jsonPath string
	ledger                string
	noBOM                 bool
	parallel              int
	tolerance             int64
}

// NewReconcileCmd is the reconcile command: `bulkrefund reconcile` and the
// cron binary cmd/reconcile run this same constructor. use is how the
// command is typed ("reconcile").
func NewReconcileCmd(use string) *cobra.Command {
	var f reconcileFlags
	cmd := &cobra.Command{
		Use:   use + " (--ledger PATH [--batch ID]... | --state FILE... | --results FILE...) (--statement FILE... | --lookup) -o report.xlsx",
		Short: "Match the refunds a run sent against what the providers record; write the report",
		Long: `Match the refunds a run sent against what the providers record, and write the
reconciliation report: XLSX (-o), one CSV per sheet (--csv) and JSON (--json).

Our side is the ledger (--ledger, every batch or those of --batch), per-batch
state files of an earlier bulkrefund (--state, read as they are) or results files
(--results); the provider side is statements (--statement) or live lookups
(--lookup, with the provider config: --config, else $BULKREFUND_CONFIG, else
$XDG_CONFIG_HOME/bulkrefund/config.json). With --ledger, the ledger keeps the
exceptions from one night to the next (first_seen, nights_open, what cleared them);
"resolve" records an auditor's explanation of one.

Exit: 0 all matched or agreed failed, or explained; 1 unexplained exceptions or
pending remain; 2 usage or input error; 130 interrupted.`,
		Example: `  ` + use + ` --ledger ~/.local/state/bulkrefund/ledger.db --lookup \
      --orders orders.csv --tz Asia/Shanghai -o report.xlsx --csv report-csv/
  ` + use + ` --results results.csv --statement statement.csv -o report.xlsx`,
		Args: NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A million-row reconciliation holds both sides in memory; a
			// soft limit makes the collector work harder instead of letting
			// the heap double.
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(1280 << 20)
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if f.lookup && f.cfgPath == "" {
				c, err := FindConfig("")
				if err != nil {
					return Usagef("%v", err)
				}
				if c.Path == "" {
					return Usagef("--lookup and --config go together: %s", ConfigHint)
				}
				f.cfgPath = c.Path
				fmt.Fprintf(stderr, "%s: config %s\n", cmd.CommandPath(), c)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// The first signal cancels the work (lookups stop, nothing more
			// is written, exit 130); reading a large input does not watch
			// for it, so a second signal must still stop the process at once.
			go func() {
				<-ctx.Done()
				stop()
			}()
			return Exit(reconcile(ctx, f, stdout, stderr))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.ledger, "ledger", "", "our side from the ledger at `PATH` (every batch, or those of --batch)")
	fl.StringArrayVar(&f.in.Batches, "batch", nil, "only this batch `ID` of the ledger (repeatable)")
	fl.StringArrayVar(&f.in.States, "state", nil, "a per-batch state `FILE` of an earlier bulkrefund, read as it is (repeatable)")
	fl.StringArrayVar(&f.in.Results, "results", nil, "a run's results `FILE`, CSV or XLSX (repeatable)")
	fl.StringArrayVar(&f.in.Statements, "statement", nil, "a provider statement `FILE`, CSV or XLSX (repeatable)")
	fl.StringArrayVar(&f.in.Orders, "orders", nil, "orders ledger `FILE` for order totals (repeatable)")
	fl.BoolVar(&f.lookup, "lookup", false, "ask the providers live about every refund we sent (needs a provider config)")
	fl.StringVarP(&f.cfgPath, "config", "c", "", "provider config `FILE` for --lookup (default: $BULKREFUND_CONFIG, else the user config directory's bulkrefund/config.json)")
	fl.IntVarP(&f.parallel, "parallel", "j", 8, "lookups in flight at once")
	fl.StringVar(&f.from, "from", "", "only rows at or after `DATE` (YYYY-MM-DD, or RFC3339)")
	fl.StringVar(&f.to, "to", "", "only rows up to `DATE` inclusive (YYYY-MM-DD), or before an RFC3339 instant")
	fl.StringVar(&f.tz, "tz", "Local", "time `ZONE` of dates, the day column and per-day totals (e.g. Asia/Shanghai, UTC)")
	fl.Int64Var(&f.tolerance, "amount-tolerance", 0, "largest amount difference still agreed, in minor `UNITS` (fen)")
	fl.StringVar(&f.in.Operator, "operator", "", "`NAME` of who runs the report (default: the batch's operator, else $USER)")
	fl.StringVarP(&f.out, "output", "o", "", "write the XLSX report to `FILE`")
	fl.StringVar(&f.csvDir, "csv", "", "also write one CSV per sheet into `DIR`")
	fl.StringVar(&f.jsonPath, "json", "", "also write the rows as JSON to `FILE`")
	fl.BoolVar(&f.noBOM, "no-bom", false, "write the --csv files without the UTF-8 byte-order mark Excel needs to show Chinese text")
	for name, exts := range map[string][]string{"ledger": {"db"}, "state": {"db"}, "results": {"csv", "xlsx"}, "statement": {"csv", "xlsx"},
		"orders": {"csv", "xlsx"}, "config": {"json"}, "output": {"xlsx"}, "json": {"json"}} {
		cmd.MarkFlagFilename(name, exts...)
	}
	cmd.MarkFlagDirname("csv")
	cmd.AddCommand(newResolveCmd())
	return cmd
}

// reconcile builds the report from f and writes it; the exit code says how
// it went.
func reconcile(ctx context.Context, f reconcileFlags, stdout, stderr io.Writer) int {
	in, lookup, cfgPath, from, to, tz := f.in, f.lookup, f.cfgPath, f.from, f.to, f.tz
	out, csvDir, jsonPath, parallel, tolerance := f.out, f.csvDir, f.jsonPath, f.parallel, f.tolerance
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "reconcile: "+format+"\n", a...)
		return exitUsage
	}
	if out == "" && csvDir == "" && jsonPath == "" {
		return usageErr("nowhere to write: give -o report.xlsx, --csv DIR or --json FILE")
	}
	if f.ledger != "" {
		l, err := app.OpenLedgerExisting(ctx, f.ledger)
		if err != nil {
			return usageErr("%v", err)
		}
		defer l.Close()
		in.Ledger = l
		// The ledger keeps the exceptions from one night to the next.
		if in.History, err = history.Open(ctx, l); err != nil {
			return usageErr("%v", err)
		}
		if len(in.Batches) == 0 {
			ms, err := l.Batches(ctx)
			if err != nil {
				return usageErr("%v", err)
			}
			for _, m := range ms {
				in.Batches = append(in.Batches, m.BatchID)
			}
		}
	} else if len(in.Batches) > 0 {
		return usageErr("--batch needs --ledger")
	}
	if in.Ledger == nil && len(in.Results)+len(in.States) == 0 {
		return usageErr("no refunds of ours: give --ledger PATH, --results FILE or --state FILE")
	}
	if len(in.Statements) == 0 && !lookup {
		return usageErr("no provider side: give --statement FILE or --lookup --config FILE")
	}
	if lookup != (cfgPath != "") {
		return usageErr("--lookup and --config go together")
	}
	if tolerance < 0 {
		return usageErr("--amount-tolerance must be 0 or more minor units")
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return usageErr("--tz %q: %v", tz, err)
	}
	in.Location, in.AmountTolerance = loc, tolerance
	if in.From, err = parseBound(from, loc, false); err != nil {
		return usageErr("--from: %v", err)
	}
	if in.To, err = parseBound(to, loc, true); err != nil {
		return usageErr("--to: %v", err)
	}
	if !in.From.IsZero() && !in.To.IsZero() && !in.From.Before(in.To) {
		return usageErr("--from must be before --to")
	}
	if lookup {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return usageErr("%v", err)
		}
		in.Lookup = &report.Lookup{
			Parallel: parallel,
			Provider: func(provider, account string) (adapters.Provider, error) {
				a, ok := cfg.Account(provider, account)
				if !ok {
					return nil, fmt.Errorf("not in %s", cfgPath)
				}
				return a.Client()
			},
			Limiter: func(provider, account string) report.Limiter {
				if a, ok := cfg.Account(provider, account); ok {
					if lim := a.Limiter(); lim != nil {
						return lim
					}
				}
				return nil
			},
		}
	}
	in.ToolVersion = version()
	if in.Operator == "" && len(in.Batches)+len(in.States) == 0 {
		in.Operator = currentUser()
	}

	res, err := report.Build(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "reconcile: interrupted; nothing written")
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "reconcile: %v\n", err)
		return exitUsage
	}
	if res.Meta.Operator == "" {
		res.Meta.Operator = currentUser()
	}
	wopt := report.WriteOptions{NoBOM: f.noBOM}
	writeJSON := func(path string, res *report.Result, _ ...report.WriteOptions) error {
		return report.WriteJSON(path, res)
	}
	for _, w := range []struct {
		path  string
		write func(string, *report.Result, ...report.WriteOptions) error
	}{{out, report.WriteXLSX}, {csvDir, report.WriteCSV}, {jsonPath, writeJSON}} {
		if w.path == "" {
			continue
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "reconcile: interrupted")
			return exitInterrupted
		}
		if err := w.write(w.path, res, wopt); err != nil {
			fmt.Fprintf(stderr, "reconcile: %v\n", err)
			return exitUsage
		}
	}
	printSummary(stdout, res)
	if !res.Clean() {
		return exitExceptions
	}
	return exitOK
}

// parseBound reads --from/--to: a date means the start of that day in loc
// (for --to, the start of the next day, so the day is included); an RFC3339
// time is taken as is.
func parseBound(s string, loc *time.Location, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither YYYY-MM-DD nor RFC3339", s)
	}
	return t, nil
}

func printSummary(w io.Writer, res *report.Result) {
	fmt.Fprintf(w, "reconciled %d refunds:", len(res.Rows))
	for _, c := range report.Categories() {
		if n := res.Count(c); n > 0 {
			fmt.Fprintf(w, " %s=%d", c, n)
		}
	}
	fmt.Fprintln(w)
	over := 0
	for _, o := range res.Orders {
		if o.OverRefund {
			over++
		}
	}
	if over > 0 {
		fmt.Fprintf(w, "over-refunded orders: %d\n", over)
	}
	var ages []string
	explained := 0
	for _, a := range res.ByAge() {
		if a.Open > 0 {
			ages = append(ages, fmt.Sprintf("%s %d", a.Label, a.Open))
		}
		explained += a.Explained
	}
	if len(ages) > 0 {
		fmt.Fprintf(w, "open exceptions by age: %s\n", strings.Join(ages, ", "))
	}
	if explained > 0 {
		fmt.Fprintf(w, "explained exceptions: %d (listed on Resolved; they leave the exit code)\n", explained)
	}
	if n := len(res.Cleared); n > 0 {
		fmt.Fprintf(w, "exceptions cleared since the last reconciliation: %d\n", n)
	}
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// version is the report's tool_version.
func version() string { return buildVersion("reconcile") }
