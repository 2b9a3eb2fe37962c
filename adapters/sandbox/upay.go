package sandbox

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// Upay (Shouqianba) emulation: POST /upay/v2/refund, /upay/v2/revoke and
// /upay/v2/query. See doc.go for the wire format and codes.

// upayReq is every request field Upay's refund, revoke and query take. All
// values are strings on the wire: a number where a string belongs fails to
// decode and is answered INVALID_PARAMS, as the real API does.
type upayReq struct {
	TerminalSN      string          `json:"terminal_sn"`
	SN              string          `json:"sn"`
	ClientSN        string          `json:"client_sn"`
	RefundRequestNo string          `json:"refund_request_no"`
	Operator        string          `json:"operator"`
	RefundAmount    string          `json:"refund_amount"`
	Extended        json.RawMessage `json:"extended"`
	GoodsDetails    json.RawMessage `json:"goods_details"`
}

type upayBiz struct {
	ResultCode   string         `json:"result_code"`
	ErrorCode    string         `json:"error_code,omitempty"`
	ErrorMessage string         `json:"error_message,omitempty"`
	Data         *upayOrderData `json:"data,omitempty"`
}

type upayEnvelope struct {
	ResultCode   string   `json:"result_code"`
	ErrorCode    string   `json:"error_code,omitempty"`
	ErrorMessage string   `json:"error_message,omitempty"`
	BizResponse  *upayBiz `json:"biz_response,omitempty"`
}

const maxBody = 1 << 20

func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= maxBody {
		b := make([]byte, n)
		_, err := io.ReadFull(r.Body, b)
		return b, err
	}
	return io.ReadAll(io.LimitReader(r.Body, maxBody))
}

func (s *Sandbox) upay(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err != nil {
			return
		}
		terminal, sign, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		if !s.admit(w, r, adapters.Upay, terminal) {
			return
		}
		env := s.upayHandle(op, body, terminal, strings.TrimSpace(sign))
		b, _ := json.Marshal(env)
		s.respond(w, op != "query", http.StatusOK, "application/json;charset=utf-8", b)
	}
}

func upayErr(code, msg string) upayEnvelope {
	return upayEnvelope{ResultCode: "400", ErrorCode: code, ErrorMessage: msg}
}

func upayFail(code, msg string) upayEnvelope {
	return upayEnvelope{ResultCode: "200", BizResponse: &upayBiz{ResultCode: "FAIL", ErrorCode: code, ErrorMessage: msg}}
}

func (s *Sandbox) upayHandle(op string, body []byte, terminal, sign string) upayEnvelope {
	acc := s.accounts[acctKey{adapters.Upay, terminal}]
	if terminal == "" || acc == nil {
		return upayErr("INVALID_TERMINAL", "终端不存在或未激活 (unknown terminal)")
	}
	// The signature covers the exact bytes received, never a re-encoding.
	h := md5.New()
	h.Write(body)
	io.WriteString(h, acc.Secret)
	want := hex.EncodeToString(h.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(sign), []byte(want)) != 1 {
		return upayErr("ILLEGAL_SIGN", "签名错误 (signature does not match)")
	}
	var q upayReq
	if err := json.Unmarshal(body, &q); err != nil {
		return upayErr("INVALID_PARAMS", "参数错误: "+err.Error())
	}
	if q.TerminalSN != terminal {
		return upayErr("INVALID_PARAMS", "terminal_sn 与签名终端不一致 (terminal_sn does not match Authorization)")
	}
	if q.SN == "" && q.ClientSN == "" {
		return upayErr("INVALID_PARAMS", "sn 和 client_sn 不能同时为空 (sn or client_sn is required)")
	}
	if len(q.SN) > 16 || len(q.ClientSN) > 32 {
		return upayErr("INVALID_PARAMS", "sn 或 client_sn 过长 (sn ≤ 16, client_sn ≤ 32)")
	}
	var amount int64
	if op == "refund" {
		switch {
		case q.RefundRequestNo == "" || len(q.RefundRequestNo) > 20:
			return upayErr("INVALID_PARAMS", "refund_request_no 必填且不超过20位 (required, ≤ 20 chars)")
		case q.Operator == "" || len([]rune(q.Operator)) > 32:
			return upayErr("INVALID_PARAMS", "operator 必填且不超过32位 (required, ≤ 32 chars)")
		}
		var ok bool
		if amount, ok = fenString(q.RefundAmount, 10); !ok || amount <= 0 {
			return upayErr("INVALID_PARAMS", "refund_amount 必须为正整数分 (positive fen as a string of ≤ 10 digits): "+strconv.Quote(q.RefundAmount))
		}
	}
	s.mu.Lock()
	o := s.findOrder(adapters.Upay, terminal, q.SN, q.ClientSN)
	s.mu.Unlock()
	if o == nil {
		return upayFail("UPAY_ORDER_NOT_EXISTS", "订单不存在 (order not found)")
	}
	if op == "query" {
		ord, last := s.orderState(o)
		return upayEnvelope{ResultCode: "200", BizResponse: &upayBiz{ResultCode: "SUCCESS", Data: upayData(terminal, ord, last)}}
	}
	req := refundReq{provider: adapters.Upay, account: terminal, ord: o, typ: adapters.ActionRefund,
		refundNo: q.RefundRequestNo, amount: amount, operator: q.Operator, mayPend: true}
	if op == "revoke" {
		req.typ, req.refundNo, req.mayPend = adapters.ActionRevoke, "", false
	}
	rf, ord, repeat, rej := s.apply(req)
	switch rej {
	case rejNone:
		if repeat && op == "refund" && s.faults.Load().UpayRepeatNoop {
			return upayFail("UPAY_REFUND_ORDER_NOOP", "重复的退款请求 (refund_request_no already processed)")
		}
	case rejRevokeRepeat:
		return upayFail("UPAY_CANCEL_ORDER_NOOP", "订单已撤销,重复的撤单请求 (order already revoked)")
	case rejConflict:
		return upayFail("REFUND_REQUEST_NO_CONFLICT", "退款序列号已用于其他金额的退款 (refund_request_no already used with another amount)")
	case rejFullyRefunded:
		return upayFail("UPAY_REFUND_INVALID_ORDER_STATE", "订单已全额退款,可退金额不足 (order fully refunded)")
	case rejExceeds:
		return upayFail("REFUNDABLE_AMOUNT_NOT_ENOUGH", "可退金额不足 (refund exceeds the refundable amount "+strconv.FormatInt(ord.remaining(), 10)+")")
	case rejWindow:
		return upayFail("TRADE_TIMEOUT", "交易已超过可退款期限(3个月) (paid more than 3 months ago)")
	case rejRevoked:
		return upayFail("UPAY_REFUND_INVALID_ORDER_STATE", "订单已撤销 (order was revoked)")
	case rejRevokeDay:
		return upayFail("UPAY_REFUND_INVALID_ORDER_STATE", "只能撤销当日交易 (revoke only on the day of payment)")
	case rejRevokeAfter:
		return upayFail("UPAY_REFUND_INVALID_ORDER_STATE", "订单已有退款,不能撤销 (order already has a refund)")
	}
	code := "REFUND_SUCCESS"
	switch {
	case op == "revoke":
		code = "CANCEL_SUCCESS"
	case rf.Status == adapters.StatusPending:
		code = "REFUND_IN_PROGRESS"
	case rf.Status == adapters.StatusFailed:
		// Only a repeat of a refund that settled as failed gets here.
		code = "REFUND_FAIL"
	}
	return upayEnvelope{ResultCode: "200", BizResponse: &upayBiz{ResultCode: code, Data: upayData(terminal, ord, &rf)}}
}

// fenString parses Upay's string amounts: only ASCII digits, at most n of them.
func fenString(s string, n int) (int64, bool) {
	if s == "" || len(s) > n {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// upayOrderData is biz_response.data: an order and its latest transaction.
// A struct, not a map: encoding a map sorts its keys on every answer.
type upayOrderData struct {
	TerminalSN        string `json:"terminal_sn"`
	SN                string `json:"sn"`
	ClientSN          string `json:"client_sn"`
	ClientTSN         string `json:"client_tsn,omitempty"`
	TradeNo           string `json:"trade_no"`
	Status            string `json:"status"`
	OrderStatus       string `json:"order_status"`
	Payway            string `json:"payway"`
	PaywayName        string `json:"payway_name"`
	SubPayway         string `json:"sub_payway"`
	TotalAmount       string `json:"total_amount"`
	NetAmount         string `json:"net_amount"`
	RefundAmount      string `json:"refund_amount,omitempty"`
	Subject           string `json:"subject"`
	FinishTime        string `json:"finish_time"`
	ChannelFinishTime string `json:"channel_finish_time"`
	Operator          string `json:"operator"`
}

// upayPaymentOperator is the operator of a payment and of a revoke, which
// the orders file does not carry and the revoke request has no field for.
// Assumed: any non-empty text (seeds 000 and 001 mark operator required).
const upayPaymentOperator = "cashier"

// upayData renders an order and its latest transaction (txn nil: the payment).
func upayData(terminal string, o order, txn *LedgerRefund) *upayOrderData {
	payway, paywayName := "3", "微信"
	if o.PaymentMethod == "alipay" {
		payway, paywayName = "2", "支付宝"
	}
	// order_status and net_amount count only refunds that succeeded: a
	// pending refund has not been paid out yet (its amount is reserved all
	// the same, see remaining), and the documented order states have none
	// for "refund in progress". Assumed: no public source says which.
	paid := o.settled()
	status := "PAID"
	switch {
	case o.revoked:
		status = "CANCELED"
	case paid >= o.Total:
		status = "REFUNDED"
	case paid > 0:
		status = "PARTIAL_REFUNDED"
	}
	finish := o.PaidAt
	if txn != nil {
		finish = txn.Time
	}
	ms := strconv.FormatInt(finish.UnixMilli(), 10)
	d := &upayOrderData{
		TerminalSN: terminal, SN: o.ProviderOrderID, ClientSN: o.OrderNo,
		TradeNo: "4200" + o.ProviderOrderID, Status: upayTxnStatus(txn), OrderStatus: status,
		Payway: payway, PaywayName: paywayName, SubPayway: "1",
		TotalAmount: strconv.FormatInt(o.Total, 10), NetAmount: strconv.FormatInt(o.Total-paid, 10),
		Subject: "order " + o.OrderNo, FinishTime: ms, ChannelFinishTime: ms, Operator: upayPaymentOperator,
	}
	if txn != nil {
		d.ClientTSN = txn.ProviderRefundID
		if txn.Operator != "" {
			d.Operator = txn.Operator
		}
		if txn.Type == adapters.ActionRefund {
			d.RefundAmount = strconv.FormatInt(txn.Amount, 10)
		}
	}
	return d
}

// upayTxnStatus is the latest transaction's status (txn nil: the payment,
// which succeeded). Assumed, from Upay's transaction state list (the seeds
// only show SUCCESS): IN_PROG while a refund is in progress, FAIL_CANCELED
// for one that failed and gave the money back.
func upayTxnStatus(txn *LedgerRefund) string {
	switch {
	case txn == nil || txn.Status == adapters.StatusSucceeded:
		return "SUCCESS"
	case txn.Status == adapters.StatusPending:
		return "IN_PROG"
	default:
		return "FAIL_CANCELED"
	}
}
