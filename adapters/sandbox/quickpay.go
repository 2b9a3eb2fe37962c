package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// QuickPay emulation: POST /QuickPay/Refund and POST /QuickPay/RefundQuery,
// JSON, X-QuickPay-Sign = lowercase hex HMAC-SHA256(body, store key).

type quickpayReq struct {
	StoreNo       string          `json:"store_no"`
	Operator      string          `json:"operator"`
	Amount        *int64          `json:"amount"`
	RefundAmount  *int64          `json:"refund_amount"`
	OrderNo       string          `json:"order_no"`
	RefundNo      string          `json:"refund_no"`
	RefundDesc    string          `json:"refund_desc"`
	ItemList      json.RawMessage `json:"itemlist"`
	RefundOrderNo string          `json:"refund_order_no"` // RefundQuery
}

type quickpayData struct {
	TransactionStatus   string `json:"transaction_status"`
	Error               string `json:"error,omitempty"`
	StoreNo             string `json:"store_no"`
	PayType             string `json:"paytype"`
	TotalAmount         int64  `json:"total_amount"`
	RefundAmount        int64  `json:"refund_amount"`
	SettlementAmount    int64  `json:"settlement_amount"`
	CashAmount          int64  `json:"cash_amount"`
	CouponAmount        int64  `json:"coupon_amount"`
	OrderNo             string `json:"order_no"`
	RefundOrderNo       string `json:"refund_order_no"`
	Operator            string `json:"operator,omitempty"`
	TransactionNo       string `json:"transaction_no"`
	RefundTransactionNo string `json:"refund_transaction_no"`
	RefundDesc          string `json:"refund_desc,omitempty"`
	RefundTime          string `json:"refund_transaction_time"`
	TransactionMessage  string `json:"transaction_message,omitempty"`
}

type quickpayResp struct {
	Code string        `json:"code"`
	Msg  string        `json:"msg"`
	Data *quickpayData `json:"data,omitempty"`
}

func (s *Sandbox) quickpay(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			return
		}
		var q quickpayReq
		decErr := json.Unmarshal(body, &q)
		if !s.admit(w, r, adapters.QuickPay, q.StoreNo) {
			return
		}
		resp := s.quickpayHandle(op, body, r.Header.Get("X-QuickPay-Sign"), q, decErr)
		b, _ := json.Marshal(resp)
		s.respond(w, op == "refund", http.StatusOK, "application/json; charset=utf-8", b)
	}
}

func qpErr(code, msg string) quickpayResp { return quickpayResp{Code: code, Msg: msg} }

func (s *Sandbox) quickpayHandle(op string, body []byte, sign string, q quickpayReq, decErr error) quickpayResp {
	if q.StoreNo == "" && decErr != nil {
		return qpErr("PARAM_ERROR", "请求格式错误 (malformed JSON): "+decErr.Error())
	}
	acc := s.accounts[acctKey{adapters.QuickPay, q.StoreNo}]
	if acc == nil {
		return qpErr("STORE_NOT_EXIST", "门店不存在 (unknown store_no)")
	}
	m := hmac.New(sha256.New, []byte(acc.Secret))
	m.Write(body)
	if subtle.ConstantTimeCompare([]byte(sign), []byte(hex.EncodeToString(m.Sum(nil)))) != 1 {
		return qpErr("SIGN_ERROR", "签名错误 (X-QuickPay-Sign does not match)")
	}
	if decErr != nil {
		return qpErr("PARAM_ERROR", "参数格式错误 (wrong field type): "+decErr.Error())
	}
	if len(q.StoreNo) > 32 {
		return qpErr("PARAM_ERROR", "store_no 长度必须在 1 和 32 之间")
	}
	if op == "query" {
		if q.OrderNo == "" || q.RefundOrderNo == "" {
			return qpErr("PARAM_ERROR", "order_no 和 refund_order_no 必填")
		}
		rf, ord, ok := s.lookup(refundKey{adapters.QuickPay, q.StoreNo, "", q.RefundOrderNo})
		if !ok || rf.OrderNo != q.OrderNo {
			return qpErr("REFUND_NOT_EXIST", "退款单不存在 (no such refund)")
		}
		d := quickpayRender(ord, rf)
		switch rf.Status {
		case adapters.StatusSucceeded:
			d.TransactionStatus = "REFUNDED"
		case adapters.StatusFailed:
			d.TransactionStatus = "REFUNDFAILED"
		}
		return quickpayResp{Code: "SUCCESS", Msg: "查询成功", Data: &d}
	}
	n := utf8.RuneCountInString(q.Operator)
	switch {
	case n < 1 || n > 16:
		return qpErr("PARAM_ERROR", "operator 长度必须在 1 和 16 之间")
	case q.OrderNo == "":
		return qpErr("PARAM_ERROR", "order_no 必填")
	case q.RefundNo == "":
		return qpErr("PARAM_ERROR", "refund_no 必填")
	case q.RefundAmount == nil:
		return qpErr("PARAM_ERROR", "refund_amount 必填")
	case *q.RefundAmount < 1 || *q.RefundAmount > 9999999999:
		return qpErr("PARAM_ERROR", "refund_amount 必须在 1 和 9999999999 之间")
	case q.Amount != nil && (*q.Amount < 1 || *q.Amount > 9999999999):
		return qpErr("PARAM_ERROR", "amount 必须在 1 和 9999999999 之间")
	}
	s.mu.Lock()
	o := s.findOrder(adapters.QuickPay, q.StoreNo, "", q.OrderNo)
	s.mu.Unlock()
	if o == nil {
		return qpErr("ORDER_NOT_EXIST", "原订单不存在 (order not found)")
	}
	if q.Amount != nil && *q.Amount != o.Total {
		return qpErr("PARAM_ERROR", "amount 与原订单金额不一致 (amount "+strconv.FormatInt(*q.Amount, 10)+" is not the order's "+strconv.FormatInt(o.Total, 10)+")")
	}
	rf, ord, _, rej := s.apply(refundReq{provider: adapters.QuickPay, account: q.StoreNo, ord: o,
		typ: adapters.ActionRefund, refundNo: q.RefundNo, amount: *q.RefundAmount, operator: q.Operator, remark: q.RefundDesc,
		mayPend: true})
	switch rej {
	case rejConflict:
		return qpErr("REFUND_NO_CONFLICT", "退款单号已用于其他退款 (refund_no already used for another order or amount)")
	case rejFullyRefunded, rejExceeds:
		return qpErr("REFUND_AMOUNT_EXCEEDED", "退款金额超过可退金额 (refund exceeds the refundable amount "+strconv.FormatInt(ord.remaining(), 10)+")")
	}
	d := quickpayRender(ord, rf)
	msg := "退款成功"
	switch rf.Status {
	case adapters.StatusPending:
		msg = "退款处理中 (refund in progress: query RefundQuery)"
	case adapters.StatusFailed:
		msg = "退款失败 (refund failed)"
	}
	return quickpayResp{Code: "SUCCESS", Msg: msg, Data: &d}
}

// quickpayRender is a refund as the refund answer and RefundQuery show it;
// operator and refund_desc echo the refund call that made it.
func quickpayRender(o order, rf LedgerRefund) quickpayData {
	status := "SUCCESSED"
	switch rf.Status {
	case adapters.StatusFailed:
		status = "FAILED"
	case adapters.StatusPending:
		status = "PAYING"
	}
	pt := "WECHATPAY_NATIVE"
	if o.PaymentMethod == "alipay" {
		pt = "ALIPAY_NATIVE"
	}
	return quickpayData{
		TransactionStatus: status, StoreNo: o.Account, PayType: pt,
		TotalAmount: o.Total, RefundAmount: rf.Amount, SettlementAmount: rf.Amount, CashAmount: rf.Amount,
		OrderNo: o.OrderNo, RefundOrderNo: rf.RefundNo, Operator: rf.Operator, RefundDesc: rf.Remark,
		TransactionNo: o.ProviderOrderID, RefundTransactionNo: rf.ProviderRefundID,
		RefundTime: rf.Time.In(cst).Format(time.DateTime),
	}
}
