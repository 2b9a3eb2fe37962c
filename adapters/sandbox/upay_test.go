package sandbox

import (
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
)

const term1, term2 = "100000330000000001", "100000330000000002"

// The worked example of PROVIDERS.md, byte for byte: key, body and
// Authorization header as documented. The sandbox accepts it and refunds.
func TestUpayWorkedExample(t *testing.T) {
	sb, _ := start(t, Faults{})
	body := `{"terminal_sn":"100000330000000001","client_sn":"ORDER-1","refund_request_no":"1","operator":"op","refund_amount":"100"}`
	req := upayRequest(sb, "refund", term1, workedKey, body)
	if got, want := req.Header.Get("Authorization"), "100000330000000001 1bc15246a7755d83fce643e4d3d3d025"; got != want {
		t.Fatalf("test signing is off: %q, want %q", got, want)
	}
	_, _, b := do(t, client, req)
	m := decode(t, b)
	if path(m, "result_code") != "200" || path(m, "biz_response", "result_code") != "REFUND_SUCCESS" {
		t.Fatalf("answer %s", b)
	}
	for k, want := range map[string]string{"sn": "7894259244067001", "client_sn": "ORDER-1", "client_tsn": "ORDER-1-1",
		"order_status": "PARTIAL_REFUNDED", "total_amount": "1000", "net_amount": "900", "refund_amount": "100", "status": "SUCCESS"} {
		if got := path(m, "biz_response", "data", k); got != want {
			t.Errorf("data.%s = %q, want %q", k, got, want)
		}
	}
	if l := ledgerFor(sb, adapters.Upay, "1"); len(l) != 1 || l[0].Amount != 100 || l[0].Applied != 1 || l[0].ProviderRefundID != "ORDER-1-1" {
		t.Fatalf("ledger %+v", l)
	}
}

func TestUpayRules(t *testing.T) {
	type step struct {
		op, terminal, body string
		env, biz, code     string // expected envelope result_code, biz result_code, error code (envelope or biz)
	}
	refund := func(term, client, no, amt string) string {
		return `{"terminal_sn":"` + term + `","client_sn":"` + client + `","refund_request_no":"` + no + `","operator":"op","refund_amount":"` + amt + `"}`
	}
	revoke := func(term, client string) string {
		return `{"terminal_sn":"` + term + `","client_sn":"` + client + `"}`
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"partial refunds down to zero, then nothing left", []step{
			{"refund", term1, refund(term1, "ORDER-1", "r1", "400"), "200", "REFUND_SUCCESS", ""},
			{"refund", term1, refund(term1, "ORDER-1", "r2", "600"), "200", "REFUND_SUCCESS", ""},
			{"refund", term1, refund(term1, "ORDER-1", "r3", "1"), "200", "FAIL", "UPAY_REFUND_INVALID_ORDER_STATE"},
		}},
		{"over-refund", []step{
			{"refund", term1, refund(term1, "ORDER-1", "r1", "700"), "200", "REFUND_SUCCESS", ""},
			{"refund", term1, refund(term1, "ORDER-1", "r2", "301"), "200", "FAIL", "REFUNDABLE_AMOUNT_NOT_ENOUGH"},
			{"refund", term1, refund(term1, "ORDER-1", "r2", "300"), "200", "REFUND_SUCCESS", ""},
		}},
		{"repeat same amount returns the original, another amount is rejected", []step{
			{"refund", term1, refund(term1, "ORDER-1", "r1", "500"), "200", "REFUND_SUCCESS", ""},
			{"refund", term1, refund(term1, "ORDER-1", "r1", "500"), "200", "REFUND_SUCCESS", ""},
			{"refund", term1, refund(term1, "ORDER-1", "r1", "400"), "200", "FAIL", "REFUND_REQUEST_NO_CONFLICT"},
		}},
		{"by sn, which wins over client_sn", []step{
			{"refund", term1, `{"terminal_sn":"` + term1 + `","sn":"7894259244067001","client_sn":"nope","refund_request_no":"x","operator":"op","refund_amount":"1"}`, "200", "REFUND_SUCCESS", ""},
		}},
		{"3-month window", []step{
			{"refund", term1, refund(term1, "U-OLD", "r1", "100"), "200", "FAIL", "TRADE_TIMEOUT"},
		}},
		{"unknown order", []step{
			{"refund", term1, refund(term1, "NOPE", "r1", "100"), "200", "FAIL", "UPAY_ORDER_NOT_EXISTS"},
			{"refund", term2, refund(term2, "ORDER-1", "r1", "100"), "200", "FAIL", "UPAY_ORDER_NOT_EXISTS"},
		}},
		{"revoke same day, once, then no refund", []step{
			{"revoke", term2, revoke(term2, "U-TODAY"), "200", "CANCEL_SUCCESS", ""},
			{"revoke", term2, revoke(term2, "U-TODAY"), "200", "FAIL", "UPAY_CANCEL_ORDER_NOOP"},
			{"refund", term2, refund(term2, "U-TODAY", "r1", "1"), "200", "FAIL", "UPAY_REFUND_INVALID_ORDER_STATE"},
		}},
		{"revoke not on the day of payment", []step{
			{"revoke", term2, revoke(term2, "U-YESTERDAY"), "200", "FAIL", "UPAY_REFUND_INVALID_ORDER_STATE"},
		}},
		{"revoke after a refund", []step{
			{"refund", term2, refund(term2, "U-TODAY", "r1", "100"), "200", "REFUND_SUCCESS", ""},
			{"revoke", term2, revoke(term2, "U-TODAY"), "200", "FAIL", "UPAY_REFUND_INVALID_ORDER_STATE"},
		}},
		{"amounts are strings", []step{
			{"refund", term1, `{"terminal_sn":"` + term1 + `","client_sn":"ORDER-1","refund_request_no":"1","operator":"op","refund_amount":100}`, "400", "", "INVALID_PARAMS"},
			{"refund", term1, refund(term1, "ORDER-1", "r1", "1.00"), "400", "", "INVALID_PARAMS"},
			{"refund", term1, refund(term1, "ORDER-1", "r1", "0"), "400", "", "INVALID_PARAMS"},
		}},
		{"field limits", []step{
			{"refund", term1, refund(term1, "ORDER-1", "123456789012345678901", "1"), "400", "", "INVALID_PARAMS"},
			{"refund", term1, `{"terminal_sn":"` + term1 + `","refund_request_no":"1","operator":"op","refund_amount":"1"}`, "400", "", "INVALID_PARAMS"},
			{"refund", term1, `{"terminal_sn":"` + term1 + `","client_sn":"ORDER-1","refund_request_no":"1","refund_amount":"1"}`, "400", "", "INVALID_PARAMS"},
			{"refund", term1, refund(term2, "ORDER-1", "r1", "1"), "400", "", "INVALID_PARAMS"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb, _ := start(t, Faults{})
			for i, s := range tc.steps {
				m := upay(t, sb, s.op, s.terminal, s.body)
				code := path(m, "error_code") + path(m, "biz_response", "error_code")
				if path(m, "result_code") != s.env || path(m, "biz_response", "result_code") != s.biz || code != s.code {
					t.Fatalf("step %d (%s): got %s/%s/%s, want %s/%s/%s: %v", i+1, s.op,
						path(m, "result_code"), path(m, "biz_response", "result_code"), code, s.env, s.biz, s.code, m)
				}
			}
			for _, r := range sb.Ledger() {
				if r.Applied != 1 {
					t.Errorf("ledger entry applied %d times: %+v", r.Applied, r)
				}
			}
		})
	}
}

func TestUpayAuth(t *testing.T) {
	sb, _ := start(t, Faults{})
	body := `{"terminal_sn":"100000330000000001","client_sn":"ORDER-1","refund_request_no":"1","operator":"op","refund_amount":"100"}`
	cases := []struct {
		name, terminal, key, code string
	}{
		{"wrong key", term1, "ffffffffffffffffffffffffffffffff", "ILLEGAL_SIGN"},
		{"unknown terminal", "999", workedKey, "INVALID_TERMINAL"},
		{"no terminal", "", workedKey, "INVALID_TERMINAL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, b := do(t, client, upayRequest(sb, "refund", c.terminal, c.key, body))
			m := decode(t, b)
			if path(m, "result_code") != "400" || path(m, "error_code") != c.code {
				t.Fatalf("answer %s, want 400 %s", b, c.code)
			}
		})
	}
	// A body altered after signing (one space more) fails: the sandbox
	// hashes the bytes received, not a re-encoding.
	req := upayRequest(sb, "refund", term1, workedKey, body)
	req2 := upayRequest(sb, "refund", term1, workedKey, body[:len(body)-1]+" }")
	req2.Header.Set("Authorization", req.Header.Get("Authorization"))
	_, _, b := do(t, client, req2)
	if m := decode(t, b); path(m, "error_code") != "ILLEGAL_SIGN" {
		t.Fatalf("re-spaced body accepted: %s", b)
	}
	if len(sb.Ledger()) != 0 {
		t.Fatal("a rejected request moved money")
	}
}

func TestUpayQuery(t *testing.T) {
	sb, _ := start(t, Faults{})
	q := `{"terminal_sn":"100000330000000001","client_sn":"ORDER-1"}`
	m := upay(t, sb, "query", term1, q)
	if path(m, "biz_response", "result_code") != "SUCCESS" || path(m, "biz_response", "data", "order_status") != "PAID" ||
		path(m, "biz_response", "data", "client_tsn") != "" || path(m, "biz_response", "data", "net_amount") != "1000" {
		t.Fatalf("fresh order: %v", m)
	}
	upay(t, sb, "refund", term1, `{"terminal_sn":"100000330000000001","client_sn":"ORDER-1","refund_request_no":"a","operator":"op","refund_amount":"250"}`)
	m = upay(t, sb, "query", term1, `{"terminal_sn":"100000330000000001","sn":"7894259244067001"}`)
	d := func(k string) string { return path(m, "biz_response", "data", k) }
	if d("order_status") != "PARTIAL_REFUNDED" || d("client_tsn") != "ORDER-1-a" || d("net_amount") != "750" || d("refund_amount") != "250" {
		t.Fatalf("after a refund: %v", m)
	}
	m = upay(t, sb, "query", term1, `{"terminal_sn":"100000330000000001","client_sn":"NOPE"}`)
	if path(m, "biz_response", "error_code") != "UPAY_ORDER_NOT_EXISTS" {
		t.Fatalf("unknown order: %v", m)
	}
	upay(t, sb, "revoke", term2, `{"terminal_sn":"100000330000000002","client_sn":"U-TODAY"}`)
	m = upay(t, sb, "query", term2, `{"terminal_sn":"100000330000000002","client_sn":"U-TODAY"}`)
	if d("order_status") != "CANCELED" || d("net_amount") != "0" || d("client_tsn") != "U-TODAY-revoke" {
		t.Fatalf("revoked: %v", m)
	}
}
