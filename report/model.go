package report

import (
	"fmt"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// State is where our side last left a refund (a run's checkpoint state).
type State uint8

const (
	// StatePlanned: validated and checkpointed, never sent.
	StatePlanned State = iota
	// StateSubmitting: written before the request left; the answer was never
	// recorded, so the provider may or may not have it.
	StateSubmitting
	// StateUnknown: sent, and the answer was lost or unreadable.
	StateUnknown
	// StatePending: the provider accepted it and settles it later.
	StatePending
	// StateSucceeded: the provider said the money went back.
	StateSucceeded
	// StateFailed: the provider refused it.
	StateFailed
)

var stateNames = [...]string{"planned", "submitting", "unknown", "pending", "succeeded", "failed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// ParseState reads a state as the runner's store and results file write it.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if n == s {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want one of planned, submitting, unknown, pending, succeeded, failed)", ErrBadValue, s)
}

// sent reports whether a request for the refund may have reached the provider.
func (s State) sent() bool { return s != StatePlanned }

// final reports whether our outcome can no longer change.
func (s State) final() bool { return s == StateSucceeded || s == StateFailed }

// Status is the provider's view of a refund.
type Status uint8

const (
	// StatusSucceeded: the provider refunded the money.
	StatusSucceeded Status = iota
	// StatusFailed: the provider refused or closed the refund; no money moved.
	StatusFailed
	// StatusPending: accepted, not settled yet.
	StatusPending
	// StatusUnknown: a live lookup could not tell (the lookup itself failed).
	// Statements never carry it.
	StatusUnknown
)

var statusNames = [...]string{"succeeded", "failed", "pending", "unknown"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", s)
}

func statusFrom(s adapters.Status) Status {
	switch s {
	case adapters.StatusSucceeded:
		return StatusSucceeded
	case adapters.StatusFailed:
		return StatusFailed
	case adapters.StatusPending:
		return StatusPending
	}
	return StatusUnknown
}

func (s Status) final() bool { return s == StatusSucceeded || s == StatusFailed }

// Ours is one refund as our side recorded it: an item of a run's store or a
// row of a results file. Amount is what we asked to refund.
type Ours struct {
	Provider        string
	Account         string
	OrderNo         string
	ProviderOrderID string
	RefundNo        string
	Action          adapters.Action
	Amount          int64 // minor units
	Total           int64 // the order total the sheet gave; 0 if none
	Currency        money.Currency
	State           State
	// PaymentMethod is what a Nomad lookup must name (wechatpay, alipay).
	PaymentMethod string

	ProviderRefundID string
	ProviderCode     string
	ProviderMessage  string
	Error            string // our last error text, if any
	Attempts         int32
	FirstAttempt     time.Time // zero if never sent
	LastAttempt      time.Time

	// Where the record came from: the input's index in Result.Sources and
	// the row (spreadsheet row of the refund sheet for a store item, the line
	// of a results file).
	Source int32
	Row    int32
}

// Theirs is one refund as the provider records it: a statement line or the
// answer of a live lookup.
type Theirs struct {
	Provider         string
	Account          string
	OrderNo          string
	ProviderOrderID  string
	RefundNo         string // empty for a Upay revoke
	ProviderRefundID string
	Action           adapters.Action // refund or revoke
	Amount           int64
	Currency         money.Currency
	Status           Status
	Time             time.Time // when the provider completed or accepted it; zero if unknown

	// Code and Message carry a live lookup's raw answer (or its error).
	Code, Message string

	Source int32
	Row    int32 // line in the statement file as a spreadsheet numbers it
}

// Order is one line of the orders ledger: the order's total as charged.
type Order struct {
	Provider        string
	Account         string
	OrderNo         string
	ProviderOrderID string
	Total           int64
	Currency        money.Currency
	PaidAt          time.Time
	PaymentMethod   string
}

// Category is the one verdict each refund row of the report gets.
type Category uint8

// The categories of DESIGN.md, in the order the report lists them.
const (
	Matched Category = iota
	AmountMismatch
	StatusMismatch
	MissingAtProvider
	UnexpectedAtProvider
	Duplicate
	Pending
	Failed
	numCategories
)

var categoryNames = [...]string{
	"MATCHED", "AMOUNT_MISMATCH", "STATUS_MISMATCH", "MISSING_AT_PROVIDER",
	"UNEXPECTED_AT_PROVIDER", "DUPLICATE", "PENDING", "FAILED",
}

func (c Category) String() string {
	if c < numCategories {
		return categoryNames[c]
	}
	return fmt.Sprintf("Category(%d)", c)
}

// Categories lists every category in report order.
func Categories() []Category {
	cs := make([]Category, numCategories)
	for i := range cs {
		cs[i] = Category(i)
	}
	return cs
}

// Exception reports whether rows of c need a person: everything but
// MATCHED and FAILED (a failure both sides agree on is listed, not chased).
func (c Category) Exception() bool { return c != Matched && c != Failed }
