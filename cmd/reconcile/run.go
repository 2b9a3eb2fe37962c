package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"runtime/debug"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/app"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/report"
	"github.com/bulkrefund/bulkrefund/report/history"
)

const (
	exitOK          = 0
	exitExceptions  = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// toolVersion is written into the report's provenance.
var toolVersion = "reconcile dev"

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "resolve" {
		return runResolve(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		in                    report.Inputs
		lookup                bool
		cfgPath, from, to, tz string
		out, csvDir, jsonPath string
		parallel              int
		tolerance             int64
		ledgerPath            string
	)
	fs.StringVar(&ledgerPath, "ledger", "", "our side from the ledger at `PATH` (every batch, or those of --batch)")
	fs.Var((*multi)(&in.Batches), "batch", "only this batch `ID` of the ledger (repeatable)")
	fs.Var((*multi)(&in.States), "state", "a per-batch state `FILE` of an earlier bulkrefund, read as it is (repeatable)")
	fs.Var((*multi)(&in.Results), "results", "a run's results `FILE`, CSV or XLSX (repeatable)")
	fs.Var((*multi)(&in.Statements), "statement", "a provider statement `FILE`, CSV or XLSX (repeatable)")
	fs.Var((*multi)(&in.Orders), "orders", "orders ledger `FILE` for order totals (repeatable)")
	fs.BoolVar(&lookup, "lookup", false, "ask the providers live about every refund we sent (needs --config)")
	fs.StringVar(&cfgPath, "config", "", "provider config `FILE` for --lookup")
	fs.IntVar(&parallel, "parallel", 8, "lookups in flight at once")
	fs.StringVar(&from, "from", "", "only rows at or after `DATE` (YYYY-MM-DD, or RFC3339)")
	fs.StringVar(&to, "to", "", "only rows up to `DATE` inclusive (YYYY-MM-DD), or before an RFC3339 instant")
	fs.StringVar(&tz, "tz", "Local", "time `ZONE` of dates, the day column and per-day totals (e.g. Asia/Shanghai, UTC)")
	fs.Int64Var(&tolerance, "amount-tolerance", 0, "largest amount difference still agreed, in minor `UNITS` (fen)")
	fs.StringVar(&in.Operator, "operator", "", "who runs the report (default: the state's operator, else $USER)")
	fs.StringVar(&out, "o", "", "write the XLSX report to `FILE`")
	fs.StringVar(&csvDir, "csv", "", "also write one CSV per sheet into `DIR`")
	fs.StringVar(&jsonPath, "json", "", "also write the rows as JSON to `FILE`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: reconcile [--ledger PATH [--batch ID]...] [--state FILE]... [--results FILE]...\n"+
			"                 [--statement FILE]... [--lookup --config FILE] [--orders FILE]... [--from DATE --to DATE]\n"+
			"                 [--amount-tolerance N] [--operator NAME] [--csv DIR] [--json FILE] -o report.xlsx\n"+
			"       reconcile resolve EXCEPTION --note TEXT --by NAME [--ledger PATH]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nexit: 0 all matched or agreed failed, 1 exceptions or pending remain, 2 usage or input error, 130 interrupted")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "reconcile: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q (flags come before nothing else)", fs.Arg(0))
	}
	if out == "" && csvDir == "" && jsonPath == "" {
		return usageErr("nowhere to write: give -o report.xlsx, --csv DIR or --json FILE")
	}
	if ledgerPath != "" {
		l, err := app.OpenLedgerExisting(ctx, ledgerPath)
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
	for _, w := range []struct {
		path  string
		write func(string, *report.Result) error
	}{{out, report.WriteXLSX}, {csvDir, report.WriteCSV}, {jsonPath, report.WriteJSON}} {
		if w.path == "" {
			continue
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "reconcile: interrupted")
			return exitInterrupted
		}
		if err := w.write(w.path, res); err != nil {
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

// runResolve is `reconcile resolve EXCEPTION --note TEXT --by NAME`: an
// auditor's explanation of an open exception, kept in the ledger's history
// and audit trail (nothing is edited or deleted). The next reconciliation
// lists the exception under Resolved and leaves it out of the exit code.
func runResolve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reconcile resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var note, by, ledgerPath string
	fs.StringVar(&note, "note", "", "the explanation `TEXT`")
	fs.StringVar(&by, "by", "", "who explains it: `NAME`")
	fs.StringVar(&ledgerPath, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else the user's state directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: reconcile resolve EXCEPTION --note TEXT --by NAME [--ledger PATH]\n\n"+
			"EXCEPTION is the report's exception_id, or a refund number or provider refund id that one open exception has.")
		fs.PrintDefaults()
	}
	// The exception may come before the flags, as the usage shows it.
	var target string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		target, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "reconcile resolve: "+format+"\n", a...)
		return exitUsage
	}
	if target == "" && fs.NArg() > 0 {
		target = fs.Arg(0)
		fs.Parse(fs.Args()[1:])
	}
	switch {
	case target == "":
		return usageErr("which exception? give its exception_id (or refund number) first")
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case strings.TrimSpace(note) == "":
		return usageErr("--note is required: the explanation is what an auditor reads")
	case strings.TrimSpace(by) == "":
		return usageErr("--by is required: who explains it")
	}
	l, err := app.OpenLedgerExisting(ctx, app.LedgerSpec(ledgerPath))
	if err != nil {
		return usageErr("%v", err)
	}
	defer l.Close()
	h, err := history.Open(ctx, l)
	if err != nil {
		return usageErr("%v", err)
	}
	e, err := h.Resolve(ctx, target, note, by, time.Now())
	if err != nil {
		return usageErr("%v", err)
	}
	fmt.Fprintf(stdout, "explained %s (%s, open %d night(s) since %s) by %s at %s\n", e.Exception.ID, e.Category,
		e.Exception.NightsOpen, e.Exception.FirstSeen.Format(time.RFC3339), e.By, e.At.UTC().Format(time.RFC3339))
	return exitOK
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

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return "reconcile " + bi.Main.Version
	}
	return toolVersion
}
