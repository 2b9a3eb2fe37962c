package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// ErrInterrupted is returned by Run when its context was cancelled before
// every item was settled; the store is consistent and the next run resumes.
var ErrInterrupted = errors.New("run interrupted")

// ErrNoRoute: an item names a provider account the configuration lacks.
var ErrNoRoute = errors.New("no configured provider account")

// Limiter paces one provider account's calls. golang.org/x/time/rate's
// Limiter is one; a limiter shared by several workers through the ledger is
// another.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Target is where an item's requests go: the account's client and its rate limiter.
type Target struct {
	Provider adapters.Provider
	Limiter  Limiter // nil: unlimited
}

// Options tune a Runner. Zero values take the defaults noted.
type Options struct {
	Parallel int // concurrent items; default 16
	// AccountShare bounds the items of one provider account in flight at
	// once, so that an account that stops answering cannot hold every
	// worker. Default: Parallel/2 (at least 1) when the batch has several
	// accounts, Parallel when it has one.
	AccountShare int
	MaxAttempts  int           // provider calls (refunds and lookups) per item per run; default 8
	CallTimeout  time.Duration // per call; default 30s
	BackoffBase  time.Duration // first retry's backoff ceiling; default 200ms
	BackoffMax   time.Duration // backoff ceiling; default 10s
	// MaxRetryAfter caps how long a provider's Retry-After is honoured; an
	// account that asks for longer is paused for this run (its rows stay
	// resumable) rather than holding workers. Default 60s.
	MaxRetryAfter time.Duration
	// PauseAfterTimeouts pauses an account for this run after this many
	// calls in a row that got no answer in CallTimeout. Default 3.
	PauseAfterTimeouts int
	DrainTimeout       time.Duration // after cancel, how long in-flight calls may take; default CallTimeout
	Poll               time.Duration // keep looking up pending items this long; 0: once
	PollInterval       time.Duration // between polls of pending items; default 2s
	Logger             *slog.Logger  // per-item events at Debug, give-ups at Warn; nil: none
}

func (o *Options) defaults(accounts int) {
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.AccountShare <= 0 {
		o.AccountShare = o.Parallel
		if accounts > 1 {
			o.AccountShare = max(1, o.Parallel/2)
		}
	}
	o.AccountShare = min(o.AccountShare, o.Parallel)
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
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 60 * time.Second
	}
	if o.PauseAfterTimeouts <= 0 {
		o.PauseAfterTimeouts = 3
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

// Pause is a provider account the run stopped sending to, and why. Its
// rows not yet settled are left as they were: the next run resumes them.
type Pause struct {
	Provider, Account string
	Reason            string
}

// Summary is where a run left the batch.
type Summary struct {
	Items  int
	States map[store.State]int
	Calls  int64   // provider calls made in this run
	Paused []Pause // accounts paused in this run
	// CountsErr is set when the final counts could not be read (the disk
	// filled, the ledger went away): States then holds what this run itself
	// saw happen, from its own counters.
	CountsErr error
}

// Run settles every item it can. It returns ErrInterrupted if ctx was
// cancelled first, a store error if checkpoints could not be written (the run
// stops at once: nothing is sent that is not checkpointed), or nil.
func (r *Runner) Run(ctx context.Context) (Summary, error) {
	c := r.Progress
	if c == nil {
		c = &Counter{}
	}
	counts, err := r.Store.Counts(context.WithoutCancel(ctx))
	if err != nil {
		return Summary{}, err
	}
	type acct struct{ provider, account string }
	var accts []acct
	seenAcct := map[acct]bool{}
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
		a := acct{cnt.Provider, cnt.Account}
		if !seenAcct[a] {
			seenAcct[a] = true
			accts = append(accts, a)
		}
	}
	opt := r.Options
	opt.defaults(len(accts))
	c.start(total, done)

	// hard bounds in-flight calls: it ends DrainTimeout after ctx does.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(opt.DrainTimeout, cancelHard)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	defer stopDrain()

	w := &worker{r: r, opt: opt, stop: ctx, hard: hard, c: c, global: make(chan struct{}, opt.Parallel)}
	var mu sync.Mutex
	var pending []store.Record
	keepPending := func(rec store.Record, s store.State, ver int64) {
		if s == store.Pending {
			rec.State, rec.Version = s, ver
			mu.Lock()
			pending = append(pending, rec)
			mu.Unlock()
		}
	}
	// One lane per account, each streaming its own rows: a slow or paused
	// account never holds back another's.
	lanes := make([]*lane, len(accts))
	errs := make([]error, len(accts))
	var wg sync.WaitGroup
	for i, a := range accts {
		t, _ := r.Route(a.provider, a.account)
		lanes[i] = &lane{provider: a.provider, account: a.account, target: t}
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := func(yield func(store.Record) bool) error {
				err := r.Store.EachOf(context.WithoutCancel(ctx), a.provider, a.account, func(rec store.Record) error {
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
			errs[i] = w.pool(lanes[i], src, func(rec store.Record) bool { return !rec.State.Final() }, keepPending)
		}()
	}
	wg.Wait()
	err = errors.Join(errs...)

	// Refunds the order's total could not tell apart: their siblings have
	// settled since, so the same evidence may tell now. Look again while
	// that makes progress.
	for round := 0; err == nil && ctx.Err() == nil && round < 3; round++ {
		w.mu.Lock()
		again := w.recheck
		w.recheck = nil
		w.mu.Unlock()
		if len(again) == 0 {
			break
		}
		before := c.Unknown.Load()
		w.second = true
		err = w.rerun(lanes, again, keepPending)
		w.second = false
		if c.Unknown.Load() >= before {
			break
		}
	}
	if err == nil && opt.Poll > 0 && len(pending) > 0 {
		byLane := map[[2]string]*lane{}
		for _, l := range lanes {
			byLane[[2]string{l.provider, l.account}] = l
		}
		deadline := time.Now().Add(opt.Poll)
		w.poll = true
		for len(pending) > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
			if !sleep(ctx, min(opt.PollInterval, time.Until(deadline))) {
				c.interrupted.Store(true)
				break
			}
			batch := pending
			pending = nil
			groups := map[*lane][]store.Record{}
			for _, rec := range batch {
				l := byLane[[2]string{rec.Provider, rec.Account}]
				groups[l] = append(groups[l], rec)
			}
			var perr []error
			var pmu sync.Mutex
			var pwg sync.WaitGroup
			for l, recs := range groups {
				pwg.Add(1)
				go func() {
					defer pwg.Done()
					if e := w.pool(l, sliceSource(recs), func(store.Record) bool { return true }, keepPending); e != nil {
						pmu.Lock()
						perr = append(perr, e)
						pmu.Unlock()
					}
				}()
			}
			pwg.Wait()
			if err = errors.Join(perr...); err != nil {
				break
			}
		}
	}
	sum := r.summarize(ctx, c)
	for _, l := range lanes {
		if reason := l.pausedReason(); reason != "" {
			sum.Paused = append(sum.Paused, Pause{Provider: l.provider, Account: l.account, Reason: reason})
		}
	}
	if err != nil {
		return sum, err
	}
	if c.interrupted.Load() {
		return sum, ErrInterrupted
	}
	return sum, nil
}

// rerun settles recs once more, reading each afresh from the store (its
// state and version have moved since).
func (w *worker) rerun(lanes []*lane, recs []store.Record, after func(store.Record, store.State, int64)) error {
	byLane := map[[2]string]*lane{}
	for _, l := range lanes {
		byLane[[2]string{l.provider, l.account}] = l
	}
	groups := map[*lane][]store.Record{}
	for _, rec := range recs {
		sibs, err := w.r.Store.OrderRefunds(context.WithoutCancel(w.stop), rec.Item)
		if err != nil {
			return err
		}
		for _, s := range sibs {
			if s.Key() == rec.Key() && s.State == store.Unknown {
				s.Row = rec.Row
				l := byLane[[2]string{rec.Provider, rec.Account}]
				groups[l] = append(groups[l], s)
			}
		}
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for l, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.pool(l, sliceSource(g), func(store.Record) bool { return true }, after); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// summarize reads where the batch stands. If the store cannot answer (a full
// disk), it falls back to what this run's counters saw, and says so.
func (r *Runner) summarize(ctx context.Context, c *Counter) Summary {
	s := Summary{States: map[store.State]int{}, Calls: c.Calls.Load()}
	counts, err := r.Store.Counts(context.WithoutCancel(ctx))
	if err != nil {
		snap := c.Snapshot()
		s.CountsErr = err
		s.Items = int(snap.Total)
		s.States[store.Succeeded] = int(snap.Succeeded)
		s.States[store.Failed] = int(snap.Failed)
		s.States[store.Pending] = int(snap.Pending)
		s.States[store.Unknown] = int(snap.Unknown)
		s.States[store.Blocked] = int(snap.Blocked)
		// Final before the run: counted as done; the rest not reached.
		s.States[store.Succeeded] += int(snap.AlreadyDone)
		rest := s.Items
		for _, n := range s.States {
			rest -= n
		}
		if rest > 0 {
			s.States[store.Planned] = rest
		}
		return s
	}
	for _, cnt := range counts {
		s.Items += cnt.Items
		s.States[cnt.State] += cnt.Items
	}
	return s
}

// lane is one provider account within a run.
type lane struct {
	provider, account string
	target            Target

	mu       sync.Mutex
	paused   string // why the account is paused for this run; "" if not
	timeouts int    // calls in a row that got no answer
}

func (l *lane) pause(reason string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused != "" {
		return false
	}
	l.paused = reason
	return true
}

func (l *lane) pausedReason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paused
}

// noAnswer counts a call that got no answer in time; ok resets the count.
func (l *lane) noAnswer(limit int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timeouts++
	return l.timeouts >= limit
}

func (l *lane) answered() {
	l.mu.Lock()
	l.timeouts = 0
	l.mu.Unlock()
}

type worker struct {
	r      *Runner
	opt    Options
	stop   context.Context // cancelled: start nothing new
	hard   context.Context // cancelled: abandon calls in flight
	c      *Counter
	global chan struct{} // the run's Parallel slots, shared by every lane
	poll   bool          // settling items already counted as pending
	second bool          // settling items already counted as unknown

	mu      sync.Mutex
	recheck []store.Record // left unknown because the order's total could not tell yet
}

func (w *worker) settled(s store.State) {
	if w.second {
		w.c.Unknown.Add(-1)
		w.c.count(s)
		return
	}
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

// pool runs settle over one lane's records that want it, AccountShare at a
// time and within the run's global Parallel. The first store error stops it
// from starting more; so does the lane's pause.
func (w *worker) pool(l *lane, src source, want func(store.Record) bool, after func(store.Record, store.State, int64)) error {
	sem := make(chan struct{}, w.opt.AccountShare)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	failed := func() bool { errMu.Lock(); defer errMu.Unlock(); return firstErr != nil }
	setErr := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	quit := make(chan struct{})
	stopMarking := func() {
		select {
		case <-quit:
		default:
			close(quit)
		}
	}
	ready := w.premark(l, src, want, quit)
	for p := range ready {
		if p.err != nil || failed() || w.stop.Err() != nil || l.pausedReason() != "" {
			// Not started: give back its mark, and stop marking more.
			if p.err != nil {
				setErr(p.err)
			}
			if w.stop.Err() != nil {
				w.c.interrupted.Store(true)
			}
			if p.marked {
				if err := w.release(p.rec); err != nil {
					setErr(err)
				}
			}
			stopMarking()
			continue
		}
		sem <- struct{}{}
		w.global <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-w.global; <-sem }()
			s, ver, err := w.settle(l, p.rec, p.marked)
			if err != nil {
				setErr(err)
				return
			}
			after(p.rec, s, ver)
		}()
	}
	wg.Wait()
	return firstErr
}

// release gives back the mark of an item marked ahead that never left.
func (w *worker) release(rec store.Record) error {
	return w.r.Store.Apply(context.WithoutCancel(w.stop), rec.Key(), rec.Version+1, store.Submitting, store.EvNotSent, store.Change{})
}

// premark feeds pool in sheet order. Planned items are marked submitting
// before they are handed over, up to AccountShare marks at once, so their
// marks share group commits and are already durable when a worker frees up:
// the worker sends at once instead of waiting for an fsync. If the run
// stops, pool releases them; if it is killed, the next run looks them up
// like any submitting item.
func (w *worker) premark(l *lane, src source, want func(store.Record) bool, quit <-chan struct{}) <-chan prepared {
	out := make(chan prepared, w.opt.AccountShare)
	go func() {
		defer close(out)
		sem := make(chan struct{}, w.opt.AccountShare)
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
				w.c.interrupted.Store(true) // items are left: the run was stopped
				return false
			}
			if l.pausedReason() != "" {
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
				if err := w.r.Store.Apply(write, rec.Key(), rec.Version, store.Planned, store.EvSend, store.Change{At: time.Now()}); err != nil {
					if errors.Is(err, store.ErrStateChanged) {
						return // another process took it: not ours to send
					}
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

// item is one refund as settle drives it: its record and the state and
// version its last write left, for the next compare-and-set.
type item struct {
	rec   store.Record
	state store.State
	ver   int64
}

// settle drives one item as far as it goes in this run and returns its
// state and version. Its error is a store error only: provider errors end in
// a state.
//
// marked says the item's submitting mark is already durable (premark); if
// settle returns before sending it, it releases the mark.
func (w *worker) settle(l *lane, rec store.Record, marked bool) (store.State, int64, error) {
	t := l.target
	key := rec.Key()
	write := context.WithoutCancel(w.stop) // an outcome that arrived is always recorded
	log := w.opt.Logger.With("row", rec.Row, "provider", rec.Provider, "refund_no", rec.RefundNo)
	it := item{rec: rec, state: rec.State, ver: rec.Version}
	if marked {
		it.state, it.ver = store.Submitting, rec.Version+1
	}
	// apply records ev; a compare-and-set that finds the refund moved means
	// another process is working on it: this one lets go.
	apply := func(ev store.Event, c store.Change) (bool, error) {
		err := w.r.Store.Apply(write, key, it.ver, it.state, ev, c)
		if errors.Is(err, store.ErrStateChanged) {
			log.Warn("refund moved by another process; leaving it to that one", "error", err)
			return false, nil
		}
		if err != nil {
			return false, err
		}
		it.state, _ = store.Next(it.state, ev)
		it.ver++
		return true, nil
	}
	stopped := func() (store.State, int64, error) {
		w.c.interrupted.Store(true)
		if marked {
			ok, err := apply(store.EvNotSent, store.Change{})
			if err != nil || !ok {
				return it.state, it.ver, err
			}
		}
		return it.state, it.ver, nil
	}
	paused := func() (store.State, int64, error) {
		if marked {
			if _, err := apply(store.EvNotSent, store.Change{}); err != nil {
				return it.state, it.ver, err
			}
		}
		return it.state, it.ver, nil
	}
	finish := func(s store.State, o adapters.Outcome, reason string) (bool, error) {
		return apply(eventFor(it.state, s), store.Change{Outcome: o, Reason: reason})
	}
	settledAs := func(s store.State) (store.State, int64, error) {
		w.settled(s)
		return it.state, it.ver, nil
	}

	// doubt: the provider may hold an earlier attempt: look it up before
	// any send. uncertain: some attempt of this refund had an outcome we
	// never learned; a refusal of a later send may be that attempt's doing,
	// so it is never recorded as failed. A lookup that finds no record
	// licenses a re-send but does not clear uncertain.
	doubt := rec.State.Doubtful()
	uncertain := doubt
	var lastErr error // the last provider error: its Retry-After paces the next call
	reason := ""      // why the item is not final, as stored
	backoff := false
	for calls := 0; ; calls++ {
		if calls >= w.opt.MaxAttempts {
			break
		}
		if backoff {
			ra := adapters.RetryAfterOf(lastErr)
			if ra > w.opt.MaxRetryAfter {
				why := fmt.Sprintf("%s asked to wait %s before the next call (Retry-After), more than the %s this run waits; paused for this run",
					rec.Provider, ra.Round(time.Second), w.opt.MaxRetryAfter)
				if l.pause(why) {
					log.Warn("account paused", "account", rec.Account, "reason", why)
				}
				if it.state == store.Unknown || it.state == store.Pending {
					if _, err := finish(it.state, adapters.Outcome{}, why+"; last: "+reason); err != nil {
						return it.state, it.ver, err
					}
				}
				return paused()
			}
			if !w.backoff(calls, ra) {
				return stopped()
			}
		}
		if w.stop.Err() != nil {
			return stopped()
		}
		if l.pausedReason() != "" {
			return paused()
		}
		if err := wait(w.stop, t.Limiter); err != nil { // a stop while queued for a token: not started
			return stopped()
		}
		backoff = true

		if doubt {
			o, err := w.call(l, t.Provider.Lookup, rec)
			switch {
			case errors.Is(err, adapters.ErrNotFound):
				// The provider has no record: the only license to re-send,
				// and with the same refund number.
				log.Debug("lookup: not found; re-sending")
				doubt, backoff, lastErr = false, false, nil
				if it.state == store.Submitting {
					// The state machine sends only from planned, unknown or
					// blocked: record what the lookup found first.
					if ok, err := finish(store.Unknown, adapters.Outcome{}, "no record at the provider; sending again with the same refund number"); err != nil || !ok {
						return it.state, it.ver, err
					}
				}
				if it.state == store.Pending {
					// A pending refund the provider forgot is an anomaly for a person.
					if _, err := finish(store.Unknown, outcomeOf(err), "provider lost a refund it had accepted as pending; check at the provider"); err != nil {
						return it.state, it.ver, err
					}
					return settledAs(store.Unknown)
				}
				continue
			case err != nil:
				lastErr = err
				reason = "lookup: " + err.Error()
				next := store.Unknown
				if it.state == store.Pending {
					next = store.Pending
				}
				if ok, err := finish(next, outcomeOf(err), reason); err != nil || !ok {
					return it.state, it.ver, err
				}
				w.c.Retries.Add(1)
				if k := adapters.KindOf(err); k == adapters.KindBlocked || k == adapters.KindFinal {
					// Credentials refused: more lookups cannot help in this run.
					if k == adapters.KindBlocked && l.pause("credentials or configuration refused: "+err.Error()) {
						log.Warn("account paused", "account", rec.Account, "reason", err)
					}
					calls = w.opt.MaxAttempts
				}
				continue
			}
			s, why := w.judge(rec, o, true)
			if s == store.Unknown && why == "" {
				// The provider answered but cannot tell this refund's outcome
				// (Upay's query shows only an order's latest transaction):
				// weigh the order's refunded total against the ledger.
				s, why = w.orderEvidence(rec, o)
				if s == store.Unknown && why != "" {
					// Another doubtful refund of the order may settle in this
					// run and make the total tell: look again at the end.
					w.mu.Lock()
					w.recheck = append(w.recheck, rec)
					w.mu.Unlock()
				}
				// What the answer names is another transaction of the
				// order: keep none of its ids or amounts for this refund.
				o = adapters.Outcome{Status: o.Status, Code: o.Code, Message: o.Message, OrderTotal: o.OrderTotal, NetAmount: o.NetAmount}
				if s == store.Planned && it.state == store.Pending {
					// An accepted refund may not be in the order's total yet.
					s, why = store.Pending, ""
				}
				if s == store.Planned {
					// Evidence that no doubtful refund of the order was
					// applied: the same as a lookup that found no record.
					log.Debug("lookup: order total shows it was not applied; re-sending")
					doubt, backoff, lastErr = false, false, nil
					if it.state == store.Submitting {
						if ok, err := finish(store.Unknown, o, "the order's refunded total shows it was not applied; sending again with the same refund number"); err != nil || !ok {
							return it.state, it.ver, err
						}
					}
					continue
				}
			}
			if s == store.Unknown && why == "" {
				why = "the provider's lookup cannot tell this refund's outcome (" + strings.TrimSpace(o.Code+" "+o.Message) +
					"); left unknown, never sent again on a guess: the next run or reconcile looks it up again"
			}
			lastErr, reason = nil, why
			if ok, err := finish(s, o, reason); err != nil || !ok {
				return it.state, it.ver, err
			}
			log.Debug("lookup", "state", s, "code", o.Code)
			return settledAs(s)
		}

		if marked {
			marked = false // durable already: send now
		} else {
			ok, err := apply(store.EvSend, store.Change{At: time.Now()})
			if err != nil || !ok {
				return it.state, it.ver, err
			}
		}
		w.c.Sends.Add(1)
		o, err := w.call(l, t.Provider.Refund, rec)
		if err == nil {
			s, why := w.judge(rec, o, false)
			if s == store.Failed && uncertain {
				s, why = store.Unknown, "provider answered failed to a re-send of a refund whose earlier attempt has an unknown outcome; "+
					"check it at the provider before doing anything by hand ("+strings.TrimSpace(o.Code+" "+o.Message)+")"
			}
			lastErr, reason = nil, why
			if ok, err := finish(s, o, reason); err != nil || !ok {
				return it.state, it.ver, err
			}
			log.Debug("refund", "state", s, "code", o.Code)
			if s == store.Unknown {
				if why != "" {
					return settledAs(store.Unknown)
				}
				doubt, uncertain = true, true
				continue
			}
			return settledAs(s)
		}
		kind := adapters.KindOf(err)
		lastErr, reason = err, err.Error()
		next := store.Unknown
		switch kind {
		case adapters.KindFinal:
			next = store.Failed
			if uncertain {
				// A provider that keeps its idempotency promise answers a
				// re-send with the original outcome. A refusal now may mean
				// the earlier attempt took the money (nothing left to refund):
				// calling it failed could lead someone to refund by hand a
				// second time. Leave it unknown, for a person to check.
				next = store.Unknown
				reason = "provider refused a re-send of a refund whose earlier attempt has an unknown outcome; " +
					"check it at the provider before doing anything by hand: " + reason
			}
		case adapters.KindAlreadyDone:
			reason = "provider answered that this is already done, which may be this refund's earlier attempt; " +
				"left unknown until a lookup or the order's refunded total confirms it; check it at the provider before doing anything by hand: " + reason
		case adapters.KindBlocked:
			next = store.Blocked
			if uncertain {
				next = store.Unknown
				reason = "credentials or configuration refused on a re-send after an attempt of unknown outcome; fix them, then the next run looks it up first: " + reason
			} else {
				reason = "credentials or configuration refused; nothing was refunded. Fix the account's config and run again: " + reason
			}
			if l.pause("credentials or configuration refused: " + err.Error()) {
				log.Warn("account paused", "account", rec.Account, "reason", err)
			}
		}
		if ok, err := finish(next, outcomeOf(err), reason); err != nil || !ok {
			return it.state, it.ver, err
		}
		log.Debug("refund error", "kind", kind.String(), "error", reason)
		switch {
		case next != store.Unknown:
			return settledAs(next)
		case kind == adapters.KindFinal || kind == adapters.KindAlreadyDone || kind == adapters.KindBlocked:
			log.Warn("item left unknown", "reason", reason)
			return settledAs(store.Unknown)
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
	final := store.Unknown
	if it.state == store.Pending {
		final = store.Pending
	}
	if ok, err := finish(final, adapters.Outcome{}, reason); err != nil || !ok {
		return it.state, it.ver, err
	}
	log.Warn("item left "+string(final), "reason", reason)
	return settledAs(final)
}

// eventFor is the event that takes a refund from where it is to s.
func eventFor(from, s store.State) store.Event {
	switch s {
	case store.Succeeded:
		return store.EvSucceeded
	case store.Failed:
		return store.EvFailed
	case store.Pending:
		return store.EvPending
	case store.Blocked:
		return store.EvBlocked
	}
	return store.EvUnknown
}

// judge turns a provider answer into a state, checking it against what was
// sent: an answer that names another refund, order, amount or currency is
// never recorded as this refund's success. why is "" unless the answer is
// conclusive doubt (a mismatch) that a person must look at.
func (w *worker) judge(rec store.Record, o adapters.Outcome, _ bool) (store.State, string) {
	s := store.FromStatus(o.Status)
	if m := mismatch(rec, o); m != "" && s != store.Unknown {
		return store.Unknown, "provider's answer does not match the refund sent (" + m + "); not recorded as " + string(s) + ": check at the provider"
	}
	return s, ""
}

func mismatch(rec store.Record, o adapters.Outcome) string {
	var m []string
	if o.RefundNo != "" && !strings.EqualFold(strings.TrimSpace(o.RefundNo), rec.RefundNo) {
		m = append(m, fmt.Sprintf("refund number %q, sent %q", o.RefundNo, rec.RefundNo))
	}
	if o.OrderNo != "" && o.OrderNo != rec.OrderNo && o.OrderNo != rec.ProviderOrderID {
		m = append(m, fmt.Sprintf("order %q, sent %q", o.OrderNo, rec.OrderNo))
	}
	if o.Amount != 0 && o.Amount != rec.Amount {
		m = append(m, fmt.Sprintf("amount %s, sent %s", money.Format(o.Amount, rec.Currency), money.Format(rec.Amount, rec.Currency)))
	}
	if o.Currency != "" && o.Currency != rec.Currency {
		m = append(m, fmt.Sprintf("currency %s, sent %s", o.Currency, rec.Currency))
	}
	return strings.Join(m, "; ")
}

// orderEvidence weighs a lookup that shows only the order's refunded total
// (order total − what is left) against the ledger's refunds of that order.
// Let S be our refunds on the order recorded succeeded, D the doubtful ones
// (this one included), and T the provider's refunded total:
//
//	T = S          none of the doubtful ones took effect: Planned (re-send allowed)
//	T = S + Σ D    all of them did: Succeeded
//	otherwise      Unknown, with both figures; never sent again on a guess
//
// An out-of-band refund on the order makes T larger and so leaves every
// doubtful refund unknown, which is the safe side.
func (w *worker) orderEvidence(rec store.Record, o adapters.Outcome) (store.State, string) {
	if o.NetAmount < 0 || o.OrderTotal <= 0 {
		return store.Unknown, ""
	}
	refunded := o.OrderTotal - o.NetAmount
	sibs, err := w.r.Store.OrderRefunds(context.WithoutCancel(w.stop), rec.Item)
	if err != nil {
		return store.Unknown, ""
	}
	var succeeded, doubtful int64
	var others []string
	for _, s := range sibs {
		switch {
		case s.Key() == rec.Key():
			doubtful += s.Amount
		case s.State == store.Succeeded:
			succeeded += s.Amount
		case s.State.Doubtful():
			doubtful += s.Amount
			others = append(others, s.RefundNo)
		}
	}
	switch refunded {
	case succeeded:
		return store.Planned, ""
	case succeeded + doubtful:
		// All of the order's doubtful refunds took effect: this one too.
		return store.Succeeded, fmt.Sprintf("confirmed by the order's refunded total (%s refunded = %s succeeded + %s in doubt)",
			money.Format(refunded, rec.Currency), money.Format(succeeded, rec.Currency), money.Format(doubtful, rec.Currency))
	}
	sort.Strings(others)
	return store.Unknown, fmt.Sprintf("the provider's query shows only the order's refunded total: %s refunded, against %s succeeded in the ledger and %s in doubt (this refund%s); it cannot tell whether this refund took effect: check at the provider",
		money.Format(refunded, rec.Currency), money.Format(succeeded, rec.Currency), money.Format(doubtful, rec.Currency), withOthers(others))
}

func withOthers(o []string) string {
	if len(o) == 0 {
		return ""
	}
	return " and " + strings.Join(o, ", ")
}

// call makes one provider call bounded by CallTimeout and by the drain
// bound, and counts the account's calls that got no answer in time.
func (w *worker) call(l *lane, f func(context.Context, adapters.Refund) (adapters.Outcome, error), rec store.Record) (adapters.Outcome, error) {
	ctx, cancel := context.WithTimeout(w.hard, w.opt.CallTimeout)
	defer cancel()
	w.c.Calls.Add(1)
	o, err := f(ctx, rec.Refund)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && w.hard.Err() == nil {
		if l.noAnswer(w.opt.PauseAfterTimeouts) {
			why := fmt.Sprintf("%d calls in a row got no answer within %s; paused for this run", w.opt.PauseAfterTimeouts, w.opt.CallTimeout)
			if l.pause(why) {
				w.opt.Logger.Warn("account paused", "provider", l.provider, "account", l.account, "reason", why)
			}
		}
	} else {
		l.answered()
	}
	return o, err
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

func wait(ctx context.Context, l Limiter) error {
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
