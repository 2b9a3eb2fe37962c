package adapters

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a provider error by what the caller may safely do next.
type Kind int

const (
	// KindFinal: the provider refused this refund for a reason about the
	// refund itself (business rule: amount above what is refundable, order
	// not refundable, window closed, malformed refund). Retrying with the
	// same input cannot help. After an attempt of unknown outcome the runner
	// never records such a refusal as failed (the first attempt may be the
	// reason for it).
	KindFinal Kind = iota
	// KindRetryable: the request certainly did not take effect (connection
	// refused, 429, a 5xx the provider documents as "not processed"). Safe to
	// send again with the same refund number.
	KindRetryable
	// KindUnknown: the request may have been applied (timeout after sending,
	// connection reset mid-response, an unreadable answer, a 5xx after the
	// provider received it). Look the refund up before sending it again; the
	// same refund number keeps a re-send idempotent either way.
	KindUnknown
	// KindBlocked: the provider refused our credentials or configuration
	// (bad signature, HTTP 401/403, unknown terminal or merchant, missing
	// key). Nothing about the refund was judged: after the fix it can be
	// sent (with the lookup rules of any doubtful attempt).
	KindBlocked
	// KindAlreadyDone: the provider refused because what we ask is already
	// done (Upay UPAY_REFUND_ORDER_NOOP, UPAY_CANCEL_ORDER_NOOP, a refund on
	// a fully refunded order). It is evidence that an earlier attempt may
	// have taken effect, never that this refund failed: the runner keeps the
	// refund unknown until a lookup or the order's refunded total confirms it.
	KindAlreadyDone
)

// The refusal contract. A provider that answers a Refund call with a
// refusal reaches the runner one way only: Refund returns an *Error whose
// Kind is KindFinal, KindBlocked or KindAlreadyDone, with the provider's
// Code and Message. Refund never returns Outcome{Status: StatusFailed} with
// a nil error. Lookup returns StatusFailed only for a refund the provider
// holds and reports as failed; it returns an error wrapping ErrNotFound for
// one it has no record of. The conformance suite (adaptertest) enforces it.

func (k Kind) String() string {
	switch k {
	case KindFinal:
		return "final"
	case KindRetryable:
		return "retryable"
	case KindUnknown:
		return "unknown"
	case KindBlocked:
		return "blocked"
	case KindAlreadyDone:
		return "already done"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ErrNotFound is wrapped by Lookup errors when the provider has no record of
// the refund (or of its order).
var ErrNotFound = errors.New("refund not found at provider")

// Error is a classified provider error. It never carries secrets: adapters
// build Message from the provider's answer, never from request headers.
type Error struct {
	Provider   string
	Op         string // "refund", "revoke", "lookup"
	Kind       Kind
	HTTPStatus int    // 0 when no HTTP response was read
	Code       string // the provider's error code, if any
	Message    string
	RetryAfter time.Duration // from a 429's Retry-After; 0 if none
	Err        error         // underlying cause (net error, ErrNotFound, ...)
}

func (e *Error) Error() string {
	s := e.Provider + " " + e.Op + ": " + e.Kind.String()
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the classification of err: the Kind of the first *Error in
// its chain, KindUnknown for context deadline and other unclassified errors
// (the safe assumption: the request may have been applied).
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return KindUnknown
}

// RetryAfterOf returns the Retry-After carried by err, or 0.
func RetryAfterOf(err error) time.Duration {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.RetryAfter
	}
	return 0
}
