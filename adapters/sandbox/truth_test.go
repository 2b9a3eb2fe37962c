package sandbox

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// driver sends hand-built refunds and queries to one emulated provider, for
// tests that must hold for all four. Each works on one order of
// testdata/orders.csv.
type driver struct {
	provider, account, order string
	total                    int64
	// exhausted is the code refusing a refund of an order with nothing left.
	exhausted string
	// refund sends refund number no of amt; it returns "" when the provider
	// accepted it, else its refusal code.
	refund func(t *testing.T, sb *Sandbox, no string, amt int64) string
	// found reports whether the provider's query shows refund no.
	found func(t *testing.T, sb *Sandbox, no string) bool
}

func drivers() []driver {
	return []driver{
		{provider: adapters.Upay, account: term1, order: "ORDER-1", total: 1000, exhausted: "UPAY_REFUND_INVALID_ORDER_STATE",
			refund: func(t *testing.T, sb *Sandbox, no string, amt int64) string {
				m := upay(t, sb, "refund", term1, `{"terminal_sn":"`+term1+`","client_sn":"ORDER-1","refund_request_no":"`+no+
					`","operator":"op","refund_amount":"`+itoa(amt)+`"}`)
				if path(m, "biz_response", "result_code") == "REFUND_SUCCESS" {
					return ""
				}
				return path(m, "error_code") + path(m, "biz_response", "error_code")
			},
			found: func(t *testing.T, sb *Sandbox, no string) bool {
				m := upay(t, sb, "query", term1, `{"terminal_sn":"`+term1+`","client_sn":"ORDER-1"}`)
				return path(m, "biz_response", "data", "client_tsn") == "ORDER-1-"+no
			}},
		{provider: adapters.QuickPay, account: "SH001", order: "QP-1", total: 10000, exhausted: "REFUND_AMOUNT_EXCEEDED",
			refund: func(t *testing.T, sb *Sandbox, no string, amt int64) string {
				m := quickpay(t, sb, "Refund", "SH001", `{"store_no":"SH001","operator":"op","refund_amount":`+itoa(amt)+
					`,"order_no":"QP-1","refund_no":"`+no+`"}`)
				if path(m, "code") == "SUCCESS" {
					return ""
				}
				return path(m, "code")
			},
			found: func(t *testing.T, sb *Sandbox, no string) bool {
				m := quickpay(t, sb, "RefundQuery", "SH001", `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"`+no+`"}`)
				if c := path(m, "code"); c != "SUCCESS" && c != "REFUND_NOT_EXIST" {
					t.Fatalf("QuickPay query: %v", m)
				}
				return path(m, "code") == "SUCCESS"
			}},
		{provider: adapters.Nomad, account: "wechat.sh_smk", order: "NM-2", total: 2500, exhausted: "REFUND_AMOUNT_EXCEEDED",
			refund: func(t *testing.T, sb *Sandbox, no string, amt int64) string {
				st, m := nomad(t, sb, "POST", "/refund/wechat.sh_smk", `{"paymentMethod":"alipay","orderRef":"NM-2","refundOrderRef":"`+no+
					`","refundAmount":`+itoa(amt)+`,"totalAmount":2500,"currency":"CNY"}`)
				if st == 200 {
					return ""
				}
				return path(m, "message")
			},
			found: func(t *testing.T, sb *Sandbox, no string) bool {
				st, m := nomad(t, sb, "GET", "/refund/wechat.sh_smk?refundOrderRef="+no+"&paymentMethod=alipay", "")
				if st != 200 && st != 404 {
					t.Fatalf("Nomad query: %d %v", st, m)
				}
				return st == 200
			}},
		{provider: adapters.PayEase, account: "890000593", order: "20261120-890000593-1001", total: 1200, exhausted: "REFUND_AMOUNT_EXCEED",
			refund: func(t *testing.T, sb *Sandbox, no string, amt int64) string {
				m, _ := payease(t, sb, "refund", map[string]any{"merchantId": "890000593", "orderRequestId": "20261120-890000593-1001",
					"requestId": no, "amount": json.Number(itoa(amt)), "notifyUrl": "https://m.example/notify"})
				if m["status"] == "SUCCESS" {
					return ""
				}
				return path(m, "code")
			},
			found: func(t *testing.T, sb *Sandbox, no string) bool {
				m, _ := payease(t, sb, "refundQuery", map[string]any{"merchantId": "890000593", "requestId": no})
				if m["status"] != "SUCCESS" && m["code"] != "REFUND_NOT_EXIST" {
					t.Fatalf("PayEase query: %v", m)
				}
				return m["status"] == "SUCCESS"
			}},
	}
}

func numberOf(sb *Sandbox, provider, no string) NumberCount {
	for _, n := range sb.Numbers() {
		if n.Provider == provider && n.RefundNo == no {
			return n
		}
	}
	return NumberCount{}
}

// The ledger counts what the provider received and what it moved, per
// refund number: an idempotent provider moves money once however often it
// is asked, and a refused number shows its requests with nothing applied.
func TestLedgerCountsRequestsAndMoves(t *testing.T) {
	for _, d := range drivers() {
		t.Run(d.provider, func(t *testing.T) {
			sb, _ := start(t, Faults{})
			for i := 0; i < 3; i++ {
				if code := d.refund(t, sb, "C1", 300); code != "" {
					t.Fatalf("attempt %d refused: %s", i+1, code)
				}
			}
			l := ledgerFor(sb, d.provider, "C1")
			if len(l) != 1 || l[0].Requests != 3 || l[0].Applied != 1 || l[0].Amount != 300 {
				t.Fatalf("ledger after three sends of one number: %+v; want one refund, requests 3, applied 1", l)
			}
			if code := d.refund(t, sb, "C2", d.total); code == "" {
				t.Fatal("refund above what is left was accepted")
			}
			if l := ledgerFor(sb, d.provider, "C2"); len(l) != 0 {
				t.Fatalf("a refused number is in the ledger: %+v", l)
			}
			if n := numberOf(sb, d.provider, "C2"); n.Requests != 1 || n.Applied != 0 || n.OrderNo != d.order {
				t.Fatalf("counts of the refused number: %+v; want requests 1, applied 0", n)
			}
			if n := numberOf(sb, d.provider, "C1"); n.Requests != 3 || n.Applied != 1 {
				t.Fatalf("counts of C1: %+v", n)
			}
		})
	}
}

// A non-idempotent provider moves money again for a repeated number, as
// long as the order has something left; then it refuses with its own code.
func TestNonIdempotentMovesMoneyAgain(t *testing.T) {
	for _, d := range drivers() {
		t.Run(d.provider, func(t *testing.T) {
			sb, _ := start(t, Faults{NonIdempotent: true})
			half := d.total / 2
			for i := 0; i < 2; i++ {
				if code := d.refund(t, sb, "N1", half); code != "" {
					t.Fatalf("send %d refused: %s", i+1, code)
				}
			}
			if code := d.refund(t, sb, "N1", half); code != d.exhausted {
				t.Fatalf("third send on an exhausted order: %q, want %s", code, d.exhausted)
			}
			l := ledgerFor(sb, d.provider, "N1")
			if len(l) != 2 {
				t.Fatalf("ledger holds %d refunds numbered N1, want 2: %+v", len(l), l)
			}
			for _, r := range l {
				if r.Requests != 3 || r.Applied != 2 || r.Amount != half {
					t.Fatalf("entry %+v: want requests 3, applied 2, amount %d", r, half)
				}
			}
			if got := refundedOf(sb.Orders(), d.order); got != 2*half {
				t.Fatalf("order refunded %d, want %d", got, 2*half)
			}
			// The statement, the provider-side truth, shows both.
			var buf bytes.Buffer
			if err := sb.WriteStatement(&buf); err != nil {
				t.Fatal(err)
			}
			rows, _ := csv.NewReader(&buf).ReadAll()
			n := 0
			for _, row := range rows[1:] {
				if row[4] == "N1" {
					n++
				}
			}
			if n != 2 {
				t.Fatalf("statement has %d rows for N1, want 2:\n%s", n, buf.String())
			}
		})
	}
}

// The lookup-lag fault hides a fresh refund from the provider's query, in
// the query's native "no record" shape, until the lag has passed.
func TestLookupLag(t *testing.T) {
	for _, d := range drivers() {
		t.Run(d.provider, func(t *testing.T) {
			sb, clk := start(t, Faults{LookupLagRate: 1, LookupLag: time.Minute})
			if code := d.refund(t, sb, "G1", 300); code != "" {
				t.Fatalf("refused: %s", code)
			}
			if d.found(t, sb, "G1") {
				t.Fatal("a lagging query shows the fresh refund")
			}
			if l := ledgerFor(sb, d.provider, "G1"); len(l) != 1 || l[0].Applied != 1 {
				t.Fatalf("the refund is applied all the same: %+v", l)
			}
			// A repeat is still idempotent: the lag is in the query only.
			if code := d.refund(t, sb, "G1", 300); code != "" {
				t.Fatalf("repeat during the lag: %s", code)
			}
			clk.Advance(61 * time.Second)
			if !d.found(t, sb, "G1") {
				t.Fatal("query after the lag does not show the refund")
			}
		})
	}
	t.Run("upay order looks untouched", func(t *testing.T) {
		sb, _ := start(t, Faults{LookupLagRate: 1})
		upay(t, sb, "refund", term1, `{"terminal_sn":"`+term1+`","client_sn":"ORDER-1","refund_request_no":"a","operator":"op","refund_amount":"1000"}`)
		m := upay(t, sb, "query", term1, `{"terminal_sn":"`+term1+`","client_sn":"ORDER-1"}`)
		d := func(k string) string { return path(m, "biz_response", "data", k) }
		if d("order_status") != "PAID" || d("net_amount") != "1000" || d("client_tsn") != "" {
			t.Fatalf("lagging query of a fully refunded order: %v", m)
		}
		// With the lag and a provider that ignores numbers, a re-send after
		// "no record" is refused: the order has nothing left.
		sb.SetFaults(Faults{LookupLagRate: 1, NonIdempotent: true})
		m = upay(t, sb, "refund", term1, `{"terminal_sn":"`+term1+`","client_sn":"ORDER-1","refund_request_no":"a","operator":"op","refund_amount":"1000"}`)
		if path(m, "biz_response", "error_code") != "UPAY_REFUND_INVALID_ORDER_STATE" {
			t.Fatalf("re-send on the fully refunded order: %v", m)
		}
	})
	t.Run("rate", func(t *testing.T) {
		sb, _ := start(t, Faults{LookupLagRate: 0.5, Seed: 7})
		d := drivers()[1]
		d.refund(t, sb, "H1", 1)
		seen := 0
		for i := 0; i < 40; i++ {
			if d.found(t, sb, "H1") {
				seen++
			}
		}
		if seen < 8 || seen > 32 {
			t.Fatalf("found %d of 40 lookups at a lag rate of 0.5", seen)
		}
	})
}

// Fields the documents mark as answered and that echo the refund call.
func TestAnswersCarryDocumentedFields(t *testing.T) {
	sb, _ := start(t, Faults{})
	m := upay(t, sb, "refund", term1, `{"terminal_sn":"`+term1+`","client_sn":"ORDER-1","refund_request_no":"o1","operator":"Obama","refund_amount":"100"}`)
	if op := path(m, "biz_response", "data", "operator"); op != "Obama" {
		t.Errorf("Upay refund answer operator %q, want the request's", op)
	}
	m = upay(t, sb, "revoke", term2, `{"terminal_sn":"`+term2+`","client_sn":"U-TODAY"}`)
	if path(m, "biz_response", "result_code") != "CANCEL_SUCCESS" || path(m, "biz_response", "data", "operator") == "" {
		t.Errorf("Upay revoke answer has no operator: %v", m)
	}
	for _, k := range []string{"terminal_sn", "sn", "client_sn", "trade_no", "status", "order_status", "payway", "payway_name",
		"total_amount", "net_amount", "subject", "finish_time", "channel_finish_time", "operator"} {
		if path(m, "biz_response", "data", k) == "" {
			t.Errorf("Upay revoke answer lacks required %s", k)
		}
	}

	body := `{"store_no":"SH001","operator":"alice","refund_amount":100,"order_no":"QP-1","refund_no":"d1","refund_desc":"damaged on arrival"}`
	for _, op := range []string{"Refund", "RefundQuery"} {
		b := body
		if op == "RefundQuery" {
			b = `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"d1"}`
		}
		m = quickpay(t, sb, op, "SH001", b)
		if path(m, "data", "refund_desc") != "damaged on arrival" || path(m, "data", "operator") != "alice" {
			t.Errorf("QuickPay %s answer does not echo refund_desc and operator: %v", op, m)
		}
	}

	st, nm := nomad(t, sb, "POST", "/refund/wechat.sh_smk", `{"paymentMethod":"alipay","orderRef":"NM-2","refundOrderRef":"f1","refundAmount":1,"totalAmount":2500,"refundAccount":"REFUND_SOURCE_PARTNER_ADVANCE","fundsAccount":"AVAILABLE"}`)
	if st != 200 || nm["refundAccount"] != "REFUND_SOURCE_PARTNER_ADVANCE" || nm["fundsAccount"] != "AVAILABLE" {
		t.Errorf("Nomad answer does not echo refundAccount/fundsAccount: %d %v", st, nm)
	}

	f := map[string]any{"merchantId": "890000593", "orderRequestId": "20261120-890000593-1001", "requestId": "p1",
		"amount": json.Number("100"), "notifyUrl": "https://m.example/notify", "remark": "customer returned it"}
	pm, signed := payease(t, sb, "refund", f)
	if pm["remark"] != "customer returned it" || !signed {
		t.Errorf("PayEase refund answer remark: %v (signed %v)", pm, signed)
	}
	pm, signed = payease(t, sb, "refundQuery", map[string]any{"merchantId": "890000593", "requestId": "p1"})
	if pm["remark"] != "customer returned it" || !signed {
		t.Errorf("PayEase query answer remark: %v (signed %v)", pm, signed)
	}
}

func TestUpayRepeatNoop(t *testing.T) {
	sb, _ := start(t, Faults{UpayRepeatNoop: true})
	body := `{"terminal_sn":"` + term1 + `","client_sn":"ORDER-1","refund_request_no":"n1","operator":"op","refund_amount":"100"}`
	if m := upay(t, sb, "refund", term1, body); path(m, "biz_response", "result_code") != "REFUND_SUCCESS" {
		t.Fatalf("first: %v", m)
	}
	if m := upay(t, sb, "refund", term1, body); path(m, "biz_response", "error_code") != "UPAY_REFUND_ORDER_NOOP" {
		t.Fatalf("repeat: %v", m)
	}
	if l := ledgerFor(sb, adapters.Upay, "n1"); len(l) != 1 || l[0].Applied != 1 || l[0].Requests != 2 {
		t.Fatalf("ledger %+v", l)
	}
}

// LenientRepeat answers a repeat that names another amount with the refund
// held, which names the original amount.
func TestLenientRepeat(t *testing.T) {
	sb, _ := start(t, Faults{LenientRepeat: true})
	quickpay(t, sb, "Refund", "SH001", quickpayBody("L1", 300))
	m := quickpay(t, sb, "Refund", "SH001", quickpayBody("L1", 500))
	if path(m, "code") != "SUCCESS" || path(m, "data", "refund_amount") != "300" || path(m, "data", "refund_order_no") != "L1" {
		t.Fatalf("lenient repeat: %v", m)
	}
	if refundedOf(sb.Orders(), "QP-1") != 300 {
		t.Fatal("lenient repeat moved money")
	}
}

func TestStatsMeasureTheRateSent(t *testing.T) {
	sb, _ := start(t, Faults{RateLimit: 2})
	key := acct(t, sb, adapters.QuickPay, "SH001").Secret
	limited := 0
	for i := 0; i < 12; i++ {
		st, h, _ := do(t, client, quickpayRequest(sb, "Refund", key, quickpayBody("S"+strconv.Itoa(i), 1)))
		if st == http.StatusTooManyRequests {
			limited++
			if h.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited < 6 { // burst 2, then 2/s: 12 sent within 2s cannot get more than 6 through
		t.Fatalf("%d of 12 answered 429 at 2/s, want at least 6", limited)
	}
	time.Sleep(1100 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if st, _, _ := do(t, client, quickpayRequest(sb, "RefundQuery", key, `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"S0"}`)); st == http.StatusTooManyRequests {
			limited++
		}
	}
	var got []struct {
		Provider     string `json:"provider"`
		Account      string `json:"account"`
		Requests     int64  `json:"requests"`
		RateLimited  int64  `json:"rate_limited"`
		MaxPerSecond int    `json:"max_per_second"`
	}
	_, _, b := do(t, client, mustReq("GET", sb.URL()+"/_sandbox/stats", ""))
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range got {
		switch {
		case a.Provider == adapters.QuickPay && a.Account == "SH001":
			found = true
			// The window's exact arithmetic is TestSlidingWindow's; here
			// the 12 quick ones must show as a burst, the 3 late ones not add to it.
			if a.Requests != 15 || a.RateLimited != int64(limited) || a.MaxPerSecond < 3 || a.MaxPerSecond > 12 {
				t.Fatalf("stats %+v; want 15 requests, %d limited, 3 to 12 in one second", a, limited)
			}
		case a.Requests != 0:
			t.Fatalf("account %s/%s counted requests it never got: %+v", a.Provider, a.Account, a)
		}
	}
	if !found || len(got) != len(sb.Accounts()) {
		t.Fatalf("stats %+v", got)
	}
}

// Several clients at once, each under the limit: the sandbox measures their
// combined rate, not each one's.
func TestStatsCombineClients(t *testing.T) {
	sb, _ := start(t, Faults{})
	key := acct(t, sb, adapters.Nomad, "wechat.sh_smk").Secret
	var wg sync.WaitGroup
	began := time.Now()
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				do(t, client, nomadRequest(sb, "GET", "/refund/wechat.sh_smk?refundOrderRef=x", key, ""))
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	for _, a := range sb.Stats() {
		if a.Provider != adapters.Nomad {
			continue
		}
		if a.Requests != 12 || a.RateLimited != 0 || (took < time.Second && a.MaxPerSecond != 12) {
			t.Fatalf("stats %+v after %v; want 12 requests from three clients, all within one second", a, took)
		}
	}
}

// The sliding window, on synthetic arrival times.
func TestSlidingWindow(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &acctStats{}
	at := func(ms ...int) {
		for _, m := range ms {
			a.arrive(base.Add(time.Duration(m) * time.Millisecond))
		}
	}
	at(0, 100, 200) // 3 in a second
	at(1100, 1150)  // 0 and 100 have left the window: 200, 1100, 1150
	at(1199)        // 200 is still in (999ms before): 4
	at(1200)        // exactly one second after 200: it leaves, still 4
	at(5000, 5001)  // a quiet gap
	if a.maxWindow != 4 || a.requests != 9 {
		t.Fatalf("max %d over %d requests, want 4 over 9", a.maxWindow, a.requests)
	}
	for i := 0; i < 5000; i++ { // a long steady 2000/s run: the window stays about 2000
		a.arrive(base.Add(10*time.Second + time.Duration(i)*500*time.Microsecond))
	}
	if a.maxWindow != 2000 || len(a.window)-a.head != 2000 || len(a.window) > 4096 {
		t.Fatalf("steady 2000/s: max %d, window %d (slice %d)", a.maxWindow, len(a.window)-a.head, len(a.window))
	}
	var nilStats *acctStats
	nilStats.arrive(base) // an account the sandbox does not hold
	nilStats.limit()
}

func TestAdminToken(t *testing.T) {
	orders, _ := LoadOrders("testdata/orders.csv", t0)
	get := func(sb *Sandbox, auth string) int {
		req := mustReq("GET", sb.URL()+"/_sandbox/ledger", "")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		st, _, _ := do(t, client, req)
		return st
	}
	sb, err := Start(Config{Orders: orders, AdminToken: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "s3cret": 401, "Bearer s3cret": 200, "bearer s3cret ": 401} {
		if got := get(sb, auth); got != want {
			t.Errorf("Authorization %q: HTTP %d, want %d", auth, got, want)
		}
	}
	// Provider endpoints are not behind the admin token.
	if st, _, _ := do(t, client, nomadRequest(sb, "GET", "/refund/wechat.sh_smk?refundOrderRef=x", acct(t, sb, adapters.Nomad, "wechat.sh_smk").Secret, "")); st != 404 {
		t.Errorf("provider endpoint behind the admin token: %d", st)
	}

	off, err := Start(Config{Orders: orders, NoAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	for _, p := range []string{"/_sandbox/ledger", "/_sandbox/stats", "/_sandbox/faults"} {
		if st, _, _ := do(t, client, mustReq("GET", off.URL()+p, "")); st != 404 {
			t.Errorf("%s with the admin endpoints off: HTTP %d, want 404", p, st)
		}
	}

	if _, err := StartAt(Config{Orders: orders}, "0.0.0.0:0"); !errors.Is(err, ErrAdminExposed) {
		t.Fatalf("StartAt on all interfaces with open admin endpoints: %v; want ErrAdminExposed", err)
	}
	net, err := StartAt(Config{Orders: orders, AdminToken: "s3cret"}, "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if !net.OnNetwork() || sb.OnNetwork() {
		t.Fatalf("OnNetwork: %v on 0.0.0.0, %v on loopback", net.OnNetwork(), sb.OnNetwork())
	}
	if lo, err := StartAt(Config{Orders: orders}, "localhost:0"); err != nil {
		t.Fatalf("localhost: %v", err)
	} else {
		lo.Close()
	}
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	f := Faults{Latency: time.Millisecond, NonIdempotent: true, LenientRepeat: true, UpayRepeatNoop: true,
		LookupLagRate: 0.25, LookupLag: 3 * time.Second, RateLimit: 20, Burst: 20, Seed: 9}
	back, err := f.ToJSON().Faults()
	if err != nil || back != f {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, f)
	}
	for _, bad := range []string{`{"lookup_lag_rate":1.5}`, `{"lookup_lag":"-1s"}`, `{"non_idempotent":"yes"}`} {
		var j FaultsJSON
		err := json.Unmarshal([]byte(bad), &j)
		if err == nil {
			_, err = j.Faults()
		}
		if err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	sb, _ := start(t, Faults{})
	req := mustReq("POST", sb.URL()+"/_sandbox/faults", `{"non_idempotent":true,"lookup_lag_rate":0.5,"lookup_lag":"2s"}`)
	if st, _, b := do(t, client, req); st != 200 || !strings.Contains(string(b), `"non_idempotent": true`) {
		t.Fatalf("POST faults: %d %s", st, b)
	}
	if got := sb.Faults(); !got.NonIdempotent || got.LookupLagRate != 0.5 || got.LookupLag != 2*time.Second {
		t.Fatalf("faults now %+v", got)
	}
}
