package nomad

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/internal/httpx"
	"github.com/bulkrefund/bulkrefund/money"
)

// Options configure one Nomad merchant.
type Options struct {
	BaseURL    string // including the API prefix, e.g. https://…/broker/v1
	Merchant   string // e.g. wechat.sh_smk
	APIKey     string // never printed
	Timeout    time.Duration
	HTTPClient *http.Client
}

// String redacts the key so that Options can be logged.
func (o Options) String() string {
	return fmt.Sprintf("nomad.Options{BaseURL:%q Merchant:%q APIKey:%s Timeout:%s}",
		o.BaseURL, o.Merchant, httpx.Redacted, o.Timeout)
}

// GoString redacts the key under %#v too.
func (o Options) GoString() string { return o.String() }

// Format prints String under every verb, so that no verb (%d, %x) can reach
// the key through reflection.
func (o Options) Format(f fmt.State, _ rune) { fmt.Fprint(f, o.String()) }

// Client refunds and queries refunds of one Nomad merchant. It is safe for
// concurrent use.
type Client struct {
	base, merchant, apiKey string
	http                   httpx.Client
}

var _ adapters.Provider = (*Client)(nil)

// New checks o and returns a client.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" || o.Merchant == "" || o.APIKey == "" {
		return nil, &adapters.Error{Provider: adapters.Nomad, Op: "configure", Kind: adapters.KindBlocked,
			Message: "base URL, merchant and API key are all required"}
	}
	return &Client{
		base:     strings.TrimRight(o.BaseURL, "/"),
		merchant: o.Merchant,
		apiKey:   o.APIKey,
		http:     httpx.Client{Provider: adapters.Nomad, HTTP: o.HTTPClient, Timeout: o.Timeout},
	}, nil
}

// String identifies the client without its key.
func (c *Client) String() string { return "nomad merchant " + c.merchant }

// GoString redacts the key under %#v.
func (c *Client) GoString() string { return c.String() }

// Format prints String under every verb.
func (c *Client) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

type refundRequest struct {
	PaymentMethod  string `json:"paymentMethod"`
	TransactionID  string `json:"transactionId,omitempty"`
	OrderRef       string `json:"orderRef"`
	RefundOrderRef string `json:"refundOrderRef"`
	Reason         string `json:"reason,omitempty"`
	RefundAmount   int64  `json:"refundAmount"`
	TotalAmount    int64  `json:"totalAmount"`
	Currency       string `json:"currency,omitempty"`
	NotifyURL      string `json:"notifyUrl,omitempty"`
}

type refundAnswer struct {
	Code           json.Number `json:"code"`
	Message        string      `json:"message"`
	Errors         any         `json:"errors"`
	RefundID       string      `json:"refundId"`
	OrderRef       string      `json:"orderRef"`
	RefundOrderRef string      `json:"refundOrderRef"`
	TransactionID  string      `json:"transactionId"`
	CreateTime     string      `json:"createTime"`
	SuccessTime    string      `json:"successTime"`
	Status         string      `json:"status"`
	RefundAmount   json.Number `json:"refundAmount"`
	TotalAmount    json.Number `json:"totalAmount"`
	Currency       string      `json:"currency"`
}

// Refund submits one refund. Nomad requires the order total.
func (c *Client) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if err := c.check("refund", r); err != nil {
		return adapters.Outcome{}, err
	}
	if r.Amount <= 0 || r.Total <= 0 {
		return adapters.Outcome{}, c.bad("refund", "a positive refundAmount and totalAmount are required")
	}
	body := refundRequest{
		PaymentMethod:  paymentMethod(r),
		TransactionID:  r.ProviderOrderID,
		OrderRef:       r.OrderNo,
		RefundOrderRef: r.RefundNo,
		Reason:         r.Reason,
		RefundAmount:   r.Amount,
		TotalAmount:    r.Total,
		Currency:       string(currency(r)),
		NotifyURL:      r.NotifyURL,
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return adapters.Outcome{}, &adapters.Error{Provider: adapters.Nomad, Op: "refund", Kind: adapters.KindFinal, Err: err}
	}
	h := c.header()
	h.Set("Content-Type", "application/json")
	resp, err := c.http.Post(ctx, "refund", c.refundURL(), raw, h)
	if err != nil {
		return adapters.Outcome{}, err
	}
	return c.read("refund", resp)
}

// Lookup asks the refund query for the refund's current state.
func (c *Client) Lookup(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if err := c.check("lookup", r); err != nil {
		return adapters.Outcome{}, err
	}
	q := url.Values{}
	q.Set(queryRefundOrderRef, r.RefundNo)
	q.Set(queryPaymentMethod, paymentMethod(r))
	resp, err := c.http.Get(ctx, "lookup", c.refundURL()+"?"+q.Encode(), c.header())
	if err != nil {
		return adapters.Outcome{}, httpx.ReadOnly(err)
	}
	out, err := c.read("lookup", resp)
	return out, httpx.ReadOnly(err)
}

func (c *Client) read(op string, resp *httpx.Response) (adapters.Outcome, error) {
	var a refundAnswer
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	dec.UseNumber()
	jerr := dec.Decode(&a)
	errText := errorsText(a.Errors, a.Message)
	switch {
	case resp.Status == http.StatusOK:
	case op == "lookup" && isNotFound(resp.Status, errText):
		return adapters.Outcome{}, httpx.NotFound(adapters.Nomad, strconv.Itoa(resp.Status), errText)
	case resp.Status == http.StatusUnprocessableEntity && op == "refund":
		// Nomad refused this refund (validation, amount above what is left,
		// a number used before): an error, never a failed outcome.
		code := "422"
		if a.Message != "" && a.Message != "success" {
			code = a.Message // the sandbox and some gateways put a code here
		}
		return adapters.Outcome{}, &adapters.Error{Provider: adapters.Nomad, Op: op, Kind: refusalKind(code),
			HTTPStatus: resp.Status, Code: code, Message: errText}
	default:
		msg := errText
		if jerr != nil {
			msg = ""
		}
		return adapters.Outcome{}, httpx.StatusError(adapters.Nomad, op, resp, "", msg)
	}
	if jerr != nil {
		return adapters.Outcome{}, &adapters.Error{Provider: adapters.Nomad, Op: op, Kind: adapters.KindUnknown, HTTPStatus: resp.Status,
			Message: "unreadable answer: " + httpx.Snippet(resp.Body), Err: jerr}
	}
	// What the answer names, nothing taken from the request.
	out := adapters.Outcome{
		Code:             a.Status,
		RefundNo:         a.RefundOrderRef,
		OrderNo:          a.OrderRef,
		Message:          a.Message,
		ProviderRefundID: a.RefundID,
		ProviderOrderID:  a.TransactionID,
		Amount:           number(a.RefundAmount),
		OrderTotal:       number(a.TotalAmount),
		NetAmount:        -1,
		Currency:         money.Currency(a.Currency),
		Time:             parseTime(a.SuccessTime),
	}
	if out.Time.IsZero() {
		out.Time = parseTime(a.CreateTime)
	}
	switch a.Status {
	case "SUCCESS":
		out.Status = adapters.StatusSucceeded
	case "CLOSE":
		if op == "refund" {
			// A refund answer saying CLOSE (a repeat of a closed refund) is
			// a refusal: an error, never a failed outcome.
			return adapters.Outcome{}, &adapters.Error{Provider: adapters.Nomad, Op: op, Kind: adapters.KindFinal,
				HTTPStatus: resp.Status, Code: a.Status, Message: "the refund is closed: " + a.Message}
		}
		out.Status = adapters.StatusFailed
	case "PROCESSING", "ABNORMAL":
		out.Status = adapters.StatusPending
	default:
		out.Status = adapters.StatusUnknown
	}
	return out, nil
}

func (c *Client) refundURL() string { return c.base + "/refund/" + url.PathEscape(c.merchant) }

func (c *Client) header() http.Header {
	h := http.Header{}
	h.Set("app-api-key", c.apiKey)
	h.Set("Accept", "application/json")
	return h
}

func (c *Client) check(op string, r adapters.Refund) error {
	switch {
	case r.Account != "" && r.Account != c.merchant:
		// Our wiring sent it to the wrong merchant's client: configuration.
		return &adapters.Error{Provider: adapters.Nomad, Op: op, Kind: adapters.KindBlocked,
			Message: fmt.Sprintf("refund is for merchant %q, this client is merchant %q", r.Account, c.merchant)}
	case r.OrderNo == "" || r.RefundNo == "":
		return c.bad(op, "orderRef and refundOrderRef are required")
	case r.Action == adapters.ActionRevoke:
		return c.bad(op, "Nomad has no revoke")
	case r.PaymentMethod != "" && r.PaymentMethod != "wechatpay" && r.PaymentMethod != "alipay":
		return c.bad(op, "paymentMethod must be wechatpay or alipay, not "+strconv.Quote(r.PaymentMethod))
	case r.Currency != "" && r.Currency != money.CNY:
		return c.bad(op, "Nomad refunds in CNY only, not "+string(r.Currency))
	}
	return nil
}

func (c *Client) bad(op, msg string) error {
	return &adapters.Error{Provider: adapters.Nomad, Op: op, Kind: adapters.KindFinal, Message: msg}
}

func paymentMethod(r adapters.Refund) string {
	if r.PaymentMethod != "" {
		return r.PaymentMethod
	}
	return defaultPaymentMethod
}

func currency(r adapters.Refund) money.Currency {
	if r.Currency != "" {
		return r.Currency
	}
	return money.CNY
}

// number reads a fen amount; Nomad documents amounts as JSON numbers, so a
// fractional or missing value is "not reported" (0) rather than rounded.
func number(n json.Number) int64 {
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// errorsText renders Nomad's "errors" field, a string or an object of
// field messages, for the Outcome or error message.
func errorsText(v any, fallback string) string {
	switch e := v.(type) {
	case nil:
		return fallback
	case string:
		return e
	default:
		b, err := json.Marshal(e)
		if err != nil {
			return fallback
		}
		return string(b)
	}
}
