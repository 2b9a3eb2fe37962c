// Package worker runs the refunds of approved batches from a shared
// ledger, several workers at once, on one host or many.
//
// A worker works in rounds. Each round is one run of the same runner as
// `bulkrefund run`, over a store.Store made of claims (claims.go): the
// runner's lane for each configured account asks for refunds, and the
// store claims them from the ledger a chunk at a time (FOR UPDATE SKIP
// LOCKED on PostgreSQL), each with a lease the round keeps renewing. When
// nothing is left to claim and the calls in flight are done, the round
// gives its claims back: settled refunds just lose their owner; a pending
// one rests until its next poll, an unknown or blocked one for a while,
// then any worker claims it again and looks it up first. The worker then
// waits a moment and starts the next round.
//
// Safety rests on three things:
//
//   - Every write is the ledger's compare-and-set on (state, version), and
//     a claim bumps the version: once another worker has taken a refund
//     over, nothing the old owner writes lands.
//   - A refund request leaves only while its claim is certainly held for
//     longer than the call can take (Config.minLease): a worker cut off
//     from the ledger stops sending before its claims can expire.
//   - A worker that dies leaves its claims to expire after Lease; the next
//     claimer finds doubtful refunds (submitting, unknown) and looks each
//     up before anything is sent, as a resumed run does.
//
// SIGTERM (ctx cancelled) drains: no new claims, the runner's in-flight
// calls finish within DrainTimeout, the claims are given back, Run returns.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// Config says what a worker serves and how.
type Config struct {
	// Route finds an account's client and limiter (shared limiters: see
	// batch/ratelimit). Accounts are the ones Route serves: the worker
	// claims only their refunds.
	Route    func(provider, account string) (runner.Target, bool)
	Accounts []store.AccountRef
	Options  runner.Options // as for a run; Poll is not used (pending refunds rest, then are claimed again)

	Owner string // this worker in claims; default worker@HOST/PID/START
	Actor string // in the audit trail; default worker@HOST

	// Lease is how long a claim holds without renewal: how soon another
	// worker takes over the refunds of one that died. Default
	// max(60s, 3×CallTimeout); at least 2×CallTimeout.
	Lease time.Duration
	Chunk int           // refunds claimed at once per account; default 2×Parallel
	Idle  time.Duration // pause between rounds when nothing was claimed; default 2s
	// Rest: how long a refund left in a state waits before it is claimed
	// again. Defaults: pending 10s (the poll), unknown max(60s, CallTimeout),
	// blocked 5m; submitting (after a drain) CallTimeout: a call abandoned
	// at the drain bound may still land, and no lookup may run before it has.
	Rest map[store.State]time.Duration

	Progress *runner.Counter // totals across rounds; may be nil
	Logger   *slog.Logger    // nil: none
}

func (c *Config) defaults() error {
	o := &c.Options
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.DrainTimeout <= 0 || o.DrainTimeout > o.CallTimeout {
		o.DrainTimeout = o.CallTimeout
	}
	o.Poll = 0
	if c.Lease == 0 {
		c.Lease = max(60*time.Second, 3*o.CallTimeout)
	}
	if c.Lease < 2*o.CallTimeout {
		return fmt.Errorf("worker: lease %s must be at least twice the call timeout %s", c.Lease, o.CallTimeout)
	}
	if c.Chunk <= 0 {
		c.Chunk = 2 * o.Parallel
	}
	if c.Idle <= 0 {
		c.Idle = 2 * time.Second
	}
	host, _ := os.Hostname()
	if c.Actor == "" {
		c.Actor = "worker@" + host
	}
	if c.Owner == "" {
		c.Owner = fmt.Sprintf("worker@%s/%d/%d", host, os.Getpid(), time.Now().UnixNano())
	}
	rest := map[store.State]time.Duration{
		store.Pending:    10 * time.Second,
		store.Unknown:    max(60*time.Second, o.CallTimeout),
		store.Blocked:    5 * time.Minute,
		store.Submitting: o.CallTimeout,
	}
	for s, d := range c.Rest {
		rest[s] = d
	}
	c.Rest = rest
	if c.Progress == nil {
		c.Progress = &runner.Counter{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Accounts) == 0 {
		return errors.New("worker: no provider accounts configured")
	}
	return nil
}

// minLease is how much of a claim must be left for a request to leave:
// the call's timeout and a margin for the clocks and the ledger's answer.
func (c *Config) minLease() time.Duration {
	return c.Options.CallTimeout + min(5*time.Second, c.Lease/10)
}

func (c *Config) logf(msg string, args ...any) { c.Logger.Warn(msg, args...) }

// Stats are what a worker did.
type Stats struct {
	Rounds  int
	Claimed int // refunds claimed (a refund claimed again in a later round counts again)
	Calls   int64
}

// Run serves approved batches until ctx is cancelled, then drains and
// returns nil. Its error is a ledger failure it cannot work past (the
// ledger is then closed for writes: restart the worker once it is back).
func Run(ctx context.Context, l *store.SQL, cfg Config) (Stats, error) {
	var st Stats
	if err := cfg.defaults(); err != nil {
		return st, err
	}
	// Blocked refunds of our accounts rest between tries; a worker that
	// starts (typically after its configuration was fixed) tries them now.
	if n, err := l.WakeBlocked(ctx, cfg.Accounts); err == nil && n > 0 {
		cfg.Logger.Info("retrying blocked refunds", "refunds", n)
	}
	l.AppendAudit(context.WithoutCancel(ctx), store.Audit{Actor: cfg.Actor, Action: "worker started", Detail: cfg.Owner})
	defer func() {
		l.AppendAudit(context.Background(), store.Audit{Actor: cfg.Actor, Action: "worker stopped",
			Detail: fmt.Sprintf("%s: %d refunds claimed in %d rounds", cfg.Owner, st.Claimed, st.Rounds)})
	}()
	for ctx.Err() == nil {
		n, err := round(ctx, l, &cfg)
		st.Rounds++
		st.Claimed += n
		st.Calls = cfg.Progress.Calls.Load()
		if err != nil {
			return st, err
		}
		if done, err := l.CompleteBatches(context.WithoutCancel(ctx), cfg.Actor); err != nil {
			cfg.Logger.Warn("marking settled batches done", "error", err)
		} else {
			for _, id := range done {
				cfg.Logger.Info("batch done", "batch", id)
			}
		}
		if n == 0 {
			sleep(ctx, cfg.Idle)
		}
	}
	return st, nil
}

// round runs the runner once over claims and gives them back.
func round(ctx context.Context, l *store.SQL, cfg *Config) (int, error) {
	cs := newClaims(l, cfg, ctx)
	route := func(provider, account string) (runner.Target, bool) {
		t, ok := cfg.Route(provider, account)
		if ok && t.Provider != nil {
			t.Provider = guard{Provider: t.Provider, c: cs}
		}
		return t, ok
	}
	r := &runner.Runner{Store: cs, Route: route, Options: cfg.Options, Progress: cfg.Progress}
	sum, err := r.Run(ctx)
	relErr := cs.release(cfg.Rest)
	n := cs.claimed()
	if n > 0 {
		cfg.Logger.Info("round done", "claimed", n, "succeeded", sum.States[store.Succeeded], "failed", sum.States[store.Failed],
			"pending", sum.States[store.Pending], "unknown", sum.States[store.Unknown], "blocked", sum.States[store.Blocked])
	}
	for _, p := range sum.Paused {
		cfg.Logger.Warn("account paused for this round", "provider", p.Provider, "account", p.Account, "reason", p.Reason)
	}
	if err != nil && !errors.Is(err, runner.ErrInterrupted) {
		return n, err
	}
	if relErr != nil {
		cfg.Logger.Warn("giving back claims failed; they expire with their lease", "error", relErr)
	}
	return n, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
