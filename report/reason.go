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

// provAmt is the provider's amount in its currency, or "no amount" when
// its record does not give one.
func (r *Row) provAmt() string {
	if !r.T.AmountKnown() {
		return "an amount it does not report"
	}
	return major(r.T.Amount, r.T.Currency()) + " " + string(r.T.Currency())
}

// Reason says in plain words why the row is in its category. It is empty
// for MATCHED rows, except those matched by other evidence than the refund
// number and amount side by side.
func (r *Row) Reason() string {
	var b strings.Builder
	switch r.why {
	case whyMatched:
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
		fmt.Fprintf(&b, "We recorded this refund as failed (%s); the provider says it refunded %s.", codeMsg(r.O.ProviderCode(), r.O.ProviderMessage()), r.provAmt())
	case whyOpenTheyFinal:
		if r.O.State == StateBlocked {
			fmt.Fprintf(&b, "Our run was refused by the provider's credential check (state blocked after %d attempt(s)); the provider says %s.", r.O.Attempts, r.T.Status)
			break
		}
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
		if r.T.Action() == adapters.ActionRevoke {
			fmt.Fprintf(&b, "The provider shows order %s as revoked (%s, %s) and none of our runs revoked it.", orNone(r.T.OrderNo()), r.T.Status, r.provAmt())
			break
		}
		fmt.Fprintf(&b, "The provider has a %s refund of %s (provider id %s) that none of our runs submitted.", r.T.Status, r.provAmt(), orNone(r.T.ProviderRefundID()))
	case whyUnexpectedNoNum:
		fmt.Fprintf(&b, "The provider has a %s refund of %s (provider id %s) with no refund number, so it cannot be one of ours.", r.T.Status, r.provAmt(), orNone(r.T.ProviderRefundID()))
	case whyDupProvider:
		fmt.Fprintf(&b, "The provider has %d records for this refund number; this extra one (provider id %s, %s) is %s.", r.y, orNone(r.T.ProviderRefundID()), r.T.Status, r.provAmt())
	case whyDupOurs:
		fmt.Fprintf(&b, "Our inputs list this refund number %d times with different amounts or currencies; this one asks %s (state %s).", r.y, r.amt(r.O.Amount), r.O.State)
	case whyOverTotal:
		fmt.Fprintf(&b, "With this refund the provider has refunded %s on the order, more than its total %s.", r.amt(r.x), r.amt(r.y))
	case whyPendingOurs:
		fmt.Fprintf(&b, "We recorded this refund as %s; the provider says %s.", r.O.State, r.T.Status)
	case whyPendingTheirs:
		if r.O.State == StateSubmitting || r.O.State == StateUnknown || r.O.State == StatePlanned || r.O.State == StateBlocked {
			fmt.Fprintf(&b, "Our run never learned the outcome (state %s); the provider reports it pending.", r.O.State)
		} else {
			fmt.Fprintf(&b, "The provider reports this refund pending (we recorded %s).", r.O.State)
		}
	case whyNotSent:
		b.WriteString("Our run planned this refund but never sent it; the provider has no record.")
	case whyBlocked:
		fmt.Fprintf(&b, "The provider refused our credentials or configuration for this refund (%s); nothing about the refund was decided and the provider has no record of it.", codeMsg(r.O.ProviderCode(), orNone(r.O.Error())))
	case whyLookupFailed:
		fmt.Fprintf(&b, "The live lookup could not tell the refund's state (%s); we recorded %s.", codeMsg(r.T.Code(), r.T.Message()), r.O.State)
	case whyCannotTell:
		fmt.Fprintf(&b, "The provider's answer does not show this refund (%s); we recorded %s.", codeMsg(r.T.Code(), r.T.Message()), r.O.State)
	case whyUnconfirmed:
		fmt.Fprintf(&b, "The provider says this refund succeeded but does not report its amount, and no order total confirms it: the amount (ours %s) is unconfirmed.", r.amt(r.O.Amount))
	case whyOrderUnconfirmed:
		fmt.Fprintf(&b, "The provider's answer does not show this refund one by one, so only the order's refunded total could confirm it, and it differs: the provider has refunded %s on the order, our succeeded refunds of it add up to %s (%s). This refund's amount (ours %s) is unconfirmed.",
			r.amt(r.x), r.amt(r.y), diffWords(r, r.x-r.y), r.amt(r.O.Amount))
	case whyOrderTotal:
		fmt.Fprintf(&b, "The provider has refunded %s on order %s in all; our succeeded refunds of it add up to %s (%s). Of the provider's total, %s is not accounted for by any refund its answers show one by one.",
			r.amt(r.x), orNone(r.OrderNo()), r.amt(r.y), diffWords(r, r.x-r.y), r.amt(r.T.Amount))
	case whyAmountAgain:
		fmt.Fprintf(&b, "The provider lists refund id %s twice with different amounts: %s (%s, %s) and %s (%s, %s); it is counted once, at %s. We asked %s.",
			orNone(r.T.ProviderRefundID()), r.altAmt(r.alt), r.alt.Status, r.src(r.alt), r.altAmt(r.T), r.T.Status, r.src(r.T), r.altAmt(r.T), r.ourAmt())
	case whyFailedBoth:
		fmt.Fprintf(&b, "Both sides agree the refund failed: %s.", codeMsg(r.ProviderCode(), r.ProviderMessage()))
	case whyFailedNoRecord:
		fmt.Fprintf(&b, "The provider refused the refund (%s); it has no refund on record, so nothing was paid.", codeMsg(r.O.ProviderCode(), r.O.ProviderMessage()))
	}
	r.notes(&b)
	return b.String()
}

// notes adds the facts of a row that are not its rule: how it was paired
// or confirmed, and a changed provider amount.
func (r *Row) notes(b *strings.Builder) {
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
	}
	if r.note&noteConfirmed != 0 {
		sep()
		fmt.Fprintf(b, "Confirmed by the order's refunded total: the provider's answer shows only the order's latest transaction, and its refunded total on the order, %s, is exactly what our succeeded refunds of it add up to.", r.amt(r.x))
	}
	if r.note&noteByPRID != 0 {
		sep()
		fmt.Fprintf(b, "Paired by the provider refund id %s: the provider's record spells the refund number %q, ours is %q.", r.T.ProviderRefundID(), r.T.RefundNo(), r.O.RefundNo())
	}
	if r.note&noteNoMoneyMove != 0 {
		sep()
		fmt.Fprintf(b, "The provider's refunded total on the order, %s, is fully accounted for by our succeeded refunds of it: this refund has moved no money.", r.amt(r.x))
	}
	if r.alt != nil && r.why != whyAmountAgain {
		sep()
		fmt.Fprintf(b, "The provider also lists this refund id with %s (%s); it is counted once.", r.altAmt(r.alt), r.src(r.alt))
	}
}

func (r *Row) altAmt(t *Theirs) string {
	return major(t.Amount, t.Currency()) + " " + string(t.Currency())
}

func (r *Row) ourAmt() string {
	if r.O == nil {
		return "nothing (we have no such refund)"
	}
	return r.amt(r.O.Amount)
}

// src names a provider record's place for a reason: its statement row.
func (r *Row) src(t *Theirs) string {
	if t.Row > 0 {
		return fmt.Sprintf("input %d row %d", t.Source+1, t.Row)
	}
	return fmt.Sprintf("input %d", t.Source+1)
}

// diffWords says which side has more, by how much.
func diffWords(r *Row, d int64) string {
	switch {
	case d > 0:
		return r.amt(d) + " more at the provider"
	case d < 0:
		return r.amt(-d) + " less at the provider"
	}
	return "the same"
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
	case whyCannotTell:
		return "Resume the run (bulkrefund run on the same sheet): it re-sends the same refund number, which the provider answers with this refund's own outcome; it never pays twice. Or check the refund in the provider's console."
	case whyBlocked:
		return "Fix the provider configuration (credentials, account), then resume the run: it looks the refund up before it sends anything."
	case whyUnconfirmed:
		return "Check the refund's amount in the provider's console or statement (reconcile --statement), then explain it with reconcile resolve."
	case whyOrderUnconfirmed, whyOrderTotal:
		return "Compare the order's refunds in the provider's console with ours: a refund made outside our runs, or one of ours the provider does not have, explains the difference. Do not re-send anything before it is found."
	case whyAmountAgain:
		return "Ask the provider which amount is final for this refund id; if the customer got a different amount than we asked, correct it with finance approval."
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
