package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// ErrInterrupted is returned by Run when its context was cancelled before
// every item was settled; the store is consistent and the next run resumes.
var ErrInterrupted = errors.New("run interrupted")

// ErrNoRoute: an item names a provider account the configuration lacks.
var ErrNoRoute = errors.New("no configured provider account")

// Target is where an item's requests go: the account's client and its rate limiter.
type Target struct {
	Provider adapters.Provider
	Limiter  *rate.Limiter // nil: unlimited
}

// Options tune a Runner. Zero values take the defaults noted.
type Options struct {
	Parallel     int           // concurrent items; default 16
	MaxAttempts  int           // provider calls (refunds and lookups) per item per run; default 8
	CallTimeout  time.Duration // per call; default 30s
	BackoffBase  time.Duration // first retry's backoff ceiling; default 200ms
	BackoffMax   time.Duration // backoff ceiling; default 10s
	DrainTimeout time.Duration // after cancel, how long in-flight calls may take; default CallTimeout
	Poll         time.Duration // keep looking up pending items this long; 0: once
	PollInterval time.Duration // between polls of pending items; default 2s
	Logger       *slog.Logger  // per-item events at Debug, give-ups at Warn; nil: none
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 200 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = o.CallTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Runner runs one batch held in Store.
type Runner struct {
	Store store.Store
	// Route finds the target of a provider account; ok false means not configured.
	Route    func(provider, account string) (Target, bool)
	Options  Options
	Progress *Counter // may be nil
}

// Summary is where a run left the batch.
type Summary struct {
	Items  int
	States map[store.State]int
	Calls  int64 // provider calls made in this run
}

// Run settles every item it can. It returns ErrInterrupted if ctx was
// cancelled first, a store error if checkpoints could not be written (the run
// stops at once: nothing is sent that is not checkpointed), or nil.
func (r *Runner) Run(ctx context.Context) (Summary, error) {
	opt := r.Options
	opt.defaults()
	c := r.Progress
	if c == nil {
		c = &Counter{}
	}
	// hard bounds in-flight calls: it ends DrainTimeout after ctx does.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(opt.DrainTimeout, cancelHard)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	defer stopDrain()

	// The items are streamed from the store, never all held in memory: a
	// 200,000-row batch costs the runner its Parallel items in flight.
	counts, err := r.Store.Counts(context.WithoutCancel(ctx))
	if err != nil {
		return Summary{}, err
	}
	total, done := 0, 0
	for _, cnt := range counts {
		total += cnt.Items
		if cnt.State.Final() {
			done += cnt.Items
			continue
		}
		// Check routes before anything is sent, so a config gap fails the run cleanly.
		if _, ok := r.Route(cnt.Provider, cnt.Account); !ok {
			return Summary{}, fmt.Errorf("%w: %d rows need %s account %q", ErrNoRoute, cnt.Items, cnt.Provider, cnt.Account)
		}
	}
	c.start(total, done)
	all := func(yield func(store.Record) bool) error {
		err := r.Store.Each(context.WithoutCancel(ctx), func(rec store.Record) error {
			if !yield(rec) {
				return errStopEach
			}
			return nil
		})
		if errors.Is(err, errStopEach) {
			return nil
		}
		return err
	}

	w := &worker{r: r, opt: opt, stop: ctx, hard: hard, c: c}
	var pending []store.Record
	var mu sync.Mutex
	err = w.pool(all, func(rec store.Record) bool { return !rec.State.Final() }, func(rec store.Record, s store.State) {
		if s == store.Pending {
			mu.Lock()
			pending = append(pending, rec)
			mu.Unlock()
		}
	})
	if err == nil && opt.Poll > 0 && len(pending) > 0 {
		deadline := time.Now().Add(opt.Poll)
		for len(pending) > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
			if !sleep(ctx, min(opt.PollInterval, time.Until(deadline))) {
				c.interrupted.Store(true)
				break
			}
			batch := pending
			pending = nil
			w.poll = true
			for i := range batch {
				batch[i].State = store.Pending
			}
			err = w.pool(sliceSource(batch), func(store.Record) bool { return true }, func(rec store.Record, s store.State) {
				if s == store.Pending {
					mu.Lock()
					pending = append(pending, rec)
					mu.Unlock()
				}
			})
			if err != nil {
				break
			}
		}
	}
	sum, serr := r.summarize(ctx)
	sum.Calls = c.Calls.Load()
	if err != nil {
		return sum, err
	}
	if serr != nil {
		return sum, serr
	}
	if c.interrupted.Load() {
		return sum, ErrInterrupted
	}
	return sum, nil
}

func (r *Runner) summarize(ctx context.Context) (Summary, error) {
	s := Summary{States: map[store.State]int{}}
	counts, err := r.Store.Counts(context.WithoutCancel(ctx))
	for _, c := range counts {
		s.Items += c.Items
		s.States[c.State] += c.Items
	}
	return s, err
}

type worker struct {
	r    *Runner
	opt  Options
	stop context.Context // cancelled: start nothing new
	hard context.Context // cancelled: abandon calls in flight
	c    *Counter
	poll bool // settling items already counted as pending
}

func (w *worker) settled(s store.State) {
	if w.poll {
		if s != store.Pending {
			w.c.Pending.Add(-1)
			w.c.count(s)
		}
		return
	}
	w.c.Settled.Add(1)
	w.c.count(s)
}

// prepared is an item ready for a worker; marked means its submitting mark
// is already durable (see premark).
type prepared struct {
	rec    store.Record
	marked bool
	err    error // the mark failed: a store error
}

// pool runs settle over the records that want it, Parallel at a time. The
// first store error stops it from starting more.
func (w *worker) pool(src source, want func(store.Record) bool, after func(store.Record, store.State)) error {
	g, gctx := errgroup.WithContext(context.Background())
	g.SetLimit(w.opt.Parallel)
	quit := make(chan struct{})
	ready := w.premark(src, want, quit)
	var markErr error
	for p := range ready {
		if p.err != nil || markErr != nil || w.stop.Err() != nil || gctx.Err() != nil {
			// Not started: give back its mark, and stop marking more.
			if p.err != nil && markErr == nil {
				markErr = p.err
			}
			if w.stop.Err() != nil {
				w.c.interrupted.Store(true)
			}
			if p.marked {
				if err := w.r.Store.Release(context.WithoutCancel(w.stop), p.rec.Key()); err != nil && markErr == nil {
					markErr = err
				}
			}
			select {
			case <-quit:
			default:
				close(quit)
			}
			continue
		}
		g.Go(func() error {
			s, err := w.settle(p.rec, p.marked)
			if err != nil {
				return err
			}
			after(p.rec, s)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return markErr
}

// premark feeds pool in sheet order. Planned items are marked submitting
// before they are handed over, up to Parallel marks at once, so their marks
// share group commits and are already durable when a worker frees up: the
// worker sends at once instead of waiting for an fsync. At most about
// 2×Parallel items are marked and not yet sent; if the run stops, pool
// releases them; if it is killed, the next run looks them up like any
// submitting item (the provider has no record, so they are sent then).
func (w *worker) premark(src source, want func(store.Record) bool, quit <-chan struct{}) <-chan prepared {
	out := make(chan prepared, w.opt.Parallel)
	go func() {
		defer close(out)
		sem := make(chan struct{}, w.opt.Parallel)
		var wg sync.WaitGroup
		defer wg.Wait()
		write := context.WithoutCancel(w.stop)
		err := src(func(rec store.Record) bool {
			if !want(rec) {
				return true
			}
			select {
			case <-quit:
				return false
			default:
			}
			if w.stop.Err() != nil {
				return false
			}
			if rec.State != store.Planned {
				out <- prepared{rec: rec}
				return true
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := w.r.Store.MarkSubmitting(write, rec.Key(), time.Now()); err != nil {
					out <- prepared{rec: rec, err: err}
					return
				}
				out <- prepared{rec: rec, marked: true}
			}()
			return true
		})
		if err != nil {
			out <- prepared{err: err}
		}
	}()
	return out
}

// source feeds items to a pool: it calls yield for each until yield
// returns false, and returns a read error.
type source func(yield func(store.Record) bool) error

func sliceSource(recs []store.Record) source {
	return func(yield func(store.Record) bool) error {
		for _, r := range recs {
			if !yield(r) {
				return nil
			}
		}
		return nil
	}
}

var errStopEach = errors.New("stop")

// settle drives one item as far as it goes in this run and returns its
// state. Its error is a store error only: provider errors end in a state.
//
// marked says the item's submitting mark is already durable (premark); if
// settle returns before sending it, it releases the mark.
func (w *worker) settle(rec store.Record, marked bool) (store.State, error) {
	t, _ := w.r.Route(rec.Provider, rec.Account)
	key := rec.Key()
	write := context.WithoutCancel(w.stop) // an outcome that arrived is always recorded
	log := w.opt.Logger.With("row", rec.Row, "provider", rec.Provider, "refund_no", rec.RefundNo)
	stopped := func(state store.State) (store.State, error) {
		w.c.interrupted.Store(true)
		if marked {
			return rec.State, w.r.Store.Release(write, key)
		}
		return state, nil
	}

	doubt := rec.State == store.Submitting || rec.State == store.Unknown || rec.State == store.Pending
	// uncertain: the provider may hold an earlier attempt of this refund
	// whose outcome we never learned. Only a not-found lookup clears it.
	uncertain := doubt
	state := rec.State
	var lastErr error // the last provider error: its Retry-After paces the next call
	reason := ""      // why the item is not final, as stored
	backoff := false
	for calls := 0; ; calls++ {
		if calls >= w.opt.MaxAttempts {
			break
		}
		if backoff && !w.backoff(calls, adapters.RetryAfterOf(lastErr)) {
			return stopped(state)
		}
		if w.stop.Err() != nil {
			return stopped(state)
		}
		if err := wait(w.stop, t.Limiter); err != nil { // a stop while queued for a token: not started
			return stopped(state)
		}
		backoff = true

		if doubt {
			o, err := w.call(t.Provider.Lookup, rec)
			switch {
			case errors.Is(err, adapters.ErrNotFound):
				// The provider has no record: the only license to re-send,
				// and with the same refund number.
				log.Debug("lookup: not found; re-sending")
				doubt, uncertain, backoff, lastErr = false, false, false, nil
				continue
			case err != nil:
				lastErr, state = err, store.Unknown
				reason = "lookup: " + err.Error()
				if err := w.r.Store.Finish(write, key, state, outcomeOf(err), reason); err != nil {
					return state, err
				}
				w.c.Retries.Add(1)
				if adapters.KindOf(err) == adapters.KindFinal {
					// e.g. credentials refused: more lookups cannot help in this run.
					calls = w.opt.MaxAttempts
				}
				continue
			}
			lastErr, state, reason = nil, store.FromStatus(o.Status), ""
			if state == store.Unknown {
				reason = "provider lookup: outcome not known yet (" + o.Code + " " + o.Message + ")"
			}
			if err := w.r.Store.Finish(write, key, state, o, reason); err != nil {
				return state, err
			}
			log.Debug("lookup", "state", state, "code", o.Code)
			if state != store.Unknown {
				w.settled(state)
				return state, nil
			}
			// The provider answered but cannot tell this refund's outcome
			// (Upay's query shows only an order's latest transaction). The
			// refund number is the idempotency key, so re-submitting it
			// cannot refund twice and returns the refund's own outcome:
			// Upay documents exactly this after a network doubt.
			doubt = false
			continue
		}

		if marked {
			marked = false // durable already: send now
		} else if err := w.r.Store.MarkSubmitting(write, key, time.Now()); err != nil {
			return state, err
		}
		state = store.Submitting
		w.c.Sends.Add(1)
		o, err := w.call(t.Provider.Refund, rec)
		if err == nil {
			lastErr, state, reason = nil, store.FromStatus(o.Status), ""
			if state == store.Unknown {
				reason = "provider: outcome not known (" + o.Code + " " + o.Message + ")"
				doubt, uncertain = true, true
			}
			if err := w.r.Store.Finish(write, key, state, o, reason); err != nil {
				return state, err
			}
			log.Debug("refund", "state", state, "code", o.Code)
			if state != store.Unknown {
				w.settled(state)
				return state, nil
			}
			continue
		}
		kind := adapters.KindOf(err)
		lastErr, reason, state = err, err.Error(), store.Unknown
		if kind == adapters.KindFinal {
			state = store.Failed
			if uncertain {
				// A provider that keeps its idempotency promise answers a
				// re-send with the original outcome. A refusal now may mean
				// the earlier attempt took the money (nothing left to refund):
				// calling it failed could lead someone to refund by hand a
				// second time. Leave it unknown, for a person to check.
				state = store.Unknown
				reason = "provider refused a re-send of a refund whose earlier attempt has an unknown outcome; " +
					"check it at the provider before doing anything by hand: " + reason
			}
		}
		if err := w.r.Store.Finish(write, key, state, outcomeOf(err), reason); err != nil {
			return state, err
		}
		log.Debug("refund error", "kind", kind.String(), "error", reason)
		if state == store.Failed {
			w.settled(state)
			return state, nil
		}
		if kind == adapters.KindFinal {
			log.Warn("item left unknown", "reason", reason)
			w.settled(store.Unknown)
			return store.Unknown, nil
		}
		// Retryable: certainly not applied, send again. Unknown: look up first.
		doubt = kind != adapters.KindRetryable
		uncertain = uncertain || doubt
		w.c.Retries.Add(1)
	}
	if reason == "" {
		reason = "no answer"
	}
	reason = fmt.Sprintf("gave up after %d attempts in this run; last: %s", w.opt.MaxAttempts, reason)
	if err := w.r.Store.Finish(write, key, store.Unknown, adapters.Outcome{}, reason); err != nil {
		return state, err
	}
	log.Warn("item left unknown", "reason", reason)
	w.settled(store.Unknown)
	return store.Unknown, nil
}

// call makes one provider call bounded by CallTimeout and by the drain bound.
func (w *worker) call(f func(context.Context, adapters.Refund) (adapters.Outcome, error), rec store.Record) (adapters.Outcome, error) {
	ctx, cancel := context.WithTimeout(w.hard, w.opt.CallTimeout)
	defer cancel()
	w.c.Calls.Add(1)
	return f(ctx, rec.Refund)
}

// backoff sleeps before retry number n: full jitter over
// min(BackoffMax, BackoffBase·2^(n-1)), and at least retryAfter. It returns
// false if the run was stopped meanwhile.
func (w *worker) backoff(n int, retryAfter time.Duration) bool {
	return sleep(w.stop, Backoff(n, w.opt.BackoffBase, w.opt.BackoffMax, retryAfter))
}

// Backoff is the pause before retry n (1-based): a uniformly random duration
// in [0, min(max, base·2^(n-1))) ("full jitter", so that many workers hit by
// one outage do not retry in lockstep), but never less than retryAfter.
func Backoff(n int, base, max, retryAfter time.Duration) time.Duration {
	ceil := base
	for i := 1; i < n && ceil < max; i++ {
		ceil *= 2
	}
	if ceil > max {
		ceil = max
	}
	d := time.Duration(0)
	if ceil > 0 {
		d = time.Duration(rand.Int64N(int64(ceil)))
	}
	if d < retryAfter {
		d = retryAfter
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func wait(ctx context.Context, l *rate.Limiter) error {
	if l == nil {
		return ctx.Err()
	}
	return l.Wait(ctx)
}

// outcomeOf keeps the provider's code and message from a classified error.
func outcomeOf(err error) adapters.Outcome {
	var pe *adapters.Error
	if errors.As(err, &pe) {
		return adapters.Outcome{Code: pe.Code, Message: pe.Message}
	}
	return adapters.Outcome{}
}
