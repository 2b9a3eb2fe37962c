package nomad

import (
	"context"
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

const testKey = "nomad-api-key-for-tests"

type seen struct {
	method, path, query, key string
	body                     []byte
	fields                   map[string]any
}

func fake(t *testing.T, status int, answer string) (*Client, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.body, _ = io.ReadAll(r.Body)
		s.method, s.path, s.query, s.key = r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("app-api-key")
		s.fields = nil
		json.Unmarshal(s.body, &s.fields)
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL + "/broker/v1", Merchant: "wechat.sh_smk", APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestRefundWireFormat(t *testing.T) {
	c, s := fake(t, 200, `{"code":200,"message":"success","refundId":"rf_1","orderRef":"test20220125001","refundOrderRef":"r001","transactionId":"4200001148202111020556019250","createTime":"2021-11-02T17:03:38+08:00","successTime":"2021-11-02T17:03:38+08:00","status":"SUCCESS","refundAmount":10,"totalAmount":10,"currency":"CNY"}`)
	out, err := c.Refund(context.Background(), adapters.Refund{Account: "wechat.sh_smk", OrderNo: "test20220125001",
		ProviderOrderID: "4200001148202111020556019250", RefundNo: "r001", Amount: 10, Total: 10,
		PaymentMethod: "wechatpay", Reason: "商品已售完", Currency: "CNY"})
	if err != nil {
		t.Fatal(err)
	}
	if s.method != "POST" || s.path != "/broker/v1/refund/wechat.sh_smk" || s.key != testKey {
		t.Errorf("%s %s key %q", s.method, s.path, s.key)
	}
	want := map[string]any{"paymentMethod": "wechatpay", "transactionId": "4200001148202111020556019250",
		"orderRef": "test20220125001", "refundOrderRef": "r001", "reason": "商品已售完",
		"refundAmount": 10.0, "totalAmount": 10.0, "currency": "CNY"}
	if len(s.fields) != len(want) {
		t.Errorf("fields %v, want %v", s.fields, want)
	}
	for k, v := range want {
		if s.fields[k] != v { // amounts are JSON numbers of fen
			t.Errorf("%s = %#v, want %#v", k, s.fields[k], v)
		}
	}
	if out.Status != adapters.StatusSucceeded || out.ProviderRefundID != "rf_1" || out.Amount != 10 || out.OrderTotal != 10 || out.Time.IsZero() {
		t.Errorf("outcome %+v", out)
	}
	if out.RefundNo != "r001" || out.OrderNo != "test20220125001" || out.Currency != "CNY" {
		t.Errorf("echo fields: refund %q order %q currency %q", out.RefundNo, out.OrderNo, out.Currency)
	}
}

// The answer is passed through as Nomad gave it, naming what it names; what
// it leaves out stays empty rather than filled from the request.
func TestAnswerNamingAnotherRefundPassesThrough(t *testing.T) {
	c, _ := fake(t, 200, `{"code":200,"status":"SUCCESS","orderRef":"OLD","refundOrderRef":"r001","refundAmount":18778}`)
	out, err := c.Refund(context.Background(), adapters.Refund{OrderNo: "NEW", RefundNo: "r001", Amount: 500, Total: 1000})
	if err != nil || out.Amount != 18778 || out.OrderNo != "OLD" || out.RefundNo != "r001" || out.Currency != "" {
		t.Fatalf("got %+v, %v; want the answer's order OLD, amount 18778, no currency", out, err)
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
		{name: "closed: final error, never a failed outcome", status: 200, answer: `{"code":200,"status":"CLOSE"}`, wantErr: true, wantKind: adapters.KindFinal},
		{name: "lookup closed", lookup: true, status: 200, answer: `{"code":200,"status":"CLOSE"}`, want: adapters.StatusFailed},
		{name: "processing", status: 200, answer: `{"code":200,"status":"PROCESSING"}`, want: adapters.StatusPending},
		{name: "abnormal", lookup: true, status: 200, answer: `{"code":200,"status":"ABNORMAL"}`, want: adapters.StatusPending},
		{name: "422 refused: final", status: 422, answer: `{"code":422,"message":"refundAmount exceeds refundable amount","errors":{"refundAmount":["too large"]}}`, wantErr: true, wantKind: adapters.KindFinal},
		{name: "422 number reused: already done", status: 422, answer: `{"code":422,"message":"REFUND_ORDER_REF_CONFLICT","errors":"refundOrderRef already used"}`, wantErr: true, wantKind: adapters.KindAlreadyDone},
		{name: "401: blocked", status: 401, answer: `{"errors":"Not Authenticated."}`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "403: blocked", status: 403, answer: ``, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "lookup 401: blocked", lookup: true, status: 401, answer: `{"errors":"Not Authenticated."}`, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "lookup 422: final", lookup: true, status: 422, answer: `{"code":422,"message":"VALIDATION_ERROR","errors":"paymentMethod"}`, wantErr: true, wantKind: adapters.KindFinal},
		{name: "500", status: 500, answer: `{"code":500,"errors":"Something wrong when making the service."}`, wantErr: true, wantKind: adapters.KindUnknown},
		{name: "429", status: 429, answer: ``, wantErr: true, wantKind: adapters.KindRetryable},
		{name: "lookup 404", lookup: true, status: 404, answer: `{"errors":"refund not found"}`, notFound: true},
		{name: "lookup 500", lookup: true, status: 500, answer: `{}`, wantErr: true, wantKind: adapters.KindRetryable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := fake(t, tc.status, tc.answer)
			r := adapters.Refund{OrderNo: "o1", RefundNo: "r 1&x", Amount: 10, Total: 10, PaymentMethod: "alipay"}
			var out adapters.Outcome
			var err error
			if tc.lookup {
				out, err = c.Lookup(context.Background(), r)
				if s.method != "GET" || s.path != "/broker/v1/refund/wechat.sh_smk" || s.query != "paymentMethod=alipay&refundOrderRef=r+1%26x" {
					t.Errorf("query %s %s?%s", s.method, s.path, s.query)
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
	o := Options{BaseURL: "http://x", Merchant: "m", APIKey: testKey}
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
