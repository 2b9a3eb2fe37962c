package upay

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/internal/httpx"
	"github.com/bulkrefund/bulkrefund/money"
)

// Options configure one Upay terminal.
type Options struct {
	BaseURL     string // api_domain, e.g. https://vsi-api.shouqianba.com
	TerminalSN  string
	TerminalKey string // the terminal's current key; never printed
	Timeout     time.Duration
	HTTPClient  *http.Client // nil: a shared pooled client
}

// String redacts the key so that Options can be logged.
func (o Options) String() string {
	return fmt.Sprintf("upay.Options{BaseURL:%q TerminalSN:%q TerminalKey:%s Timeout:%s}",
		o.BaseURL, o.TerminalSN, httpx.Redacted, o.Timeout)
}

// GoString redacts the key under %#v too.
func (o Options) GoString() string { return o.String() }

// Format prints String under every verb, so that no verb (%d, %x) can reach
// the key through reflection.
func (o Options) Format(f fmt.State, _ rune) { fmt.Fprint(f, o.String()) }

// Client refunds, revokes and queries orders of one Upay terminal. It is safe
// for concurrent use.
type Client struct {
	base, terminalSN string
	key              []byte
	http             httpx.Client
}

var _ adapters.Provider = (*Client)(nil)

// New checks o and returns a client.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" || o.TerminalSN == "" || o.TerminalKey == "" {
		return nil, &adapters.Error{Provider: adapters.Upay, Op: "configure", Kind: adapters.KindBlocked,
			Message: "base URL, terminal_sn and terminal key are all required"}
	}
	return &Client{
		base:       strings.TrimRight(o.BaseURL, "/"),
		terminalSN: o.TerminalSN,
		key:        []byte(o.TerminalKey),
		http:       httpx.Client{Provider: adapters.Upay, HTTP: o.HTTPClient, Timeout: o.Timeout},
	}, nil
}

// String identifies the client without its key.
func (c *Client) String() string { return "upay terminal " + c.terminalSN }

// GoString redacts the key under %#v.
func (c *Client) GoString() string { return c.String() }

// Format prints String under every verb.
func (c *Client) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// Sign returns the Authorization header value for body: the terminal serial
// number and the lowercase hex MD5 of the body bytes followed by the key.
func Sign(terminalSN string, body, key []byte) string {
	h := md5.New()
	h.Write(body)
	h.Write(key)
	return terminalSN + " " + hex.EncodeToString(h.Sum(nil))
}

// refundRequest is the refund body. Field order matters only for
// readability: the signature covers whatever bytes are sent.
type refundRequest struct {
	TerminalSN      string `json:"terminal_sn"`
	SN              string `json:"sn,omitempty"`
	ClientSN        string `json:"client_sn,omitempty"`
	RefundRequestNo string `json:"refund_request_no"`
	Operator        string `json:"operator"`
	RefundAmount    string `json:"refund_amount"`
}

// orderRequest is the body of revoke and query.
type orderRequest struct {
	TerminalSN string `json:"terminal_sn"`
	SN         string `json:"sn,omitempty"`
	ClientSN   string `json:"client_sn,omitempty"`
}

type envelope struct {
	ResultCode   string `json:"result_code"`
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	Biz          *struct {
		ResultCode   string    `json:"result_code"`
		ErrorCode    string    `json:"error_code"`
		ErrorMessage string    `json:"error_message"`
		Data         orderData `json:"data"`
	} `json:"biz_response"`
}

type orderData struct {
	SN           string `json:"sn"`
	ClientSN     string `json:"client_sn"`
	ClientTSN    string `json:"client_tsn"`
	TradeNo      string `json:"trade_no"`
	Status       string `json:"status"`
	OrderStatus  string `json:"order_status"`
	TotalAmount  string `json:"total_amount"`
	NetAmount    string `json:"net_amount"`
	RefundAmount string `json:"refund_amount"`
	FinishTime   string `json:"finish_time"`
}

// Refund sends a refund, or a revoke when r.Action is ActionRevoke.
func (c *Client) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	revoke := r.Action == adapters.ActionRevoke
	op := "refund"
	if revoke {
		op = "revoke"
	}
	if err := c.check(op, r); err != nil {
		return adapters.Outcome{}, err
	}
	var body any
	path := "/upay/v2/refund"
	if revoke {
		path = "/upay/v2/revoke"
		body = orderRequest{TerminalSN: c.terminalSN, SN: r.ProviderOrderID, ClientSN: r.OrderNo}
	} else {
		operator := r.Operator
		if operator == "" {
			operator = defaultOperator
		}
		body = refundRequest{
			TerminalSN: c.terminalSN, SN: r.ProviderOrderID, ClientSN: r.OrderNo,
			RefundRequestNo: r.RefundNo, Operator: operator,
			RefundAmount: strconv.FormatInt(r.Amount, 10),
		}
	}
	env, err := c.call(ctx, op, path, body)
	if err != nil {
		return adapters.Outcome{}, err
	}
	biz := env.Biz
	out := outcomeFrom(biz.Data)
	out.Code, out.Message = biz.ResultCode, biz.ErrorMessage
	if biz.ErrorCode != "" {
		out.Code = biz.ErrorCode
	}
	switch rc := biz.ResultCode; {
	case rc == "REFUND_SUCCESS" || rc == "CANCEL_SUCCESS":
		out.Status = adapters.StatusSucceeded
		out.ProviderRefundID = biz.Data.ClientTSN
		if revoke && out.Amount == 0 {
			out.Amount = out.OrderTotal // the answer's total: a revoke is always the full amount
		}
	case rc == "REFUND_IN_PROGRESS" || rc == "CANCEL_IN_PROGRESS":
		out.Status = adapters.StatusPending
	case rc == "REFUND_ERROR" || rc == "CANCEL_ERROR":
		// The refund may or may not have been applied: only the order
		// query can tell.
		out.Status = adapters.StatusUnknown
		if confirmed, lerr := c.Lookup(ctx, r); lerr == nil && confirmed.Status != adapters.StatusUnknown {
			out = confirmed
		}
	case rc == "REFUND_FAIL" || rc == "FAIL" || strings.HasPrefix(rc, "CANCEL_ABORT"):
		return adapters.Outcome{}, c.refusal(ctx, op, r, firstNonEmpty(biz.ErrorCode, rc), biz.ErrorMessage)
	default:
		out.Status = adapters.StatusUnknown
	}
	if revoke {
		out.RefundNo = "" // a revoke has no refund number; client_tsn names the order
	}
	if out.Status == adapters.StatusFailed {
		// The query found this refund failed (after REFUND_ERROR): still a
		// refusal, and a refusal is an error.
		return adapters.Outcome{}, &adapters.Error{Provider: adapters.Upay, Op: op, Kind: adapters.KindFinal,
			Code: out.Code, Message: firstNonEmpty(out.Message, "the order query shows this refund failed")}
	}
	return out, nil
}

// refusal classifies Upay's refusal of a refund or revoke (see doc.go).
// UPAY_REFUND_INVALID_ORDER_STATE says only that the order is in the wrong
// state, so the order query is asked which. It is final only when the query
// positively shows a reason other than "done": for a refund, an order that
// was never paid; for a revoke, an order that is not revoked (refunded
// already, or not paid today). Otherwise — fully refunded, revoked, or a
// query that cannot say or contradicts the refusal (a lagging query showing
// a refundable order) — the refusal is taken as already done: the runner
// then keeps the refund unknown for a person to check, which is safe where
// "failed" could have someone pay it by hand.
func (c *Client) refusal(ctx context.Context, op string, r adapters.Refund, code, msg string) error {
	e := &adapters.Error{Provider: adapters.Upay, Op: op, Kind: refusalKind(code), Code: code, Message: msg}
	if code != codeInvalidOrderState {
		return e
	}
	e.Kind = adapters.KindAlreadyDone
	env, err := c.call(ctx, "lookup", "/upay/v2/query",
		orderRequest{TerminalSN: c.terminalSN, SN: r.ProviderOrderID, ClientSN: r.OrderNo})
	if err != nil || env.Biz.ResultCode != "SUCCESS" {
		e.Message += " (the order query could not say why)"
		return e
	}
	d := env.Biz.Data
	if (op == "revoke" && d.OrderStatus != "CANCELED") || (op == "refund" && neverPaid(d.OrderStatus)) {
		e.Kind = adapters.KindFinal
	}
	e.Message += " (order_status " + d.OrderStatus + ", net_amount " + d.NetAmount + ")"
	return e
}

// Lookup reads the refund's outcome from the order query; see the package
// documentation for what the query can and cannot prove.
func (c *Client) Lookup(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if err := c.check("lookup", r); err != nil {
		return adapters.Outcome{}, err
	}
	env, err := c.call(ctx, "lookup", "/upay/v2/query",
		orderRequest{TerminalSN: c.terminalSN, SN: r.ProviderOrderID, ClientSN: r.OrderNo})
	if err != nil {
		return adapters.Outcome{}, httpx.ReadOnly(err)
	}
	biz := env.Biz
	if biz.ResultCode != "SUCCESS" {
		if biz.ErrorCode == codeOrderNotExists {
			return adapters.Outcome{}, httpx.NotFound(adapters.Upay, biz.ErrorCode, biz.ErrorMessage)
		}
		kind := adapters.KindFinal
		if refusalKind(biz.ErrorCode) == adapters.KindBlocked {
			kind = adapters.KindBlocked
		}
		return adapters.Outcome{}, &adapters.Error{Provider: adapters.Upay, Op: "lookup", Kind: kind,
			Code: firstNonEmpty(biz.ErrorCode, biz.ResultCode), Message: biz.ErrorMessage}
	}
	d := biz.Data
	out := outcomeFrom(d)
	out.Code, out.Message = d.OrderStatus, ""
	untouched := paymentIsLatest(d) && d.TotalAmount != "" && d.NetAmount == d.TotalAmount

	if r.Action == adapters.ActionRevoke {
		switch d.OrderStatus {
		case "CANCELED":
			out.Status = adapters.StatusSucceeded
			out.Amount = out.OrderTotal // the answer's total: a revoke is always the full amount
		case "CANCEL_INPROGRESS":
			out.Status = adapters.StatusPending
		case "REFUNDED", "PARTIAL_REFUNDED":
			return adapters.Outcome{}, httpx.NotFound(adapters.Upay, d.OrderStatus, "order was refunded, so it has no revoke")
		case "PAID":
			if untouched {
				return adapters.Outcome{}, httpx.NotFound(adapters.Upay, d.OrderStatus, "order is paid and untouched")
			}
			out.Status = adapters.StatusUnknown
		default:
			out.Status = adapters.StatusUnknown
		}
		out.RefundNo = ""
		return out, nil
	}

	clientSN := r.OrderNo
	if clientSN == "" {
		clientSN = d.ClientSN
	}
	switch {
	case d.ClientTSN != "" && d.ClientTSN == clientSN+"-"+r.RefundNo:
		out.Code = firstNonEmpty(d.Status, d.OrderStatus)
		out.ProviderRefundID = d.ClientTSN
		switch {
		case d.Status == "SUCCESS":
			out.Status = adapters.StatusSucceeded
		case transactionStatusIsFailure(d.Status):
			out.Status = adapters.StatusFailed
		case d.Status == "CREATED" || d.Status == "IN_PROG":
			out.Status = adapters.StatusPending
		default:
			out.Status = adapters.StatusUnknown
		}
	case d.OrderStatus == "CANCELED":
		// Upay revokes only orders without refunds, and refunds nothing on
		// a revoked order: no refund of any number exists here.
		return adapters.Outcome{}, httpx.NotFound(adapters.Upay, d.OrderStatus, "order was revoked, so it has no refunds")
	case untouched && d.OrderStatus == "PAID":
		return adapters.Outcome{}, httpx.NotFound(adapters.Upay, d.OrderStatus,
			"no refund has moved money on this order")
	default:
		// Another transaction is the latest: the query cannot say what
		// became of this refund number. Never claim "not found" here.
		out.Status = adapters.StatusUnknown
		out.Message = "the order's latest transaction is " + firstNonEmpty(d.ClientTSN, "another one") +
			"; re-submit the same refund_request_no to learn this refund's outcome"
	}
	return out, nil
}

func (c *Client) check(op string, r adapters.Refund) error {
	bad := func(msg string) error {
		return &adapters.Error{Provider: adapters.Upay, Op: op, Kind: adapters.KindFinal, Message: msg}
	}
	switch {
	case r.Account != "" && r.Account != c.terminalSN:
		// Our wiring sent it to the wrong terminal's client: configuration.
		return &adapters.Error{Provider: adapters.Upay, Op: op, Kind: adapters.KindBlocked,
			Message: fmt.Sprintf("refund is for terminal %q, this client is terminal %q", r.Account, c.terminalSN)}
	case r.OrderNo == "" && r.ProviderOrderID == "":
		return bad("client_sn (order_no) or sn (provider_order_id) is required")
	case r.Currency != "" && r.Currency != money.CNY:
		return bad("Upay settles in CNY only, not " + string(r.Currency))
	case op == "refund" && (r.RefundNo == "" || r.Amount <= 0):
		return bad("refund_request_no and a positive refund_amount are required")
	}
	return nil
}

// call signs and sends body, and returns an envelope whose biz_response is
// present; every other answer is a classified error.
func (c *Client) call(ctx context.Context, op, path string, body any) (*envelope, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, &adapters.Error{Provider: adapters.Upay, Op: op, Kind: adapters.KindFinal, Err: err}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", Sign(c.terminalSN, raw, c.key))
	resp, err := c.http.Post(ctx, op, c.base+path, raw, h)
	if err != nil {
		return nil, err
	}
	var env envelope
	jerr := json.NewDecoder(bytes.NewReader(resp.Body)).Decode(&env)
	if resp.Status == http.StatusTooManyRequests || (jerr != nil && resp.Status/100 != 2) {
		return nil, httpx.StatusError(adapters.Upay, op, resp, env.ErrorCode, env.ErrorMessage)
	}
	if jerr != nil {
		return nil, &adapters.Error{Provider: adapters.Upay, Op: op, Kind: adapters.KindUnknown, HTTPStatus: resp.Status,
			Message: "unreadable answer: " + httpx.Snippet(resp.Body), Err: jerr}
	}
	switch env.ResultCode {
	case "200":
		if env.Biz == nil {
			return nil, &adapters.Error{Provider: adapters.Upay, Op: op, Kind: adapters.KindUnknown, HTTPStatus: resp.Status,
				Message: "answer has no biz_response"}
		}
		return &env, nil
	case "400":
		// ILLEGAL_SIGN, INVALID_TERMINAL: our credentials (blocked);
		// INVALID_PARAMS and the rest: the request itself (final).
		kind := adapters.KindFinal
		if refusalKind(env.ErrorCode) == adapters.KindBlocked {
			kind = adapters.KindBlocked
		}
		return nil, &adapters.Error{Provider: adapters.Upay, Op: op, Kind: kind, HTTPStatus: resp.Status,
			Code: firstNonEmpty(env.ErrorCode, "400"), Message: env.ErrorMessage}
	default: // "500" UNKNOWN_SYSTEM_ERROR, or anything unexpected
		return nil, &adapters.Error{Provider: adapters.Upay, Op: op, Kind: adapters.KindUnknown, HTTPStatus: resp.Status,
			Code: firstNonEmpty(env.ErrorCode, env.ResultCode), Message: env.ErrorMessage}
	}
}

// outcomeFrom reads what the answer names: the order (client_sn, sn), the
// refund its latest transaction is (client_tsn = client_sn-refund_request_no)
// and, where the answer carries it, that refund's amount. Upay answers carry
// no currency: Currency stays empty rather than assumed.
func outcomeFrom(d orderData) adapters.Outcome {
	out := adapters.Outcome{
		OrderNo:         d.ClientSN,
		ProviderOrderID: d.SN,
		OrderTotal:      fen(d.TotalAmount, 0),
		NetAmount:       fen(d.NetAmount, -1),
		Amount:          fen(d.RefundAmount, 0),
	}
	if no, ok := strings.CutPrefix(d.ClientTSN, d.ClientSN+"-"); ok && d.ClientSN != "" {
		out.RefundNo = no
	}
	if ms, err := strconv.ParseInt(d.FinishTime, 10, 64); err == nil && ms > 0 {
		out.Time = time.UnixMilli(ms).UTC()
	}
	return out
}

// fen parses an amount string; def stands for "not reported".
func fen(s string, def int64) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return def
	}
	return v
}

// paymentIsLatest reports whether the order's latest transaction is the
// payment itself (see assumed.go).
func paymentIsLatest(d orderData) bool {
	return d.ClientTSN == "" || d.ClientTSN == d.ClientSN
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
