package quickpay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/internal/httpx"
	"github.com/bulkrefund/bulkrefund/money"
)

// Options configure one QuickPay store.
type Options struct {
	BaseURL    string
	StoreNo    string
	StoreKey   string // never printed
	Timeout    time.Duration
	HTTPClient *http.Client
}

// String redacts the key so that Options can be logged.
func (o Options) String() string {
	return fmt.Sprintf("quickpay.Options{BaseURL:%q StoreNo:%q StoreKey:%s Timeout:%s}",
		o.BaseURL, o.StoreNo, httpx.Redacted, o.Timeout)
}

// GoString redacts the key under %#v too.
func (o Options) GoString() string { return o.String() }

// Format prints String under every verb, so that no verb (%d, %x) can reach
// the key through reflection.
func (o Options) Format(f fmt.State, _ rune) { fmt.Fprint(f, o.String()) }

// Client refunds and queries refunds of one QuickPay store. It is safe for
// concurrent use.
type Client struct {
	base, storeNo string
	key           []byte
	http          httpx.Client
}

var _ adapters.Provider = (*Client)(nil)

// New checks o and returns a client.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" || o.StoreNo == "" || o.StoreKey == "" {
		return nil, &adapters.Error{Provider: adapters.QuickPay, Op: "configure", Kind: adapters.KindBlocked,
			Message: "base URL, store_no and store key are all required"}
	}
	return &Client{
		base:    strings.TrimRight(o.BaseURL, "/"),
		storeNo: o.StoreNo,
		key:     []byte(o.StoreKey),
		http:    httpx.Client{Provider: adapters.QuickPay, HTTP: o.HTTPClient, Timeout: o.Timeout},
	}, nil
}

// String identifies the client without its key.
func (c *Client) String() string { return "quickpay store " + c.storeNo }

// GoString redacts the key under %#v.
func (c *Client) GoString() string { return c.String() }

// Format prints String under every verb.
func (c *Client) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// Sign is the hex HMAC-SHA256 of body under key.
func Sign(body, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

type refundRequest struct {
	StoreNo      string `json:"store_no"`
	Operator     string `json:"operator"`
	Amount       int64  `json:"amount,omitempty"`
	RefundAmount int64  `json:"refund_amount"`
	OrderNo      string `json:"order_no"`
	RefundNo     string `json:"refund_no"`
	RefundDesc   string `json:"refund_desc,omitempty"`
}

type queryRequest struct {
	StoreNo       string `json:"store_no"`
	OrderNo       string `json:"order_no"`
	RefundOrderNo string `json:"refund_order_no"`
}

type envelope struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
	Data *struct {
		TransactionStatus     string `json:"transaction_status"`
		Error                 string `json:"error"`
		TotalAmount           int64  `json:"total_amount"`
		RefundAmount          int64  `json:"refund_amount"`
		OrderNo               string `json:"order_no"`
		RefundOrderNo         string `json:"refund_order_no"`
		TransactionNo         string `json:"transaction_no"`
		RefundTransactionNo   string `json:"refund_transaction_no"`
		RefundTransactionTime string `json:"refund_transaction_time"`
		TransactionMessage    string `json:"transaction_message"`
	} `json:"data"`
}

// Refund submits one refund. QuickPay has no revoke.
func (c *Client) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if err := c.check("refund", r); err != nil {
		return adapters.Outcome{}, err
	}
	if r.Amount <= 0 || r.RefundNo == "" {
		return adapters.Outcome{}, c.bad("refund", "refund_no and a positive refund amount are required")
	}
	op := firstNonEmpty(r.Operator, defaultOperator)
	env, err := c.call(ctx, "refund", pathRefund, refundRequest{
		StoreNo: c.storeNo, Operator: op, Amount: r.Total, RefundAmount: r.Amount,
		OrderNo: r.OrderNo, RefundNo: r.RefundNo, RefundDesc: r.Reason,
	})
	if err != nil {
		return adapters.Outcome{}, err
	}
	return c.outcome("refund", env)
}

// Lookup asks RefundQuery for the refund's current state.
func (c *Client) Lookup(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if err := c.check("lookup", r); err != nil {
		return adapters.Outcome{}, err
	}
	env, err := c.call(ctx, "lookup", pathRefundQuery, queryRequest{
		StoreNo: c.storeNo, OrderNo: r.OrderNo, RefundOrderNo: r.RefundNo,
	})
	if err != nil {
		return adapters.Outcome{}, httpx.ReadOnly(err)
	}
	if env.Code != "SUCCESS" && isNotFound(env.Code) {
		return adapters.Outcome{}, httpx.NotFound(adapters.QuickPay, env.Code, env.Msg)
	}
	out, err := c.outcome("lookup", env)
	return out, httpx.ReadOnly(err)
}

// outcome reads an answer. A refusal is an error classified by its code
// (see codeKind); a refund QuickPay processed and reports FAILED is a final
// error from Refund and a failed outcome from Lookup.
func (c *Client) outcome(op string, env *envelope) (adapters.Outcome, error) {
	if env.Code != "SUCCESS" {
		kind := codeKind(env.Code)
		if op == "lookup" && kind == adapters.KindAlreadyDone {
			kind = adapters.KindFinal // nothing is "done" by a query
		}
		return adapters.Outcome{}, &adapters.Error{Provider: adapters.QuickPay, Op: op, Kind: kind, Code: env.Code, Message: env.Msg}
	}
	if env.Data == nil {
		return adapters.Outcome{}, &adapters.Error{Provider: adapters.QuickPay, Op: op, Kind: adapters.KindUnknown,
			Code: env.Code, Message: "answer has no data"}
	}
	d := env.Data
	// What the answer names; QuickPay answers carry no currency.
	out := adapters.Outcome{
		Code:             d.TransactionStatus,
		RefundNo:         d.RefundOrderNo,
		OrderNo:          d.OrderNo,
		Message:          firstNonEmpty(d.TransactionMessage, d.Error, env.Msg),
		ProviderRefundID: d.RefundTransactionNo,
		ProviderOrderID:  d.TransactionNo,
		Amount:           d.RefundAmount,
		OrderTotal:       d.TotalAmount,
		NetAmount:        -1,
		Time:             parseTime(d.RefundTransactionTime),
	}
	switch d.TransactionStatus {
	case "SUCCESSED", "REFUNDED":
		out.Status = adapters.StatusSucceeded
	case "FAILED", "REFUNDFAILED":
		if op == "refund" {
			return adapters.Outcome{}, &adapters.Error{Provider: adapters.QuickPay, Op: op, Kind: adapters.KindFinal,
				Code: d.TransactionStatus, Message: firstNonEmpty(out.Message, "QuickPay reports the refund failed")}
		}
		out.Status = adapters.StatusFailed
	case "CREATE", "PAYING", "UNKNOWN":
		out.Status = adapters.StatusPending
	default:
		out.Status = adapters.StatusUnknown
	}
	return out, nil
}

func (c *Client) check(op string, r adapters.Refund) error {
	switch {
	case r.Account != "" && r.Account != c.storeNo:
		// Our wiring sent it to the wrong store's client: configuration.
		return &adapters.Error{Provider: adapters.QuickPay, Op: op, Kind: adapters.KindBlocked,
			Message: fmt.Sprintf("refund is for store %q, this client is store %q", r.Account, c.storeNo)}
	case r.OrderNo == "":
		return c.bad(op, "order_no is required")
	case r.RefundNo == "":
		return c.bad(op, "refund_no is required")
	case r.Action == adapters.ActionRevoke:
		return c.bad(op, "QuickPay has no revoke")
	case r.Currency != "" && r.Currency != money.CNY:
		return c.bad(op, "QuickPay settles in CNY only, not "+string(r.Currency))
	}
	return nil
}

func (c *Client) bad(op, msg string) error {
	return &adapters.Error{Provider: adapters.QuickPay, Op: op, Kind: adapters.KindFinal, Message: msg}
}

func (c *Client) call(ctx context.Context, op, path string, body any) (*envelope, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, &adapters.Error{Provider: adapters.QuickPay, Op: op, Kind: adapters.KindFinal, Err: err}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(signHeader, Sign(raw, c.key))
	resp, err := c.http.Post(ctx, op, c.base+path, raw, h)
	if err != nil {
		return nil, err
	}
	var env envelope
	jerr := json.Unmarshal(resp.Body, &env)
	if resp.Status/100 != 2 {
		// An error answer with a readable business code on a 4xx is still
		// QuickPay speaking; only 429/5xx/auth statuses are decided here.
		if jerr == nil && env.Code != "" && resp.Status != http.StatusTooManyRequests &&
			resp.Status < 500 && resp.Status != http.StatusUnauthorized && resp.Status != http.StatusForbidden {
			return &env, nil
		}
		return nil, httpx.StatusError(adapters.QuickPay, op, resp, env.Code, env.Msg)
	}
	if jerr != nil || env.Code == "" {
		return nil, &adapters.Error{Provider: adapters.QuickPay, Op: op, Kind: adapters.KindUnknown, HTTPStatus: resp.Status,
			Message: "unreadable answer: " + httpx.Snippet(resp.Body), Err: jerr}
	}
	return &env, nil
}

func parseTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "20060102150405"} {
		if t, err := time.ParseInLocation(layout, s, chinaTime); err == nil {
			return t
		}
	}
	return time.Time{}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
