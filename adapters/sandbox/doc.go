// Package sandbox emulates the four payment providers — Upay (Shouqianba),
// QuickPay, Samarkand Nomad and PayEase (5upay) — on one loopback HTTP
// handler, with state, business rules and fault injection, for tests, demos
// and benchmarks.
//
// It is written from the provider documents (shared/PROVIDERS.md and the
// seeds) and shares no wire-format or signing code with the clients in
// adapters/upay, quickpay, nomad and payease: a mistake on either side shows
// up as a disagreement between the two.
//
// # Paths and wire formats
//
// All providers share one base URL (Sandbox.URL).
//
//	Upay      POST /upay/v2/refund, /upay/v2/revoke, /upay/v2/query
//	          JSON, every value a string, amounts fen strings.
//	          Authorization: <terminal_sn> <md5hex(raw body bytes + terminal key)>
//	          Envelope {"result_code":"200"|"400"|"500","error_code","error_message",
//	          "biz_response":{"result_code","error_code","error_message","data":{...}}}.
//	QuickPay  POST /QuickPay/Refund, POST /QuickPay/RefundQuery {store_no, order_no, refund_order_no}
//	          JSON, amounts integer fen; X-QuickPay-Sign: hex(HMAC-SHA256(body, store key));
//	          answer {"code":"SUCCESS"|error code,"msg","data":{...}}.
//	Nomad     POST /refund/{merchant}; GET /refund/{merchant}?refundOrderRef=&paymentMethod=
//	          header app-api-key; camelCase JSON, amounts JSON numbers of fen.
//	          401 {"errors":"Not Authenticated."}; 422/404 {"code","message":CODE,"errors":text}.
//	PayEase   POST /icc/refund, POST /icc/refundQuery {merchantId, requestId, hmac}
//	          Content-Type application/vnd.5upay-v3.0+json, headers merchantId, requestId,
//	          encryptKey; body base64(AES-128-ECB/PKCS#7(JSON)) with a 16-character key sent
//	          RSA-PKCS#1 v1.5-encrypted with the platform public key. hmac = base64 RSA
//	          PKCS#1 v1.5 signature (MD5 DigestInfo) over MD5(SHA-1 raw bytes of the source),
//	          source = non-empty values sorted by key, each followed by '#' (PHP
//	          openssl_sign($sha1raw, $sig, $key, "md5")). Answers {"data":base64} with an
//	          encryptKey header, encrypted towards the merchant's public key, signed
//	          with the platform private key; errors carry status ERROR, code, cause, no hmac.
//	          Amounts: fen (Assumed), accepted as a JSON number or a digit string,
//	          answered as a JSON number.
//
// Transport faults use each provider's error shape with HTTP 429 (plus
// Retry-After in whole seconds), 503 (error rate: nothing processed) or 504
// (timeout cap reached: nothing processed).
//
// # Business rules and codes
//
// Orders belong to one provider account (terminal, store, merchant). A refund
// moves money at most once per refund number: a repeat with the same amount
// returns the original refund's current state; a repeat with another amount
// (or, where numbers are per merchant, another order) is rejected. A business
// rejection records nothing, so a number that was refused may be re-sent, as
// QuickPay documents. Refunds never exceed what is left of the order (pending
// refunds count as taken). Faults.NonIdempotent drops the number rule (a
// repeat is a new refund, as far as the order allows); Faults.LenientRepeat
// answers any repeat with the refund held, naming its own amount and order.
//
// The sandbox counts per refund number (Numbers, and Requests/Applied on
// every ledger entry) the refund calls it processed and the refunds it
// accepted: Applied 1 is a refund paid once however often it was asked for.
//
//	rule                       Upay (biz FAIL + error_code)        QuickPay code           Nomad 422 message          PayEase code
//	order unknown              UPAY_ORDER_NOT_EXISTS               ORDER_NOT_EXIST         ORDER_NOT_FOUND            ORDER_NOT_EXIST
//	amount > remaining         REFUNDABLE_AMOUNT_NOT_ENOUGH        REFUND_AMOUNT_EXCEEDED  REFUND_AMOUNT_EXCEEDED     REFUND_AMOUNT_EXCEED
//	nothing remaining          UPAY_REFUND_INVALID_ORDER_STATE     REFUND_AMOUNT_EXCEEDED  REFUND_AMOUNT_EXCEEDED     REFUND_AMOUNT_EXCEED
//	number reused differently  REFUND_REQUEST_NO_CONFLICT          REFUND_NO_CONFLICT      REFUND_ORDER_REF_CONFLICT  REQUEST_ID_REPEAT
//	bad credentials            400 INVALID_TERMINAL / ILLEGAL_SIGN STORE_NOT_EXIST/SIGN_ERROR  HTTP 401            MERCHANT_NOT_EXIST / DECRYPT_ERROR / HMAC_ERROR
//	malformed request          400 INVALID_PARAMS                  PARAM_ERROR             VALIDATION_ERROR           PARAM_ERROR / CONTENT_TYPE_ERROR
//	refund not found (query)   UPAY_ORDER_NOT_EXISTS (order)       REFUND_NOT_EXIST        HTTP 404 REFUND_NOT_FOUND  REFUND_NOT_EXIST
//
// Upay only: refunds within 3 months of payment (TRADE_TIMEOUT after);
// revoke refunds the full amount, only on the payment's calendar day in
// Asia/Shanghai, only before any refund (UPAY_REFUND_INVALID_ORDER_STATE
// otherwise); a repeated revoke answers FAIL + UPAY_CANCEL_ORDER_NOOP and
// moves nothing; a refund of a revoked order is UPAY_REFUND_INVALID_ORDER_STATE;
// with Faults.UpayRepeatNoop a repeated refund_request_no answers FAIL +
// UPAY_REFUND_ORDER_NOOP instead of the original outcome. Answers echo the
// call: Upay operator (a revoke's and a payment's: "cashier", assumed),
// QuickPay operator and refund_desc, PayEase remark, Nomad refundAccount and
// fundsAccount.
// Numbers the sandbox assigns: Upay client_tsn = client_sn-refund_request_no
// (client_sn-revoke for a revoke), QuickPay refund_transaction_no QPR…,
// Nomad refundId 503…, PayEase refundId PER…, each a per-provider sequence.
// The Upay query answers the order with its latest transaction: client_tsn
// and refund_amount of the latest refund or revoke, none for the payment.
//
// Every provider can answer "in progress": with Faults.PendingRate a refund
// (never a Upay revoke) is pending and settles Faults.SettleAfter later, as
// succeeded or (SettleFailRate) as failed, giving the amount back to the
// order. While pending its amount is reserved and a repeat of its number
// answers the current state, moving nothing.
//
//	          refund answer                query while pending      settled: succeeded / failed
//	Upay      REFUND_IN_PROGRESS, IN_PROG  status IN_PROG           SUCCESS / FAIL_CANCELED
//	QuickPay  transaction_status PAYING    PAYING                   REFUNDED / REFUNDFAILED
//	Nomad     PROCESSING                   PROCESSING               SUCCESS / CLOSE
//	PayEase   SUCCESS (= accepted)         refundStatus PROCESSING  SUCCESS / FAILED
//
// The Upay query shows the pending refund as the latest transaction
// (client_tsn = client_sn-refund_request_no); its order_status and net_amount
// count succeeded refunds only (the documents list no "refund in progress"
// order state). Assumed: IN_PROG and FAIL_CANCELED, from Upay's transaction
// state list; the seeds show only SUCCESS. A repeated Upay refund that settled
// as failed answers REFUND_FAIL, a QuickPay one transaction_status FAILED.
// The PayEase refund answer is always status SUCCESS = accepted. When
// a Nomad or PayEase refund becomes final the sandbox POSTs the notify to its
// notifyUrl (or Config.NotifyURL) — only to loopback hosts, best effort, 5s
// timeout: PayEase encrypted and signed like its answers, Nomad unsigned JSON
// {refundOrderRef, status, successTime}. Sandbox.Notify sends one now and
// returns the receiver's answer.
//
// # Faults
//
// Faults apply to provider endpoints only, never to /_sandbox/. In order:
// Latency + uniform Jitter; RateLimit/Burst token bucket per account → 429
// with Retry-After; ErrorRate → 503, nothing applied; TimeoutRate → hang
// until the client gives up (or Config.TimeoutCap, then 504), nothing
// applied; then the request is processed; LostResponseRate (refund and
// revoke only) → the refund IS applied and the connection is closed without
// an answer. LookupLagRate/LookupLag make refund queries miss refunds applied
// less than LookupLag ago, answering each provider's own "no record"
// (QuickPay REFUND_NOT_EXIST, Nomad 404, PayEase REFUND_NOT_EXIST, the Upay
// order as before those refunds). Draws come from one generator seeded with
// Faults.Seed, so a sequential client sees the same faults on every run.
// Stats reports per account the requests received, the 429s answered and the
// most requests in any sliding second.
//
// # Admin endpoints
//
// Open on loopback; with Config.AdminToken they need "Authorization: Bearer
// <token>", with Config.NoAdmin they are off. StartAt refuses a non-loopback
// address with neither (ErrAdminExposed).
//
//	GET  /_sandbox/statement   the statement CSV (WriteStatement)
//	GET  /_sandbox/ledger      JSON array of every refund, with requests and applied
//	GET  /_sandbox/numbers     JSON array of every refund number asked for (Numbers)
//	GET  /_sandbox/stats       JSON per account: requests, rate_limited, max_per_second
//	GET  /_sandbox/orders      JSON array of orders with refunded and remaining amounts
//	GET  /_sandbox/faults      JSON faults (durations as "50ms")
//	POST /_sandbox/faults      change faults; omitted fields keep their value
//	POST /_sandbox/refunds     out-of-band refund {"provider","account","order_no"|"provider_order_id",
//	                           "refund_no"?, "type"?: "refund"|"revoke", "amount": "12.50", "time"?: RFC3339}
//	                           → 201 with the ledger entry, 404 unknown order, 422 over-refund.
//
// # Statement
//
// CSV with header provider,account,order_no,provider_order_id,refund_no,
// provider_refund_id,type,amount,currency,status,time: one row per refund the
// provider holds (API, out-of-band), amount major-unit text, type refund or
// revoke (a revoke has an empty refund_no), status succeeded|failed|pending,
// time RFC3339 UTC, sorted by provider, account, order, time, refund number.
package sandbox
