// Package httpx is the HTTP plumbing the four provider clients share: one
// pooled transport sized for many concurrent refunds, a per-call timeout, and
// the classification of transport failures and HTTP statuses into
// adapters.Kind.
//
// The rule behind the classification: a request that provably never reached
// the provider (no connection was ever obtained) is safe to send again; a
// request that may have been written is of unknown outcome, whatever went
// wrong afterwards (timeout, reset, unreadable body, 5xx). Only the refund
// number keeps a re-send idempotent, so the runner must look such a refund up
// first. Clients in this package never retry by themselves.
package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// DefaultTimeout bounds one call when the caller configured none.
const DefaultTimeout = 15 * time.Second

// maxBody caps how much of an answer is read: provider answers are small, and
// a runaway body must not exhaust memory.
const maxBody = 1 << 20

// NewTransport returns a transport that keeps enough idle connections per
// host for a high-concurrency run against one provider endpoint.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

var shared = &http.Client{Transport: NewTransport()}

// Client sends one provider's requests.
type Client struct {
	Provider string
	HTTP     *http.Client  // nil: a process-wide pooled client
	Timeout  time.Duration // per call; 0: DefaultTimeout
}

// Response is an HTTP answer read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req under the client's timeout and reads the whole answer. It
// returns an *adapters.Error for transport failures only; any HTTP status is
// returned as a Response for the adapter to interpret (see StatusError).
func (c *Client) Do(ctx context.Context, op string, req *http.Request) (*Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// gotConn records whether a connection was ever handed to this request:
	// before that, nothing can have reached the provider.
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))

	hc := c.HTTP
	if hc == nil {
		hc = shared
	}
	resp, err := hc.Do(req)
	if err != nil {
		kind := adapters.KindUnknown
		if !gotConn.Load() || isDialError(err) {
			kind = adapters.KindRetryable
		}
		return nil, &adapters.Error{Provider: c.Provider, Op: op, Kind: kind, Err: scrub(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && len(body) > maxBody {
		err = fmt.Errorf("answer longer than %d bytes", maxBody)
	}
	if err != nil {
		// The provider answered, so it saw the request: outcome unknown.
		return nil, &adapters.Error{Provider: c.Provider, Op: op, Kind: adapters.KindUnknown,
			HTTPStatus: resp.StatusCode, Message: "reading the answer failed", Err: scrub(err)}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Post builds and sends a POST with the given body and headers.
func (c *Client) Post(ctx context.Context, op, url string, body []byte, header http.Header) (*Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, &adapters.Error{Provider: c.Provider, Op: op, Kind: adapters.KindFinal, Message: "bad request URL", Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return c.Do(ctx, op, req)
}

// Get builds and sends a GET.
func (c *Client) Get(ctx context.Context, op, url string, header http.Header) (*Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, &adapters.Error{Provider: c.Provider, Op: op, Kind: adapters.KindFinal, Message: "bad request URL", Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return c.Do(ctx, op, req)
}

// isDialError reports a failure to open the connection (refused, no route,
// DNS): the request cannot have been sent.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// scrub drops the request URL from a *url.Error: a URL may carry query
// parameters a provider treats as sensitive, and the caller already knows
// which endpoint it called.
func scrub(err error) error {
	type unwrapper interface{ Unwrap() error }
	if ue, ok := err.(interface {
		unwrapper
		Timeout() bool
	}); ok {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// StatusError classifies an HTTP status the adapter has no specific reading
// for: 429 is retryable, 5xx is of unknown outcome, 401 and 403 are blocked
// (our credentials or configuration were refused: nothing about the refund
// was judged), other 4xx are final. A Retry-After on the answer is carried
// whatever the status. It returns nil for 2xx.
func StatusError(provider, op string, r *Response, code, msg string) *adapters.Error {
	e := &adapters.Error{Provider: provider, Op: op, HTTPStatus: r.Status, Code: code, Message: msg}
	switch {
	case r.Status >= 200 && r.Status < 300:
		return nil
	case r.Status == http.StatusTooManyRequests:
		e.Kind = adapters.KindRetryable
	case r.Status >= 500:
		e.Kind = adapters.KindUnknown
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		e.Kind = adapters.KindBlocked
	default:
		e.Kind = adapters.KindFinal
	}
	e.RetryAfter = RetryAfter(r.Header.Get("Retry-After"), time.Now())
	if e.Message == "" {
		e.Message = Snippet(r.Body)
	}
	return e
}

// maxDelaySeconds is the largest delay-seconds a time.Duration holds.
const maxDelaySeconds = int64(math.MaxInt64 / time.Second)

// RetryAfter parses a Retry-After value, delay-seconds (digits only, RFC
// 9110) or an HTTP date, exactly and without a cap: capping is the caller's
// policy. A delay too long for a time.Duration saturates at the largest one
// rather than wrapping around. It returns 0 when the header is absent,
// malformed, or a date already past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxDelaySeconds { // only ErrRange: the value is all digits
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 { // Sub saturates too
			return d
		}
	}
	return 0
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Snippet is a short, printable excerpt of an answer body for error messages.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s)
}

// ReadOnly reclassifies the error of a read-only call (a lookup): nothing it
// sends can change the provider's state, so a call of unknown outcome is
// simply safe to repeat.
func ReadOnly(err error) error {
	var pe *adapters.Error
	if errors.As(err, &pe) && pe.Kind == adapters.KindUnknown {
		cp := *pe
		cp.Kind = adapters.KindRetryable
		return &cp
	}
	return err
}

// NotFound is the error a Lookup returns when the provider has no record of
// the refund.
func NotFound(provider, code, msg string) error {
	return &adapters.Error{Provider: provider, Op: "lookup", Kind: adapters.KindFinal,
		Code: code, Message: msg, Err: adapters.ErrNotFound}
}

// Redacted is how secret values print.
const Redacted = "[REDACTED]"
