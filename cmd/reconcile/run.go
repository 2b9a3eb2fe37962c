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
		fmt.Fprintln(stderr, "usage: reconcile [--state PATH]... [--results FILE]... [--statement FILE]... [--lookup --config FILE]\n"+
			"                 [--orders FILE]... [--from DATE --to DATE] [--amount-tolerance N] [--operator NAME]\n"+
			"                 [--csv DIR] [--json FILE] -o report.xlsx")
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
	if in.Ledger == nil && len(in.Results) == 0 {
		return usageErr("no refunds of ours: give --ledger PATH or --results FILE")
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
	if in.Operator == "" && len(in.Batches) == 0 {
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
