// Package payease is the client for PayEase (5upay) refunds and refund
// queries.
//
// Wire format (seed + the public PHP SDK): POST {base}/icc/refund and
// (assumed) POST {base}/icc/refundQuery. Every request is JSON signed with the
// RSA "hmac" (see Sign and HmacSource: sorted non-empty values, each followed
// by '#', SHA-1, then RSA PKCS#1 v1.5 with MD5 as PHP's
// openssl_sign($sha1raw, …, "md5") does: the signature is over MD5(SHA-1 raw
// digest)). The JSON including hmac is encrypted with AES-128-ECB/PKCS#7
// under a random 16-character key and sent as base64 text; the key travels
// RSA-encrypted (PKCS#1 v1.5, platform public key) in the encryptKey header,
// alongside Content-Type application/vnd.5upay-v3.0+json, merchantId and
// requestId. Answers are {"data":"<base64>"} with their own encryptKey header,
// decrypted with the merchant private key; their hmac is verified with the
// platform public key, and an answer whose hmac does not verify is rejected
// (KindUnknown: we cannot trust what it says). Error answers carry code and
// cause/errorMessage and no hmac.
//
// # Status mapping
//
// A refusal is never an Outcome: Refund returns it as an *adapters.Error
// with PayEase's code and cause (the refusal contract, adapters/errors.go).
//
//	refund answer status SUCCESS          pending: accepted, settles later
//	                                      (refundStatus via query or notify);
//	                                      carrying refundStatus FAILED (a repeat
//	                                      of a failed refund): error, KindFinal
//	query refundStatus SUCCESS            succeeded
//	query refundStatus FAILED             failed
//	query refundStatus anything else      pending
//	error code naming the signature,      error, KindBlocked (HMAC_ERROR,
//	  keys, merchant, decryption or         DECRYPT_ERROR, MERCHANT_NOT_EXIST,
//	  content type                          CONTENT_TYPE_ERROR: fix, then resume)
//	error code saying the requestId       error, KindAlreadyDone (REQUEST_ID_REPEAT:
//	  was used before                       money moved under it, never "failed")
//	error code of a system fault          error, KindUnknown
//	error code on the query: not found    ErrNotFound
//	any other error code                  error, KindFinal (REFUND_AMOUNT_EXCEED,
//	                                        ORDER_NOT_EXIST, PARAM_ERROR)
//	HTTP 401/403                          error, KindBlocked
//	HTTP 429                              error, KindRetryable with Retry-After
//	answer's encryptKey not openable      error, KindBlocked, ENCRYPT_KEY_MISMATCH: the
//	  with our private key                platform holds another merchant key, so our
//	                                      hmac cannot have verified (bad credentials)
//	our key cannot sign or encrypt        error, KindBlocked
//	HTTP 5xx, unreadable, bad hmac        error, KindUnknown (lookups: KindRetryable)
//
// A refund for another merchant than the client's is KindBlocked (our
// wiring); a client built with a missing or unreadable key is KindBlocked (New).
//
// Outcome.RefundNo, OrderNo, Amount and Currency are the answer's requestId,
// orderRequestId, amount and currency, never copied from the request ("" or
// 0 when the answer leaves them out).
//
// All assumptions about PayEase that no public source states are in
// assumed.go.
package payease
