// Package adaptertest is the conformance suite every provider client passes
// against the sandbox, over loopback HTTP.
//
// Each adapter's own test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		adaptertest.Run(t, adaptertest.Harness{
//			Provider: adapters.Upay, Account: "100000330000000001", Revoke: true,
//			New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
//				return upay.New(upay.Options{BaseURL: base, TerminalSN: a.ID, TerminalKey: a.Secret, Timeout: timeout})
//			},
//		})
//	}
//
// Run checks the contract of adapters.Provider as the runner relies on it:
// a refund succeeds and moves money exactly once; partial refunds run an
// order down to zero; a re-submit with the same number, even sixteen at
// once, refunds once (read from the sandbox's ledger, the provider-side
// truth, which counts the calls and the money moves per refund number); a
// refund whose answer was lost is found by Lookup; a never-sent refund is
// ErrNotFound; 429 is retryable with its Retry-After; a 5xx, a timeout and a
// provider that accepts the connection and never answers are of unknown
// outcome and nothing was applied, a refused connection is retryable;
// pending refunds settle through Lookup; and Upay's revoke and
// refund-window rules.
//
// The refusal contract (adapters/errors.go) is enforced on every call: an
// error is an *adapters.Error with no outcome beside it, and Refund never
// returns a failed outcome without an error. Each refusal the sandbox can
// produce comes back with its kind: over-refund, refund window, revoke
// rules and a refund settled as failed are KindFinal; bad credentials and an
// unknown account are KindBlocked, for Refund and Lookup alike; a number used
// before for another amount, a repeated revoke, a refund of a revoked order
// and (per Harness.ExhaustedKind) a refund of an exhausted order are
// KindAlreadyDone — also when the re-send follows a lost answer and a lookup
// that does not see the refund yet. Outcomes name what the answer names: an
// answer about another amount or order is passed through unchanged.
package adaptertest
