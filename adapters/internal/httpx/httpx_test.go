package httpx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
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
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
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
		{503, "3", adapters.KindUnknown, 0, false},
		{401, "", adapters.KindFinal, 0, false},
		{400, "", adapters.KindFinal, 0, false},
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
	if d := RetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); d != 90*time.Second {
		t.Errorf("HTTP-date Retry-After = %v, want 90s", d)
	}
	for _, bad := range []string{"soon", "-3", ""} {
		if d := RetryAfter(bad, now); d != 0 {
			t.Errorf("RetryAfter(%q) = %v, want 0", bad, d)
		}
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
