package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// A provider's notification settles a refund the ledger holds in doubt
// (submitting, pending, unknown): only after its signature was verified
// (or, for an unsigned notification, by a lookup the provider answered),
// only if it names the same refund, order, amount and currency, and only
// as a compare-and-set, so that a runner writing the same refund meanwhile
// never has its word overwritten by a stale one.

var (
	// ErrNotifyMismatch: the notification names another order, amount or
	// currency than the refund the ledger holds under its number.
	ErrNotifyMismatch = errors.New("notification does not match the refund in the ledger")
	// ErrNotifyUnknown: the ledger holds no refund with that number.
	ErrNotifyUnknown = errors.New("notification for a refund the ledger does not hold")
	// ErrNotifyConflict: the ledger holds the refund as final the other way.
	ErrNotifyConflict = errors.New("notification contradicts a final state")
)

// Settled says what a notification did.
type Settled struct {
	Key      string
	From, To store.State
	Changed  bool // false: already at rest in that state, or still pending
	Row      store.Record
}

// Settle records what a verified notification (or a lookup it prompted)
// says about one refund of a provider account.
func Settle(ctx context.Context, l *store.SQL, provider, account string, o adapters.Outcome) (Settled, error) {
	key := registry.Key(provider, account, o.OrderNo, o.RefundNo)
	for attempt := 0; ; attempt++ {
		r, ok, err := l.ByKey(ctx, key)
		if err != nil {
			return Settled{Key: key}, err
		}
		if !ok {
			return Settled{Key: key}, fmt.Errorf("%w: %s %s refund %s", ErrNotifyUnknown, provider, account, o.RefundNo)
		}
		s := Settled{Key: key, From: r.State, To: r.State, Row: r}
		if err := matches(r, o); err != nil {
			return s, err
		}
		to := store.FromStatus(o.Status)
		switch {
		case r.State == to && (to.Final() || to == store.Pending):
			return s, nil // a repeat: nothing to do
		case r.State.Final():
			return s, fmt.Errorf("%w: the ledger holds %s refund %s as %s, the notification says %s",
				ErrNotifyConflict, provider, o.RefundNo, r.State, o.Status)
		case !r.State.Doubtful():
			// planned or blocked: nothing was (knowingly) sent; a
			// notification cannot be about a request we made. Leave it to
			// the next run's lookup.
			return s, fmt.Errorf("%w: %s refund %s is %s in the ledger", ErrNotifyMismatch, provider, o.RefundNo, r.State)
		case to != store.Succeeded && to != store.Failed && to != store.Pending:
			return s, nil
		}
		ev := map[store.State]store.Event{store.Succeeded: store.EvSucceeded, store.Failed: store.EvFailed, store.Pending: store.EvPending}[to]
		reason := ""
		if to == store.Failed {
			reason = "the provider's notification says the refund failed"
		}
		if err := l.Apply(ctx, key, r.Version, r.State, ev, store.Change{Outcome: o, Reason: reason}); err != nil {
			return s, err
		}
		// Apply queues the write; reading it back waits for its commit and
		// tells whether the compare-and-set held.
		after, _, err := l.ByKey(ctx, key)
		if err != nil {
			return s, err
		}
		if after.Version == r.Version+1 && after.State == to {
			s.To, s.Changed, s.Row = to, true, after
			return s, nil
		}
		if attempt == 2 {
			return s, fmt.Errorf("%w: %s refund %s kept moving", store.ErrStateChanged, provider, o.RefundNo)
		}
	}
}

// matches refuses an outcome about another refund than r.
func matches(r store.Record, o adapters.Outcome) error {
	bad := func(what, ours, theirs string) error {
		return fmt.Errorf("%w: %s refund %s: %s is %s in the ledger, %s in the notification", ErrNotifyMismatch, r.Provider, r.RefundNo, what, ours, theirs)
	}
	switch {
	case o.RefundNo != r.RefundNo:
		return bad("refund number", r.RefundNo, o.RefundNo)
	case o.OrderNo != "" && o.OrderNo != r.OrderNo:
		return bad("order", r.OrderNo, o.OrderNo)
	case o.Amount != 0 && o.Amount != r.Amount:
		return bad("amount", money.Format(r.Amount, r.Currency), money.Format(o.Amount, r.Currency))
	case o.Currency != "" && o.Currency != r.Currency:
		return bad("currency", string(r.Currency), string(o.Currency))
	}
	return nil
}
