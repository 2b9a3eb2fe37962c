package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

func TestQuickPay(t *testing.T) {
	refund := func(order, no string, amt string) string {
		return `{"store_no":"SH001","operator":"op","amount":10000,"refund_amount":` + amt + `,"order_no":"` + order + `","refund_no":"` + no + `","refund_desc":"test"}`
	}
	type step struct{ op, body, code, status string }
	tests := []struct {
		name  string
		steps []step
	}{
		{"refund, query, repeat, conflict", []step{
			{"Refund", refund("QP-1", "R1", "4000"), "SUCCESS", "SUCCESSED"},
			{"RefundQuery", `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"R1"}`, "SUCCESS", "REFUNDED"},
			{"Refund", refund("QP-1", "R1", "4000"), "SUCCESS", "SUCCESSED"},
			{"Refund", refund("QP-1", "R1", "4001"), "REFUND_NO_CONFLICT", ""},
		}},
		{"partial down to zero, then rejected", []step{
			{"Refund", refund("QP-1", "R1", "6000"), "SUCCESS", "SUCCESSED"},
			{"Refund", refund("QP-1", "R2", "4001"), "REFUND_AMOUNT_EXCEEDED", ""},
			{"Refund", refund("QP-1", "R2", "4000"), "SUCCESS", "SUCCESSED"},
			{"Refund", refund("QP-1", "R3", "1"), "REFUND_AMOUNT_EXCEEDED", ""},
		}},
		{"a refused number may be sent again", []step{
			{"Refund", refund("QP-1", "R1", "10001"), "REFUND_AMOUNT_EXCEEDED", ""},
			{"Refund", refund("QP-1", "R1", "10000"), "SUCCESS", "SUCCESSED"},
		}},
		{"validation", []step{
			{"Refund", refund("QP-1", "R1", `"100"`), "PARAM_ERROR", ""},
			{"Refund", refund("QP-1", "R1", "0"), "PARAM_ERROR", ""},
			{"Refund", `{"store_no":"SH001","operator":"op","amount":9999,"refund_amount":1,"order_no":"QP-1","refund_no":"R1"}`, "PARAM_ERROR", ""},
			{"Refund", `{"store_no":"SH001","operator":"12345678901234567","refund_amount":1,"order_no":"QP-1","refund_no":"R1"}`, "PARAM_ERROR", ""},
			{"Refund", `{"store_no":"SH001","operator":"op","refund_amount":1,"order_no":"QP-1"}`, "PARAM_ERROR", ""},
			{"Refund", refund("QP-X", "R1", "1"), "ORDER_NOT_EXIST", ""},
			{"RefundQuery", `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"never"}`, "REFUND_NOT_EXIST", ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb, _ := start(t, Faults{})
			for i, s := range tc.steps {
				m := quickpay(t, sb, s.op, "SH001", s.body)
				if path(m, "code") != s.code || path(m, "data", "transaction_status") != s.status {
					t.Fatalf("step %d: got %s/%s, want %s/%s: %v", i+1, path(m, "code"), path(m, "data", "transaction_status"), s.code, s.status, m)
				}
			}
		})
	}
	t.Run("signature and store", func(t *testing.T) {
		sb, _ := start(t, Faults{})
		body := refund("QP-1", "R1", "100")
		for _, c := range []struct{ name, key, body, code string }{
			{"wrong key", "not-the-key", body, "SIGN_ERROR"},
			{"unknown store", acct(t, sb, adapters.QuickPay, "SH001").Secret, strings.Replace(body, "SH001", "SH999", 1), "STORE_NOT_EXIST"},
		} {
			_, _, b := do(t, client, quickpayRequest(sb, "Refund", c.key, c.body))
			if m := decode(t, b); path(m, "code") != c.code {
				t.Errorf("%s: %s, want %s", c.name, b, c.code)
			}
		}
		if len(sb.Ledger()) != 0 {
			t.Fatal("rejected requests moved money")
		}
	})
}

func TestNomad(t *testing.T) {
	body := func(order, ref string, amt, total string) string {
		return `{"paymentMethod":"wechatpay","transactionId":"4200001148202111020556019250","orderRef":"` + order + `","refundOrderRef":"` + ref +
			`","reason":"商品已售完","refundAmount":` + amt + `,"totalAmount":` + total + `,"currency":"CNY","notifyUrl":"https://www.weixin.qq.com","refundAccount":"REFUND_SOURCE_SUB_MERCHANT"}`
	}
	const p = "/refund/wechat.sh_smk"
	t.Run("seed example and rules", func(t *testing.T) {
		sb, _ := start(t, Faults{})
		type step struct {
			method, pathq, body string
			http                int
			status, message     string
		}
		for i, s := range []step{
			{"POST", p, body("test20220125001", "r001test20220125001", "400", "1000"), 200, "SUCCESS", "success"},
			{"GET", p + "?refundOrderRef=r001test20220125001&paymentMethod=wechatpay", "", 200, "SUCCESS", "success"},
			{"POST", p, body("test20220125001", "r001test20220125001", "400", "1000"), 200, "SUCCESS", "success"},
			{"POST", p, body("test20220125001", "r001test20220125001", "401", "1000"), 422, "", "REFUND_ORDER_REF_CONFLICT"},
			{"POST", p, body("test20220125001", "r2", "601", "1000"), 422, "", "REFUND_AMOUNT_EXCEEDED"},
			{"POST", p, body("test20220125001", "r2", "600", "1000"), 200, "SUCCESS", "success"},
			{"POST", p, body("test20220125001", "r3", "1", "1000"), 422, "", "REFUND_AMOUNT_EXCEEDED"},
			{"POST", p, body("test20220125001", "r4", `"1"`, "1000"), 422, "", "VALIDATION_ERROR"},
			{"POST", p, body("test20220125001", "r4", "1.5", "1000"), 422, "", "VALIDATION_ERROR"},
			{"POST", p, body("test20220125001", "r4", "1", "999"), 422, "", "VALIDATION_ERROR"},
			{"POST", p, strings.Replace(body("test20220125001", "r4", "1", "1000"), `"totalAmount":1000,`, "", 1), 422, "", "VALIDATION_ERROR"},
			{"POST", p, body("nope", "r4", "1", "1000"), 422, "", "ORDER_NOT_FOUND"},
			{"GET", p + "?refundOrderRef=never&paymentMethod=wechatpay", "", 404, "", "REFUND_NOT_FOUND"},
		} {
			st, m := nomad(t, sb, s.method, s.pathq, s.body)
			if st != s.http || path(m, "status") != s.status || path(m, "message") != s.message {
				t.Fatalf("step %d: HTTP %d %v, want %d %s %s", i+1, st, m, s.http, s.status, s.message)
			}
		}
		if l := ledgerFor(sb, adapters.Nomad, "r001test20220125001"); len(l) != 1 || l[0].Amount != 400 || l[0].Applied != 1 {
			t.Fatalf("ledger %+v", l)
		}
	})
	t.Run("api key", func(t *testing.T) {
		sb, _ := start(t, Faults{})
		for _, key := range []string{"", "wrong"} {
			st, _, b := do(t, client, nomadRequest(sb, "POST", p, key, body("test20220125001", "r1", "1", "1000")))
			if st != 401 || strings.TrimSpace(string(b)) != `{"errors":"Not Authenticated."}` {
				t.Errorf("key %q: HTTP %d %s", key, st, b)
			}
		}
		st, _, _ := do(t, client, nomadRequest(sb, "POST", "/refund/other.merchant", acct(t, sb, adapters.Nomad, "wechat.sh_smk").Secret, body("test20220125001", "r1", "1", "1000")))
		if st != 401 {
			t.Errorf("another merchant's path with this key: HTTP %d", st)
		}
	})
	t.Run("pending settles after SettleAfter, notify sent", func(t *testing.T) {
		got := make(chan map[string]any, 1)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var m map[string]any
			json.NewDecoder(r.Body).Decode(&m)
			got <- m
			w.Write([]byte("success"))
		}))
		defer hook.Close()
		sb, clk := start(t, Faults{PendingRate: 1, SettleAfter: time.Hour})
		b := strings.Replace(body("test20220125001", "p1", "300", "1000"), "https://www.weixin.qq.com", hook.URL, 1)
		if st, m := nomad(t, sb, "POST", p, b); st != 200 || path(m, "status") != "PROCESSING" || path(m, "successTime") != "" {
			t.Fatalf("HTTP %d %v", st, m)
		}
		q := p + "?refundOrderRef=p1&paymentMethod=wechatpay"
		if _, m := nomad(t, sb, "GET", q, ""); path(m, "status") != "PROCESSING" {
			t.Fatalf("before settling: %v", m)
		}
		// Pending money is taken: only 700 left.
		if st, m := nomad(t, sb, "POST", p, body("test20220125001", "p2", "701", "1000")); st != 422 {
			t.Fatalf("pending refund not counted: %d %v", st, m)
		}
		clk.Advance(time.Hour)
		if _, m := nomad(t, sb, "GET", q, ""); path(m, "status") != "SUCCESS" || path(m, "successTime") == "" {
			t.Fatalf("after settling: %v", m)
		}
		select {
		case m := <-got:
			if m["refundOrderRef"] != "p1" || m["status"] != "SUCCESS" {
				t.Fatalf("notify %v", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no notify")
		}
	})
	t.Run("pending can settle as CLOSE, giving the amount back", func(t *testing.T) {
		sb, clk := start(t, Faults{PendingRate: 1, SettleAfter: time.Minute, SettleFailRate: 1})
		nomad(t, sb, "POST", p, body("test20220125001", "c1", "1000", "1000"))
		clk.Advance(time.Minute)
		if _, m := nomad(t, sb, "GET", p+"?refundOrderRef=c1", ""); path(m, "status") != "CLOSE" {
			t.Fatalf("%v", m)
		}
		sb.SetFaults(Faults{})
		if st, m := nomad(t, sb, "POST", p, body("test20220125001", "c2", "1000", "1000")); st != 200 || path(m, "status") != "SUCCESS" {
			t.Fatalf("closed refund still holds the money: %d %v", st, m)
		}
	})
}

func TestPayEase(t *testing.T) {
	const merchant = "890000593"
	refund := func(order, req string, amount int64, notify string) map[string]any {
		return map[string]any{"merchantId": merchant, "orderRequestId": order, "requestId": req,
			"amount": json.Number(itoa(amount)), "notifyUrl": notify, "remark": "refund test"}
	}
	t.Run("refund accepted, query, repeat, conflict, over-refund", func(t *testing.T) {
		sb, _ := start(t, Faults{})
		m, signed := payease(t, sb, "refund", refund("20261120-890000593-1001", "R20261121001", 500, "https://m.example/notify"))
		if m["status"] != "SUCCESS" || !signed || m["refundId"] == "" || path(m, "amount") != "500" || m["requestId"] != "R20261121001" {
			t.Fatalf("refund answer %v (signed %v)", m, signed)
		}
		q, signed := payease(t, sb, "refundQuery", map[string]any{"merchantId": merchant, "requestId": "R20261121001"})
		if q["status"] != "SUCCESS" || q["refundStatus"] != "SUCCESS" || !signed || q["refundId"] != m["refundId"] || q["refundCompleteTime"] == nil {
			t.Fatalf("query %v", q)
		}
		m2, _ := payease(t, sb, "refund", refund("20261120-890000593-1001", "R20261121001", 500, "https://m.example/notify"))
		if m2["status"] != "SUCCESS" || m2["refundId"] != m["refundId"] {
			t.Fatalf("repeat %v", m2)
		}
		for _, c := range []struct {
			f    map[string]any
			code string
		}{
			{refund("20261120-890000593-1001", "R20261121001", 501, "https://m.example/notify"), "REQUEST_ID_REPEAT"},
			{refund("20261120-890000593-1001", "R2", 701, "https://m.example/notify"), "REFUND_AMOUNT_EXCEED"},
			{refund("20261120-890000593-9999", "R2", 1, "https://m.example/notify"), "ORDER_NOT_EXIST"},
			{refund("20261120-890000594-1001", "R2", 1, "https://m.example/notify"), "PARAM_ERROR"},
			{refund("1001", "R2", 1, "https://m.example/notify"), "PARAM_ERROR"},
			{refund("20261120-890000593-1001", "R2", 1, ""), "PARAM_ERROR"},
			{refund("20261120-890000593-1001", "R2", 0, "https://m.example/notify"), "PARAM_ERROR"},
		} {
			m, signed := payease(t, sb, "refund", c.f)
			if m["status"] != "ERROR" || m["code"] != c.code || signed {
				t.Errorf("%v: %v, want ERROR %s unsigned", c.f, m, c.code)
			}
		}
		if l := sb.Ledger(); len(l) != 1 || l[0].Applied != 1 || l[0].Amount != 500 {
			t.Fatalf("ledger %+v", l)
		}
	})
	t.Run("signature and envelope checks", func(t *testing.T) {
		sb, _ := start(t, Faults{})
		acc := acct(t, sb, adapters.PayEase, merchant)
		f := refund("20261120-890000593-1001", "R1", 100, "https://m.example/notify")
		f["hmac"] = testHmac(t, pemPriv(t, acc.MerchantPrivateKeyPEM), f)
		f["amount"] = json.Number("101") // tampered after signing
		m, _ := payease(t, sb, "refund", f)
		if m["code"] != "HMAC_ERROR" {
			t.Fatalf("tampered: %v", m)
		}
		req := payeaseRequest(t, sb, "refund", acc, refund("20261120-890000593-1001", "R1", 100, "https://m.example/notify"))
		req.Header.Set("Content-Type", "application/json")
		if _, _, b := do(t, client, req); !strings.Contains(string(b), "CONTENT_TYPE_ERROR") {
			t.Fatalf("wrong content type: %s", b)
		}
		req = payeaseRequest(t, sb, "refund", acc, refund("20261120-890000593-1001", "R1", 100, "https://m.example/notify"))
		req.Header.Set("merchantId", "123")
		if _, _, b := do(t, client, req); !strings.Contains(string(b), "MERCHANT_NOT_EXIST") {
			t.Fatalf("unknown merchant: %s", b)
		}
		req = payeaseRequest(t, sb, "refund", acc, refund("20261120-890000593-1001", "R1", 100, "https://m.example/notify"))
		req.Header.Set("encryptKey", "AAAA")
		if _, _, b := do(t, client, req); !strings.Contains(string(b), "DECRYPT_ERROR") {
			t.Fatalf("bad encryptKey: %s", b)
		}
		if len(sb.Ledger()) != 0 {
			t.Fatal("rejected requests moved money")
		}
	})
	t.Run("pending, settle, signed notify", func(t *testing.T) {
		type note struct {
			h http.Header
			b []byte
		}
		got := make(chan note, 4)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b strings.Builder
			buf := make([]byte, 1<<16)
			n, _ := r.Body.Read(buf)
			b.Write(buf[:n])
			got <- note{r.Header.Clone(), []byte(b.String())}
			w.Write([]byte("SUCCESS"))
		}))
		defer hook.Close()
		sb, clk := start(t, Faults{PendingRate: 1, SettleAfter: 50 * time.Millisecond})
		m, _ := payease(t, sb, "refund", refund("20261120-890000593-1002", "RP1", 9999, hook.URL+"/notify"))
		if m["status"] != "SUCCESS" || m["refundStatus"] != nil {
			t.Fatalf("accepted: %v", m)
		}
		q, _ := payease(t, sb, "refundQuery", map[string]any{"merchantId": merchant, "requestId": "RP1"})
		if q["refundStatus"] != "PROCESSING" {
			t.Fatalf("before settling: %v", q)
		}
		clk.Advance(time.Second) // the settle timer fires on real time and reads this clock
		select {
		case n := <-got:
			acc := acct(t, sb, adapters.PayEase, merchant)
			nm, signed := payeaseOpen(t, acc, n.h, n.b)
			if !signed || nm["refundStatus"] != "SUCCESS" || nm["requestId"] != "RP1" || path(nm, "amount") != "9999" || n.h.Get("merchantId") != merchant {
				t.Fatalf("notify %v signed=%v headers %v", nm, signed, n.h)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no notify")
		}
		q, _ = payease(t, sb, "refundQuery", map[string]any{"merchantId": merchant, "requestId": "RP1"})
		if q["refundStatus"] != "SUCCESS" {
			t.Fatalf("after settling: %v", q)
		}
		q, _ = payease(t, sb, "refundQuery", map[string]any{"merchantId": merchant, "requestId": "never"})
		if q["code"] != "REFUND_NOT_EXIST" {
			t.Fatalf("unknown: %v", q)
		}
	})
}

// The hmac source of PROVIDERS.md's example: sorted keys, each non-empty
// value followed by '#'.
func TestPayEaseHmacSource(t *testing.T) {
	f := map[string]any{"requestId": "R20240101001", "merchantId": "890000593", "amount": json.Number("100"),
		"notifyUrl": "https://m.example/notify", "orderId": "db50e5bac76e40b18cbd5da1ce238cca", "remark": "", "hmac": "x"}
	want := "100#890000593#https://m.example/notify#db50e5bac76e40b18cbd5da1ce238cca#R20240101001#"
	if got := hmacSource(f); got != want {
		t.Fatalf("sandbox source %q\nwant %q", got, want)
	}
	if got := testSource(f); got != want {
		t.Fatalf("test source %q", got)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
