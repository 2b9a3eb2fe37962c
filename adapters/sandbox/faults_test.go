package sandbox

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

func quickpayBody(no string, amt int) string {
	return `{"store_no":"SH001","operator":"op","refund_amount":` + strconv.Itoa(amt) + `,"order_no":"QP-1","refund_no":"` + no + `"}`
}

// A lost response: the refund is applied, the client gets no answer (EOF),
// and a re-send with the same number returns it without moving money again.
func TestLostResponseAppliesOnce(t *testing.T) {
	sb, _ := start(t, Faults{LostResponseRate: 1})
	key := acct(t, sb, adapters.QuickPay, "SH001").Secret
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(quickpayRequest(sb, "Refund", key, quickpayBody("L1", 2500)))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer (HTTP %d), want a dropped connection", resp.StatusCode)
	}
	l := ledgerFor(sb, adapters.QuickPay, "L1")
	if len(l) != 1 || l[0].Applied != 1 || l[0].Amount != 2500 || l[0].Status != adapters.StatusSucceeded {
		t.Fatalf("after a lost response the refund must be applied once: %+v", l)
	}
	// Queries are never dropped: the client can find out.
	m := quickpay(t, sb, "RefundQuery", "SH001", `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"L1"}`)
	if path(m, "data", "transaction_status") != "REFUNDED" {
		t.Fatalf("query after lost response: %v", m)
	}
	sb.SetFaults(Faults{})
	m = quickpay(t, sb, "Refund", "SH001", quickpayBody("L1", 2500))
	if path(m, "code") != "SUCCESS" {
		t.Fatalf("re-send: %v", m)
	}
	if l := ledgerFor(sb, adapters.QuickPay, "L1"); len(l) != 1 || l[0].Applied != 1 {
		t.Fatalf("re-send moved money again: %+v", l)
	}
	if o := sb.Orders(); refundedOf(o, "QP-1") != 2500 {
		t.Fatalf("order refunded %d, want 2500", refundedOf(o, "QP-1"))
	}
}

func refundedOf(os []OrderState, no string) int64 {
	for _, o := range os {
		if o.OrderNo == no {
			return o.Refunded
		}
	}
	return -1
}

func TestErrorRate503AppliesNothing(t *testing.T) {
	sb, _ := start(t, Faults{ErrorRate: 1})
	st, _, b := do(t, client, upayRequest(sb, "refund", term1, workedKey,
		`{"terminal_sn":"100000330000000001","client_sn":"ORDER-1","refund_request_no":"e1","operator":"op","refund_amount":"100"}`))
	if st != http.StatusServiceUnavailable || path(decode(t, b), "result_code") != "500" {
		t.Fatalf("HTTP %d %s", st, b)
	}
	st, _, b = do(t, client, nomadRequest(sb, "POST", "/refund/wechat.sh_smk", acct(t, sb, adapters.Nomad, "wechat.sh_smk").Secret, `{}`))
	if st != http.StatusServiceUnavailable || !strings.Contains(string(b), "errors") {
		t.Fatalf("nomad: HTTP %d %s", st, b)
	}
	if len(sb.Ledger()) != 0 {
		t.Fatal("a 503 moved money")
	}
	// Admin endpoints are never faulted.
	st, _, _ = do(t, client, mustReq("GET", sb.URL()+"/_sandbox/ledger", ""))
	if st != 200 {
		t.Fatalf("admin endpoint faulted: %d", st)
	}
}

func mustReq(method, url, body string) *http.Request {
	r, _ := http.NewRequest(method, url, strings.NewReader(body))
	return r
}

func TestRateLimit429(t *testing.T) {
	sb, _ := start(t, Faults{RateLimit: 0.5, Burst: 2})
	key := acct(t, sb, adapters.QuickPay, "SH001").Secret
	var codes []int
	var retry string
	for i := 0; i < 4; i++ {
		st, h, _ := do(t, client, quickpayRequest(sb, "Refund", key, quickpayBody("T"+strconv.Itoa(i), 1)))
		codes = append(codes, st)
		if st == http.StatusTooManyRequests {
			retry = h.Get("Retry-After")
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || codes[3] != 429 {
		t.Fatalf("statuses %v, want burst of 2 then 429", codes)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 2 {
		t.Fatalf("Retry-After %q, want 1..2 seconds at 0.5/s", retry)
	}
	if len(sb.Ledger()) != 2 {
		t.Fatalf("ledger %d refunds, want 2", len(sb.Ledger()))
	}
	// Another account has its own bucket.
	st, _, _ := do(t, client, quickpayRequest(sb, "Refund", acct(t, sb, adapters.QuickPay, "SH002").Secret,
		`{"store_no":"SH002","operator":"op","refund_amount":1,"order_no":"QP-2","refund_no":"x"}`))
	if st != 200 {
		t.Fatalf("SH002 limited by SH001's traffic: %d", st)
	}
}

func TestTimeoutAppliesNothing(t *testing.T) {
	sb, _ := start(t, Faults{TimeoutRate: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := quickpayRequest(sb, "Refund", acct(t, sb, adapters.QuickPay, "SH001").Secret, quickpayBody("TO", 1))
	began := time.Now()
	resp, err := client.Do(req.WithContext(ctx))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered HTTP %d, want the client to time out", resp.StatusCode)
	}
	if time.Since(began) < 150*time.Millisecond {
		t.Fatalf("gave up after %v, the sandbox did not hang", time.Since(began))
	}
	if len(sb.Ledger()) != 0 {
		t.Fatal("a timed-out request moved money")
	}
}

func TestTimeoutCap504(t *testing.T) {
	orders, _ := LoadOrders("testdata/orders.csv", t0)
	sb, err := Start(Config{Orders: orders, Faults: Faults{TimeoutRate: 1}, TimeoutCap: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	st, _, b := do(t, client, quickpayRequest(sb, "Refund", acct(t, sb, adapters.QuickPay, "SH001").Secret, quickpayBody("TO", 1)))
	if st != http.StatusGatewayTimeout || len(sb.Ledger()) != 0 {
		t.Fatalf("HTTP %d %s, ledger %d", st, b, len(sb.Ledger()))
	}
}

func TestLatency(t *testing.T) {
	sb, _ := start(t, Faults{Latency: 30 * time.Millisecond, Jitter: 10 * time.Millisecond})
	began := time.Now()
	quickpay(t, sb, "Refund", "SH001", quickpayBody("LAT", 1))
	if d := time.Since(began); d < 30*time.Millisecond {
		t.Fatalf("answered in %v, want ≥ 30ms", d)
	}
}

// The same seed gives the same faults to a sequential client.
func TestFaultsDeterministic(t *testing.T) {
	run := func() string {
		sb, _ := start(t, Faults{ErrorRate: 0.5, Seed: 42})
		var s strings.Builder
		for i := 0; i < 20; i++ {
			st, _, _ := do(t, client, quickpayRequest(sb, "Refund", acct(t, sb, adapters.QuickPay, "SH001").Secret, quickpayBody("D"+strconv.Itoa(i), 1)))
			s.WriteString(strconv.Itoa(st) + " ")
		}
		return s.String()
	}
	a, b := run(), run()
	if a != b || !strings.Contains(a, "503") || !strings.Contains(a, "200") {
		t.Fatalf("runs differ or not mixed:\n%s\n%s", a, b)
	}
}

func TestAdminFaults(t *testing.T) {
	sb, _ := start(t, Faults{})
	st, _, b := do(t, client, mustReq("POST", sb.URL()+"/_sandbox/faults", `{"latency":"5ms","error_rate":0.25,"rate_limit":100,"burst":10}`))
	if st != 200 {
		t.Fatalf("HTTP %d %s", st, b)
	}
	f := sb.Faults()
	if f.Latency != 5*time.Millisecond || f.ErrorRate != 0.25 || f.RateLimit != 100 || f.Burst != 10 {
		t.Fatalf("faults %+v", f)
	}
	for _, bad := range []string{`{"error_rate":2}`, `{"latency":"soon"}`, `{"nope":1}`} {
		if st, _, _ := do(t, client, mustReq("POST", sb.URL()+"/_sandbox/faults", bad)); st != 400 {
			t.Errorf("%s: HTTP %d, want 400", bad, st)
		}
	}
	if sb.Faults() != f {
		t.Fatal("a rejected change altered the faults")
	}
}
