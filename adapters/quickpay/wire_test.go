package quickpay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
)

const testKey = "store-key-for-tests"

type seen struct {
	path, sign string
	body       []byte
	fields     map[string]any
}

func fake(t *testing.T, status int, answer string) (*Client, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.body, _ = io.ReadAll(r.Body)
		s.path, s.sign = r.URL.Path, r.Header.Get("X-QuickPay-Sign")
		json.Unmarshal(s.body, &s.fields)
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL, StoreNo: "SH001", StoreKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestRefundWireFormat(t *testing.T) {
	c, s := fake(t, 200, `{"code":"SUCCESS","msg":"ok","data":{"transaction_status":"SUCCESSED","store_no":"SH001","total_amount":1000,"refund_amount":250,"order_no":"QP-1","refund_order_no":"QR-1","refund_transaction_no":"T9","refund_transaction_time":"2026-11-20 10:00:00"}}`)
	out, err := c.Refund(context.Background(), adapters.Refund{Account: "SH001", OrderNo: "QP-1", RefundNo: "QR-1",
		Amount: 250, Total: 1000, Operator: "bob", Reason: "damaged"})
	if err != nil {
		t.Fatal(err)
	}
	if s.path != "/QuickPay/Refund" {
		t.Errorf("path %q", s.path)
	}
	m := hmac.New(sha256.New, []byte(testKey))
	m.Write(s.body)
	if s.sign != hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("X-QuickPay-Sign %q does not sign the body sent", s.sign)
	}
	want := map[string]any{"store_no": "SH001", "operator": "bob", "amount": 1000.0, "refund_amount": 250.0,
		"order_no": "QP-1", "refund_no": "QR-1", "refund_desc": "damaged"}
	if len(s.fields) != len(want) {
		t.Errorf("fields %v, want %v", s.fields, want)
	}
	for k, v := range want {
		if s.fields[k] != v { // amounts are JSON integers of fen
			t.Errorf("%s = %#v, want %#v", k, s.fields[k], v)
		}
	}
	if !strings.Contains(string(s.body), `"refund_amount":250`) {
		t.Errorf("refund_amount not an integer: %s", s.body)
	}
	if out.Status != adapters.StatusSucceeded || out.Amount != 250 || out.ProviderRefundID != "T9" || out.Time.IsZero() {
		t.Errorf("outcome %+v", out)
	}
	if out.RefundNo != "QR-1" || out.OrderNo != "QP-1" || out.Currency != "" {
		t.Errorf("echo fields: refund %q order %q currency %q; want QR-1, QP-1 and none (QuickPay answers carry no currency)",
			out.RefundNo, out.OrderNo, out.Currency)
	}
}

// The answer is passed through as QuickPay gave it: an answer naming another
// refund or amount than was sent is the runner's to judge, not ours to fix.
func TestAnswerNamingAnotherRefundPassesThrough(t *testing.T) {
	c, _ := fake(t, 200, `{"code":"SUCCESS","data":{"transaction_status":"SUCCESSED","refund_amount":18778,"order_no":"QP-OLD","refund_order_no":"QR-1"}}`)
	out, err := c.Refund(context.Background(), adapters.Refund{Account: "SH001", OrderNo: "QP-NEW", RefundNo: "QR-1", Amount: 500})
	if err != nil || out.Amount != 18778 || out.OrderNo != "QP-OLD" || out.RefundNo != "QR-1" {
		t.Fatalf("got %+v, %v; want the answer's amount 18778 and order QP-OLD", out, err)
	}
	c, _ = fake(t, 200, `{"code":"SUCCESS","data":{"transaction_status":"SUCCESSED"}}`)
	if out, _ := c.Refund(context.Background(), adapters.Refund{Account: "SH001", OrderNo: "QP-1", RefundNo: "QR-1", Amount: 500}); out.Amount != 0 || out.OrderNo != "" || out.RefundNo != "" {
		t.Fatalf("an answer naming nothing: %+v; want empty echo fields, never the request's", out)
	}
}

func TestAnswers(t *testing.T) {
	cases := []struct {
		name     string
		lookup   bool
		status   int
		answer   string
		want     adapters.Status
		wantKind adapters.Kind
		wantErr  bool
		notFound bool
	}{
		{name: "refunded", lookup: true, status: 200, answer: `{"code":"SUCCESS","data":{"transaction_status":"REFUNDED"}}`, want: adapters.StatusSucceeded},
		{name: "refund failed", lookup: true, status: 200, answer: `{"code":"SUCCESS","data":{"transaction_status":"REFUNDFAILED"}}`, want: adapters.StatusFailed},
		{name: "paying", status: 200, answer: `{"code":"SUCCESS","data":{"transaction_status":"PAYING"}}`, want: adapters.StatusPending},
		{name: "unknown is pending", status: 200, answer: `{"code":"SUCCESS","data":{"transaction_status":"UNKNOWN"}}`, want: adapters.StatusPending},
		{name: "over refund refused: final", status: 200, answer: `{"code":"REFUND_AMOUNT_EXCEEDED","msg":"退款金额超过可退金额"}`, wantErr: true, wantKind: adapters.KindFinal},
		{name: "order unknown: final", status: 200, answer: `{"code":"ORDER_NOT_EXIST"}`, wantErr: true, wantKind: adapters.KindFinal},
		{name: "bad params: final", status: 200, answer: `{"code":"PARAM_ERROR"}`, wantErr: true, wantKind: adapters.KindFinal},
		{name: "number reused: already done", status: 200, answer: `{"code":"REFUND_NO_CONFLICT"}`, wantErr: true, wantKind: adapters.KindAlreadyDone},
		{name: "refund reported failed: final error, never a failed outcome", status: 200, answer: `{"code":"SUCCESS","data":{"transaction_status":"FAILED"}}`, wantErr: true, wantKind: adapters.KindFinal},
		{name: "bad sign: blocked", status: 200, answer: `{"code":"INVALID_SIGN","msg":"签名错误"}`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "sign error: blocked", status: 200, answer: `{"code":"SIGN_ERROR"}`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "unknown store: blocked", status: 200, answer: `{"code":"STORE_NOT_EXIST"}`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "http 401: blocked", status: 401, answer: `{"code":"UNAUTHORIZED"}`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "http 403: blocked", status: 403, answer: ``, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "system error", status: 200, answer: `{"code":"SYSTEM_ERROR"}`, wantErr: true, wantKind: adapters.KindUnknown},
		{name: "http 500", status: 500, answer: `oops`, wantErr: true, wantKind: adapters.KindUnknown},
		{name: "lookup 500 is retryable", lookup: true, status: 500, answer: `oops`, wantErr: true, wantKind: adapters.KindRetryable},
		{name: "http 429", status: 429, answer: ``, wantErr: true, wantKind: adapters.KindRetryable},
		{name: "unknown store is not 'refund not found'", lookup: true, status: 200, answer: `{"code":"STORE_NOT_EXIST"}`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "lookup with a bad sign: blocked", lookup: true, status: 200, answer: `{"code":"SIGN_ERROR"}`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "not found", lookup: true, status: 200, answer: `{"code":"REFUND_NOT_EXIST","msg":"无此退款"}`, notFound: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := fake(t, tc.status, tc.answer)
			r := adapters.Refund{OrderNo: "QP-1", RefundNo: "QR-1", Amount: 250}
			var out adapters.Outcome
			var err error
			if tc.lookup {
				out, err = c.Lookup(context.Background(), r)
				if s.path != "/QuickPay/RefundQuery" || s.fields["refund_order_no"] != "QR-1" || s.fields["order_no"] != "QP-1" || s.fields["store_no"] != "SH001" {
					t.Errorf("query %s %s", s.path, s.body)
				}
			} else {
				out, err = c.Refund(context.Background(), r)
			}
			switch {
			case tc.notFound:
				if !errors.Is(err, adapters.ErrNotFound) {
					t.Fatalf("want ErrNotFound, got %+v %v", out, err)
				}
			case tc.wantErr:
				var pe *adapters.Error
				if !errors.As(err, &pe) || pe.Kind != tc.wantKind || out.Status != "" {
					t.Fatalf("got %+v, err %v kind %v; want an *adapters.Error of kind %v", out, err, adapters.KindOf(err), tc.wantKind)
				}
			default:
				if err != nil || out.Status != tc.want {
					t.Fatalf("got %+v %v, want %s", out, err, tc.want)
				}
			}
		})
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	o := Options{BaseURL: "http://x", StoreNo: "SH001", StoreKey: testKey}
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
