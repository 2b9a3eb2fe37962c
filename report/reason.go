package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// Meta is the provenance the Summary sheet shows.
type Meta struct {
	GeneratedAt time.Time
	Operator    string
	ToolVersion string
	Sources     []Source
	// RunIDs and BatchIDs come from the run stores read (and results files,
	// where they name them), sorted and without repeats.
	RunIDs   []string
	BatchIDs []string
}

// Source is one input of the report.
type Source struct {
	Role    string // "state", "results", "statement", "orders", "lookup", "memory"
	Path    string
	SHA256  string // of the file's bytes; empty for lookups and in-memory inputs
	Records int
	RunID   string
	BatchID string

	operator string // a store's operator, for Meta.Operator
}

func (r *Row) amt(v int64) string {
	return major(v, r.Currency()) + " " + string(r.Currency())
}

func when(t time.Time) string {
	if t.IsZero() {
		return "an unrecorded time"
	}
	return t.UTC().Format(time.RFC3339)
}

func codeMsg(code, msg string) string {
	switch {
	case code != "" && msg != "":
		return code + " " + msg
	case code != "":
		return code
	case msg != "":
		return msg
	}
	return "no code given"
}

// Reason says in plain words why the row is in its category. It is empty
// for MATCHED rows.
func (r *Row) Reason() string {
	var b strings.Builder
	switch r.why {
	case whyMatched:
		return ""
	case whyAmount:
		dir := "less by"
		if r.x > 0 {
			dir = "more by"
		}
		fmt.Fprintf(&b, "We asked to refund %s; the provider recorded %s (%s %s).",
			r.amt(r.O.Amount), r.amt(r.T.Amount), dir, r.amt(absDiff(r.O.Amount, r.T.Amount)))
	case whyCurrency:
		fmt.Fprintf(&b, "We refunded in %s; the provider recorded %s %s.", r.O.Currency(), major(r.T.Amount, r.T.Currency()), r.T.Currency())
	case whyWeSucceededTheyFailed:
		fmt.Fprintf(&b, "We recorded this refund as succeeded; the provider says it failed (%s).", codeMsg(r.T.Code(), r.T.Message()))
	case whyWeFailedTheySucceeded:
		fmt.Fprintf(&b, "We recorded this refund as failed (%s); the provider says it refunded %s.", codeMsg(r.O.ProviderCode(), r.O.ProviderMessage()), r.amt(r.T.Amount))
	case whyOpenTheyFinal:
		fmt.Fprintf(&b, "Our run never learned the outcome (state %s after %d attempt(s)); the provider says %s.", r.O.State, r.O.Attempts, r.T.Status)
	case whyNotSentTheyHave:
		fmt.Fprintf(&b, "Our run never sent this refund, yet the provider has it as %s under our refund number.", r.T.Status)
	case whyMissing:
		if r.O.Action() == adapters.ActionRevoke {
			// A revoke has no refund number: what the provider lacks is the
			// order's revoked status.
			fmt.Fprintf(&b, "We recorded this revoke as %s (first sent %s); the provider does not show the order as revoked.", r.O.State, when(r.O.FirstAttempt()))
			break
		}
		fmt.Fprintf(&b, "We recorded this refund as %s (first sent %s); the provider has no record of it.", r.O.State, when(r.O.FirstAttempt()))
	case whyUnexpected:
		fmt.Fprintf(&b, "The provider has a %s refund of %s (provider id %s) that none of our runs submitted.", r.T.Status, r.amt(r.T.Amount), orNone(r.T.ProviderRefundID()))
	case whyUnexpectedNoNum:
		fmt.Fprintf(&b, "The provider has a %s refund of %s (provider id %s) with no refund number, so it cannot be one of ours.", r.T.Status, r.amt(r.T.Amount), orNone(r.T.ProviderRefundID()))
	case whyDupProvider:
		fmt.Fprintf(&b, "The provider has %d records for this refund number; this extra one (provider id %s, %s) is %s.", r.y, orNone(r.T.ProviderRefundID()), r.T.Status, r.amt(r.T.Amount))
	case whyDupOurs:
		fmt.Fprintf(&b, "Our inputs list this refund number %d times with different amounts or currencies; this one asks %s (state %s).", r.y, r.amt(r.O.Amount), r.O.State)
	case whyOverTotal:
		fmt.Fprintf(&b, "With this refund the provider has refunded %s on the order, more than its total %s.", r.amt(r.x), r.amt(r.y))
	case whyPendingOurs:
		fmt.Fprintf(&b, "We recorded this refund as %s; the provider says %s.", r.O.State, r.T.Status)
	case whyPendingTheirs:
		if r.O.State == StateSubmitting || r.O.State == StateUnknown || r.O.State == StatePlanned {
			fmt.Fprintf(&b, "Our run never learned the outcome (state %s); the provider reports it pending.", r.O.State)
		} else {
			fmt.Fprintf(&b, "The provider reports this refund pending (we recorded %s).", r.O.State)
		}
	case whyNotSent:
		b.WriteString("Our run planned this refund but never sent it; the provider has no record.")
	case whyLookupFailed:
		fmt.Fprintf(&b, "The live lookup could not tell the refund's state (%s); we recorded %s.", codeMsg(r.T.Code(), r.T.Message()), r.O.State)
	case whyFailedBoth:
		fmt.Fprintf(&b, "Both sides agree the refund failed: %s.", codeMsg(r.ProviderCode(), r.ProviderMessage()))
	case whyFailedNoRecord:
		fmt.Fprintf(&b, "The provider refused the refund (%s); it has no refund on record, so nothing was paid.", codeMsg(r.O.ProviderCode(), r.O.ProviderMessage()))
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Todo says what a person should do about the row. It is empty for MATCHED rows.
func (r *Row) Todo() string {
	switch r.why {
	case whyMatched:
		return ""
	case whyAmount, whyCurrency:
		return "Compare the refund sheet with the provider's record; if the provider paid the wrong amount, ask it to correct the refund. Do not send a second refund for the difference without finance approval."
	case whyWeSucceededTheyFailed:
		return "The customer may not have the money: confirm with the provider, then submit a new refund (new refund number) if it is still owed."
	case whyWeFailedTheySucceeded:
		return "The money went back: correct our books to succeeded. Do not submit this refund again."
	case whyOpenTheyFinal:
		return "Resume the run on the same sheet (bulkrefund run): it looks the refund up and records the provider's outcome. Never re-submit under a new refund number."
	case whyNotSentTheyHave:
		return "Find who sent it (another run, a manual refund in the provider console). Do not run it again before that is known."
	case whyMissing:
		if r.O.Action() == adapters.ActionRevoke {
			return "Check the order's status in the provider's console. If it is not revoked, the customer was not paid back: refund the order instead (a revoke is possible only on the payment's day and before any refund)."
		}
		return "Check that the statement covers the period; confirm with reconcile --lookup. If the provider confirms it has nothing, resume the run: it re-sends with the same refund number."
	case whyUnexpected, whyUnexpectedNoNum:
		return "Find who issued it (provider console, another system). If nobody authorized it, escalate as possible fraud and ask the provider to reverse it."
	case whyDupProvider:
		return "The customer was refunded more than once: ask the provider to reverse the extra refund or recover it from the customer."
	case whyDupOurs:
		return "Two sheets used one refund number for different refunds: fix the sheet so every refund has its own number, then reconcile again."
	case whyOverTotal:
		return "The order is refunded beyond its total: find the refund that should not have been paid and recover it."
	case whyPendingOurs, whyPendingTheirs, whyLookupFailed:
		return "Nothing to do yet: the nightly reconcile checks it again; resume the run to poll the provider sooner."
	case whyNotSent:
		return "Resume the run (bulkrefund run on the same sheet) to send it, or remove it from the sheet if it is no longer owed."
	case whyFailedBoth, whyFailedNoRecord:
		return failedTodo(r.ProviderCode())
	}
	return ""
}

// failedTodo turns the common refusal codes of the four providers into a
// next step; anything else gets the generic advice.
func failedTodo(code string) string {
	switch strings.ToUpper(code) {
	case "REFUNDABLE_AMOUNT_NOT_ENOUGH", "UPAY_REFUND_INVALID_ORDER_STATE":
		return "The order has less left to refund than asked: check earlier refunds of the order before refunding again."
	case "UPAY_ORDER_NOT_EXISTS", "ORDER_NOT_EXIST", "ORDER_NOT_FOUND":
		return "The provider does not know the order: check order_no / provider_order_id and the account in the sheet."
	case "ACCOUNT_BALANCE_NOT_ENOUGH":
		return "The merchant balance was too low: top it up, then submit the refund again (a new run of the corrected sheet)."
	case "TRADE_TIMEOUT", "UPAY_TCP_ORDER_NOT_REFUNDABLE":
		return "The order is outside the provider's refund window: refund the customer another way."
	case "ILLEGAL_SIGN", "INVALID_TERMINAL", "UPAY_TERMINAL_NOT_EXISTS":
		return "Credentials or account are wrong: fix the provider configuration, then run the refund again."
	}
	return "Read the provider's code and message; fix the cause, then submit the refund again if it is still owed."
}
