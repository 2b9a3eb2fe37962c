// Package adapters defines the contract every payment provider client keeps,
// and the types that cross it.
//
// Each provider lives in its own subpackage (upay, quickpay, nomad, payease)
// and implements Provider against the provider's real wire format. The
// sandbox subpackage emulates all four from their documents, sharing no
// wire-format or signing code with the clients, so that a mistake on one side
// is caught by the other.
package adapters

import (
	"context"
	"time"

	"github.com/bulkrefund/bulkrefund/money"
)

// Provider names as they are written in a refund sheet and in config files.
const (
	Upay     = "upay"
	QuickPay = "quickpay"
	Nomad    = "nomad"
	PayEase  = "payease"
)

// Providers lists the supported providers in a fixed order, for reports and plans.
var Providers = []string{Upay, QuickPay, Nomad, PayEase}

// Action is what a refund row asks of the provider.
type Action string

const (
	// ActionRefund is a full or partial refund; an order may have several.
	ActionRefund Action = "refund"
	// ActionRevoke is Upay's same-day, full-amount cancellation of a payment.
	ActionRevoke Action = "revoke"
)

// Refund is one refund request, validated and ready to send. RefundNo is the
// idempotency key: every attempt for this refund, in any run, carries it.
type Refund struct {
	Provider        string
	Account         string // the configured provider account (terminal, store, merchant)
	OrderNo         string // the merchant's order number
	ProviderOrderID string // the provider's order or transaction id, where known
	RefundNo        string
	Amount          int64 // refund amount, minor units
	Total           int64 // original order total, minor units; 0 when the sheet gave none
	Currency        money.Currency
	Action          Action
	Operator        string
	Reason          string
	PaymentMethod   string
	NotifyURL       string
}

// Status is a provider outcome normalized across providers.
type Status string

const (
	// StatusSucceeded: the provider says the money went back. Final.
	StatusSucceeded Status = "succeeded"
	// StatusFailed: the provider refused or closed the refund. Final.
	StatusFailed Status = "failed"
	// StatusPending: the provider accepted the refund and will settle it later.
	StatusPending Status = "pending"
	// StatusUnknown: the provider may or may not have applied the refund; only
	// a lookup can tell.
	StatusUnknown Status = "unknown"
)

// Final reports whether s can no longer change.
func (s Status) Final() bool { return s == StatusSucceeded || s == StatusFailed }

// Outcome is what a provider said about one refund.
type Outcome struct {
	Status Status
	Code   string // the provider's raw result or error code
	// RefundNo and OrderNo echo the refund number and merchant order number
	// the provider's answer names, where it names them ("" otherwise). The
	// runner compares them, and Amount and Currency, with what it sent: an
	// answer about another refund is never recorded as this one's success.
	RefundNo         string
	OrderNo          string
	Message          string // the provider's raw message
	ProviderRefundID string
	ProviderOrderID  string
	Amount           int64 // refunded amount as the provider reports it, minor units; 0 if not reported
	Currency         money.Currency
	OrderTotal       int64     // order total per the provider, when reported
	NetAmount        int64     // order amount left after refunds per the provider, when reported; -1 if not reported
	Time             time.Time // when the provider completed or accepted it; zero if not reported
}

// Provider is one payment provider account. Implementations are safe for
// concurrent use.
type Provider interface {
	// Refund submits one refund. Calling it again with the same RefundNo must
	// not refund twice: it returns the refund's current outcome. A refusal
	// is an *Error (see "The refusal contract" in errors.go), never an
	// Outcome with StatusFailed.
	Refund(ctx context.Context, r Refund) (Outcome, error)
	// Lookup asks the provider for the current outcome of a refund it may have
	// received. It returns an error wrapping ErrNotFound when the provider has
	// no record of the refund, which is the only case in which re-sending it is
	// safe after a doubtful attempt.
	Lookup(ctx context.Context, r Refund) (Outcome, error)
}
