package payease

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/internal/httpx"
)

// ErrNotifyRefused: a notification that is not PayEase's (no or a wrong
// signature, not for this merchant, unreadable); it must change nothing.
var ErrNotifyRefused = errors.New("payease notification refused")

// ReadNotify opens a refund notification PayEase POSTs to notifyUrl (seed
// 004, "the parameter of this form is the NotifyUrl server return
// parameter"): encrypted for this merchant like an answer, and carrying the
// platform's hmac over its fields, which must verify. Assumed: the envelope
// is the answers' ({"data": base64} with an encryptKey header).
//
// The outcome names the refund (RefundNo = requestId, OrderNo =
// orderRequestId) with refundStatus SUCCESS or FAILED as final and anything
// else as pending, and its amount and currency as PayEase states them: the
// caller matches them with the refund it holds before recording anything.
func (c *Client) ReadNotify(h http.Header, body []byte) (adapters.Outcome, error) {
	refuse := func(format string, a ...any) (adapters.Outcome, error) {
		return adapters.Outcome{}, fmt.Errorf("%w: %s", ErrNotifyRefused, fmt.Sprintf(format, a...))
	}
	f, err := c.open(&httpx.Response{Status: http.StatusOK, Header: h, Body: body})
	if err != nil {
		return refuse("%v", err)
	}
	if _, signed := f["hmac"].(string); !signed {
		// open lets an unsigned error answer through; a notification that
		// could settle a refund is never taken unsigned.
		return refuse("no hmac")
	}
	if m := str(f["merchantId"]); m != c.merchantID {
		return refuse("merchantId %q is not this merchant (%s)", m, c.merchantID)
	}
	out := c.outcomeFrom(f)
	out.RefundNo, out.OrderNo = str(f["requestId"]), str(f["orderRequestId"])
	if out.RefundNo == "" {
		return refuse("no requestId")
	}
	out.Code = str(f["refundStatus"])
	out.Status = adapters.StatusPending
	if fin, ok := finalStatus(out.Code); ok {
		out.Status = fin
	}
	return out, nil
}
