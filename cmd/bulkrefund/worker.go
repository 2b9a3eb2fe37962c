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

// watchWorkers shows the progress of a batch handed to the workers, read
// from the ledger, until they are done with it: nothing planned or in
// flight, no refund held by a worker, and with --poll (default 10 minutes
// for providers that settle later) no refund pending. Exit codes as run's:
// 0 every refund succeeded, 1 some did not, 130 interrupted (the workers go
// on; only the watching stops).
func watchWorkers(e env, ledgerSpec, batchID string, f runFlags, printer runner.Printer, every time.Duration) int {
	ctx := context.Background()
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund run: "+format+"\n", a...) }
	l, err := app.OpenLedgerExisting(ctx, ledgerSpec)
	if err != nil {
		errf("%v", err)
		return exitFailures
	}
	defer l.Close()
	fmt.Fprintf(e.stdout, "Batch %.16s is the workers' (`bulkrefund worker --ledger %s`); watching its progress.\n", batchID, l.Where())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	poll := f.poll
	if !f.pollGiven && f.poll == 0 {
		poll = defaultAsyncPoll
	}
	counter := &runner.Counter{}
	if printer == nil {
		printer = runner.LinePrinter{W: e.stderr}
	}
	var p worker.Progress
	first, hinted := true, false
	started := time.Now()
	var pendingSince time.Time
	var stopProgress func()
	interrupted := false
	for {
		if p, err = worker.BatchProgress(ctx, l, batchID); err != nil {
			if stopProgress != nil {
				stopProgress()
			}
			errf("reading the ledger: %v", err)
			return exitFailures
		}
		if first {
			counter.Total.Store(int64(p.Items))
			counter.AlreadyDone.Store(int64(p.Final()))
			stopProgress = runner.Watch(counter, printer, every)
			first = false
		}
		counter.Settled.Store(int64(p.Final()) - counter.AlreadyDone.Load())
		counter.Succeeded.Store(int64(p.States[store.Succeeded]))
		counter.Failed.Store(int64(p.States[store.Failed]))
		counter.Pending.Store(int64(p.States[store.Pending]))
		counter.Unknown.Store(int64(p.States[store.Unknown]))
		counter.Blocked.Store(int64(p.States[store.Blocked]))
		done := p.Idle()
		if done && p.States[store.Pending] > 0 {
			// The workers poll pending refunds; wait for them as run does.
			if pendingSince.IsZero() {
				pendingSince = time.Now()
			}
			done = time.Since(pendingSince) >= poll
		}
		if done {
			break
		}
		if !hinted && p.States[store.Planned] == p.Items && time.Since(started) > 30*time.Second {
			hinted = true
			if m, err := l.Batch(ctx, batchID); err == nil && m.Status == store.BatchSubmitted {
				errf("batch %.16s waits for a checker's approval (`bulkrefund approve %.16s`); the workers take it then", batchID, batchID)
			} else {
				errf("no worker has taken any refund of the batch yet: is one running? (`bulkrefund worker --ledger %s --config FILE`)", l.Where())
			}
		}
		select {
		case <-sigs:
			interrupted = true
		case <-time.After(min(every, time.Second)):
		}
		if interrupted {
			break
		}
	}
	stopProgress()
	if f.results != "" {
		v, err := l.View(ctx, batchID)
		if err == nil {
			err = results.WriteFile(ctx, f.results, v, results.Options{NoBOM: f.noBOM})
		}
		if err != nil {
			errf("writing results %s: %v", f.results, err)
		} else {
			fmt.Fprintf(e.stdout, "Results written to %s\n", f.results)
		}
	}
	if interrupted {
		errf("stopped watching; the workers carry on with batch %.16s (`bulkrefund status --batch %.16s`)", batchID, batchID)
		return exitInterrupted
	}
	fmt.Fprintf(e.stdout, "Summary: %d rows:", p.Items)
	for _, s := range store.States {
		if n := p.States[s]; n > 0 {
			fmt.Fprintf(e.stdout, " %s %d", s, n)
		}
	}
	fmt.Fprintf(e.stdout, " (sent by the workers)\nBatch %.16s in ledger %s\n", batchID, l.Where())
	if p.States[store.Succeeded] != p.Items {
		fmt.Fprintf(e.stdout, "Not all refunds succeeded: `bulkrefund status --batch %.16s` lists them. The workers look the pending and\n"+
			"unknown ones up again and retry the blocked ones on their own.\n", batchID)
		return exitFailures
	}
	return exitOK
}
