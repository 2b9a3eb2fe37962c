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
//	HTTP 200, status:
//	  SUCCESS                  succeeded
//	  CLOSE                    failed (closed by the channel; final)
//	  PROCESSING               pending
//	  ABNORMAL                 pending, code ABNORMAL: not final, needs follow-up
//	                           (WeChat's "abnormal" refunds wait for a manual fix)
//	  anything else            unknown
//	HTTP 401 Not Authenticated error, KindFinal
//	HTTP 422 validation        failed, code "422" and the provider's errors text
//	                           (Nomad refused this refund, e.g. above the order total);
//	                           for a lookup: error, KindFinal
//	HTTP 404 on the query      ErrNotFound (assumed)
//	HTTP 429                   error, KindRetryable with Retry-After
//	HTTP 5xx, unreadable       error, KindUnknown (lookups: KindRetryable)
//
// All assumptions about Nomad that no public source states are in assumed.go.
package nomad
