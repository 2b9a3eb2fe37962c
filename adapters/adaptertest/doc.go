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
// order down to zero and the next one is refused with the provider's code;
// an over-refund and a repeat with another amount are refused as final; a
// re-submit with the same number, even sixteen at once, refunds once (read
// from the sandbox's ledger, the provider-side truth); a refund whose answer
// was lost is found by Lookup; a never-sent refund is ErrNotFound; bad
// credentials are final; 429 is retryable with its Retry-After; a 5xx and a
// timeout are of unknown outcome and nothing was applied; pending refunds
// settle through Lookup; and Upay's revoke and refund-window rules.
package adaptertest
