package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/version"
	"github.com/bulkrefund/bulkrefund/money"
)

// toolVersion is recorded in every state file and report.
var toolVersion = version.String("bulkrefund")

type runFlags struct {
	config, sheet, state, results, logFormat, sandboxOrders, report string
	sandbox, yes, dryRun, skipInvalid, quiet, allowChanged, noBOM   bool
	parallel, maxAttempts, maxErrors                                int
	poll, callTimeout, drain                                        time.Duration
}

// cmdRun sends a sheet's refunds with durable checkpoints. Exit 0: every
// refund succeeded; 1: invalid rows, or some refunds failed, pending or
// unknown; 2: bad usage, unusable input or configuration, or a state that
// belongs to another sheet; 130: interrupted (the same command resumes).
func cmdRun(e env, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var f runFlags
	fs.StringVar(&f.config, "config", "", "provider config `FILE` (JSON)")
	fs.BoolVar(&f.sandbox, "sandbox", false, "start the sandbox providers in-process and run against them")
	fs.StringVar(&f.sandboxOrders, "sandbox-orders", "samples/orders.csv", "orders `FILE` the in-process sandbox holds")
	fs.StringVar(&f.sheet, "sheet", "", "XLSX sheet to read (default: the first visible sheet)")
	fs.StringVar(&f.state, "state", "", "checkpoint state `PATH` (default: derived from the sheet's content; see docs/run.md)")
	fs.BoolVar(&f.yes, "yes", false, "send without asking (required without a terminal)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what would happen to each row; send nothing")
	fs.BoolVar(&f.skipInvalid, "skip-invalid", false, "run the valid rows even if some rows are invalid (they are listed)")
	fs.IntVar(&f.parallel, "parallel", 16, "refunds in flight at once")
	fs.DurationVar(&f.poll, "poll", 0, "keep looking up pending refunds for up to `DURATION`")
	fs.StringVar(&f.results, "results", "", "write every row's outcome to `OUT.csv|OUT.xlsx`")
	fs.StringVar(&f.report, "report", "", "after the run, reconcile it against the providers and write the report to `FILE.xlsx|FILE.json`")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress output")
	fs.StringVar(&f.logFormat, "log-format", "text", "progress and log format: text or json (log/slog, for cron)")
	fs.IntVar(&f.maxAttempts, "max-attempts", 8, "provider calls per refund per run before it is left unknown")
	fs.DurationVar(&f.callTimeout, "call-timeout", 30*time.Second, "timeout of each provider call")
	fs.DurationVar(&f.drain, "drain", 0, "after a signal, how long in-flight calls may take (default: --call-timeout)")
	fs.BoolVar(&f.allowChanged, "allow-changed", false, "adopt a changed sheet into an existing state (refunds already sent keep their state)")
	fs.IntVar(&f.maxErrors, "max-errors", 20, "print at most `N` invalid-row lines")
	fs.BoolVar(&f.noBOM, "no-bom", false, "write CSV files (--results, the kept statement) without the UTF-8 byte-order mark Excel needs to show Chinese text")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: bulkrefund run FILE (--config FILE | --sandbox) [flags]")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(files) != 1 {
		fs.Usage()
		return exitUsage
	}
	switch {
	case f.config == "" && !f.sandbox && !f.dryRun:
		fmt.Fprintln(e.stderr, "bulkrefund run: give --config FILE or --sandbox")
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
	return runSheet(e, files[0], f)
}

func fileExt(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 && !strings.ContainsRune(p[i:], '/') {
		return p[i:]
	}
	return ""
}

func runSheet(e env, path string, f runFlags) int {
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund run: "+format+"\n", a...) }

	// 1. Validate. Nothing is sent unless every row is valid (or --skip-invalid).
	items, sum, code := loadSheet(e, path, f.sheet, f.maxErrors, "run")
	if code != exitOK && !(code == exitFailures && f.skipInvalid) {
		if code == exitFailures {
			errf("%d invalid rows: nothing was sent (fix them, or --skip-invalid to run the %d valid rows)", sum.Invalid, sum.Valid)
		}
		return code
	}
	if len(items) == 0 {
		errf("no valid rows to run")
		return exitFailures
	}
	invalid := sum.Invalid

	// 2. Identity and state location.
	meta, err := batchMeta(path, items)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	statePath := f.state
	if statePath == "" {
		statePath = store.DefaultPath(meta.BatchID)
		if f.sandbox {
			statePath = sandboxStatePath(statePath, time.Now())
		}
	}

	if f.dryRun {
		return dryRun(e, items, meta, statePath)
	}

	// 3. Providers, before asking: a config that cannot serve the sheet
	// fails now, not after the confirmation.
	provs, err := loadProviders(e, f)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer provs.Close()
	for _, it := range items {
		if _, ok := provs.route(it.Provider, it.Account); !ok {
			errf("row %d: %v: %s account %q (configured: %s)", it.Row, runner.ErrNoRoute, it.Provider, it.Account, provs.keys())
			return exitUsage
		}
	}

	// 4. Plan and confirmation.
	printPlan(e.stdout, items, meta, statePath)
	if err := printPrior(e.stdout, statePath, meta, f.allowChanged); err != nil {
		errf("%v", err)
		printMismatchHint(e.stderr, err)
		return exitUsage
	}
	if !f.yes {
		in, ok := e.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(in.Fd())) {
			errf("refusing to send refunds without a terminal to confirm on; pass --yes (e.g. from cron)")
			return exitUsage
		}
		fmt.Fprintf(e.stdout, "Send these %d refunds? Type yes to continue: ", len(items))
		line, _ := bufio.NewReader(in).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
			fmt.Fprintln(e.stdout, "Nothing sent.")
			return exitUsage
		}
	}

	// 5. Checkpoint store.
	st, err := store.OpenSQLite(statePath)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer st.Close()
	ctx := context.Background()
	if f.allowChanged {
		err = st.Merge(ctx, meta, items)
	} else {
		err = st.Init(ctx, meta, items)
	}
	if err != nil {
		errf("%v", err)
		printMismatchHint(e.stderr, err)
		return exitUsage
	}
	nItems := len(items)
	items = nil // the store has them now; a 200k-row sheet need not stay in memory twice
	var resumed int
	st.Each(ctx, func(r store.Record) error {
		if r.State != store.Planned {
			resumed++
		}
		return nil
	})
	if resumed > 0 {
		fmt.Fprintf(e.stdout, "Resuming: %d of %d rows were already sent or settled by an earlier run.\n", resumed, nItems)
	}

	// 6. Signals: the first stops starting new refunds; the second exits at once.
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
			fmt.Fprintf(e.stderr, "\nbulkrefund run: %v: finishing the refunds in flight (send the signal again to exit at once; the state stays safe)\n", s)
			stop()
		case <-finished:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintf(e.stderr, "bulkrefund run: exiting now; the next run looks up the refunds that were in flight (state: %s)\n", statePath)
			os.Exit(exitInterrupted)
		case <-finished:
		}
	}()

	// 7. Progress and logging.
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

	r := &runner.Runner{
		Store: st, Route: provs.route, Progress: counter,
		Options: runner.Options{Parallel: f.parallel, MaxAttempts: f.maxAttempts, CallTimeout: f.callTimeout,
			DrainTimeout: f.drain, Poll: f.poll, Logger: logger},
	}
	stopProgress := runner.Watch(counter, printer, every)
	rsum, runErr := r.Run(runCtx)
	stopProgress()

	// 8. Results file and summary, whatever happened.
	if f.results != "" {
		if err := results.WriteFile(context.Background(), f.results, st, results.Options{NoBOM: f.noBOM}); err != nil {
			errf("writing results %s: %v", f.results, err)
			if runErr == nil {
				runErr = err
			}
		} else {
			fmt.Fprintf(e.stdout, "Results written to %s\n", f.results)
		}
	}
	printSummary(e.stdout, st, rsum, statePath)
	reportClean := true
	if f.report != "" && !errors.Is(runErr, runner.ErrInterrupted) {
		clean, err := writeRunReport(runCtx, e, f, statePath, provs)
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
		fmt.Fprintf(e.stderr, "bulkrefund run: interrupted; %d of %d rows still to settle. Run the same command again to resume (state: %s).\n",
			rsum.States[store.Planned]+rsum.States[store.Submitting]+rsum.States[store.Unknown]+rsum.States[store.Pending], rsum.Items, statePath)
		return exitInterrupted
	case runErr != nil:
		errf("%v", runErr)
		if errors.Is(runErr, runner.ErrNoRoute) {
			return exitUsage
		}
		return exitFailures
	}
	if invalid > 0 || rsum.States[store.Succeeded] != rsum.Items || !reportClean {
		return exitFailures
	}
	return exitOK
}

// loadSheet validates the sheet as `validate` does and returns its valid
// items. code is exitOK, exitFailures (some rows invalid; errors printed) or
// exitUsage (unusable file).
func loadSheet(e env, path, sheetName string, maxErrors int, cmd string) ([]batch.Item, sheet.Summary, int) {
	var items []batch.Item
	log := sheet.NewErrorLog(maxErrors)
	sum, err := sheet.Validate(path, sheet.Options{Sheet: sheetName},
		func(it batch.Item) error { items = append(items, it); return nil },
		func(cells []string, errs []*sheet.RowError) error { log.Add(errs); return nil })
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund %s: %v\n", cmd, err)
		return nil, sum, exitUsage
	}
	if sum.Invalid > 0 {
		sheet.PrintReport(e.stdout, e.stderr, path, sum, log)
		return items, sum, exitFailures
	}
	return items, sum, exitOK
}

func batchMeta(path string, items []batch.Item) (store.Meta, error) {
	fh, err := os.Open(path)
	if err != nil {
		return store.Meta{}, err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return store.Meta{}, err
	}
	m := store.Meta{BatchID: batch.Identity(items), SourcePath: path, SourceSHA256: hex.EncodeToString(h.Sum(nil)),
		ToolVersion: toolVersion, Created: time.Now().UTC(), Items: len(items)}
	if u, err := user.Current(); err == nil {
		m.Operator = u.Username
	}
	m.Host, _ = os.Hostname()
	return m, nil
}

// totals sums amounts per provider and currency, in adapters.Providers order.
type total struct {
	provider string
	currency money.Currency
	rows     int
	amount   int64
}

func totals(items []batch.Item) []total {
	idx := map[[2]string]*total{}
	var out []*total
	for _, it := range items {
		k := [2]string{it.Provider, string(it.Currency)}
		t := idx[k]
		if t == nil {
			t = &total{provider: it.Provider, currency: it.Currency}
			idx[k] = t
			out = append(out, t)
		}
		t.rows++
		t.amount += it.Amount
	}
	rank := map[string]int{}
	for i, p := range adapters.Providers {
		rank[p] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].provider != out[j].provider {
			return rank[out[i].provider] < rank[out[j].provider]
		}
		return out[i].currency < out[j].currency
	})
	res := make([]total, len(out))
	for i, t := range out {
		res[i] = *t
	}
	return res
}

func printPlan(w io.Writer, items []batch.Item, m store.Meta, statePath string) {
	fmt.Fprintf(w, "Plan: %d refunds from %s (batch %.16s)\n", len(items), m.SourcePath, m.BatchID)
	for _, t := range totals(items) {
		fmt.Fprintf(w, "  %-9s %6d rows  %16s %s\n", t.provider, t.rows, money.Format(t.amount, t.currency), t.currency)
	}
	fmt.Fprintf(w, "State: %s\n", statePath)
}

func printMismatchHint(w io.Writer, err error) {
	if errors.Is(err, store.ErrBatchMismatch) {
		fmt.Fprintf(w, "  The sheet changed since that state was made, so resuming it could send the wrong refunds.\n"+
			"  Use --state NEWPATH to start a separate run, or --allow-changed to adopt the changes\n"+
			"  (refunds already sent keep their state; new rows are added; unsent rows no longer in the sheet are dropped).\n")
	}
}

// printPrior tells, before the confirmation, what an earlier run of this
// batch left, and refuses a state made for another sheet (unless it is to be
// adopted). It reads without locking or changing anything.
func printPrior(w io.Writer, statePath string, m store.Meta, allowChanged bool) error {
	st, err := store.OpenSQLiteExisting(statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer st.Close()
	sm, err := st.Meta(context.Background())
	if errors.Is(err, store.ErrNoBatch) {
		return nil
	}
	if err != nil {
		return err
	}
	if sm.BatchID != m.BatchID {
		if allowChanged {
			fmt.Fprintf(w, "The state holds batch %.16s (%s); --allow-changed adopts this sheet into it.\n", sm.BatchID, sm.SourcePath)
			return nil
		}
		return &store.MismatchError{Stored: sm, Given: m}
	}
	counts, err := st.Counts(context.Background())
	if err != nil {
		return err
	}
	by := map[store.State]int{}
	for _, c := range counts {
		by[c.State] += c.Items
	}
	fmt.Fprintf(w, "An earlier run of this batch (started %s) left:", sm.Created.Local().Format(time.RFC3339))
	for _, s := range store.States {
		if by[s] > 0 {
			fmt.Fprintf(w, " %s %d", s, by[s])
		}
	}
	fmt.Fprintf(w, ".\nThis run sends the %d planned, looks up the %d submitting, unknown or pending first, and leaves the final ones alone.\n",
		by[store.Planned], by[store.Submitting]+by[store.Unknown]+by[store.Pending])
	return nil
}

// dryRun prints what a run would do to each row, reading an existing state
// without creating or changing it, and sends nothing.
func dryRun(e env, items []batch.Item, m store.Meta, statePath string) int {
	printPlan(e.stdout, items, m, statePath)
	prior := map[string]store.Record{}
	if st, err := store.OpenSQLiteExisting(statePath); err == nil {
		defer st.Close()
		sm, err := st.Meta(context.Background())
		switch {
		case err == nil && sm.BatchID != m.BatchID:
			fmt.Fprintf(e.stdout, "Note: the state at %s belongs to a different sheet (batch %.16s); a run would refuse it without --state or --allow-changed.\n", statePath, sm.BatchID)
		case err == nil:
			st.Each(context.Background(), func(r store.Record) error { prior[r.Key()] = r; return nil })
			fmt.Fprintf(e.stdout, "An earlier run exists (started %s); a run resumes it.\n", sm.Created.Format(time.RFC3339))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(e.stderr, "bulkrefund run: %v\n", err)
		return exitUsage
	}
	counts := map[string]int{}
	fmt.Fprintln(e.stdout, "Dry run, nothing is sent:")
	for _, it := range items {
		r, seen := prior[it.Key()]
		what := "send"
		if it.Action == adapters.ActionRevoke {
			what = "send revoke"
		}
		if seen {
			switch r.State {
			case store.Succeeded, store.Failed:
				what = "done earlier: " + string(r.State)
				if r.ProviderCode != "" {
					what += " (" + r.ProviderCode + ")"
				}
			case store.Submitting, store.Unknown, store.Pending:
				what = "look up first (was " + string(r.State) + "); re-send with the same refund number only if the provider has no record"
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

func printSummary(w io.Writer, st store.Store, s runner.Summary, statePath string) {
	fmt.Fprintf(w, "Summary: %d rows:", s.Items)
	for _, state := range store.States {
		if n := s.States[state]; n > 0 {
			fmt.Fprintf(w, " %s %d", state, n)
		}
	}
	fmt.Fprintf(w, " (%d provider calls this run)\n", s.Calls)
	shown := 0
	st.Each(context.Background(), func(r store.Record) error {
		if r.State == store.Succeeded || r.State == store.Planned {
			return nil
		}
		if shown == 20 {
			fmt.Fprintf(w, "  ... see `bulkrefund status --state %s` for all\n", statePath)
			return errStop
		}
		shown++
		fmt.Fprintf(w, "  row %d %s refund %s %s %s: %s %s\n", r.Row, r.Provider, r.RefundNo, money.Format(r.Amount, r.Currency), r.Currency, r.State, reasonOf(r))
		return nil
	})
	fmt.Fprintf(w, "State: %s\n", statePath)
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

// sandboxStatePath gives each --sandbox run a state of its own beside the
// batch's default one. The in-process sandbox forgets every refund when the
// process ends, so resuming an earlier sandbox run's state would show refunds
// the new sandbox never saw: reported as missing at the provider, and never
// sent again. A real provider remembers; only the sandbox needs this.
func sandboxStatePath(defaultPath string, now time.Time) string {
	base := strings.TrimSuffix(filepath.Base(defaultPath), ".db")
	return filepath.Join(filepath.Dir(defaultPath), "sandbox", base+"-"+now.UTC().Format("20060102T150405.000000000")+".db")
}
