package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// claims is one round of a worker as the runner sees it: a store.Store
// whose EachOf claims the account's refunds from the ledger a few at a
// time as the runner asks for more, and whose Apply is the ledger's
// compare-and-set. It keeps the claims' leases alive while the round runs
// and knows, per refund, until when its lease is certainly held.
type claims struct {
	l        *store.SQL
	owner    string
	actor    string
	lease    time.Duration
	minLease time.Duration // a refund is sent only while its lease has this much left
	chunk    int
	accounts []store.AccountRef
	stop     context.Context // done: claim nothing more
	log      func(msg string, args ...any)

	mu    sync.Mutex
	held  map[string]*held          // the round's unsettled claims, by refund key
	tally map[tallyKey]*store.Count // the round's claims by state, for Counts
	count int                       // refunds claimed this round

	renewStop chan struct{}
	renewDone chan struct{}
}

type held struct {
	rec        store.Record
	state      store.State
	validUntil time.Time // monotonic: the lease is ours until then at least
}

type tallyKey struct {
	provider, account, currency string
	state                       store.State
}

// count moves one refund of rec's account and amount from state from to
// state to in the tally ("" from: newly claimed). Callers hold mu.
func (c *claims) move(rec store.Record, from, to store.State) {
	if from != "" {
		if t := c.tally[tallyKey{rec.Provider, rec.Account, string(rec.Currency), from}]; t != nil {
			t.Items--
			t.Amount -= rec.Amount
		}
	}
	k := tallyKey{rec.Provider, rec.Account, string(rec.Currency), to}
	t := c.tally[k]
	if t == nil {
		t = &store.Count{Provider: rec.Provider, Account: rec.Account, Currency: rec.Currency, State: to}
		c.tally[k] = t
	}
	t.Items++
	t.Amount += rec.Amount
}

// keys lists the round's unsettled claims.
func (c *claims) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.held))
	for k := range c.held {
		out = append(out, k)
	}
	return out
}

var _ store.Store = (*claims)(nil)

func newClaims(l *store.SQL, c *Config, stop context.Context) *claims {
	cs := &claims{l: l, owner: c.Owner, actor: c.Actor, lease: c.Lease, minLease: c.minLease(), chunk: c.Chunk,
		accounts: c.Accounts, stop: stop, log: c.logf, held: map[string]*held{}, tally: map[tallyKey]*store.Count{},
		renewStop: make(chan struct{}), renewDone: make(chan struct{})}
	go cs.renew()
	return cs
}

// renew extends the round's leases every fifth of a lease. A renewal that
// fails leaves validUntil where it was: the refunds it covers stop being
// sent before their lease can run out.
func (c *claims) renew() {
	defer close(c.renewDone)
	t := time.NewTicker(c.lease / 5)
	defer t.Stop()
	for {
		select {
		case <-c.renewStop:
			return
		case <-t.C:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), c.lease/5)
		keys, err := c.l.RenewClaims(ctx, c.owner, c.keys(), c.lease)
		cancel()
		if err != nil {
			c.log("renewing claims failed; refunds whose lease runs short are not sent", "error", err)
			continue
		}
		c.mu.Lock()
		for _, k := range keys {
			if h := c.held[k]; h != nil {
				h.validUntil = start.Add(c.lease)
			}
		}
		c.mu.Unlock()
	}
}

// mayCall reports whether the refund's lease is held for long enough that
// a call started now ends (times out) while it is still ours: after that,
// another worker may take it over and look it up, and a request of ours
// still travelling could be applied after its lookup found nothing.
func (c *claims) mayCall(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.held[key]
	return h != nil && time.Until(h.validUntil) >= c.minLease
}

func (c *claims) Meta(ctx context.Context) (store.Meta, error) {
	return store.Meta{BatchID: "claims of " + c.owner, Operator: c.actor, Items: c.claimed(), Status: store.BatchRunning}, nil
}

func (c *claims) claimed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// Each claims for every account in turn.
func (c *claims) Each(ctx context.Context, fn func(store.Record) error) error {
	for _, a := range c.accounts {
		if err := c.EachOf(ctx, a.Provider, a.Account, fn); err != nil {
			return err
		}
	}
	return nil
}

// EachOf hands fn the account's claimable refunds, claimed a chunk at a
// time, until none is left or the worker is stopping. The next chunk is
// claimed while fn works through the current one: a claim is a
// transaction of its own, and waiting for it would leave the account's
// workers idle.
func (c *claims) EachOf(ctx context.Context, provider, account string, fn func(store.Record) error) error {
	chunks := make(chan chunk, 1)
	done := make(chan struct{})
	defer close(done)
	go c.produce(ctx, store.AccountRef{Provider: provider, Account: account}, chunks, done)
	for ch := range chunks {
		if ch.err != nil {
			return ch.err
		}
		for _, r := range ch.recs {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

type chunk struct {
	recs []store.Record
	err  error
}

// produce claims the account's refunds batch by batch, each batch walked
// in sheet order from a cursor (so a claim reads only rows past the last),
// then walks them all again from the start for refunds that became
// claimable behind the cursors (a dead worker's expired claims, the end of
// a rest), until a whole pass finds nothing.
func (c *claims) produce(ctx context.Context, acct store.AccountRef, out chan<- chunk, done <-chan struct{}) {
	defer close(out)
	send := func(ch chunk) bool {
		select {
		case out <- ch:
			return true
		case <-done:
			return false
		}
	}
	req := store.ClaimRequest{Owner: c.owner, N: c.chunk, Lease: c.lease, Actor: c.actor, Accounts: []store.AccountRef{acct}}
	for {
		batches, err := c.l.ClaimableBatches(ctx)
		if err != nil {
			send(chunk{err: err})
			return
		}
		found := 0
		for _, b := range batches {
			for cur := int64(-1); ; {
				if c.stop.Err() != nil {
					return
				}
				start := time.Now()
				recs, next, err := c.l.ClaimFrom(ctx, req, b, cur)
				if err != nil {
					send(chunk{err: err})
					return
				}
				if len(recs) == 0 {
					break
				}
				cur, found = next, found+len(recs)
				c.mu.Lock()
				for _, r := range recs {
					c.held[r.Key()] = &held{rec: r, state: r.State, validUntil: start.Add(c.lease)}
					c.move(r, "", r.State)
				}
				c.count += len(recs)
				c.mu.Unlock()
				if !send(chunk{recs: recs}) {
					return
				}
			}
		}
		if found == 0 {
			return
		}
	}
}

func (c *claims) OrderRefunds(ctx context.Context, it batch.Item) ([]store.Record, error) {
	return c.l.OrderRefunds(ctx, it)
}

// Counts are the round's claimed refunds by state. Before any claim, one
// empty count per configured account, so that the runner opens a lane for
// each: the lanes claim what there is.
func (c *claims) Counts(ctx context.Context) ([]store.Count, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count == 0 {
		out := make([]store.Count, len(c.accounts))
		for i, a := range c.accounts {
			out[i] = store.Count{Provider: a.Provider, Account: a.Account, State: store.Planned}
		}
		return out, nil
	}
	var out []store.Count
	for _, t := range c.tally {
		if t.Items > 0 {
			out = append(out, *t)
		}
	}
	store.SortCounts(out)
	return out, nil
}

// errLeaseShort is returned for a send whose claim would not outlive the call.
var errLeaseShort = fmt.Errorf("%w: this worker's claim would expire before a call could finish (ledger unreachable or lease too short)", store.ErrStateChanged)

// Apply is the ledger's compare-and-set. A send is refused (as a refund
// moved by another process, which the runner lets go) unless the claim
// is held for longer than a call can take.
func (c *claims) Apply(ctx context.Context, key string, version int64, from store.State, ev store.Event, ch store.Change) error {
	if ev == store.EvSend && !c.mayCall(key) {
		return errLeaseShort
	}
	if err := c.l.Apply(ctx, key, version, from, ev, ch); err != nil {
		return err
	}
	if to, err := store.Next(from, ev); err == nil {
		c.mu.Lock()
		if h := c.held[key]; h != nil {
			c.move(h.rec, h.state, to)
			h.state = to
			if to.Final() {
				delete(c.held, key) // settled: no lease to keep
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// Close stops the renewals and gives every claim back, each resting as
// rest says for its state.
func (c *claims) Close() error { return c.release(nil) }

func (c *claims) release(rest map[store.State]time.Duration) error {
	select {
	case <-c.renewStop:
		return nil
	default:
		close(c.renewStop)
	}
	<-c.renewDone
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	for try := 0; try < 3; try++ {
		if _, err = c.l.ReleaseClaims(ctx, c.owner, c.keys(), rest); err == nil {
			return nil
		}
		if errors.Is(err, store.ErrClosed) {
			break
		}
		time.Sleep(time.Second)
	}
	// Not released: the claims expire after their lease, which is as safe.
	return err
}

// guard wraps an account's client so that no refund request leaves for a
// refund whose claim could expire before the request ends. Lookups move
// no money and are not guarded.
type guard struct {
	adapters.Provider
	c *claims
}

func (g guard) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if !g.c.mayCall(registry.Key(r.Provider, r.Account, r.OrderNo, r.RefundNo)) {
		// Certainly not sent: retryable, and the next send is refused by
		// Apply, so the refund waits, unsent, for whoever claims it next.
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "refund", Kind: adapters.KindRetryable,
			Message: "not sent: this worker's claim on the refund would expire before the call could finish", Err: errLeaseShort}
	}
	return g.Provider.Refund(ctx, r)
}
