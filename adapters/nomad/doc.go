// Package nomad is the client for Samarkand Nomad broker refunds.
//
// Wire format: POST {base}/refund/{merchant} with header app-api-key and a
// camelCase JSON body whose amounts (refundAmount, totalAmount) are JSON
// numbers of fen; the refund query is (assumed) GET
// {base}/refund/{merchant}?refundOrderRef=&paymentMethod= answering the same
// body as the create call. {base} includes the API prefix, e.g.
// https://nomad.samarkand-global.cn/broker/v1.
//
// # Status mapping
//
// A refusal is never an Outcome: Refund returns it as an *adapters.Error
// with Nomad's code and errors text (the refusal contract, adapters/errors.go).
//
//	HTTP 200, status:
//	  SUCCESS                  succeeded
//	  CLOSE                    Refund: error, KindFinal; Lookup: failed (closed
//	                           by the channel; final)
//	  PROCESSING               pending
//	  ABNORMAL                 pending, code ABNORMAL: not final, needs follow-up
//	                           (WeChat's "abnormal" refunds wait for a manual fix)
//	  anything else            unknown
//	HTTP 401 Not Authenticated error, KindBlocked (and 403)
//	HTTP 422 on a refund       error with the code Nomad gives (or "422"):
//	                           a number used before (…CONFLICT) KindAlreadyDone,
//	                           anything else (validation, amount above what is
//	                           left, unknown order) KindFinal
//	HTTP 422 on the query      error, KindFinal
//	HTTP 404 on the query      ErrNotFound (assumed)
//	HTTP 429                   error, KindRetryable with Retry-After
//	HTTP 5xx, unreadable       error, KindUnknown (lookups: KindRetryable)
//
// A refund for another merchant than the client's is KindBlocked (our
// wiring); a client built without its key is KindBlocked (New).
//
// Outcome.RefundNo, OrderNo, Amount and Currency are the answer's
// refundOrderRef, orderRef, refundAmount and currency, never copied from the
// request ("" or 0 when the answer leaves them out).
//
// All assumptions about Nomad that no public source states are in assumed.go.
package nomad
