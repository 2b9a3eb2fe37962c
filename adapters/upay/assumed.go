package upay

import "github.com/bulkrefund/bulkrefund/adapters"

// Every fact about Upay this client relies on that no public source states.
// Keep them here, so that correcting one is a one-line change.

const (
	// codeInvalidOrderState refuses a refund or revoke for the order's
	// state: documented (seed 000) for a fully refunded order, and used for
	// a revoked one; refusal() asks the order query which it is.
	codeInvalidOrderState = "UPAY_REFUND_INVALID_ORDER_STATE"

	// Assumed: the query answers an unknown order with FAIL + this code.
	codeOrderNotExists = "UPAY_ORDER_NOT_EXISTS"

	// Assumed: the payment transaction of an order shows in a query as the
	// latest transaction with client_tsn empty or equal to client_sn.
	// (See paymentIsLatest.)

	// Assumed: the query's data carries refund_amount for a refund
	// transaction when it is the latest one; if absent, Outcome.Amount is 0
	// (not reported).

	// Assumed: the configured terminal key is the current one; key rotation
	// via /terminal/checkin is not implemented.
)

// transactionStatus maps the status of the order's latest transaction (the
// "status" field of a refund/revoke/query answer) to ours. Assumed: the
// values are those of Upay's transaction state list: SUCCESS, FAIL_CANCELED,
// FAIL_ERROR, FAIL_PROTOCOL_*, CREATED, IN_PROG.
func transactionStatusIsFailure(s string) bool {
	return len(s) >= 4 && s[:4] == "FAIL"
}

// refusalKind classifies a Upay error code (biz_response or envelope) of a
// refused refund or revoke. Codes not listed refuse the refund itself:
// KindFinal (REFUNDABLE_AMOUNT_NOT_ENOUGH, TRADE_TIMEOUT, UPAY_ORDER_NOT_EXISTS,
// UPAY_TCP_ORDER_NOT_REFUNDABLE, INVALID_PARAMS, REFUND_FAIL, CANCEL_ABORT_*).
func refusalKind(code string) adapters.Kind {
	switch code {
	case "UPAY_REFUND_ORDER_NOOP", // Assumed (PROVIDERS.md): a repeat of a refund already applied
		"UPAY_CANCEL_ORDER_NOOP", // a repeat of a revoke already done
		// Assumed: the number was used before for another amount. Money
		// moved under it, so the refund cannot be reported as failed: the
		// runner looks it up and compares the answer with what it sent.
		// (The sandbox's code; Upay's own is not public.)
		"REFUND_REQUEST_NO_CONFLICT":
		return adapters.KindAlreadyDone
	case "ILLEGAL_SIGN", "INVALID_TERMINAL", // envelope 400: our terminal or its key
		"UPAY_TERMINAL_NOT_EXISTS",
		// Assumed: the merchant's balance cannot fund refunds. Nothing
		// about the refund was judged; once topped up it can be sent, so it
		// is blocked (resumable), not failed.
		"ACCOUNT_BALANCE_NOT_ENOUGH":
		return adapters.KindBlocked
	}
	return adapters.KindFinal
}

// neverPaid: order states in which an order cannot be refunded because it
// was never paid (Upay's order_status list), the only reasons refusal()
// accepts as final for UPAY_REFUND_INVALID_ORDER_STATE on a refund.
func neverPaid(orderStatus string) bool {
	switch orderStatus {
	case "CREATED", "PAY_CANCELED", "PAY_ERROR":
		return true
	}
	return false
}

// defaultOperator fills Upay's required operator field when the sheet gave
// none. Assumed acceptable: Upay only records it.
const defaultOperator = "bulkrefund"
