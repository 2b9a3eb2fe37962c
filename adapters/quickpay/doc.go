// Package quickpay is the client for QuickPay refunds and refund queries.
//
// Wire format: POST {base}/QuickPay/Refund and (assumed) POST
// {base}/QuickPay/RefundQuery, JSON bodies with amounts as JSON integers of
// fen, answers in the envelope {"code": "SUCCESS" | error code, "msg", "data"}.
// Requests are signed (assumed, see assumed.go) with a per-store key.
//
// # Status mapping
//
// A refusal is never an Outcome: Refund returns it as an *adapters.Error
// with QuickPay's code and msg (the refusal contract, adapters/errors.go).
//
//	HTTP 429                               error, KindRetryable (Retry-After honoured)
//	HTTP 5xx, unreadable answer            error, KindUnknown (lookups: KindRetryable)
//	HTTP 401/403                           error, KindBlocked
//	code SUCCESS, data.transaction_status:
//	  SUCCESSED, REFUNDED                  succeeded
//	  FAILED, REFUNDFAILED                 Refund: error, KindFinal; Lookup: failed
//	  CREATE, PAYING, UNKNOWN              pending (settle via RefundQuery)
//	  anything else                        unknown
//	code of a system error                 error, KindUnknown
//	code naming the signature, key, store  error, KindBlocked (SIGN_ERROR,
//	  or authentication                      STORE_NOT_EXIST: fix, then resume)
//	code saying the refund_no was used     error, KindAlreadyDone (REFUND_NO_CONFLICT:
//	  before                                 money moved under it, never "failed")
//	any other code                         error, KindFinal (REFUND_AMOUNT_EXCEEDED,
//	                                         ORDER_NOT_EXIST, PARAM_ERROR)
//	RefundQuery: a not-found code          ErrNotFound
//
// A refund for another store than the client's is KindBlocked (our wiring);
// a client built without its key is KindBlocked (New).
//
// Outcome.RefundNo, OrderNo and Amount are the answer's refund_order_no,
// order_no and refund_amount, never copied from the request; QuickPay
// answers carry no currency, so Outcome.Currency is "".
//
// QuickPay asks that a failed refund be re-submitted with the same refund_no;
// every attempt of the client carries the sheet's refund number unchanged.
//
// All assumptions about QuickPay that no public source states are in assumed.go.
package quickpay
