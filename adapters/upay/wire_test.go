package upay

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// The worked example of PROVIDERS.md (from Shouqianba's sign.md).
func TestSignWorkedExample(t *testing.T) {
	body := `{"terminal_sn":"100000330000000001","client_sn":"ORDER-1","refund_request_no":"1","operator":"op","refund_amount":"100"}`
	got := Sign("100000330000000001", []byte(body), []byte("0123456789abcdef0123456789abcdef"))
	want := "100000330000000001 1bc15246a7755d83fce643e4d3d3d025"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

// captured is what a fake Upay endpoint saw.
type captured struct {
	mu     sync.Mutex
	path   string
	auth   string
	body   []byte
	fields map[string]any
}

// fakeUpay answers every request with answer, after recording it.
func fakeUpay(t *testing.T, answer func(path string) (int, string)) (*httptest.Server, *captured) {
	t.Helper()
	c := &captured{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.path, c.auth, c.body = r.URL.Path, r.Header.Get("Authorization"), b
		c.fields = nil
		json.Unmarshal(b, &c.fields)
		c.mu.Unlock()
		status, body := answer(r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, c
}

const testKey = "0123456789abcdef0123456789abcdef"

func newTestClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := New(Options{BaseURL: url, TerminalSN: "100000330000000001", TerminalKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRefundRequestWireFormat(t *testing.T) {
	srv, got := fakeUpay(t, func(string) (int, string) {
		return 200, `{"result_code":"200","biz_response":{"result_code":"REFUND_SUCCESS","data":{"sn":"7894259244067218","client_sn":"ORDER-1","client_tsn":"ORDER-1-R1","status":"SUCCESS","order_status":"PARTIAL_REFUNDED","total_amount":"1000","net_amount":"750","finish_time":"1449563206776"}}}`
	})
	c := newTestClient(t, srv.URL)
	out, err := c.Refund(context.Background(), adapters.Refund{
		Provider: adapters.Upay, Account: "100000330000000001", OrderNo: "ORDER-1", RefundNo: "R1",
		Amount: 250, Total: 1000, Currency: "CNY", Operator: "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.path != "/upay/v2/refund" {
		t.Errorf("path = %q", got.path)
	}
	// The signature covers the exact bytes that were sent.
	sum := md5.Sum(append(append([]byte{}, got.body...), testKey...))
	if want := "100000330000000001 " + hex.EncodeToString(sum[:]); got.auth != want {
		t.Errorf("Authorization = %q, want %q", got.auth, want)
	}
	want := map[string]any{
		"terminal_sn": "100000330000000001", "client_sn": "ORDER-1", "refund_request_no": "R1",
		"operator": "alice", "refund_amount": "250",
	}
	if len(got.fields) != len(want) {
		t.Errorf("body fields = %v, want exactly %v", got.fields, want)
	}
	for k, v := range want {
		if got.fields[k] != v { // every value a JSON string, amounts in fen
			t.Errorf("body[%q] = %#v, want %#v", k, got.fields[k], v)
		}
	}
	if out.Status != adapters.StatusSucceeded || out.ProviderOrderID != "7894259244067218" ||
		out.OrderTotal != 1000 || out.NetAmount != 750 || out.Time.UnixMilli() != 1449563206776 {
		t.Errorf("outcome = %+v", out)
	}
	// What the answer names, and nothing from the request: it carries no
	// refund_amount and no currency.
	if out.RefundNo != "R1" || out.OrderNo != "ORDER-1" || out.Amount != 0 || out.Currency != "" {
		t.Errorf("echo fields = refund %q order %q amount %d currency %q; want R1 ORDER-1 0 \"\"", out.RefundNo, out.OrderNo, out.Amount, out.Currency)
	}
}

func TestRevokeRequestWireFormat(t *testing.T) {
	srv, got := fakeUpay(t, func(string) (int, string) {
		return 200, `{"result_code":"200","biz_response":{"result_code":"CANCEL_SUCCESS","data":{"sn":"7894259244067218","client_sn":"ORDER-1","order_status":"CANCELED","total_amount":"1000","net_amount":"0"}}}`
	})
	c := newTestClient(t, srv.URL)
	out, err := c.Refund(context.Background(), adapters.Refund{
		OrderNo: "ORDER-1", ProviderOrderID: "7894259244067218", Amount: 1000, Action: adapters.ActionRevoke,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.path != "/upay/v2/revoke" {
		t.Errorf("path = %q", got.path)
	}
	if len(got.fields) != 3 || got.fields["sn"] != "7894259244067218" || got.fields["client_sn"] != "ORDER-1" {
		t.Errorf("revoke body = %s", got.body)
	}
	if out.Status != adapters.StatusSucceeded || out.Amount != 1000 {
		t.Errorf("outcome = %+v", out)
	}
}

func TestRefundAnswers(t *testing.T) {
	const order = `"data":{"sn":"7894259244067218","client_sn":"ORDER-1","client_tsn":"ORDER-1-R1","status":"SUCCESS","order_status":"PARTIAL_REFUNDED","total_amount":"1000","net_amount":"750"}`
	cases := []struct {
		name       string
		status     int
		refund     string // answer to /refund
		query      string // answer to /query (for confirmations)
		wantStatus adapters.Status
		wantKind   adapters.Kind
		wantErr    bool
		wantCode   string
	}{
		{name: "success", status: 200, refund: `{"result_code":"200","biz_response":{"result_code":"REFUND_SUCCESS",` + order + `}}`,
			wantStatus: adapters.StatusSucceeded, wantCode: "REFUND_SUCCESS"},
		{name: "refused on a fully refunded order: already done", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_REFUND_INVALID_ORDER_STATE","error_message":"订单已全额退款"}}`,
			query:   `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R9","status":"SUCCESS","order_status":"REFUNDED","total_amount":"1000","net_amount":"0"}}}`,
			wantErr: true, wantKind: adapters.KindAlreadyDone, wantCode: "UPAY_REFUND_INVALID_ORDER_STATE"},
		{name: "refused on a revoked order: already done", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_REFUND_INVALID_ORDER_STATE"}}`,
			query:   `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"ORDER-1","order_status":"CANCELED","total_amount":"1000","net_amount":"0"}}}`,
			wantErr: true, wantKind: adapters.KindAlreadyDone},
		{name: "invalid order state on an order never paid: final", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_REFUND_INVALID_ORDER_STATE"}}`,
			query:   `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"ORDER-1","order_status":"PAY_CANCELED","total_amount":"1000","net_amount":"1000"}}}`,
			wantErr: true, wantKind: adapters.KindFinal, wantCode: "UPAY_REFUND_INVALID_ORDER_STATE"},
		{name: "invalid order state but the query shows a refundable order (lagging): already done", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_REFUND_INVALID_ORDER_STATE"}}`,
			query:   `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"ORDER-1","order_status":"PAID","total_amount":"1000","net_amount":"1000"}}}`,
			wantErr: true, wantKind: adapters.KindAlreadyDone},
		{name: "invalid order state, query unreadable: already done (the safe side)", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_REFUND_INVALID_ORDER_STATE"}}`,
			query:   `garbage`,
			wantErr: true, wantKind: adapters.KindAlreadyDone},
		{name: "noop repeat: already done", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_REFUND_ORDER_NOOP"}}`,
			wantErr: true, wantKind: adapters.KindAlreadyDone, wantCode: "UPAY_REFUND_ORDER_NOOP"},
		{name: "number reused for another amount: already done", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"REFUND_REQUEST_NO_CONFLICT"}}`,
			wantErr: true, wantKind: adapters.KindAlreadyDone},
		{name: "over-refund: final", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"REFUNDABLE_AMOUNT_NOT_ENOUGH","error_message":"可退金额不足"}}`,
			wantErr: true, wantKind: adapters.KindFinal, wantCode: "REFUNDABLE_AMOUNT_NOT_ENOUGH"},
		{name: "refund fail: final", status: 200, refund: `{"result_code":"200","biz_response":{"result_code":"REFUND_FAIL"}}`,
			wantErr: true, wantKind: adapters.KindFinal, wantCode: "REFUND_FAIL"},
		{name: "terminal unknown: blocked", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_TERMINAL_NOT_EXISTS"}}`,
			wantErr: true, wantKind: adapters.KindBlocked},
		{name: "merchant balance: blocked", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"ACCOUNT_BALANCE_NOT_ENOUGH","error_message":"商户余额不足"}}`,
			wantErr: true, wantKind: adapters.KindBlocked},
		{name: "in progress", status: 200, refund: `{"result_code":"200","biz_response":{"result_code":"REFUND_IN_PROGRESS"}}`,
			wantStatus: adapters.StatusPending},
		{name: "refund error, query inconclusive", status: 200,
			refund:     `{"result_code":"200","biz_response":{"result_code":"REFUND_ERROR"}}`,
			query:      `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R9","status":"SUCCESS","order_status":"PARTIAL_REFUNDED","total_amount":"1000","net_amount":"500"}}}`,
			wantStatus: adapters.StatusUnknown, wantCode: "REFUND_ERROR"},
		{name: "refund error, query confirms success", status: 200,
			refund:     `{"result_code":"200","biz_response":{"result_code":"REFUND_ERROR"}}`,
			query:      `{"result_code":"200","biz_response":{"result_code":"SUCCESS",` + order + `}}`,
			wantStatus: adapters.StatusSucceeded, wantCode: "SUCCESS"},
		{name: "refund error, query shows it failed: a final error, never a failed outcome", status: 200,
			refund:  `{"result_code":"200","biz_response":{"result_code":"REFUND_ERROR"}}`,
			query:   `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R1","status":"FAIL_CANCELED","order_status":"PAID","total_amount":"1000","net_amount":"1000"}}}`,
			wantErr: true, wantKind: adapters.KindFinal, wantCode: "FAIL_CANCELED"},
		{name: "bad signature: blocked", status: 200, refund: `{"result_code":"400","error_code":"ILLEGAL_SIGN","error_message":"签名错误"}`,
			wantErr: true, wantKind: adapters.KindBlocked, wantCode: "ILLEGAL_SIGN"},
		{name: "unknown terminal: blocked", status: 200, refund: `{"result_code":"400","error_code":"INVALID_TERMINAL"}`,
			wantErr: true, wantKind: adapters.KindBlocked},
		{name: "invalid params: final", status: 200, refund: `{"result_code":"400","error_code":"INVALID_PARAMS"}`,
			wantErr: true, wantKind: adapters.KindFinal},
		{name: "system error", status: 200, refund: `{"result_code":"500","error_code":"UNKNOWN_SYSTEM_ERROR"}`,
			wantErr: true, wantKind: adapters.KindUnknown},
		{name: "http 401: blocked", status: 401, refund: `unauthorized`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "http 502", status: 502, refund: `<html>bad gateway</html>`, wantErr: true, wantKind: adapters.KindUnknown},
		{name: "http 429", status: 429, refund: `{}`, wantErr: true, wantKind: adapters.KindRetryable},
		{name: "garbage 200", status: 200, refund: `not json`, wantErr: true, wantKind: adapters.KindUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeUpay(t, func(path string) (int, string) {
				if strings.HasSuffix(path, "/query") {
					return 200, tc.query
				}
				return tc.status, tc.refund
			})
			out, err := newTestClient(t, srv.URL).Refund(context.Background(),
				adapters.Refund{OrderNo: "ORDER-1", RefundNo: "R1", Amount: 250})
			if tc.wantErr {
				var pe *adapters.Error
				if !errors.As(err, &pe) || pe.Kind != tc.wantKind {
					t.Fatalf("outcome %+v, err = %v (kind %v), want an *adapters.Error of kind %v", out, err, adapters.KindOf(err), tc.wantKind)
				}
				if tc.wantCode != "" && pe.Code != tc.wantCode {
					t.Fatalf("code %q, want %q", pe.Code, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tc.wantStatus || (tc.wantCode != "" && out.Code != tc.wantCode) {
				t.Fatalf("outcome = %+v, want %s %s", out, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestLookupReadsTheOrderConservatively(t *testing.T) {
	q := func(data string) string {
		return `{"result_code":"200","biz_response":{"result_code":"SUCCESS","data":` + data + `}}`
	}
	cases := []struct {
		name     string
		answer   string
		action   adapters.Action
		want     adapters.Status
		notFound bool
	}{
		{name: "latest is ours, succeeded", answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R1","status":"SUCCESS","order_status":"PARTIAL_REFUNDED","total_amount":"1000","net_amount":"750"}`), want: adapters.StatusSucceeded},
		{name: "latest is ours, failed", answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R1","status":"FAIL_CANCELED","order_status":"PAID","total_amount":"1000","net_amount":"1000"}`), want: adapters.StatusFailed},
		{name: "latest is ours, in progress", answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R1","status":"IN_PROG","order_status":"REFUND_INPROGRESS","total_amount":"1000","net_amount":"1000"}`), want: adapters.StatusPending},
		{name: "untouched paid order", answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1","status":"SUCCESS","order_status":"PAID","total_amount":"1000","net_amount":"1000"}`), notFound: true},
		{name: "untouched, no client_tsn", answer: q(`{"client_sn":"ORDER-1","status":"SUCCESS","order_status":"PAID","total_amount":"1000","net_amount":"1000"}`), notFound: true},
		{name: "another refund is latest", answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R2","status":"SUCCESS","order_status":"PARTIAL_REFUNDED","total_amount":"1000","net_amount":"500"}`), want: adapters.StatusUnknown},
		{name: "another failed refund is latest, no money moved", answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R2","status":"FAIL_CANCELED","order_status":"PAID","total_amount":"1000","net_amount":"1000"}`), want: adapters.StatusUnknown},
		{name: "prefix is not a match", answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R10","status":"SUCCESS","order_status":"PARTIAL_REFUNDED","total_amount":"1000","net_amount":"900"}`), want: adapters.StatusUnknown},
		{name: "revoked order has no refunds", answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1-revoke","status":"SUCCESS","order_status":"CANCELED","total_amount":"1000","net_amount":"0"}`), notFound: true},
		{name: "no such order", answer: `{"result_code":"200","biz_response":{"result_code":"FAIL","error_code":"UPAY_ORDER_NOT_EXISTS","error_message":"订单不存在"}}`, notFound: true},
		{name: "revoke done", action: adapters.ActionRevoke, answer: q(`{"client_sn":"ORDER-1","status":"SUCCESS","order_status":"CANCELED","total_amount":"1000","net_amount":"0"}`), want: adapters.StatusSucceeded},
		{name: "revoke impossible after refund", action: adapters.ActionRevoke, answer: q(`{"client_sn":"ORDER-1","client_tsn":"ORDER-1-R2","status":"SUCCESS","order_status":"PARTIAL_REFUNDED","total_amount":"1000","net_amount":"500"}`), notFound: true},
		{name: "revoke error", action: adapters.ActionRevoke, answer: q(`{"client_sn":"ORDER-1","status":"ERROR","order_status":"CANCEL_ERROR","total_amount":"1000","net_amount":"1000"}`), want: adapters.StatusUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := fakeUpay(t, func(string) (int, string) { return 200, tc.answer })
			out, err := newTestClient(t, srv.URL).Lookup(context.Background(),
				adapters.Refund{OrderNo: "ORDER-1", RefundNo: "R1", Amount: 250, Action: tc.action})
			if got.path != "/upay/v2/query" || got.fields["client_sn"] != "ORDER-1" {
				t.Errorf("query sent to %q with %s", got.path, got.body)
			}
			if tc.notFound {
				if !errors.Is(err, adapters.ErrNotFound) {
					t.Fatalf("want ErrNotFound, got %+v, %v", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tc.want {
				t.Fatalf("status = %s, want %s (%+v)", out.Status, tc.want, out)
			}
		})
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	o := Options{BaseURL: "http://x", TerminalSN: "T1", TerminalKey: testKey}
	c, _ := New(o)
	var all []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		all = append(all, fmt.Sprintf(verb, o), fmt.Sprintf(verb, c), fmt.Sprintf(verb, &o))
	}
	for _, s := range all {
		if strings.Contains(s, testKey) {
			t.Errorf("key printed: %s", s)
		}
	}
}

// A client that cannot be built for want of a credential is blocked: the
// configuration must be fixed, nothing about any refund was judged.
func TestMissingCredentialIsBlocked(t *testing.T) {
	_, err := New(Options{BaseURL: "http://x"})
	if adapters.KindOf(err) != adapters.KindBlocked {
		t.Fatalf("New without credentials: %v (kind %v), want blocked", err, adapters.KindOf(err))
	}
}
