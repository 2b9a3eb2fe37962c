package payease

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/internal/httpx"
	"github.com/bulkrefund/bulkrefund/money"
)

// Options configure one PayEase merchant.
type Options struct {
	BaseURL               string // e.g. https://apis.5upay.com
	MerchantID            string
	MerchantPrivateKeyPEM []byte // signs requests, decrypts answers; never printed
	PlatformPublicKeyPEM  []byte // encrypts the AES key, verifies answers
	NotifyURL             string // used when a refund carries none
	Timeout               time.Duration
	HTTPClient            *http.Client
}

// String redacts the private key so that Options can be logged.
func (o Options) String() string {
	return fmt.Sprintf("payease.Options{BaseURL:%q MerchantID:%q MerchantPrivateKeyPEM:%s NotifyURL:%q Timeout:%s}",
		o.BaseURL, o.MerchantID, httpx.Redacted, o.NotifyURL, o.Timeout)
}

// GoString redacts the private key under %#v too.
func (o Options) GoString() string { return o.String() }

// Format prints String under every verb, so that no verb (%d, %x) can reach
// the key through reflection.
func (o Options) Format(f fmt.State, _ rune) { fmt.Fprint(f, o.String()) }

// Client refunds and queries refunds of one PayEase merchant. It is safe for
// concurrent use.
type Client struct {
	base, merchantID, notifyURL string
	priv                        *rsa.PrivateKey
	platform                    *rsa.PublicKey
	http                        httpx.Client
}

var _ adapters.Provider = (*Client)(nil)

// New parses the keys and returns a client.
func New(o Options) (*Client, error) {
	// A missing or unreadable key is our configuration: blocked.
	blocked := func(msg string, err error) error {
		return &adapters.Error{Provider: adapters.PayEase, Op: "configure", Kind: adapters.KindBlocked, Message: msg, Err: err}
	}
	if o.BaseURL == "" || o.MerchantID == "" {
		return nil, blocked("base URL and merchantId are required", nil)
	}
	priv, err := ParsePrivateKey(o.MerchantPrivateKeyPEM)
	if err != nil {
		return nil, blocked("merchant private key", err)
	}
	pub, err := ParsePublicKey(o.PlatformPublicKeyPEM)
	if err != nil {
		return nil, blocked("platform public key", err)
	}
	return &Client{
		base:       strings.TrimRight(o.BaseURL, "/"),
		merchantID: o.MerchantID,
		notifyURL:  o.NotifyURL,
		priv:       priv,
		platform:   pub,
		http:       httpx.Client{Provider: adapters.PayEase, HTTP: o.HTTPClient, Timeout: o.Timeout},
	}, nil
}

// String identifies the client without its keys.
func (c *Client) String() string { return "payease merchant " + c.merchantID }

// GoString redacts the keys under %#v.
func (c *Client) GoString() string { return c.String() }

// Format prints String under every verb.
func (c *Client) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// Refund submits one refund. PayEase answers SUCCESS when it accepts the
// refund; its result comes later, so an accepted refund is pending.
func (c *Client) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if err := c.check("refund", r); err != nil {
		return adapters.Outcome{}, err
	}
	if r.Amount <= 0 {
		return adapters.Outcome{}, c.bad("refund", "a positive amount is required")
	}
	fields := map[string]any{
		"merchantId":     c.merchantID,
		"orderRequestId": r.OrderNo,
		"requestId":      r.RefundNo,
		"amount":         json.Number(strconv.FormatInt(r.Amount, 10)),
		"notifyUrl":      firstNonEmpty(r.NotifyURL, c.notifyURL),
	}
	if r.Reason != "" {
		fields["remark"] = r.Reason
	}
	if fields["notifyUrl"] == "" {
		// PayEase marks notifyUrl mandatory: refuse before sending rather
		// than collect a PARAM_ERROR per row.
		return adapters.Outcome{}, c.bad("refund", "notifyUrl is required by PayEase: set notify_url in the account's config or the sheet's notify_url column")
	}
	ans, err := c.call(ctx, "refund", pathRefund, r.RefundNo, fields)
	if err != nil {
		return adapters.Outcome{}, err
	}
	if s := str(ans["status"]); s != "SUCCESS" {
		return adapters.Outcome{}, c.errorAnswer("refund", ans)
	}
	out := c.outcomeFrom(ans)
	out.Status, out.Code = adapters.StatusPending, "SUCCESS"
	// An answer that already carries the final refundStatus (a repeat of a
	// settled refund) is read as such; a failed one is a refusal.
	if rs := str(ans["refundStatus"]); rs != "" {
		if fin, ok := finalStatus(rs); ok {
			if fin == adapters.StatusFailed {
				return adapters.Outcome{}, &adapters.Error{Provider: adapters.PayEase, Op: "refund", Kind: adapters.KindFinal,
					Code: rs, Message: firstNonEmpty(out.Message, "PayEase reports the refund failed")}
			}
			out.Status, out.Code = fin, rs
		}
	}
	return out, nil
}

// Lookup asks refundQuery for the refund's current state.
func (c *Client) Lookup(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if err := c.check("lookup", r); err != nil {
		return adapters.Outcome{}, err
	}
	fields := map[string]any{"merchantId": c.merchantID, "requestId": r.RefundNo}
	ans, err := c.call(ctx, "lookup", pathRefundQuery, r.RefundNo, fields)
	if err != nil {
		return adapters.Outcome{}, httpx.ReadOnly(err)
	}
	if s := str(ans["status"]); s != "SUCCESS" {
		code := errorCode(ans)
		if isNotFound(code) {
			return adapters.Outcome{}, httpx.NotFound(adapters.PayEase, code, errorMessage(ans))
		}
		return adapters.Outcome{}, httpx.ReadOnly(c.errorAnswer("lookup", ans))
	}
	out := c.outcomeFrom(ans)
	rs := str(ans["refundStatus"])
	out.Code = rs
	if fin, ok := finalStatus(rs); ok {
		out.Status = fin
	} else {
		out.Status = adapters.StatusPending
	}
	return out, nil
}

func finalStatus(refundStatus string) (adapters.Status, bool) {
	switch refundStatus {
	case "SUCCESS":
		return adapters.StatusSucceeded, true
	case "FAILED":
		return adapters.StatusFailed, true
	}
	return "", false
}

// errorAnswer classifies an answer whose status is not SUCCESS (see
// codeKind): always an error, never a failed outcome.
func (c *Client) errorAnswer(op string, ans map[string]any) error {
	code, msg := errorCode(ans), errorMessage(ans)
	kind := codeKind(code)
	if op != "refund" && kind == adapters.KindAlreadyDone {
		kind = adapters.KindFinal // nothing is "done" by a query
	}
	return &adapters.Error{Provider: adapters.PayEase, Op: op, Kind: kind, Code: code, Message: msg}
}

// outcomeFrom reads what the answer names (requestId, orderRequestId,
// amount, currency): what it leaves out stays empty, never taken from the
// request.
func (c *Client) outcomeFrom(ans map[string]any) adapters.Outcome {
	out := adapters.Outcome{
		RefundNo:         str(ans["requestId"]),
		OrderNo:          str(ans["orderRequestId"]),
		Message:          str(ans["remark"]),
		ProviderRefundID: str(ans["refundId"]),
		Amount:           amount(ans["amount"]),
		Currency:         money.Currency(str(ans["currency"])),
		NetAmount:        -1,
	}
	for _, k := range []string{"refundCompleteTime", "refundSubmissionTime"} {
		if t, err := time.ParseInLocation("2006-01-02 15:04:05", str(ans[k]), chinaTime); err == nil {
			out.Time = t
			break
		}
	}
	return out
}

func (c *Client) check(op string, r adapters.Refund) error {
	switch {
	case r.Account != "" && r.Account != c.merchantID:
		// Our wiring sent it to the wrong merchant's client: configuration.
		return &adapters.Error{Provider: adapters.PayEase, Op: op, Kind: adapters.KindBlocked,
			Message: fmt.Sprintf("refund is for merchant %q, this client is merchant %q", r.Account, c.merchantID)}
	case r.RefundNo == "":
		return c.bad(op, "requestId (refund_no) is required")
	case op == "refund" && r.OrderNo == "":
		return c.bad(op, "orderRequestId (order_no) is required")
	case r.Action == adapters.ActionRevoke:
		return c.bad(op, "PayEase has no revoke")
	}
	return nil
}

func (c *Client) bad(op, msg string) error {
	return &adapters.Error{Provider: adapters.PayEase, Op: op, Kind: adapters.KindFinal, Message: msg}
}

// call signs, encrypts and sends fields; it returns the decrypted answer,
// verified when it carries an hmac.
func (c *Client) call(ctx context.Context, op, path, requestID string, fields map[string]any) (map[string]any, error) {
	fail := func(kind adapters.Kind, msg string, err error) error {
		return &adapters.Error{Provider: adapters.PayEase, Op: op, Kind: kind, Message: msg, Err: err}
	}
	hmac, err := Sign(c.priv, HmacSource(fields))
	if err != nil {
		return nil, fail(adapters.KindBlocked, "signing the request with the merchant private key", err)
	}
	fields["hmac"] = hmac
	plain, err := json.Marshal(fields)
	if err != nil {
		return nil, fail(adapters.KindFinal, "encoding the request", err)
	}
	aesKey, err := randomAESKey()
	if err != nil {
		return nil, fail(adapters.KindRetryable, "generating the AES key", err)
	}
	enc, err := encryptECB(aesKey, plain)
	if err != nil {
		return nil, fail(adapters.KindFinal, "encrypting the request", err)
	}
	wrapped, err := rsa.EncryptPKCS1v15(rand.Reader, c.platform, aesKey)
	if err != nil {
		return nil, fail(adapters.KindBlocked, "encrypting the AES key with the platform public key", err)
	}
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("merchantId", c.merchantID)
	h.Set("requestId", requestID)
	h.Set("encryptKey", base64.StdEncoding.EncodeToString(wrapped))
	resp, err := c.http.Post(ctx, op, c.base+path, []byte(base64.StdEncoding.EncodeToString(enc)), h)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusTooManyRequests || resp.Status >= 500 || resp.Status == 401 || resp.Status == 403 {
		return nil, httpx.StatusError(adapters.PayEase, op, resp, "", "")
	}
	ans, err := c.open(resp)
	if errors.Is(err, errForeignKey) {
		return nil, &adapters.Error{Provider: adapters.PayEase, Op: op, Kind: adapters.KindBlocked, HTTPStatus: resp.Status,
			Code: "ENCRYPT_KEY_MISMATCH", Message: "the answer is encrypted for another key: this merchant private key is not the one registered with PayEase", Err: err}
	}
	if err != nil {
		if resp.Status/100 != 2 {
			return nil, httpx.StatusError(adapters.PayEase, op, resp, "", "")
		}
		return nil, &adapters.Error{Provider: adapters.PayEase, Op: op, Kind: adapters.KindUnknown, HTTPStatus: resp.Status,
			Message: "unreadable answer", Err: err}
	}
	return ans, nil
}

// open decrypts and verifies an answer. A plain JSON error answer
// ({code, cause}) is returned as is: it has no hmac to verify, and it can
// only ever be read as a failure.
func (c *Client) open(resp *httpx.Response) (map[string]any, error) {
	outer, err := decodeFields(resp.Body)
	if err != nil {
		return nil, err
	}
	data, hasData := outer["data"].(string)
	if !hasData {
		if errorCode(outer) == "" {
			return nil, errors.New("answer has neither data nor an error code")
		}
		if _, signed := outer["hmac"]; signed {
			return nil, errors.New("plain answer carries an hmac: refusing an unencrypted signed answer")
		}
		return outer, nil
	}
	wrapped, err := base64.StdEncoding.DecodeString(resp.Header.Get("encryptKey"))
	if err != nil || len(wrapped) == 0 {
		return nil, errors.New("answer has no readable encryptKey header")
	}
	aesKey, err := rsa.DecryptPKCS1v15(nil, c.priv, wrapped)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errForeignKey, err)
	}
	enc, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("answer data is not base64: %w", err)
	}
	plain, err := decryptECB(aesKey, enc)
	if err != nil {
		return nil, fmt.Errorf("decrypting the answer: %w", err)
	}
	ans, err := decodeFields(plain)
	if err != nil {
		return nil, fmt.Errorf("decrypted answer is not JSON: %w", err)
	}
	hmac, signed := ans["hmac"].(string)
	if !signed {
		if str(ans["status"]) == "SUCCESS" {
			return nil, errors.New("successful answer carries no hmac")
		}
		return ans, nil // an error answer: unsigned by design
	}
	if err := Verify(c.platform, HmacSource(ans), hmac); err != nil {
		return nil, fmt.Errorf("answer hmac does not verify: %w", err)
	}
	return ans, nil
}

// errForeignKey: the answer's AES key is not encrypted for our private key.
// PayEase encrypts answers for the merchant key it has registered; if ours
// cannot open it, ours is not that key, so our hmac cannot have verified and
// the request was refused: a credentials problem, final.
var errForeignKey = errors.New("cannot decrypt the answer's encryptKey with the merchant private key")

func errorCode(m map[string]any) string {
	return firstNonEmpty(str(m["code"]), str(m["errorCode"]), nonSuccess(str(m["status"])))
}

func nonSuccess(s string) string {
	if s == "SUCCESS" {
		return ""
	}
	return s
}

func errorMessage(m map[string]any) string {
	return firstNonEmpty(str(m["cause"]), str(m["errorMessage"]), str(m["message"]), str(m["msg"]))
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// amount reads fen from a number or a numeric string; anything else is
// "not reported".
func amount(v any) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(str(v)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
