package upay

// Every fact about Upay this client relies on that no public source states.
// Keep them here, so that correcting one is a one-line change.

const (
	// Assumed: a repeated refund_request_no that Upay has already applied is
	// answered with FAIL + this code (or with the original outcome); either
	// way the refund is confirmed by a query before it is reported.
	codeNoop = "UPAY_REFUND_ORDER_NOOP"

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

// defaultOperator fills Upay's required operator field when the sheet gave
// none. Assumed acceptable: Upay only records it.
const defaultOperator = "bulkrefund"
