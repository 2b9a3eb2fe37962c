package httpx

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

func TestDoClassifiesTransportFailures(t *testing.T) {
	// A port nobody listens on: the connection is refused before anything is sent.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()

	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-hang // the request arrived; the answer never comes
	}))
	defer slow.Close()
	defer close(hang)

	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the request, then drop the connection without answering: the
		// "applied but response lost" case.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}))
	defer reset.Close()

	truncated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		w.Write([]byte(`{"result_code":`))
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer truncated.Close()

	cases := []struct {
		name string
		url  string
		want adapters.Kind
	}{
		{"connection refused", refused, adapters.KindRetryable},
		{"timeout after sending", slow.URL, adapters.KindUnknown},
		{"reset after sending", reset.URL, adapters.KindUnknown},
		{"truncated answer", truncated.URL, adapters.KindUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{Provider: "test", Timeout: 300 * time.Millisecond}
			_, err := c.Post(context.Background(), "refund", tc.url, []byte(`{}`), nil)
			if err == nil {
				t.Fatal("want an error")
			}
			if got := adapters.KindOf(err); got != tc.want {
				t.Fatalf("kind = %v, want %v (err: %v)", got, tc.want, err)
			}
		})
	}
}

func TestDoCanceledBeforeSendingIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("request must not arrive")
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &Client{Provider: "test"}
	_, err := c.Post(ctx, "refund", srv.URL, []byte(`{}`), nil)
	if adapters.KindOf(err) != adapters.KindRetryable || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v (kind %v), want retryable wrapping context.Canceled", err, adapters.KindOf(err))
	}
}

func TestStatusError(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter string
		want       adapters.Kind
		wantAfter  time.Duration
		wantNil    bool
	}{
		{200, "", 0, 0, true},
		{429, "7", adapters.KindRetryable, 7 * time.Second, false},
		{429, "", adapters.KindRetryable, 0, false},
		{500, "", adapters.KindUnknown, 0, false},
		{503, "3", adapters.KindUnknown, 3 * time.Second, false},
		{401, "", adapters.KindBlocked, 0, false},
		{403, "", adapters.KindBlocked, 0, false},
		{400, "", adapters.KindFinal, 0, false},
		{404, "", adapters.KindFinal, 0, false},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		e := StatusError("p", "refund", &Response{Status: tc.status, Header: h}, "", "")
		if tc.wantNil {
			if e != nil {
				t.Errorf("%d: want nil, got %v", tc.status, e)
			}
			continue
		}
		if e.Kind != tc.want || e.RetryAfter != tc.wantAfter {
			t.Errorf("%d %q: kind %v after %v, want %v after %v", tc.status, tc.retryAfter, e.Kind, e.RetryAfter, tc.want, tc.wantAfter)
		}
	}
}

func TestRetryAfterIsExactAndCannotOverflow(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	const maxD = time.Duration(math.MaxInt64)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"86400", 24 * time.Hour}, // no cap here: the runner caps
		{"9223372036", 9223372036 * time.Second},
		{"9223372037", maxD},                       // one second more than a Duration holds
		{"99999999999999999999999999999999", maxD}, // beyond int64: saturates, never wraps
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0}, // a date already past
		{now.AddDate(400, 0, 0).Format(http.TimeFormat), maxD},
		{"Sun, 06 Nov 1994 08:49:37 GMT", 0},
		{"", 0}, {"soon", 0}, {"-3", 0}, {"+5", 0}, {"1.5", 0}, {"1e3", 0}, {"0x10", 0}, {"5 s", 0},
	}
	for _, tc := range cases {
		got := RetryAfter(tc.in, now)
		if got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if got < 0 {
			t.Errorf("RetryAfter(%q) is negative: %v", tc.in, got)
		}
	}
}

// A provider that accepts the TCP connection and never says a word: the
// request was written, so after the call's timeout the outcome is unknown.
// A port that refuses connections: nothing was sent, retryable.
func TestSilentAndRefusingProviders(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	c := &Client{Provider: "test", Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, err = c.Post(context.Background(), "refund", "http://"+l.Addr().String()+"/refund", []byte(`{"a":1}`), nil)
	took := time.Since(start)
	if adapters.KindOf(err) != adapters.KindUnknown || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent provider: %v (kind %v); want unknown, wrapping context.DeadlineExceeded", err, adapters.KindOf(err))
	}
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("silent provider answered after %v; want the 300ms call timeout", took)
	}

	r, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + r.Addr().String()
	r.Close()
	_, err = c.Post(context.Background(), "refund", refused, []byte(`{}`), nil)
	if adapters.KindOf(err) != adapters.KindRetryable {
		t.Fatalf("refused connection: %v (kind %v); want retryable", err, adapters.KindOf(err))
	}
}

func TestReadOnly(t *testing.T) {
	err := ReadOnly(&adapters.Error{Provider: "p", Op: "lookup", Kind: adapters.KindUnknown})
	if adapters.KindOf(err) != adapters.KindRetryable {
		t.Fatalf("lookup of unknown outcome should be retryable, got %v", adapters.KindOf(err))
	}
	if !errors.Is(NotFound("p", "X", "y"), adapters.ErrNotFound) {
		t.Fatal("NotFound must wrap adapters.ErrNotFound")
	}
}

func TestTransportPoolsConnections(t *testing.T) {
	if tr := NewTransport(); tr.MaxIdleConnsPerHost < 128 {
		t.Fatalf("MaxIdleConnsPerHost = %d, want >= 128", tr.MaxIdleConnsPerHost)
	}
}
