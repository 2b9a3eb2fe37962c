package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
)

// State is where one item of a batch stands. See DESIGN.md "Runner and
// checkpoints" for the transitions.
type State string

const (
	// Planned: in the batch, never sent.
	Planned State = "planned"
	// Submitting: a request is (or was) on its way; committed before it leaves.
	// Found on resume, it means "maybe sent": look it up before re-sending.
	Submitting State = "submitting"
	// Succeeded: the provider says the money went back. Final.
	Succeeded State = "succeeded"
	// Failed: the provider refused the refund. Final.
	Failed State = "failed"
	// Pending: the provider accepted it and settles later; poll with Lookup.
	Pending State = "pending"
	// Unknown: the provider may or may not have applied it (timeout, lost
	// response, 5xx after send, attempts exhausted): look it up before any re-send.
	Unknown State = "unknown"
	// Blocked: the provider refused our credentials or configuration (bad
	// signature, 401/403, unknown terminal). Nothing about the refund was
	// judged; the next run after the fix sends it, looking it up first if an
	// earlier attempt was doubtful.
	Blocked State = "blocked"
)

// States lists every state in display order.
var States = []State{Planned, Submitting, Succeeded, Failed, Pending, Unknown, Blocked}

// Final reports whether s can no longer change.
func (s State) Final() bool { return s == Succeeded || s == Failed }

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// FromStatus maps a provider outcome status to the item state it leads to.
func FromStatus(s adapters.Status) State {
	switch s {
	case adapters.StatusSucceeded:
		return Succeeded
	case adapters.StatusFailed:
		return Failed
	case adapters.StatusPending:
		return Pending
	}
	return Unknown
}

// Record is one item with its checkpoint.
type Record struct {
	batch.Item
	State        State
	Attempts     int       // refund requests sent (lookups not counted)
	FirstAttempt time.Time // zero if never sent
	LastAttempt  time.Time // zero if never sent

	ProviderRefundID string
	ProviderCode     string
	ProviderMessage  string
	ProviderAmount   int64     // refunded amount as the provider reported it; 0 if not reported
	ProviderTime     time.Time // zero if not reported
	LastError        string    // why the item is not final (or why it failed), in plain words
}

// Meta describes the batch a store belongs to.
type Meta struct {
	BatchID      string // batch.Identity of the validated items
	SourcePath   string
	SourceSHA256 string // of the sheet file's bytes
	Operator     string
	Host         string
	ToolVersion  string
	Created      time.Time
	Items        int
}

// Count is one cell of the status table: items of one provider, account,
// currency and state.
type Count struct {
	Provider string
	Account  string
	Currency money.Currency
	State    State
	Items    int
	Amount   int64 // sum of item amounts, minor units of Currency
}

// Sentinel errors; store errors wrap them.
var (
	// ErrBatchMismatch: the store belongs to a batch with different content.
	ErrBatchMismatch = errors.New("state belongs to a different batch")
	// ErrItemChanged: Merge found an item already sent whose content changed.
	ErrItemChanged = errors.New("item already sent has changed")
	// ErrNoBatch: the store holds no batch yet (Init was never called).
	ErrNoBatch = errors.New("no batch in this state file")
	// ErrUnknownKey: an update named an item the store does not hold.
	ErrUnknownKey = errors.New("no such item in the batch")
	// ErrInUse: another process has the state file open for a run.
	ErrInUse = errors.New("state file is in use by another run")
	// ErrDuplicateKey: two items of one batch share a key (provider, account, order, refund number).
	ErrDuplicateKey = errors.New("duplicate item key in batch")
)

// MismatchError explains an ErrBatchMismatch.
type MismatchError struct {
	Stored, Given Meta
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%v: the state was made for batch %.16s (%s, %d rows, %s); this sheet is batch %.16s (%s, %d rows)",
		ErrBatchMismatch, e.Stored.BatchID, e.Stored.SourcePath, e.Stored.Items, e.Stored.Created.Format(time.RFC3339),
		e.Given.BatchID, e.Given.SourcePath, e.Given.Items)
}

func (e *MismatchError) Unwrap() error { return ErrBatchMismatch }

// Store holds the checkpoints of one batch. Implementations are safe for
// concurrent use. MarkSubmitting returns only once the write is as durable as
// the implementation can make it; Finish may be queued (a lost Finish only
// costs a lookup on resume), but reads always see the caller's earlier writes.
type Store interface {
	// Init starts or resumes a batch. On an empty store it records m and
	// every item as planned. On a store that holds a batch it checks that
	// m.BatchID is the same and returns a *MismatchError otherwise; the
	// items are then left as they are.
	Init(ctx context.Context, m Meta, items []batch.Item) error
	// Merge adopts a changed sheet (--allow-changed): items already known
	// keep their state; new items are added as planned; planned items no
	// longer in the sheet are dropped (they were never sent); items that
	// were sent stay, whatever the sheet says. An item already sent whose
	// content changed fails the merge with ErrItemChanged, and nothing changes.
	Merge(ctx context.Context, m Meta, items []batch.Item) error
	// Meta returns the batch description, or ErrNoBatch.
	Meta(ctx context.Context) (Meta, error)
	// Each calls fn for every item in sheet order; an error from fn stops it.
	Each(ctx context.Context, fn func(Record) error) error
	// MarkSubmitting records that a refund request for key is about to leave:
	// state submitting, attempts+1, first/last attempt times.
	MarkSubmitting(ctx context.Context, key string, at time.Time) error
	// Release undoes the MarkSubmitting of an item that was planned and
	// whose request never left (the runner marks items durably a little
	// ahead of sending them, and gives back the ones it did not start when
	// stopped): planned again, attempts one less, no attempt times if none
	// remain. Like Finish it may be queued: if it is lost, the item stays
	// submitting and is looked up by the next run.
	Release(ctx context.Context, key string) error
	// Finish records the outcome of a request or lookup: the new state, what
	// the provider said (fields of o that are empty leave the stored ones as
	// they were) and errText (stored as is; "" clears it). It may return
	// before the write is durable; its failure is then reported by a later call.
	Finish(ctx context.Context, key string, s State, o adapters.Outcome, errText string) error
	// Counts sums items by provider, account, currency and state.
	Counts(ctx context.Context) ([]Count, error)
	Close() error
}

// DefaultPath is where the state of a batch lives unless --state says
// otherwise: $XDG_STATE_HOME/bulkrefund/<first 16 hex of the batch id>.db,
// falling back to ~/.local/state/bulkrefund/. The same sheet always maps to
// the same file, which is what makes re-running the same command resume.
func DefaultPath(batchID string) string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	id := batchID
	if len(id) > 16 {
		id = id[:16]
	}
	return filepath.Join(dir, "bulkrefund", id+".db")
}

// applyOutcome folds a Finish into r, as both implementations must.
func applyOutcome(r *Record, s State, o adapters.Outcome, errText string) {
	r.State = s
	if o.ProviderRefundID != "" {
		r.ProviderRefundID = o.ProviderRefundID
	}
	if o.Code != "" {
		r.ProviderCode = o.Code
	}
	if o.Message != "" {
		r.ProviderMessage = o.Message
	}
	if o.Amount != 0 {
		r.ProviderAmount = o.Amount
	}
	if !o.Time.IsZero() {
		r.ProviderTime = o.Time.UTC()
	}
	r.LastError = errText
}

// sameContent reports whether two items would send the same request.
func sameContent(a, b batch.Item) bool {
	return a.Refund == b.Refund
}
