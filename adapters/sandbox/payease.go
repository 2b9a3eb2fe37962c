package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// PayEase (5upay) emulation: POST /icc/refund and POST /icc/refundQuery with
// the encrypted, RSA-"hmac"-signed envelope (payease_crypto.go).

const peContentType = "application/vnd.5upay-v3.0+json"

var peOrderRequestID = regexp.MustCompile(`^(\d{8})-(\d+)-[0-9][0-9-]*$`)

func (s *Sandbox) payease(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			return
		}
		merchant := r.Header.Get("merchantId")
		if !s.admit(w, r, adapters.PayEase, merchant) {
			return
		}
		acc := s.accounts[acctKey{adapters.PayEase, merchant}]
		plain := func(code, cause string) {
			b, _ := json.Marshal(map[string]string{"status": "ERROR", "code": code, "cause": cause})
			s.respond(w, op == "refund", http.StatusOK, "application/json", b)
		}
		switch {
		case merchant == "" || acc == nil:
			plain("MERCHANT_NOT_EXIST", "merchantId header is missing or unknown")
			return
		case !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), peContentType):
			plain("CONTENT_TYPE_ERROR", "Content-Type must be "+peContentType)
			return
		}
		fields, err := peOpen(s.platform, r.Header.Get("encryptKey"), body)
		if err != nil {
			plain("DECRYPT_ERROR", err.Error())
			return
		}
		out := s.payeaseHandle(op, r, acc, fields)
		if out["status"] == "SUCCESS" {
			sig, err := peSign(s.platform, out)
			if err != nil {
				plain("SYSTEM_ERROR", "signing failed")
				return
			}
			out["hmac"] = sig
		}
		b, ek, err := peSeal(acc.merchantPub, out)
		if err != nil {
			plain("SYSTEM_ERROR", "encryption failed")
			return
		}
		w.Header().Set("encryptKey", ek)
		w.Header().Set("merchantId", merchant)
		s.respond(w, op == "refund", http.StatusOK, "application/json", b)
	}
}

func peErr(code, cause string) map[string]any {
	return map[string]any{"status": "ERROR", "code": code, "cause": cause}
}

// peString reads a field that must be a JSON string.
func peString(f map[string]any, k string) (string, bool) {
	switch v := f[k].(type) {
	case nil:
		return "", true
	case string:
		return v, true
	}
	return "", false
}

func (s *Sandbox) payeaseHandle(op string, r *http.Request, acc *account, f map[string]any) map[string]any {
	hmac, _ := f["hmac"].(string)
	if hmac == "" {
		return peErr("HMAC_ERROR", "hmac is required")
	}
	if err := peVerify(acc.merchantPub, f, hmac); err != nil {
		return peErr("HMAC_ERROR", "hmac verification failed")
	}
	merchant, ok := peString(f, "merchantId")
	if !ok || merchant != acc.ID {
		return peErr("PARAM_ERROR", "merchantId must equal the merchantId header")
	}
	requestID, ok := peString(f, "requestId")
	if !ok || requestID == "" || len(requestID) > 50 {
		return peErr("PARAM_ERROR", "requestId is required, at most 50 characters")
	}
	if h := r.Header.Get("requestId"); h != requestID {
		return peErr("PARAM_ERROR", "requestId must equal the requestId header")
	}
	if op == "query" {
		rf, ord, ok := s.lookup(refundKey{adapters.PayEase, acc.ID, "", requestID})
		if !ok {
			return peErr("REFUND_NOT_EXIST", "no refund with requestId "+requestID)
		}
		out := peRender(ord, rf)
		out["status"] = "SUCCESS"
		return out
	}
	orderReq, ok := peString(f, "orderRequestId")
	m := peOrderRequestID.FindStringSubmatch(orderReq)
	if !ok || len(orderReq) > 80 || m == nil {
		return peErr("PARAM_ERROR", "orderRequestId must be yyyymmdd-merchantId-flow")
	}
	if _, err := time.Parse("20060102", m[1]); err != nil || m[2] != acc.ID {
		return peErr("PARAM_ERROR", "orderRequestId must be yyyymmdd-merchantId-flow with this merchant's id")
	}
	// Assumed: amount is fen; accepted as a JSON number or a string of digits.
	var amount int64
	switch v := f["amount"].(type) {
	case json.Number:
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return peErr("PARAM_ERROR", "amount must be a whole number of fen: "+v.String())
		}
		amount = n
	case string:
		n, ok := fenString(v, 18)
		if !ok {
			return peErr("PARAM_ERROR", "amount must be a whole number of fen: "+strconv.Quote(v))
		}
		amount = n
	default:
		return peErr("PARAM_ERROR", "amount is required")
	}
	if amount <= 0 {
		return peErr("PARAM_ERROR", "amount must be positive")
	}
	notify, ok := peString(f, "notifyUrl")
	if u, err := url.Parse(notify); !ok || notify == "" || len(notify) > 200 || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return peErr("PARAM_ERROR", "notifyUrl is required: an http(s) URL of at most 200 characters")
	}
	remark, ok := peString(f, "remark")
	if !ok || len([]rune(remark)) > 300 {
		return peErr("PARAM_ERROR", "remark must be a string of at most 300 characters")
	}
	s.mu.Lock()
	o := s.findOrder(adapters.PayEase, acc.ID, "", orderReq)
	s.mu.Unlock()
	if o == nil {
		return peErr("ORDER_NOT_EXIST", "no order with orderRequestId "+orderReq)
	}
	rf, ord, _, rej := s.apply(refundReq{provider: adapters.PayEase, account: acc.ID, ord: o, typ: adapters.ActionRefund,
		refundNo: requestID, amount: amount, mayPend: true, notifyURL: notify, remark: remark})
	switch rej {
	case rejConflict:
		return peErr("REQUEST_ID_REPEAT", "requestId already used for another order or amount")
	case rejFullyRefunded, rejExceeds:
		return peErr("REFUND_AMOUNT_EXCEED", fmt.Sprintf("amount exceeds the refundable amount %d", ord.remaining()))
	}
	out := peRender(ord, rf)
	// The refund answer says "accepted"; the outcome comes by notify or query.
	delete(out, "refundStatus")
	delete(out, "refundCompleteTime")
	out["status"] = "SUCCESS"
	return out
}

// peRender is a refund as query and notify show it.
func peRender(o order, rf LedgerRefund) map[string]any {
	status := "PROCESSING"
	switch rf.Status {
	case adapters.StatusSucceeded:
		status = "SUCCESS"
	case adapters.StatusFailed:
		status = "FAILED"
	}
	out := map[string]any{
		"merchantId": o.Account, "orderRequestId": o.OrderNo, "requestId": rf.RefundNo,
		"refundId": rf.ProviderRefundID, "bankNumber": "BN" + rf.ProviderRefundID[3:],
		"amount": json.Number(strconv.FormatInt(rf.Amount, 10)), "currency": string(rf.Currency),
		"refundSubmissionTime": rf.Created.In(cst).Format(time.DateTime),
		"refundStatus":         status,
	}
	if rf.Status.Final() {
		out["refundCompleteTime"] = rf.Time.In(cst).Format(time.DateTime)
	}
	if rf.Remark != "" {
		out["remark"] = rf.Remark
	}
	return out
}
