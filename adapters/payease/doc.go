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
//	refund answer status SUCCESS          pending: accepted, settles later
//	                                      (refundStatus via query or notify)
//	query refundStatus SUCCESS            succeeded
//	query refundStatus FAILED             failed
//	query refundStatus anything else      pending
//	error code naming a signature,        error, KindFinal
//	  key, merchant or parameter problem
//	error code of a system fault          error, KindUnknown
//	error code on the query: not found    ErrNotFound
//	any other error code on a refund      failed (PayEase refused the refund,
//	                                      e.g. above the paid amount)
//	HTTP 429                              error, KindRetryable with Retry-After
//	answer's encryptKey not openable      error, KindFinal, ENCRYPT_KEY_MISMATCH: the
//	  with our private key                platform holds another merchant key, so our
//	                                      hmac cannot have verified (bad credentials)
//	HTTP 5xx, unreadable, bad hmac        error, KindUnknown (lookups: KindRetryable)
//
// All assumptions about PayEase that no public source states are in
// assumed.go.
package payease
