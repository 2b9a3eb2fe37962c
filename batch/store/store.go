package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
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

// Doubtful reports whether a refund in state s may have been applied by the
// provider without our knowing: it is looked up before anything is sent.
func (s State) Doubtful() bool { return s == Submitting || s == Unknown || s == Pending }

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

// Record is one refund of the ledger as one batch sees it: the batch's row
// number, the refund as first planned, and where it stands.
type Record struct {
	batch.Item
	State        State
	Version      int64     // bumped by every write: the compare-and-set token
	Attempts     int       // refund requests sent (lookups not counted)
	FirstAttempt time.Time // zero if never sent
	LastAttempt  time.Time // zero if never sent

	ProviderRefundID string
	ProviderCode     string
	ProviderMessage  string
	ProviderAmount   int64     // refunded amount as the provider reported it; 0 if not reported
	ProviderTime     time.Time // zero if not reported
	LastError        string    // why the item is not final (or why it failed), in plain words

	FirstBatch string    // the batch that first planned this refund
	PlannedAt  time.Time // when it was first planned
	UpdatedAt  time.Time
}

// Meta describes one batch: the keys of one sheet, its hash and provenance.
type Meta struct {
	BatchID      string // batch.Identity of the validated items
	SourcePath   string
	SourceSHA256 string // of the sheet file's bytes
	Operator     string
	Host         string
	ToolVersion  string
	Created      time.Time
	Items        int
	Status       string // see Batch status values
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
	// ErrNoBatch: the ledger holds no batch with that id.
	ErrNoBatch = errors.New("no such batch in the ledger")
	// ErrUnknownKey: an update named a refund the ledger does not hold.
	ErrUnknownKey = errors.New("no such refund in the ledger")
	// ErrInUse: another process is running the batch.
	ErrInUse = errors.New("batch is being run by another process")
	// ErrDuplicateKey: two rows of one sheet are one refund to the provider.
	ErrDuplicateKey = errors.New("two rows are the same refund")
	// ErrConflict: a refund of the sheet exists in the ledger with other content.
	ErrConflict = errors.New("refund number already used for another refund")
	// ErrStateChanged: a compare-and-set found the refund moved by someone else.
	ErrStateChanged = errors.New("refund changed meanwhile (another process is working on it)")
	// ErrBadTransition: the state machine does not allow the move.
	ErrBadTransition = errors.New("transition not allowed")
	// ErrNotLedger: the file is empty, truncated or not a bulkrefund ledger.
	ErrNotLedger = errors.New("not a bulkrefund ledger")
	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("ledger closed")
)

// ConflictRow is one sheet row whose refund number the ledger already holds
// for other content.
type ConflictRow struct {
	Row     int        // sheet row
	Given   batch.Item // what the sheet asks
	Earlier Record     // what the ledger holds
}

// ConflictError lists every conflicting row of a refused plan.
type ConflictError struct {
	Rows []ConflictRow
}

func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d row(s); nothing was sent", ErrConflict, len(e.Rows))
	for i, c := range e.Rows {
		if i == 20 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Rows)-20)
			break
		}
		fmt.Fprintf(&b, "\n  row %d: %s refund %s (order %s, %s %s): the ledger has it from batch %.16s as %s %s %s of order %s, %s",
			c.Row, c.Given.Provider, c.Given.RefundNo, c.Given.OrderNo, money.Format(c.Given.Amount, c.Given.Currency), c.Given.Currency,
			c.Earlier.FirstBatch, c.Earlier.Action, money.Format(c.Earlier.Amount, c.Earlier.Currency), c.Earlier.Currency,
			c.Earlier.OrderNo, c.Earlier.State)
	}
	return b.String()
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// PlanResult says what planning a batch did.
type PlanResult struct {
	Meta    Meta
	New     int  // refunds added as planned
	Known   int  // refunds the ledger already held with the same content
	Resumed bool // the batch itself was already in the ledger
}

// Change is what a transition writes besides the state.
type Change struct {
	At      time.Time        // for EvSend: the attempt time
	Outcome adapters.Outcome // what the provider said; empty fields keep the stored ones
	Reason  string           // stored as is; "" clears it
}

// Ledger is the installation's one store of every refund ever planned,
// across sheets and batches. A refund's key is its identity at the provider
// (batch.Item.Key); a batch is the keys of one sheet with its hash and
// provenance. Implementations are safe for concurrent use, by several
// processes on one ledger too.
type Ledger interface {
	// Plan records a batch. Every key new to the ledger is planned; a key it
	// holds with the same content (provider, account, order, amount,
	// currency, action) joins the batch as it stands. If any key exists with
	// other content, Plan writes nothing and returns a *ConflictError listing
	// every such row. Planning a batch already in the ledger resumes it.
	Plan(ctx context.Context, m Meta, items []batch.Item) (PlanResult, error)
	// Check is Plan without writing: the conflicts and counts a Plan would see.
	Check(ctx context.Context, m Meta, items []batch.Item) (PlanResult, error)
	// Batch finds a batch by its id or a unique prefix of it.
	Batch(ctx context.Context, id string) (Meta, error)
	// Batches lists every batch, oldest first.
	Batches(ctx context.Context) ([]Meta, error)
	// SetBatchStatus records a batch's status (planned, submitted, approved,
	// rejected, running, done) with an audit entry.
	SetBatchStatus(ctx context.Context, id, status string, a Audit) error
	// Run opens a batch for sending: it takes the batch's run lease (a second
	// process gets ErrInUse until this one closes or dies) and returns the
	// runner's view. Close the view to give the lease back.
	Run(ctx context.Context, batchID string) (Store, error)
	// View is a read-only view of one batch, for status, results and reports.
	View(ctx context.Context, batchID string) (Store, error)
	// Refunds calls fn for each refund matching q, in planning order.
	Refunds(ctx context.Context, q Query, fn func(Record) error) error
	// AppendAudit adds an entry to the audit trail, which is never edited.
	AppendAudit(ctx context.Context, a Audit) error
	// Audit calls fn for each audit entry, oldest first, optionally of one batch.
	AuditTrail(ctx context.Context, batchID string, fn func(Audit) error) error
	// Where describes the ledger for messages (a path, a redacted URL).
	Where() string
	Close() error
}

// Query selects refunds of the ledger.
type Query struct {
	RefundNo string    // exact refund number
	BatchIDs []string  // refunds of these batches
	From, To time.Time // planned in [From, To); zero: open
	States   []State   // any of these states; empty: all
}

// Audit is one entry of the audit trail.
type Audit struct {
	At      time.Time
	Actor   string // who: an OS user, a web user, "worker@host"
	Action  string // planned, submitted, approved, rejected, ran, explained, imported, ...
	BatchID string
	Key     string // a refund key, where the entry is about one refund
	Detail  string
}

// Store is one batch of the ledger as the runner, the results writer and
// the report see it. Writes are compare-and-set on (state, version).
type Store interface {
	// Meta returns the batch description.
	Meta(ctx context.Context) (Meta, error)
	// Each calls fn for every refund of the batch in sheet order; an error
	// from fn stops it.
	Each(ctx context.Context, fn func(Record) error) error
	// EachOf is Each for the refunds of one provider account, so that a
	// runner can stream each account on its own and one slow account never
	// holds back the rows of another.
	EachOf(ctx context.Context, provider, account string, fn func(Record) error) error
	// OrderRefunds returns every refund the ledger holds on one order of a
	// provider account, from any batch: the evidence a lookup that shows only
	// an order's refunded total is weighed against.
	OrderRefunds(ctx context.Context, it batch.Item) ([]Record, error)
	// Counts sums the batch's refunds by provider, account, currency and state.
	Counts(ctx context.Context) ([]Count, error)
	// Apply moves refund key from (from, version) by event ev, as one
	// compare-and-set; ErrStateChanged if the refund is no longer there.
	// EvSend returns only once durable (the request may leave then);
	// others may be queued: reads see them, and a failure is returned by a
	// later call. The new version is version+1.
	Apply(ctx context.Context, key string, version int64, from State, ev Event, c Change) error
	Close() error
}

// DefaultPath is the ledger unless --ledger or BULKREFUND_LEDGER says
// otherwise: $XDG_STATE_HOME/bulkrefund/ledger.db, falling back to
// ~/.local/state/bulkrefund/ledger.db.
func DefaultPath() string {
	return filepath.Join(StateDir(), "ledger.db")
}

// StateDir is bulkrefund's directory for state.
func StateDir() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "bulkrefund")
}

// Batch status values.
const (
	BatchPlanned   = "planned"
	BatchSubmitted = "submitted" // waiting for a checker's approval
	BatchApproved  = "approved"
	BatchRejected  = "rejected"
	BatchRunning   = "running"
	BatchDone      = "done"
)

// sameContent reports whether two items are one refund request: the fields
// that decide what money moves where. Operator, reason and the like may be
// edited between runs without making it another refund.
func sameContent(a, b batch.Item) bool {
	return a.Provider == b.Provider && a.Account == b.Account && a.OrderNo == b.OrderNo &&
		a.Amount == b.Amount && a.Currency == b.Currency && a.Action == b.Action
}

// SortCounts orders counts for display: provider, account,
// currency, state order.
func SortCounts(cs []Count) {
	srank := map[State]int{}
	for i, s := range States {
		srank[s] = i
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Currency != b.Currency {
			return a.Currency < b.Currency
		}
		return srank[a.State] < srank[b.State]
	})
}
