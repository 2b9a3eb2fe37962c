package nomad

import (
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
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

// refusalKind classifies the code of a 422 refusal of a refund. Assumed
// (Nomad documents no codes): a code saying the refundOrderRef was used
// before (the sandbox's REFUND_ORDER_REF_CONFLICT) is already done — money
// may have moved under that number, so the refund is never reported failed;
// the runner looks it up and compares. Every other 422 (VALIDATION_ERROR,
// REFUND_AMOUNT_EXCEEDED, ORDER_NOT_FOUND) refuses the refund itself: final.
// Credentials are refused with HTTP 401 "Not Authenticated." (documented),
// which is blocked.
func refusalKind(code string) adapters.Kind {
	c := strings.ToUpper(code)
	if strings.Contains(c, "CONFLICT") || strings.Contains(c, "REPEAT") || strings.Contains(c, "DUPLICATE") {
		return adapters.KindAlreadyDone
	}
	return adapters.KindFinal
}

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
