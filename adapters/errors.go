package adapters

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a provider error by what the caller may safely do next.
type Kind int

const (
	// KindFinal: the provider rejected the request (business rule, bad
	// credentials, malformed request). Retrying with the same input cannot help.
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
)

func (k Kind) String() string {
	switch k {
	case KindFinal:
		return "final"
	case KindRetryable:
		return "retryable"
	case KindUnknown:
		return "unknown"
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
