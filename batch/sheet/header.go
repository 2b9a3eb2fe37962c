package sheet

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/bulkrefund/bulkrefund/internal/clip"
)

// field is a column of the input sheet as DESIGN.md (Input sheet) defines it.
type field int

const (
	fProvider field = iota
	fAccount
	fOrderNo
	fProviderOrderID
	fRefundNo
	fRefundAmount
	fTotalAmount
	fCurrency
	fAction
	fOperator
	fReason
	fPaymentMethod
	fNotifyURL
	numFields
)

var fieldNames = [numFields]string{
	"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount",
	"total_amount", "currency", "action", "operator", "reason", "payment_method", "notify_url",
}

// required are the columns a sheet must have; the rest are required per
// provider and checked per row.
var required = []field{fProvider, fAccount, fOrderNo, fRefundNo, fRefundAmount}

// aliases are matched after normalizeHeader (lower case; spaces, '_', '-'
// and '.' dropped; full-width forms folded), so "Refund Amount",
// "refund_amount" and "refundAmount" are one name.
var aliases = map[string]field{}

func init() {
	add := func(f field, names ...string) {
		for _, n := range names {
			aliases[normalizeHeader(n)] = f
		}
	}
	add(fProvider, "provider", "channel", "渠道", "支付渠道", "通道")
	add(fAccount, "account", "terminal_sn", "store_no", "merchant", "merchantId", "merchant_id",
		"终端号", "门店编码", "门店编号", "商户号")
	add(fOrderNo, "order_no", "client_sn", "orderRef", "orderRequestId", "订单号", "商户订单号", "原订单号")
	add(fProviderOrderID, "provider_order_id", "sn", "transactionId", "transaction_id", "trade_no",
		"交易号", "流水号", "渠道订单号")
	add(fRefundNo, "refund_no", "refund_request_no", "refundOrderRef", "requestId", "退款单号", "退款单据号", "退款流水号")
	add(fRefundAmount, "refund_amount", "refundAmount", "退款金额")
	add(fTotalAmount, "total_amount", "amount", "totalAmount", "order_amount", "订单金额", "订单总额", "交易金额")
	add(fCurrency, "currency", "币种", "货币")
	add(fAction, "action", "type", "类型", "退款类型", "操作")
	add(fOperator, "operator", "操作员", "经办人")
	add(fReason, "reason", "refund_desc", "remark", "退款原因", "备注")
	add(fPaymentMethod, "payment_method", "paymentMethod", "pay_method", "支付方式")
	add(fNotifyURL, "notify_url", "notifyUrl", "通知地址", "回调地址")
}

// normalizeHeader folds a header cell for matching.
func normalizeHeader(s string) string {
	var b strings.Builder
	for _, r := range s {
		r = foldRune(r)
		switch {
		case r == ' ' || r == '_' || r == '-' || r == '.' || r == '\ufeff' || unicode.IsSpace(r):
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// foldRune maps full-width ASCII variants to ASCII and odd spaces to ' '.
func foldRune(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFF01 + '!'
	case r == 0x3000 || r == 0x00A0:
		return ' '
	}
	return r
}

// unitSuffix splits a normalized header into its base name and whether the
// column is in minor units: "refundamountfen", "退款金额(分)" → minor;
// "退款金额(元)", "refundamountyuan" → major.
func unitSuffix(n string) (base string, minor bool) {
	for _, s := range []string{"fen", "cents", "(分)", "分"} {
		if strings.HasSuffix(n, s) && len(n) > len(s) {
			return n[:len(n)-len(s)], true
		}
	}
	for _, s := range []string{"yuan", "(元)", "元"} {
		if strings.HasSuffix(n, s) && len(n) > len(s) {
			return n[:len(n)-len(s)], false
		}
	}
	return n, false
}

// columns maps each field to its cell index in the sheet.
type columns struct {
	idx   [numFields]int
	name  [numFields]string // as the user wrote it
	minor [numFields]bool
	width int // number of header cells, trailing blanks dropped
}

// matchHeader maps a candidate header row. unknown lists the non-blank cells
// that matched no field.
func matchHeader(cells []string) (c columns, found int, unknown []string, err error) {
	for i := range c.idx {
		c.idx[i] = -1
	}
	for i, cell := range cells {
		t := strings.TrimSpace(cell)
		if t == "" {
			continue
		}
		c.width = i + 1
		n := normalizeHeader(t)
		f, ok := aliases[n]
		minor := false
		if !ok {
			var base string
			base, minor = unitSuffix(n)
			f, ok = aliases[base]
			if ok && f != fRefundAmount && f != fTotalAmount {
				ok, minor = false, false
			}
		}
		if !ok {
			unknown = append(unknown, t)
			continue
		}
		if c.idx[f] >= 0 {
			if err == nil {
				err = fmt.Errorf("%w: %s and %s are both %s", ErrDuplicateCol, clip.Quote(c.name[f]), clip.Quote(t), fieldNames[f])
			}
			continue
		}
		c.idx[f], c.name[f], c.minor[f] = i, t, minor
		found++
	}
	return c, found, unknown, err
}

// isHeader: a row is the header when it names at least three fields, two of
// them required ones. A title row ("2026年11月退款明细") names none.
func isHeader(c columns, found int) bool {
	req := 0
	for _, f := range required {
		if c.idx[f] >= 0 {
			req++
		}
	}
	return found >= 3 && req >= 2
}

func (c columns) missing() []string {
	var m []string
	for _, f := range required {
		if c.idx[f] < 0 {
			m = append(m, fieldNames[f])
		}
	}
	return m
}
