package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// Samarkand Nomad broker emulation: POST /refund/{merchant} and
// GET /refund/{merchant}?refundOrderRef=&paymentMethod=, header app-api-key.

type nomadReq struct {
	PaymentMethod  string `json:"paymentMethod"`
	TransactionID  string `json:"transactionId"`
	OrderRef       string `json:"orderRef"`
	RefundOrderRef string `json:"refundOrderRef"`
	Reason         string `json:"reason"`
	RefundAmount   *int64 `json:"refundAmount"`
	TotalAmount    *int64 `json:"totalAmount"`
	Currency       string `json:"currency"`
	NotifyURL      string `json:"notifyUrl"`
	RefundAccount  string `json:"refundAccount"`
	FundsAccount   string `json:"fundsAccount"`
}

type nomadResp struct {
	Code                 int    `json:"code"`
	Message              string `json:"message"`
	RefundID             string `json:"refundId"`
	OrderRef             string `json:"orderRef"`
	RefundOrderRef       string `json:"refundOrderRef"`
	TransactionID        string `json:"transactionId"`
	Channel              string `json:"channel"`
	UserReceivedAccount  string `json:"userReceivedAccount"`
	CreateTime           string `json:"createTime"`
	SuccessTime          string `json:"successTime,omitempty"`
	Status               string `json:"status"`
	RefundAmount         int64  `json:"refundAmount"`
	TotalAmount          int64  `json:"totalAmount"`
	PayerRefund          int64  `json:"payerRefund"`
	PayerTotal           int64  `json:"payerTotal"`
	SettlementAmount     int64  `json:"settlementAmount"`
	SettlementTotal      int64  `json:"settlementTotal"`
	DiscountRefundAmount int64  `json:"discountRefundAmount"`
	Currency             string `json:"currency"`
	RefundAccount        string `json:"refundAccount"`
	FundsAccount         string `json:"fundsAccount,omitempty"`
}

type nomadError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Errors  string `json:"errors"`
}

func (s *Sandbox) nomad(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			return
		}
		merchant := r.PathValue("merchant")
		if !s.admit(w, r, adapters.Nomad, merchant) {
			return
		}
		status, resp := s.nomadHandle(op, r, merchant, body)
		b, _ := json.Marshal(resp)
		s.respond(w, op == "refund", status, "application/json", b)
	}
}

func nomadErr(status int, code, msg string) (int, any) {
	if status == http.StatusUnauthorized {
		return status, map[string]string{"errors": "Not Authenticated."}
	}
	return status, nomadError{Code: status, Message: code, Errors: msg}
}

func (s *Sandbox) nomadHandle(op string, r *http.Request, merchant string, body []byte) (int, any) {
	acc := s.accounts[acctKey{adapters.Nomad, merchant}]
	key := r.Header.Get("app-api-key")
	if acc == nil || key == "" || subtle.ConstantTimeCompare([]byte(key), []byte(acc.Secret)) != 1 {
		return nomadErr(http.StatusUnauthorized, "", "")
	}
	if op == "query" {
		ref, pm := r.URL.Query().Get("refundOrderRef"), r.URL.Query().Get("paymentMethod")
		if ref == "" {
			return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "refundOrderRef is required")
		}
		if pm != "" && pm != "wechatpay" && pm != "alipay" {
			return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "paymentMethod must be wechatpay or alipay")
		}
		rf, ord, ok := s.lookup(refundKey{adapters.Nomad, merchant, "", ref})
		if !ok || (pm != "" && ord.PaymentMethod != pm) {
			return nomadErr(http.StatusNotFound, "REFUND_NOT_FOUND", "refund "+strconv.Quote(ref)+" not found")
		}
		return http.StatusOK, nomadRender(ord, rf)
	}
	var q nomadReq
	if err := json.Unmarshal(body, &q); err != nil {
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "invalid body: "+err.Error())
	}
	switch {
	case q.PaymentMethod != "wechatpay" && q.PaymentMethod != "alipay":
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "paymentMethod must be wechatpay or alipay")
	case q.OrderRef == "":
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "orderRef is required")
	case q.RefundOrderRef == "":
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "refundOrderRef is required")
	case q.RefundAmount == nil || *q.RefundAmount <= 0:
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "refundAmount is required and must be a positive number of fen")
	case q.TotalAmount == nil || *q.TotalAmount <= 0:
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "totalAmount is required and must be a positive number of fen")
	case q.Currency != "" && q.Currency != "CNY":
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "currency must be CNY")
	case q.RefundAccount != "" && q.RefundAccount != "REFUND_SOURCE_PARTNER_ADVANCE" && q.RefundAccount != "REFUND_SOURCE_SUB_MERCHANT":
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "refundAccount must be REFUND_SOURCE_PARTNER_ADVANCE or REFUND_SOURCE_SUB_MERCHANT")
	}
	s.mu.Lock()
	o := s.findOrder(adapters.Nomad, merchant, "", q.OrderRef)
	s.mu.Unlock()
	switch {
	case o == nil:
		return nomadErr(http.StatusUnprocessableEntity, "ORDER_NOT_FOUND", "order "+strconv.Quote(q.OrderRef)+" not found")
	case q.TransactionID != "" && q.TransactionID != o.ProviderOrderID:
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "transactionId does not belong to orderRef")
	case *q.TotalAmount != o.Total:
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "totalAmount "+strconv.FormatInt(*q.TotalAmount, 10)+" is not the order total "+strconv.FormatInt(o.Total, 10))
	case q.PaymentMethod != o.PaymentMethod:
		return nomadErr(http.StatusUnprocessableEntity, "VALIDATION_ERROR", "paymentMethod "+q.PaymentMethod+" is not the order's "+o.PaymentMethod)
	}
	rf, ord, _, rej := s.apply(refundReq{provider: adapters.Nomad, account: merchant, ord: o, typ: adapters.ActionRefund,
		refundNo: q.RefundOrderRef, amount: *q.RefundAmount, mayPend: true, notifyURL: q.NotifyURL, remark: q.Reason,
		refundAccount: q.RefundAccount, fundsAccount: q.FundsAccount})
	switch rej {
	case rejConflict:
		return nomadErr(http.StatusUnprocessableEntity, "REFUND_ORDER_REF_CONFLICT", "refundOrderRef already used for another order or amount")
	case rejFullyRefunded, rejExceeds:
		return nomadErr(http.StatusUnprocessableEntity, "REFUND_AMOUNT_EXCEEDED", "refundAmount exceeds the refundable amount "+strconv.FormatInt(ord.remaining(), 10))
	}
	return http.StatusOK, nomadRender(ord, rf)
}

func nomadRender(o order, rf LedgerRefund) nomadResp {
	status := "SUCCESS"
	switch rf.Status {
	case adapters.StatusPending:
		status = "PROCESSING"
	case adapters.StatusFailed:
		status = "CLOSE"
	}
	resp := nomadResp{
		Code: 200, Message: "success", RefundID: rf.ProviderRefundID, OrderRef: o.OrderNo,
		RefundOrderRef: rf.RefundNo, TransactionID: o.ProviderOrderID, Channel: "ORIGINAL",
		UserReceivedAccount: "支付用户零钱", CreateTime: rf.Created.In(cst).Format(time.RFC3339),
		Status: status, RefundAmount: rf.Amount, TotalAmount: o.Total, PayerRefund: rf.Amount, PayerTotal: o.Total,
		SettlementAmount: rf.Amount, SettlementTotal: o.Total, Currency: string(o.Currency),
		RefundAccount: rf.refundAccount, FundsAccount: rf.fundsAccount,
	}
	if resp.RefundAccount == "" {
		resp.RefundAccount = "REFUND_SOURCE_SUB_MERCHANT" // the documented default
	}
	if rf.Status == adapters.StatusSucceeded {
		resp.SuccessTime = rf.Time.In(cst).Format(time.RFC3339)
	}
	return resp
}
