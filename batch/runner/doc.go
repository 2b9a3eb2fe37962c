// Package runner sends a batch's refunds to the providers concurrently and
// checkpoints every step in a store.Store, so that a crash, a kill or a lost
// response never pays a refund twice and never loses one.
//
// # State machine
//
// Every item is in one of the store states. The runner moves it like this:
//
//	planned ──MarkSubmitting (durable)──▶ submitting ──Refund──┬─▶ succeeded   (final)
//	                                                          ├─▶ failed      (final: provider said no)
//	                                                          ├─▶ pending     (accepted; Lookup later)
//	                                                          └─▶ unknown     (timeout, lost response, 5xx)
//
//	submitting | unknown | pending ──Lookup──┬─▶ succeeded | failed | pending   (what the provider says)
//	                                         ├─ ErrNotFound ─▶ Refund again, SAME refund number
//	                                         ├─ "unknown" ───▶ Refund again, SAME refund number (see below)
//	                                         └─ error ──────▶ unknown, Lookup again after backoff
//
// In pseudo-code, per item:
//
//	doubt := state in {submitting, unknown, pending}   // found so on resume
//	for calls < MaxAttempts:
//	    if doubt:
//	        o, err := Lookup()
//	        not found        → doubt = false          // license to re-send
//	        answered         → store it; stop unless it says "unknown"
//	        answered unknown → doubt = false          // see below
//	        error            → unknown; backoff; continue
//	    else:
//	        MarkSubmitting()                          // committed before the request leaves
//	        o, err := Refund()
//	        answered         → store it; stop unless it says "unknown" (then doubt = true)
//	        KindFinal        → failed; stop — but unknown (for a person to
//	                           check) if an earlier attempt's outcome is unknown:
//	                           the refusal may mean that attempt took the money
//	        KindRetryable    → unknown; backoff (≥ Retry-After); send again
//	        KindUnknown      → unknown; doubt = true; backoff
//	out of attempts → stays unknown, with the reason
//
// A lookup that answers but cannot tell (status unknown) also leads to a
// re-send with the same refund number. Upay's query shows only an order's
// latest transaction, so for the first of two refunds of one order it can
// never say; Upay's documented recovery after a network doubt is to re-submit
// the same refund_request_no, which returns that refund's own outcome. The
// Provider contract makes every re-submit of a refund number idempotent, so
// this cannot pay twice; without it, a refund marked submitting whose request
// never left (killed in between) could never be sent. A lookup that fails
// (network, 5xx) is never a license: it is retried as a lookup.
//
// A retryable error is by contract one that certainly did not take effect, so
// it is re-sent without a lookup; everything else doubtful is looked up first.
// Re-sends always carry the same refund number, which providers treat as
// idempotent, so even a lookup that raced an in-flight request cannot pay twice.
//
// Pending items are looked up again, every PollInterval, while Poll lasts.
//
// # Marking ahead
//
// Waiting for the submitting mark's fsync before each send would add the
// commit latency to every refund. So the items still planned are marked a
// little ahead, in sheet order, up to Parallel marks at once (they share
// group commits), and handed to workers already durable; a worker then sends
// at once. At most about 2×Parallel items are marked and not yet sent. A
// graceful stop releases them (back to planned, attempts as before); after a
// kill they are submitting, looked up by the next run, found unknown to the
// provider, and sent then.
//
// # Stopping
//
// When Run's context is cancelled the runner starts nothing new, stops
// backing off, lets the calls in flight finish (each is bounded by
// CallTimeout, and all of them by DrainTimeout), records their outcomes, and
// returns ErrInterrupted. Store writes use a context of their own, so an
// outcome that arrived is always recorded. What is left in submitting or
// unknown is looked up by the next run.
package runner
