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
// Envelope result_code (communication level):
//
//	"200"                         read biz_response (below)
//	"400" (INVALID_PARAMS, ILLEGAL_SIGN, INVALID_TERMINAL, ...)  error, KindFinal
//	"500" (UNKNOWN_SYSTEM_ERROR)  error, KindUnknown (may have been applied)
//
// biz_response.result_code of refund and revoke:
//
//	REFUND_SUCCESS, CANCEL_SUCCESS          succeeded
//	REFUND_FAIL, CANCEL_ABORT_*             failed (final)
//	FAIL + error_code                       failed (final), except:
//	FAIL + UPAY_REFUND_ORDER_NOOP           a repeat of a refund already done:
//	                                        confirmed with a query (below);
//	                                        unknown if the query cannot tell
//	REFUND_ERROR, CANCEL_ERROR              unknown: confirmed with a query
//	REFUND_IN_PROGRESS, CANCEL_IN_PROGRESS  pending
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
