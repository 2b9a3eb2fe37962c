package main

import (
	"bufio"
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
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/cli"
	"github.com/bulkrefund/bulkrefund/internal/version"
	"github.com/bulkrefund/bulkrefund/money"
)

// toolVersion is recorded in every batch and report.
var toolVersion = version.String("bulkrefund")

type runFlags struct {
	config, sheet, ledger, results, logFormat, sandboxOrders, report string
	sandbox, yes, dryRun, skipInvalid, quiet, newLedger, noBOM       bool
	viaWorkers                                                       bool
	parallel, maxAttempts, maxErrors                                 int
	poll, callTimeout, drain, maxRetryAfter                          time.Duration
	pollGiven                                                        bool
}

// defaultAsyncPoll is how long a run keeps looking up pending refunds when
// the batch holds providers that settle later and --poll was not given:
// long enough for a provider's usual settlement, bounded so that a cron job
// ends. What is still pending then is picked up by the next run or by
// `reconcile --lookup`.
const defaultAsyncPoll = 10 * time.Minute

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
			f.pollGiven = cmd.Flags().Changed("poll")
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
	fl.BoolVar(&f.viaWorkers, "via-workers", false, "approve the batch for bulkrefund worker processes and show their progress, instead of sending here (docs/postgres.md)")
	fl.BoolVar(&f.skipInvalid, "skip-invalid", false, "run the valid rows even if some rows are invalid (they are listed)")
	fl.IntVarP(&f.parallel, "parallel", "j", 16, "refunds in flight at once")
	fl.DurationVar(&f.poll, "poll", 0, "keep looking up pending refunds for up to `DURATION` (e.g. 10m; default 10m when the batch holds providers that settle later, else 0)")
	fl.StringVar(&f.results, "results", "", "write every row's outcome to `OUT.csv|OUT.xlsx`")
	fl.StringVar(&f.report, "report", "", "after the run, reconcile it against the providers and write the report to `FILE.xlsx|FILE.json`")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	fl.StringVar(&f.logFormat, "log-format", "text", "progress and log `FORMAT`: text or json (log/slog, for cron)")
	fl.IntVar(&f.maxAttempts, "max-attempts", 8, "provider calls per refund per run before it is left unknown")
	fl.DurationVar(&f.callTimeout, "call-timeout", 30*time.Second, "timeout of each provider call")
	fl.DurationVar(&f.drain, "drain", 0, "after a signal, how long in-flight calls may take (default: --call-timeout)")
	fl.IntVar(&f.maxErrors, "max-errors", 20, "print at most `N` invalid-row lines")
	fl.BoolVar(&f.noBOM, "no-bom", false, "write CSV files (--results, the kept statement) without the UTF-8 byte-order mark Excel needs to show Chinese text")
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
		// --via-workers: the workers have their own config; one found here
		// is only checked against the sheet.
		if cfg, err = cli.FindConfig(""); err != nil && !f.viaWorkers {
			fmt.Fprintf(e.stderr, "bulkrefund run: %v\n", err)
			return exitUsage
		}
		f.config = cfg.Path
	}
	switch {
	case f.viaWorkers && (f.sandbox || f.report != "" || f.dryRun):
		fmt.Fprintln(e.stderr, "bulkrefund run: --via-workers goes with neither --sandbox, --report nor --dry-run")
		return exitUsage
	case f.config == "" && !f.sandbox && !f.dryRun && !f.viaWorkers:
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

	// Blank cells the config's accounts fill (PayEase notify_url) are filled
	// before validation, so that the batch records what is sent.
	var opts sheet.Options
	switch {
	case f.sandbox:
		opts.Defaults = func(provider, _ string) map[string]string {
			if provider == adapters.PayEase {
				return map[string]string{adapters.FieldNotifyURL: config.SandboxNotifyURL}
			}
			return nil
		}
	case f.config != "":
		// Parse reads no credential; an unreadable config is reported
		// when the providers are loaded.
		if cfg, err := config.Parse(f.config); err == nil {
			opts.Defaults = cfg.Defaults
		}
	}
	sheetSpec := app.SheetSpec{Path: path, Sheet: f.sheet, MaxErrors: f.maxErrors, Options: opts}
	// A sandbox run gets a ledger of its own (the in-process sandbox
	// forgets everything when the process ends).
	ledgerSpec := app.LedgerSpec(f.ledger)
	if f.sandbox && f.ledger == "" {
		ledgerSpec = app.SandboxLedger(time.Now())
	}
	if f.dryRun {
		return dryRun(e, sheetSpec, ledgerSpec, f.skipInvalid)
	}

	// The providers are started once the sheet is valid; a config that
	// cannot serve the sheet fails before anything is asked.
	var provs *providerSet
	defer func() {
		if provs != nil {
			provs.Close()
		}
	}()

	// Signals: the first stops starting new refunds; the second exits at once.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	var where string
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
			fmt.Fprintf(e.stderr, "bulkrefund run: exiting now; the next run looks up the refunds that were in flight (ledger: %s)\n", where)
			os.Exit(exitInterrupted)
		case <-finished:
		}
	}()

	// The controls of the provider config (limits, maker-checker, typed
	// totals): app.Run applies them before any confirmation and any call.
	ctl, err := app.ReadControls(f.config)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}

	counter := &runner.Counter{}
	logger, printer, every := progressOutput(e, f)
	var stopProgress func()
	var asyncPoll time.Duration
	if !f.pollGiven {
		asyncPoll = defaultAsyncPoll
	}
	spec := app.Spec{
		AsyncPoll: asyncPoll,
		Sheet:     sheetSpec, Ledger: ledgerSpec, NewLedger: f.newLedger, SkipInvalid: f.skipInvalid,
		Connect: func() (app.Routes, error) {
			var err error
			if provs, err = loadProviders(e, f); err != nil {
				return nil, err
			}
			return provs.route, nil
		},
		Progress: counter, Results: f.results, ResultsOptions: results.Options{NoBOM: f.noBOM}, ViaWorkers: f.viaWorkers, Controls: ctl,
		Options: runner.Options{Parallel: f.parallel, MaxAttempts: f.maxAttempts, CallTimeout: f.callTimeout,
			DrainTimeout: f.drain, Poll: f.poll, Logger: logger, MaxRetryAfter: f.maxRetryAfter},
	}
	if f.viaWorkers && f.config == "" {
		spec.Connect = nil // the workers have their own config
	}
	if f.report != "" {
		spec.Report = func(ctx context.Context, l store.Ledger, batchID string) (bool, error) {
			return writeRunReport(ctx, e, f, l, batchID, provs)
		}
	}
	var confirmTotals func(p *app.Planned, typed []app.Total) bool
	if !f.yes {
		confirmTotals = func(p *app.Planned, typed []app.Total) bool {
			in, ok := e.stdin.(*os.File)
			if !ok || !term.IsTerminal(int(in.Fd())) {
				errf("refusing to send refunds without a terminal to confirm on; pass --yes (e.g. from cron) for an approved batch")
				return false
			}
			return typedTotals(bufio.NewReader(in), e.stdout, typed)
		}
	}
	out, runErr := app.Run(runCtx, spec, app.Hooks{
		ConfirmTotals: confirmTotals,
		Planned: func(p *app.Planned, check store.PlanResult, known app.Known) {
			if p.Validation.Invalid > 0 {
				sheet.PrintReport(e.stdout, e.stderr, path, p.Validation, p.Errors)
			}
			printPlan(e.stdout, p, ledgerSpec)
			if check.Known > 0 {
				printKnown(e.stdout, p, known)
			}
			if !f.pollGiven {
				if async := app.AsyncProviders(p.Items); len(async) > 0 {
					fmt.Fprintf(e.stdout, "%s settle refunds later: pending refunds are looked up for up to %s (--poll changes it; Ctrl-C stops safely).\n",
						strings.Join(async, " and "), defaultAsyncPoll)
				}
			}
			if printer == nil {
				printer = runner.NewBarPrinter(e.stderr, int64(len(p.Items)))
			}
		},
		Confirm: func(p *app.Planned, _ store.PlanResult) bool {
			if f.yes {
				return true
			}
			in, ok := e.stdin.(*os.File)
			if !ok || !term.IsTerminal(int(in.Fd())) {
				errf("refusing to send refunds without a terminal to confirm on; pass --yes (e.g. from cron)")
				return false
			}
			fmt.Fprintf(e.stdout, "Send these %d refunds? Type yes to continue: ", len(p.Items))
			if !confirmed(in) {
				fmt.Fprintln(e.stdout, "Nothing sent (only the word yes sends).")
				return false
			}
			return true
		},
		Started: func(l *store.SQL, batchID string) {
			where = l.Where()
			if !f.viaWorkers {
				stopProgress = runner.Watch(counter, printer, every)
			}
		},
	})
	if stopProgress != nil {
		stopProgress()
	}
	p := out.Planned
	if d := out.Approval; d != nil && out.BatchID != "" {
		fmt.Fprintf(e.stdout, "Approved by %s on %s (content sha256 %.16s…)\n", d.Actor, d.At.Local().Format("2006-01-02 15:04"), d.Hash)
	}

	var invalid *app.InvalidRowsError
	var conflict *store.ConflictError
	switch {
	case errors.As(runErr, &invalid):
		sheet.PrintReport(e.stdout, e.stderr, path, p.Validation, p.Errors)
		errf("%d invalid rows: nothing was sent (fix them, or --skip-invalid to run the %d valid rows)", p.Validation.Invalid, p.Validation.Valid)
		return exitFailures
	case errors.Is(runErr, app.ErrNoRows):
		errf("%v", runErr)
		return exitFailures
	case errors.Is(runErr, runner.ErrNoRoute):
		errf("%v (configured: %s)", strings.TrimPrefix(runErr.Error(), app.ErrUnusable.Error()+": "), provs.keys())
		return exitUsage
	case errors.Is(runErr, app.ErrUnusable):
		errf("%v", strings.TrimPrefix(runErr.Error(), app.ErrUnusable.Error()+": "))
		return exitUsage
	case errors.As(runErr, &conflict):
		errf("%v", runErr)
		fmt.Fprintln(e.stderr, "  A refund number is the provider's idempotency key: the same number with another amount, order or account\n"+
			"  is another refund to us but the same one to the provider. Give these rows new refund numbers, or\n"+
			"  put the earlier values back if the sheet was edited by mistake.")
		return exitUsage
	case errors.Is(runErr, app.ErrOverLimit), errors.Is(runErr, app.ErrNeedsApproval), errors.Is(runErr, app.ErrRejected),
		errors.Is(runErr, app.ErrTypedTotalRequired):
		errf("%v", runErr)
		return exitUsage
	case errors.Is(runErr, app.ErrNotConfirmed):
		return exitUsage
	case errors.Is(runErr, store.ErrInUse):
		errf("%v", runErr)
		return exitUsage
	case out.BatchID == "":
		errf("%v", runErr)
		return exitUsage
	}

	if f.viaWorkers {
		signal.Stop(sigs) // watching has signals of its own: nothing is in flight here
		return watchWorkers(e, ledgerSpec, out.BatchID, f, printer, every)
	}
	rsum := out.Run.Summary
	if f.results != "" {
		if out.Run.ResultsErr != nil {
			errf("writing results %s: %v", f.results, out.Run.ResultsErr)
		} else {
			fmt.Fprintf(e.stdout, "Results written to %s\n", f.results)
		}
	}
	printSummary(e.stdout, out, runErr)
	if out.ReportErr != nil {
		errf("report %s: %v", f.report, out.ReportErr)
	}
	switch {
	case errors.Is(runErr, runner.ErrInterrupted):
		fmt.Fprintf(e.stderr, "bulkrefund run: interrupted; %d of %d rows still to settle. Run the same command again to resume (ledger: %s).\n",
			app.Resumable(rsum), rsum.Items, out.Ledger)
		return exitInterrupted
	case runErr != nil:
		errf("%v", runErr)
		return exitFailures
	}
	if !out.Clean() {
		return exitFailures
	}
	return exitOK
}

// progressOutput chooses how progress is shown: a bar on a terminal (made
// once the batch size is known), plain lines for cron, JSON with
// --log-format json, nothing with --quiet.
func progressOutput(e env, f runFlags) (*slog.Logger, runner.Printer, time.Duration) {
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
		every = 200 * time.Millisecond // the bar is made when the batch size is known
	default:
		printer = runner.LinePrinter{W: e.stderr}
	}
	if logger == nil && !f.quiet {
		logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if d, err := time.ParseDuration(os.Getenv("BULKREFUND_PROGRESS_EVERY")); err == nil && d > 0 {
		every = d
	}
	return logger, printer, every
}

func printPlan(w io.Writer, p *planned, where string) {
	fmt.Fprintf(w, "Plan: %d refunds from %s (batch %.16s)\n", len(p.Items), p.Meta.SourcePath, p.Meta.BatchID)
	writePlanTable(w, app.Totals(p.Items), app.CurrencyTotals(p.Items))
	fmt.Fprintf(w, "Ledger: %s\n", where)
}

type planned = app.Planned

// printKnown tells, before the confirmation, what the ledger already holds
// of this sheet's refunds: they are not sent again.
func printKnown(w io.Writer, p *planned, k app.Known) {
	fmt.Fprintf(w, "The ledger already holds")
	n := 0
	for _, s := range store.States {
		if k.States[s] > 0 {
			fmt.Fprintf(w, " %s %d", s, k.States[s])
			n += k.States[s]
		}
	}
	fmt.Fprintf(w, " of these refunds (from %d earlier batch(es)).\n", k.Batches)
	fmt.Fprintf(w, "This run sends the %d new or planned, looks up the %d submitting, unknown or pending first, retries the %d blocked, and leaves the final ones alone.\n",
		len(p.Items)-n+k.States[store.Planned], k.States[store.Submitting]+k.States[store.Unknown]+k.States[store.Pending], k.States[store.Blocked])
}

// dryRun prints what a run would do to each row, reading the ledger
// without creating or changing it, and sends nothing.
func dryRun(e env, s app.SheetSpec, ledgerSpec string, skipInvalid bool) int {
	p, err := app.Load(s, "")
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund run: %v\n", err)
		return exitUsage
	}
	if p.Validation.Invalid > 0 {
		sheet.PrintReport(e.stdout, e.stderr, s.Path, p.Validation, p.Errors)
		if !skipInvalid {
			fmt.Fprintf(e.stderr, "bulkrefund run: %d invalid rows: a run would send nothing (fix them, or --skip-invalid)\n", p.Validation.Invalid)
			return exitFailures
		}
	}
	printPlan(e.stdout, p, ledgerSpec)
	fmt.Fprintln(e.stdout, "Dry run, nothing is sent:")
	counts := map[string]int{}
	err = app.DryRun(context.Background(), ledgerSpec, p, func(a app.RowAction) {
		counts[a.Kind]++
		fmt.Fprintf(e.stdout, "  row %-6d %-9s %-20s order %-24s refund %-22s %12s %s  → %s\n", a.Row, a.Provider, a.Account, a.OrderNo, a.RefundNo,
			money.Format(a.Amount, money.Currency(a.Currency)), a.Currency, a.What)
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund run: %v\n", err)
		return exitUsage
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

func printSummary(w io.Writer, out app.Outcome, runErr error) {
	s := out.Run.Summary
	if s.CountsErr != nil {
		// The ledger cannot be read (a full disk): say what this run saw.
		fmt.Fprintf(w, "The ledger could not be written or read (%v); the summary is this run's own count.\n", s.CountsErr)
	}
	fmt.Fprintf(w, "Summary: %d rows:", s.Items)
	for _, state := range store.States {
		if n := s.States[state]; n > 0 {
			label := string(state)
			if state == store.Planned && s.CountsErr != nil {
				label = "not done" // not sent, or in flight when the ledger failed
			}
			fmt.Fprintf(w, " %s %d", label, n)
		}
	}
	fmt.Fprintf(w, " (%d provider calls this run)\n", s.Calls)
	for _, p := range s.Paused {
		fmt.Fprintf(w, "  paused %s account %s for this run: %s. Its rows not yet done stay resumable: run the same command again.\n", p.Provider, p.Account, p.Reason)
	}
	if n := s.States[store.Pending]; n > 0 && s.CountsErr == nil {
		fmt.Fprintf(w, "%d refunds are still pending at their provider: run the same command again later (it only looks them up),\n"+
			"or let the nightly `reconcile --ledger LEDGER --lookup` record their outcome.\n", n)
	}
	if s.CountsErr != nil || (runErr != nil && !errors.Is(runErr, runner.ErrInterrupted)) {
		fmt.Fprintf(w, "Not done: %d rows. Nothing is lost: every refund that left is marked in the ledger before it left.\n"+
			"Once the cause is fixed (free disk space, reachable ledger), run the same command again: it looks up the refunds\n"+
			"in doubt first and sends the rest.\n", app.Resumable(s))
	}
	for _, r := range out.Unsettled {
		fmt.Fprintf(w, "  row %d %s refund %s %s %s: %s %s\n", r.Row, r.Provider, r.RefundNo, money.Format(r.Amount, r.Currency), r.Currency, r.State, reasonOf(r))
	}
	if out.MoreUnsettled {
		fmt.Fprintf(w, "  ... see `bulkrefund status --batch %.16s` for all\n", out.BatchID)
	}
	fmt.Fprintf(w, "Batch %.16s in ledger %s\n", out.BatchID, out.Ledger)
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
