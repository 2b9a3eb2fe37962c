package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/worker"
	"github.com/bulkrefund/bulkrefund/internal/cli"
)

type workerFlags struct {
	ledger, config, logFormat string
	quiet                     bool
	opts                      runner.Options
	lease, idle               time.Duration
}

func newWorkerCmd(e env) *cobra.Command {
	var wf workerFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Take refunds of approved batches from a shared ledger, until stopped",
		Long: `Serve the approved batches of a shared ledger (PostgreSQL): claim their
refunds a few at a time with a lease, send them with the same runner as
bulkrefund run, keep going until SIGTERM or SIGINT. Several workers on several
hosts share one ledger and the accounts' rate limits (docs/postgres.md).

SIGTERM or SIGINT drains: no new claims, the calls in flight finish within
--drain, every claim is given back, exit 0. A second signal exits at once with
130: the claims then expire after --lease, and whichever worker takes them
looks their refunds up before sending anything. Exit 1: the ledger failed
(restart the worker once it is back); 2: bad usage or configuration.`,
		Example: `  bulkrefund worker --ledger postgres://bulkrefund@db.internal/refunds --config providers.json
  BULKREFUND_LEDGER=postgres://… bulkrefund worker -c providers.json --parallel 32`,
		Args: cli.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return cli.Exit(cmdWorker(e, wf))
		},
	}
	fl := cmd.Flags()
	o := &wf.opts
	fl.StringVar(&wf.ledger, "ledger", "", "the ledger: a postgres:// `URL` (default: $BULKREFUND_LEDGER); an SQLite path serves one host")
	fl.StringVarP(&wf.config, "config", "c", "", "provider config `FILE` (JSON): the accounts this worker serves (default: $BULKREFUND_CONFIG, else the user config directory's bulkrefund/config.json)")
	fl.IntVarP(&o.Parallel, "parallel", "j", 16, "refunds in flight at once in this worker")
	fl.IntVar(&o.MaxAttempts, "max-attempts", 8, "provider calls per refund per claim before it is left unknown (and rests)")
	fl.DurationVar(&o.CallTimeout, "call-timeout", 30*time.Second, "timeout of each provider call")
	fl.DurationVar(&o.DrainTimeout, "drain", 0, "after a signal, how long in-flight calls may take (default and at most: --call-timeout)")
	fl.DurationVar(&o.MaxRetryAfter, "max-retry-after", 60*time.Second, "honour a provider's Retry-After up to `DURATION`")
	fl.DurationVar(&wf.lease, "lease", 0, "a claim's lease: how soon other workers take over the refunds of one that died (default max(60s, 3×--call-timeout))")
	fl.DurationVar(&wf.idle, "idle", 2*time.Second, "pause between looks for work when there is none")
	fl.StringVar(&wf.logFormat, "log-format", "text", "log `FORMAT`: text or json (log/slog)")
	fl.BoolVarP(&wf.quiet, "quiet", "q", false, "log warnings only")
	cmd.MarkFlagFilename("config", "json")
	cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]cobra.Completion{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// cmdWorker serves the approved batches of a shared ledger until SIGTERM
// or SIGINT, then drains (see newWorkerCmd for the exit codes).
func cmdWorker(e env, wf workerFlags) int {
	o := wf.opts
	wc := worker.Config{Lease: wf.lease, Idle: wf.idle}
	logFormat, quiet := &wf.logFormat, &wf.quiet
	if wf.config == "" {
		c, err := cli.FindConfig("")
		if err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund worker: %v\n", err)
			return exitUsage
		}
		wf.config = c.Path
	}
	cfgPath, ledgerFlag := &wf.config, &wf.ledger
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund worker: "+format+"\n", a...) }
	switch {
	case o.Parallel < 1 || o.MaxAttempts < 1 || o.CallTimeout <= 0:
		errf("--parallel and --max-attempts must be at least 1, --call-timeout positive")
		return exitUsage
	case *logFormat != "text" && *logFormat != "json":
		errf("--log-format must be text or json")
		return exitUsage
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	var logger *slog.Logger
	if *logFormat == "json" {
		logger = slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	} else {
		logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	}

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	ctx := context.Background()
	l, err := store.OpenLedger(ctx, app.LedgerSpec(*ledgerFlag), store.SQLiteOptions{})
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer l.Close()
	route, accounts, err := worker.Routes(ctx, cfg, l)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	if l.Dialect().Name != "postgres" {
		logger.Warn("an SQLite ledger serves the workers of one host, and each applies an account's rate limit on its own; share one PostgreSQL ledger to share the limits")
	}
	o.Logger = logger
	wc.Route, wc.Accounts, wc.Options, wc.Logger = route, accounts, o, logger
	wc.Progress = &runner.Counter{}
	if wc.Lease != 0 && wc.Lease < 2*o.CallTimeout {
		errf("--lease %s must be at least twice --call-timeout (%s): a request must end well before its claim can pass to another worker", wc.Lease, o.CallTimeout)
		return exitUsage
	}

	// Signals: the first drains; the second exits at once.
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
			logger.Info("draining: no new claims; finishing the calls in flight", "signal", s.String())
			stop()
		case <-finished:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(e.stderr, "bulkrefund worker: exiting now; this worker's claims expire after their lease and other workers look their refunds up first")
			os.Exit(exitInterrupted)
		case <-finished:
		}
	}()

	logger.Info("worker started", "ledger", l.Where(), "accounts", len(accounts), "parallel", o.Parallel)
	every := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("BULKREFUND_PROGRESS_EVERY")); err == nil && d > 0 {
		every = d
	}
	stopProgress := watchWorker(wc.Progress, logger, every)
	st, err := worker.Run(runCtx, l, wc)
	stopProgress()
	if err != nil {
		errf("%v", err)
		errf("stopped; restart the worker once the ledger is reachable (its claims expire after their lease, and are looked up first)")
		return exitFailures
	}
	logger.Info("worker stopped", "claimed", st.Claimed, "rounds", st.Rounds, "calls", st.Calls)
	return exitOK
}

// watchWorker logs the worker's totals every interval.
func watchWorker(c *runner.Counter, logger *slog.Logger, every time.Duration) (stop func()) {
	start := time.Now()
	quit := make(chan struct{})
	done := make(chan struct{})
	last := int64(-1)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			s := c.Snapshot()
			if s.Settled == last {
				continue // idle: say nothing
			}
			last = s.Settled
			logger.Info("progress", "settled", s.Settled, "succeeded", s.Succeeded, "failed", s.Failed, "pending", s.Pending,
				"unknown", s.Unknown, "blocked", s.Blocked, "calls", s.Calls, "retries", s.Retries,
				"per_s", int64(float64(s.Settled)/time.Since(start).Seconds()))
		}
	}()
	return func() { close(quit); <-done }
}

// handToWorkers approves a planned batch for the workers and shows its
// progress from the ledger until none of its refunds is waiting to be sent
// or held by a worker (and, with --poll, until its pending refunds settle
// or the poll time is up). Exit codes as run's: 0 every refund succeeded, 1
// some did not, 130 interrupted (the workers go on; only the watching
// stops).
func handToWorkers(e env, l *store.SQL, batchID, operator string, f runFlags) int {
	ctx := context.Background()
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund run: "+format+"\n", a...) }
	m, err := l.Batch(ctx, batchID)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	switch m.Status {
	case store.BatchApproved, store.BatchRunning, store.BatchDone:
		fmt.Fprintf(e.stdout, "Batch %.16s is %s; the workers have it.\n", batchID, m.Status)
	default:
		// The operator confirmed the plan (--yes or at the prompt): that is
		// the approval the workers wait for.
		if err := l.SetBatchStatus(ctx, batchID, store.BatchApproved, store.Audit{Actor: operator, Action: "approved",
			Detail: "handed to the workers (run --via-workers)"}); err != nil {
			errf("%v", err)
			return exitFailures
		}
		fmt.Fprintf(e.stdout, "Batch %.16s approved and handed to the workers (`bulkrefund worker --ledger %s`).\n", batchID, l.Where())
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	counter := &runner.Counter{}
	var printer runner.Printer
	every := 10 * time.Second
	switch {
	case f.quiet:
		printer = runner.Quiet{}
	case f.logFormat == "json":
		printer = runner.JSONPrinter{L: slog.New(slog.NewJSONHandler(e.stderr, nil))}
	case isTerminal(e.stderr):
		printer = runner.NewBarPrinter(e.stderr, int64(m.Items))
		every = 200 * time.Millisecond
	default:
		printer = runner.LinePrinter{W: e.stderr}
	}
	if d, err := time.ParseDuration(os.Getenv("BULKREFUND_PROGRESS_EVERY")); err == nil && d > 0 {
		every = d
	}
	poll := min(every, time.Second)
	v, err := l.View(ctx, batchID)
	if err != nil {
		errf("%v", err)
		return exitFailures
	}
	first := true
	var sum runner.Summary
	// Pending refunds are polled by the workers; like run's --poll, wait
	// for them this long once nothing else is left.
	pollUntil := time.Time{}
	quiet := time.Now()
	hinted := false
	stopProgress := runner.Watch(counter, printer, every)
	interrupted := false
	for {
		s, finished, err := workerProgress(ctx, l, v, batchID, counter, first)
		if err != nil {
			stopProgress()
			errf("reading the ledger: %v", err)
			return exitFailures
		}
		if counter.Settled.Load() > 0 || s.States[store.Planned] < s.Items {
			quiet = time.Now()
		}
		first, sum = false, s
		if finished && s.States[store.Pending] > 0 && f.poll > 0 {
			if pollUntil.IsZero() {
				pollUntil = time.Now().Add(f.poll)
			}
			finished = time.Now().After(pollUntil)
		}
		if finished {
			break
		}
		if !hinted && time.Since(quiet) > 30*time.Second {
			hinted = true
			fmt.Fprintf(e.stderr, "bulkrefund run: no worker has taken any refund of the batch yet: is one running? (`bulkrefund worker --ledger %s --config FILE`)\n", l.Where())
		}
		select {
		case <-sigs:
			interrupted = true
		case <-time.After(poll):
		}
		if interrupted {
			break
		}
	}
	stopProgress()
	if f.results != "" {
		if err := results.WriteFile(ctx, f.results, v); err != nil {
			errf("writing results %s: %v", f.results, err)
		} else {
			fmt.Fprintf(e.stdout, "Results written to %s\n", f.results)
		}
	}
	if interrupted {
		fmt.Fprintf(e.stderr, "bulkrefund run: stopped watching; the workers carry on with batch %.16s (`bulkrefund status --batch %.16s`)\n", batchID, batchID)
		return exitInterrupted
	}
	printSummary(e.stdout, ctx, l, batchID, sum, nil)
	if sum.States[store.Succeeded] != sum.Items {
		return exitFailures
	}
	return exitOK
}

// workerProgress reads where a batch the workers run stands into counter,
// and whether the workers are finished with it: nothing planned or in
// flight, and no refund held by a worker (what is left rests: pending,
// unknown or blocked, to be claimed again later).
func workerProgress(ctx context.Context, l *store.SQL, v store.Store, batchID string, c *runner.Counter, first bool) (runner.Summary, bool, error) {
	counts, err := v.Counts(ctx)
	if err != nil {
		return runner.Summary{}, false, err
	}
	s := runner.Summary{States: map[store.State]int{}}
	for _, cnt := range counts {
		s.Items += cnt.Items
		s.States[cnt.State] += cnt.Items
	}
	final := int64(s.States[store.Succeeded] + s.States[store.Failed])
	if first {
		c.Total.Store(int64(s.Items))
		c.AlreadyDone.Store(final)
	}
	c.Settled.Store(final - c.AlreadyDone.Load())
	c.Succeeded.Store(int64(s.States[store.Succeeded]))
	c.Failed.Store(int64(s.States[store.Failed]))
	c.Pending.Store(int64(s.States[store.Pending]))
	c.Unknown.Store(int64(s.States[store.Unknown]))
	c.Blocked.Store(int64(s.States[store.Blocked]))
	if s.States[store.Planned]+s.States[store.Submitting] > 0 {
		return s, false, nil
	}
	live, err := l.LiveClaims(ctx, batchID)
	if err != nil {
		return s, false, err
	}
	return s, live == 0, nil
}
