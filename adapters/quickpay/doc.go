// Package quickpay is the client for QuickPay refunds and refund queries.
//
// Wire format: POST {base}/QuickPay/Refund and (assumed) POST
// {base}/QuickPay/RefundQuery, JSON bodies with amounts as JSON integers of
// fen, answers in the envelope {"code": "SUCCESS" | error code, "msg", "data"}.
// Requests are signed (assumed, see assumed.go) with a per-store key.
//
// # Status mapping
//
//	HTTP 429                               error, KindRetryable (Retry-After honoured)
//	HTTP 5xx, unreadable answer            error, KindUnknown (lookups: KindRetryable)
//	HTTP 401/403, sign/auth/param codes    error, KindFinal
//	code SUCCESS, data.transaction_status:
//	  SUCCESSED, REFUNDED                  succeeded
//	  FAILED, REFUNDFAILED                 failed
//	  CREATE, PAYING, UNKNOWN              pending (settle via RefundQuery)
//	  anything else                        unknown
//	code of a system error                 error, KindUnknown
//	any other code (business refusal,      failed, with the code and msg
//	  e.g. refund above the paid amount)
//	RefundQuery: a not-found code          ErrNotFound
//
// QuickPay asks that a failed refund be re-submitted with the same refund_no;
// every attempt of the client carries the sheet's refund number unchanged.
//
// All assumptions about QuickPay that no public source states are in assumed.go.
package quickpay
