// Package upay is the client for Upay (Shouqianba) refunds: refund, revoke and
// order query, over its JSON API with the MD5 Authorization signature.
//
// Wire format (from the provider docs): POST {base}/upay/v2/refund,
// /upay/v2/revoke and /upay/v2/query; JSON bodies whose values are all strings
// (amounts are fen as decimal strings); header
// "Authorization: <terminal_sn> <md5hex(body bytes + terminal_key)>" computed
// over the exact bytes sent. Answers are an envelope
//
//	{"result_code":"200"|"400"|"500","error_code","error_message",
//	 "biz_response":{"result_code","error_code","error_message","data":{...}}}
//
// # Status mapping
//
// A refusal of a refund or revoke is never an Outcome: Refund returns it as
// an *adapters.Error with Upay's code and message and one of three kinds
// (the refusal contract, adapters/errors.go).
//
// Envelope result_code (communication level):
//
//	"200"                             read biz_response (below)
//	"400" ILLEGAL_SIGN, INVALID_TERMINAL   error, KindBlocked (our terminal or key)
//	"400" INVALID_PARAMS and others   error, KindFinal
//	"500" (UNKNOWN_SYSTEM_ERROR)      error, KindUnknown (may have been applied)
//	HTTP 401/403                      error, KindBlocked
//	HTTP 429                          error, KindRetryable with Retry-After
//	HTTP 5xx, unreadable answer       error, KindUnknown (lookups: KindRetryable)
//
// biz_response.result_code of refund and revoke:
//
//	REFUND_SUCCESS, CANCEL_SUCCESS          succeeded
//	REFUND_IN_PROGRESS, CANCEL_IN_PROGRESS  pending
//	REFUND_ERROR, CANCEL_ERROR              unknown: confirmed with a query; a
//	                                        query showing it failed is a KindFinal error
//	REFUND_FAIL, CANCEL_ABORT_*,            error, classified by error_code:
//	FAIL + error_code
//
//	UPAY_REFUND_ORDER_NOOP (repeat of a refund)      KindAlreadyDone
//	UPAY_CANCEL_ORDER_NOOP (repeat of a revoke)      KindAlreadyDone
//	REFUND_REQUEST_NO_CONFLICT (number used before   KindAlreadyDone: money moved
//	  for another amount; the sandbox's code)        under it, never "failed"
//	UPAY_REFUND_INVALID_ORDER_STATE                  the order query decides: fully
//	                                                 refunded, revoked, or a query that
//	                                                 cannot say → KindAlreadyDone; a
//	                                                 refund of an order never paid, a
//	                                                 revoke of an order not revoked
//	                                                 (refunded, not paid today) → KindFinal
//	UPAY_TERMINAL_NOT_EXISTS, ACCOUNT_BALANCE_NOT_ENOUGH  KindBlocked (fix, then resume)
//	REFUNDABLE_AMOUNT_NOT_ENOUGH, TRADE_TIMEOUT,     KindFinal (about the refund itself)
//	UPAY_ORDER_NOT_EXISTS, UPAY_TCP_ORDER_NOT_REFUNDABLE,
//	REFUND_FAIL, CANCEL_ABORT_*, any other code
//
// A refund for another terminal than the client's is KindBlocked (our
// wiring); a client built without its key is KindBlocked (New).
//
// # What an outcome names
//
// Outcome.OrderNo is the answer's client_sn, Outcome.RefundNo the refund
// number its client_tsn (client_sn-refund_request_no) names, Outcome.Amount
// its refund_amount (a revoke: its total_amount); none is copied from the
// request, and what the answer does not carry stays "" or 0. Upay answers
// carry no currency: Outcome.Currency is "".
//
// # Lookup
//
// Upay has no refund query: /upay/v2/query returns the ORDER with its
// order_status, net_amount and its latest transaction (client_tsn =
// client_sn-refund_request_no for a refund, status). Lookup reads a refund's
// outcome from it conservatively:
//
//   - order unknown to Upay (UPAY_ORDER_NOT_EXISTS): ErrNotFound.
//   - latest transaction is this refund (client_tsn matches): its status —
//     SUCCESS succeeded; FAIL_CANCELED, FAIL_ERROR, *FAIL* failed;
//     CREATED, IN_PROG pending; anything else unknown. Its client_tsn is
//     reported as the ProviderRefundID.
//   - order CANCELED (revoked): Upay revokes only orders without refunds and
//     refunds nothing after a revoke, so ErrNotFound.
//   - latest transaction is the payment itself and net_amount equals
//     total_amount with order_status PAID: no refund of any number has ever
//     moved money on this order, so ErrNotFound.
//   - anything else (a later refund hides ours, or money moved but the query
//     cannot attribute it): StatusUnknown, never ErrNotFound. Re-submitting
//     the same refund_request_no is then the way to learn the outcome: Upay
//     answers a repeat with the original outcome or UPAY_REFUND_ORDER_NOOP.
//
// For a revoke: order_status CANCELED succeeded, CANCEL_INPROGRESS pending,
// CANCEL_ERROR unknown; a PAID order untouched (net = total, latest
// transaction the payment) or a REFUNDED / PARTIAL_REFUNDED order (a revoke is
// impossible after a refund) has no revoke: ErrNotFound.
//
// All assumptions about Upay that no public source states are in assumed.go.
package upay
