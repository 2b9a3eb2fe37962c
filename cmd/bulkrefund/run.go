package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/cli"
	"github.com/bulkrefund/bulkrefund/money"
)

// toolVersion is recorded in every batch and report.
var toolVersion = app.ToolVersion

type runFlags struct {
	config, sheet, ledger, results, logFormat, sandboxOrders, report string
	sandbox, yes, dryRun, skipInvalid, quiet, newLedger              bool
	parallel, maxAttempts, maxErrors                                 int
	poll, callTimeout, drain, maxRetryAfter                          time.Duration
}

func newRunCmd(e env) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Send a sheet's refunds to the providers, resumably",
		Long: `Validate the sheet, show the plan (rows and amounts per provider, a total per
currency), ask for yes, and send its refunds with durable checkpoints. Running
the same command again resumes. With --dry-run, FILE may be - (standard input).

The provider config is --config FILE, else the file $BULKREFUND_CONFIG names,
else $XDG_CONFIG_HOME/bulkrefund/config.json if it exists; --sandbox runs
against the sandbox providers in-process instead.

Exit: 0 every refund succeeded, 1 invalid rows or refunds failed, pending or
unknown, 2 bad usage or unusable input (nothing sent), 130 interrupted (the
same command resumes).`,
		Example: `  bulkrefund run refunds.xlsx --config providers.json --results results.xlsx
  bulkrefund run samples/refunds.xlsx --sandbox --yes --poll 10s --report report.xlsx
  bulkrefund run refunds.xlsx --dry-run`,
		Args:              cli.OneFile,
		ValidArgsFunction: sheetFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.Exit(cmdRun(e, args[0], f))
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "provider config `FILE` (JSON; default: $BULKREFUND_CONFIG, else the user config directory's bulkrefund/config.json)")
	fl.BoolVar(&f.sandbox, "sandbox", false, "start the sandbox providers in-process and run against them")
	fl.StringVar(&f.sandboxOrders, "sandbox-orders", "samples/orders.csv", "orders `FILE` the in-process sandbox holds")
	fl.StringVar(&f.sheet, "sheet", "", "XLSX sheet to read (default: the first visible sheet)")
	fl.StringVar(&f.ledger, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else ~/.local/state/bulkrefund/ledger.db; see docs/ledger.md)")
	fl.BoolVar(&f.newLedger, "new-ledger", false, "accept an empty (0-byte) file at the ledger's path as a new ledger")
	fl.DurationVar(&f.maxRetryAfter, "max-retry-after", 60*time.Second, "honour a provider's Retry-After up to `DURATION`; an account asking for longer is paused for this run")
	fl.BoolVarP(&f.yes, "yes", "y", false, "send without asking (required without a terminal)")
	fl.BoolVarP(&f.dryRun, "dry-run", "n", false, "show what would happen to each row; send nothing")
	fl.BoolVar(&f.skipInvalid, "skip-invalid", false, "run the valid rows even if some rows are invalid (they are listed)")
	fl.IntVarP(&f.parallel, "parallel", "j", 16, "refunds in flight at once")
	fl.DurationVar(&f.poll, "poll", 0, "keep looking up pending refunds for up to `DURATION` (e.g. 10m)")
	fl.StringVar(&f.results, "results", "", "write every row's outcome to `OUT.csv|OUT.xlsx`")
	fl.StringVar(&f.report, "report", "", "after the run, reconcile it against the providers and write the report to `FILE.xlsx|FILE.json`")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	fl.StringVar(&f.logFormat, "log-format", "text", "progress and log `FORMAT`: text or json (log/slog, for cron)")
	fl.IntVar(&f.maxAttempts, "max-attempts", 8, "provider calls per refund per run before it is left unknown")
	fl.DurationVar(&f.callTimeout, "call-timeout", 30*time.Second, "timeout of each provider call")
	fl.DurationVar(&f.drain, "drain", 0, "after a signal, how long in-flight calls may take (default: --call-timeout)")
	fl.IntVar(&f.maxErrors, "max-errors", 20, "print at most `N` invalid-row lines")
	for name, exts := range map[string][]string{"config": {"json"}, "sandbox-orders": {"csv", "xlsx"}, "ledger": {"db"},
		"results": {"csv", "xlsx"}, "report": {"xlsx", "json"}} {
		cmd.MarkFlagFilename(name, exts...)
	}
	cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]cobra.Completion{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// cmdRun checks the flags, finds the provider config and sends a sheet's
// refunds with durable checkpoints. Exit 0: every refund succeeded; 1:
// invalid rows, or some refunds failed, pending or unknown; 2: bad usage,
// unusable input or configuration, or a state that belongs to another sheet;
// 130: interrupted (the same command resumes).
func cmdRun(e env, path string, f runFlags) int {
	if path == "-" && !f.dryRun {
		fmt.Fprintln(e.stderr, "bulkrefund run: a sheet from standard input (-) works with --dry-run only: a run records its sheet's path and hash to resume from and for the audit; save the sheet to a file")
		return exitUsage
	}
	cfg := cli.Config{Path: f.config, Source: "--config"}
	if f.config == "" && !f.sandbox && !f.dryRun {
		var err error
		if cfg, err = cli.FindConfig(""); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund run: %v\n", err)
			return exitUsage
		}
		f.config = cfg.Path
	}
	switch {
	case f.config == "" && !f.sandbox && !f.dryRun:
		fmt.Fprintln(e.stderr, "bulkrefund run: give --config FILE or --sandbox (or set $"+cli.ConfigEnv+", or create $XDG_CONFIG_HOME/bulkrefund/config.json)")
		return exitUsage
	case f.config != "" && f.sandbox:
		fmt.Fprintln(e.stderr, "bulkrefund run: --config and --sandbox exclude each other")
		return exitUsage
	case f.parallel < 1 || f.maxAttempts < 1 || f.callTimeout <= 0 || f.poll < 0:
		fmt.Fprintln(e.stderr, "bulkrefund run: --parallel and --max-attempts must be at least 1, --call-timeout positive, --poll not negative")
		return exitUsage
	case f.logFormat != "text" && f.logFormat != "json":
		fmt.Fprintln(e.stderr, "bulkrefund run: --log-format must be text or json")
		return exitUsage
	}
	if f.report != "" {
		if ext := strings.ToLower(fileExt(f.report)); ext != ".xlsx" && ext != ".json" {
			fmt.Fprintf(e.stderr, "bulkrefund run: --report %s: must end in .xlsx or .json\n", f.report)
			return exitUsage
		}
	}
	if f.results != "" {
		if ext := strings.ToLower(fileExt(f.results)); ext != ".csv" && ext != ".xlsx" {
			fmt.Fprintf(e.stderr, "bulkrefund run: --results %s: %v\n", f.results, results.ErrFormat)
			return exitUsage
		}
	}
	if f.config != "" && !f.dryRun {
		fmt.Fprintf(e.stdout, "Config: %s\n", cfg)
	}
	return withSheet(e, "run", path, func(e env, path string) int { return runSheet(e, path, f) })
}

func fileExt(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 && !strings.ContainsRune(p[i:], '/') {
		return p[i:]
	}
	return ""
}

func runSheet(e env, path string, f runFlags) int {
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund run: "+format+"\n", a...) }
	ctx := context.Background()

	// 1. Validate. Nothing is sent unless every row is valid (or --skip-invalid).
	p, err := app.Load(app.SheetSpec{Path: path, Sheet: f.sheet, MaxErrors: f.maxErrors}, "")
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	if inv := p.Validation.Invalid; inv > 0 {
		sheet.PrintReport(e.stdout, e.stderr, path, p.Validation, p.Errors)
		if !f.skipInvalid {
			errf("%d invalid rows: nothing was sent (fix them, or --skip-invalid to run the %d valid rows)", inv, p.Validation.Valid)
			return exitFailures
		}
	}
	if len(p.Items) == 0 {
		errf("no valid rows to run")
		return exitFailures
	}
	invalid := p.Validation.Invalid

	// 2. The ledger. A sandbox run gets a ledger of its own (the in-process
	// sandbox forgets everything when the process ends).
	ledgerSpec := app.LedgerSpec(f.ledger)
	if f.sandbox && f.ledger == "" {
		ledgerSpec = app.SandboxLedger(time.Now())
	}
	if f.dryRun {
		return dryRun(e, p, ledgerSpec)
	}

	// 3. Providers, before asking: a config that cannot serve the sheet
	// fails now, not after the confirmation.
	provs, err := loadProviders(e, f)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer provs.Close()
	if it, missing := app.MissingRoute(p.Items, provs.route); missing {
		errf("row %d: %v: %s account %q (configured: %s)", it.Row, runner.ErrNoRoute, it.Provider, it.Account, provs.keys())
		return exitUsage
	}

	// 4. The ledger's word on this sheet: refunds it holds already, and any
	// refund number it holds for another refund (refused before any call).
	// Nothing is created before the confirmation: a missing ledger is
	// created once the operator said yes.
	l, err := app.OpenLedgerExisting(ctx, ledgerSpec)
	if errors.Is(err, os.ErrNotExist) {
		l, err = nil, nil
	} else if errors.Is(err, store.ErrNotLedger) && f.newLedger {
		l, err = app.OpenLedger(ctx, ledgerSpec, true)
	}
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	var check store.PlanResult
	if l != nil {
		defer l.Close()
		check, err = app.Check(ctx, l, p)
	}
	if err != nil {
		errf("%v", err)
		if errors.Is(err, store.ErrConflict) {
			fmt.Fprintln(e.stderr, "  A refund number is the provider's idempotency key: the same number with another amount, order or account\n"+
				"  is another refund to us but the same one to the provider. Give these rows new refund numbers, or\n"+
				"  put the earlier values back if the sheet was edited by mistake.")
		}
		return exitUsage
	}

	// 5. Plan and confirmation.
	printPlan(e.stdout, p, ledgerSpec)
	if check.Known > 0 {
		printKnown(e.stdout, ctx, l, p)
	}
	// The controls of the provider config (limits, maker-checker, typed
	// totals; submit.go): refused before any call and any confirmation.
	ctl, err := app.ReadControls(f.config)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	approval, ok := gateRun(e, ctx, l, p, ctl)
	if !ok {
		return exitUsage
	}
	if ok, why := confirmRun(e, p, ctl, approval, f.yes); !ok {
		if why != "" {
			errf("%s", why)
		}
		return exitUsage
	}

	// 6. Record the batch in the ledger, then run it.
	if l == nil {
		if l, err = app.OpenLedger(ctx, ledgerSpec, false); err != nil {
			errf("%v", err)
			return exitUsage
		}
		defer l.Close()
	}
	planned, err := l.Plan(ctx, p.Meta, p.Items)
	if err != nil {
		// A conflict here means another process planned the same refund
		// numbers since the check: still refused before any call.
		errf("%v", err)
		return exitUsage
	}
	batchID := planned.Meta.BatchID
	nItems := len(p.Items)
	p.Items = nil // the ledger has them now; a 200k-row sheet need not stay in memory twice

	// Signals: the first stops starting new refunds; the second exits at once.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(e.stderr, "\nbulkrefund run: %v: finishing the refunds in flight (send the signal again to exit at once; the ledger stays safe)\n", s)
			stop()
		case <-finished:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintf(e.stderr, "bulkrefund run: exiting now; the next run looks up the refunds that were in flight (ledger: %s)\n", l.Where())
			os.Exit(exitInterrupted)
		case <-finished:
		}
	}()

	// Progress and logging.
	counter := &runner.Counter{}
	var logger *slog.Logger
	var printer runner.Printer
	every := 10 * time.Second
	switch {
	case f.quiet:
		printer = runner.Quiet{}
	case f.logFormat == "json":
		logger = slog.New(slog.NewJSONHandler(e.stderr, nil))
		printer = runner.JSONPrinter{L: logger}
	case isTerminal(e.stderr):
		printer = runner.NewBarPrinter(e.stderr, int64(nItems))
		every = 200 * time.Millisecond
	default:
		printer = runner.LinePrinter{W: e.stderr}
	}
	if logger == nil && !f.quiet {
		logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if d, err := time.ParseDuration(os.Getenv("BULKREFUND_PROGRESS_EVERY")); err == nil && d > 0 {
		every = d
	}

	stopProgress := runner.Watch(counter, printer, every)
	res, runErr := app.Execute(runCtx, l, batchID, p.Meta.Operator, app.RunSpec{
		Route: provs.route, Progress: counter, Results: f.results,
		Options: runner.Options{Parallel: f.parallel, MaxAttempts: f.maxAttempts, CallTimeout: f.callTimeout,
			DrainTimeout: f.drain, Poll: f.poll, Logger: logger, MaxRetryAfter: f.maxRetryAfter},
	})
	stopProgress()
	rsum := res.Summary

	if errors.Is(runErr, store.ErrInUse) {
		errf("%v", runErr)
		return exitUsage
	}
	if f.results != "" {
		if res.ResultsErr != nil {
			errf("writing results %s: %v", f.results, res.ResultsErr)
			if runErr == nil {
				runErr = res.ResultsErr
			}
		} else {
			fmt.Fprintf(e.stdout, "Results written to %s\n", f.results)
		}
	}
	printSummary(e.stdout, ctx, l, batchID, rsum, runErr)
	reportClean := true
	if f.report != "" && !errors.Is(runErr, runner.ErrInterrupted) && rsum.CountsErr == nil {
		clean, err := writeRunReport(runCtx, e, f, l, batchID, provs)
		if err != nil {
			errf("report %s: %v", f.report, err)
			if runErr == nil {
				runErr = err
			}
		}
		reportClean = clean
	}

	switch {
	case errors.Is(runErr, runner.ErrInterrupted):
		fmt.Fprintf(e.stderr, "bulkrefund run: interrupted; %d of %d rows still to settle. Run the same command again to resume (ledger: %s).\n",
			app.Resumable(rsum), rsum.Items, l.Where())
		return exitInterrupted
	case runErr != nil:
		errf("%v", runErr)
		if errors.Is(runErr, runner.ErrNoRoute) {
			return exitUsage
		}
		return exitFailures
	}
	if invalid > 0 || rsum.States[store.Succeeded] != rsum.Items || !reportClean || len(rsum.Paused) > 0 {
		return exitFailures
	}
	return exitOK
}

func printPlan(w io.Writer, p *planned, where string) {
	fmt.Fprintf(w, "Plan: %d refunds from %s (batch %.16s)\n", len(p.Items), p.Meta.SourcePath, p.Meta.BatchID)
	writePlanTable(w, app.Totals(p.Items), app.CurrencyTotals(p.Items))
	fmt.Fprintf(w, "Ledger: %s\n", where)
}

type planned = app.Planned

// printKnown tells, before the confirmation, what the ledger already holds
// of this sheet's refunds: they are not sent again.
func printKnown(w io.Writer, ctx context.Context, l *store.SQL, p *planned) {
	by := map[store.State]int{}
	batches := map[string]bool{}
	for _, it := range p.Items {
		r, ok, err := l.ByKey(ctx, it.Key())
		if err != nil || !ok {
			continue
		}
		by[r.State]++
		batches[r.FirstBatch] = true
	}
	fmt.Fprintf(w, "The ledger already holds")
	n := 0
	for _, s := range store.States {
		if by[s] > 0 {
			fmt.Fprintf(w, " %s %d", s, by[s])
			n += by[s]
		}
	}
	fmt.Fprintf(w, " of these refunds (from %d earlier batch(es)).\n", len(batches))
	fmt.Fprintf(w, "This run sends the %d new or planned, looks up the %d submitting, unknown or pending first, retries the %d blocked, and leaves the final ones alone.\n",
		len(p.Items)-n+by[store.Planned], by[store.Submitting]+by[store.Unknown]+by[store.Pending], by[store.Blocked])
}

// dryRun prints what a run would do to each row, reading the ledger
// without creating or changing it, and sends nothing.
func dryRun(e env, p *planned, ledgerSpec string) int {
	ctx := context.Background()
	printPlan(e.stdout, p, ledgerSpec)
	l, err := app.OpenLedgerExisting(ctx, ledgerSpec)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l = nil
	case err != nil:
		fmt.Fprintf(e.stderr, "bulkrefund run: %v\n", err)
		return exitUsage
	default:
		defer l.Close()
		if _, err := app.Check(ctx, l, p); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund run: %v\n", err)
			return exitUsage
		}
	}
	counts := map[string]int{}
	fmt.Fprintln(e.stdout, "Dry run, nothing is sent:")
	for _, it := range p.Items {
		what := "send"
		if it.Action == adapters.ActionRevoke {
			what = "send revoke"
		}
		if l != nil {
			r, ok, err := l.ByKey(ctx, it.Key())
			if err != nil {
				fmt.Fprintf(e.stderr, "bulkrefund run: %v\n", err)
				return exitUsage
			}
			if ok {
				switch r.State {
				case store.Succeeded, store.Failed:
					what = "done earlier: " + string(r.State)
					if r.ProviderCode != "" {
						what += " (" + r.ProviderCode + ")"
					}
				case store.Submitting, store.Unknown, store.Pending:
					what = "look up first (was " + string(r.State) + "); sent again only if the provider has no record"
				case store.Blocked:
					what = "send (was blocked: credentials or configuration refused)"
				}
			}
		}
		counts[strings.SplitN(what, " (", 2)[0]]++
		fmt.Fprintf(e.stdout, "  row %-6d %-9s %-20s order %-24s refund %-22s %12s %s  → %s\n", it.Row, it.Provider, it.Account, it.OrderNo, it.RefundNo,
			money.Format(it.Amount, it.Currency), it.Currency, what)
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "%6d  %s\n", counts[k], k)
	}
	return exitOK
}

func printSummary(w io.Writer, ctx context.Context, l *store.SQL, batchID string, s runner.Summary, runErr error) {
	if s.CountsErr != nil {
		// The ledger cannot be read (a full disk): say what this run saw.
		fmt.Fprintf(w, "Summary (from this run's own counts; the ledger could not be read: %v):\n", s.CountsErr)
	}
	fmt.Fprintf(w, "Summary: %d rows:", s.Items)
	for _, state := range store.States {
		if n := s.States[state]; n > 0 {
			fmt.Fprintf(w, " %s %d", state, n)
		}
	}
	fmt.Fprintf(w, " (%d provider calls this run)\n", s.Calls)
	for _, p := range s.Paused {
		fmt.Fprintf(w, "  paused %s account %s for this run: %s. Its rows not yet done stay resumable: run the same command again.\n", p.Provider, p.Account, p.Reason)
	}
	if s.CountsErr != nil || (runErr != nil && !errors.Is(runErr, runner.ErrInterrupted)) {
		fmt.Fprintf(w, "Not done: %d rows. Nothing is lost: every refund that left is marked in the ledger before it left.\n"+
			"Once the cause is fixed (free disk space, reachable ledger), run the same command again: it looks up the refunds\n"+
			"in doubt first and sends the rest.\n", app.Resumable(s))
	}
	if s.CountsErr == nil {
		shown := 0
		if v, err := l.View(ctx, batchID); err == nil {
			v.Each(ctx, func(r store.Record) error {
				if r.State == store.Succeeded || r.State == store.Planned {
					return nil
				}
				if shown == 20 {
					fmt.Fprintf(w, "  ... see `bulkrefund status --batch %.16s` for all\n", batchID)
					return errStop
				}
				shown++
				fmt.Fprintf(w, "  row %d %s refund %s %s %s: %s %s\n", r.Row, r.Provider, r.RefundNo, money.Format(r.Amount, r.Currency), r.Currency, r.State, reasonOf(r))
				return nil
			})
		}
	}
	fmt.Fprintf(w, "Batch %.16s in ledger %s\n", batchID, l.Where())
}

var errStop = errors.New("stop")

func reasonOf(r store.Record) string {
	var parts []string
	if r.ProviderCode != "" || r.ProviderMessage != "" {
		parts = append(parts, strings.TrimSpace(r.ProviderCode+" "+r.ProviderMessage))
	}
	if r.LastError != "" {
		parts = append(parts, r.LastError)
	}
	return strings.Join(parts, "; ")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
