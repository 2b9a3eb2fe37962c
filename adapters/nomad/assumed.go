package nomad

import (
	"strings"
	"time"
)

// Every fact about Nomad this client relies on that no public source states.
// Keep them here, so that correcting one is a one-line change.

// Assumed: the refund query is GET /refund/{merchant} with these query
// parameters, answering the create call's body.
const (
	queryRefundOrderRef = "refundOrderRef"
	queryPaymentMethod  = "paymentMethod"
)

// Assumed: the query answers an unknown refundOrderRef with HTTP 404, or
// with a 422 whose errors text says it was not found.
func isNotFound(status int, errText string) bool {
	if status == 404 {
		return true
	}
	t := strings.ToLower(errText)
	return status == 422 && (strings.Contains(t, "not found") || strings.Contains(t, "not exist"))
}

// Assumed: a repeated refundOrderRef returns the original refund rather than
// a second one; the runner relies on it by never changing the number.

// defaultPaymentMethod is used when the sheet names none. Assumed: most
// broker merchants are WeChat Pay merchants; the sheet should say.
const defaultPaymentMethod = "wechatpay"

// parseTime reads createTime/successTime. Documented examples are RFC 3339
// with an offset; assumed Beijing time when a value carries none.
func parseTime(s string) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.FixedZone("CST", 8*3600)); err == nil {
		return t
	}
	return time.Time{}
}
