package sandbox

import (
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// Upay and QuickPay refunds left pending by Faults.PendingRate, driven by
// hand-built requests: the refund answers "in progress", the query shows it
// unsettled with its money reserved, a repeat moves nothing, and after
// SettleAfter the query shows the final state.

func TestUpayPending(t *testing.T) {
	refund := func(no, amt string) string {
		return `{"terminal_sn":"` + term1 + `","client_sn":"ORDER-1","refund_request_no":"` + no + `","operator":"op","refund_amount":"` + amt + `"}`
	}
	const query = `{"terminal_sn":"` + term1 + `","client_sn":"ORDER-1"}`
	// want is what one answer must hold; empty fields are not checked.
	type want struct{ biz, code, status, tsn, orderStatus, net string }
	type step struct {
		op, body string
		advance  time.Duration // clock moved before the request
		want     want
	}
	tests := []struct {
		name       string
		failRate   float64
		steps      []step
		ledgerNo   string
		ledgerWant adapters.Status
	}{
		{"in progress, then SUCCESS", 0, []step{
			{"refund", refund("r1", "400"), 0, want{"REFUND_IN_PROGRESS", "", "IN_PROG", "ORDER-1-r1", "PAID", "1000"}},
			{"query", query, 0, want{"SUCCESS", "", "IN_PROG", "ORDER-1-r1", "PAID", "1000"}},
			{"refund", refund("r1", "400"), 0, want{"REFUND_IN_PROGRESS", "", "IN_PROG", "ORDER-1-r1", "PAID", "1000"}},
			// 400 is reserved: 601 is more than is left.
			{"refund", refund("r2", "601"), 0, want{"FAIL", "REFUNDABLE_AMOUNT_NOT_ENOUGH", "", "", "", ""}},
			{"query", query, time.Minute, want{"SUCCESS", "", "SUCCESS", "ORDER-1-r1", "PARTIAL_REFUNDED", "600"}},
			{"refund", refund("r1", "400"), 0, want{"REFUND_SUCCESS", "", "SUCCESS", "ORDER-1-r1", "PARTIAL_REFUNDED", "600"}},
		}, "r1", adapters.StatusSucceeded},
		{"in progress, then failed: the money goes back", 1, []step{
			{"refund", refund("r1", "1000"), 0, want{"REFUND_IN_PROGRESS", "", "IN_PROG", "ORDER-1-r1", "PAID", "1000"}},
			{"refund", refund("r2", "1"), 0, want{"FAIL", "UPAY_REFUND_INVALID_ORDER_STATE", "", "", "", ""}},
			{"query", query, time.Minute, want{"SUCCESS", "", "FAIL_CANCELED", "ORDER-1-r1", "PAID", "1000"}},
			{"refund", refund("r1", "1000"), 0, want{"REFUND_FAIL", "", "FAIL_CANCELED", "ORDER-1-r1", "PAID", "1000"}},
		}, "r1", adapters.StatusFailed},
		{"a revoke never pends", 0, []step{
			{"revoke", `{"terminal_sn":"` + term1 + `","client_sn":"ORDER-1"}`, 0, want{"CANCEL_SUCCESS", "", "SUCCESS", "ORDER-1-revoke", "CANCELED", "0"}},
		}, "", adapters.StatusSucceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb, clk := start(t, Faults{PendingRate: 1, SettleAfter: time.Minute, SettleFailRate: tc.failRate})
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				m := upay(t, sb, s.op, term1, s.body)
				d := func(k string) string { return path(m, "biz_response", "data", k) }
				got := want{path(m, "biz_response", "result_code"), path(m, "biz_response", "error_code"),
					d("status"), d("client_tsn"), d("order_status"), d("net_amount")}
				w := s.want
				if path(m, "result_code") != "200" || got.biz != w.biz || got.code != w.code ||
					(w.status != "" && (got.status != w.status || got.tsn != w.tsn || got.orderStatus != w.orderStatus || got.net != w.net)) {
					t.Fatalf("step %d %s: got %+v, want %+v: %v", i+1, s.op, got, w, m)
				}
			}
			var l []LedgerRefund
			for _, r := range sb.Ledger() {
				if r.Provider == adapters.Upay && r.OrderNo == "ORDER-1" && r.RefundNo == tc.ledgerNo {
					l = append(l, r)
				}
			}
			if len(l) != 1 || l[0].Applied != 1 || l[0].Status != tc.ledgerWant {
				t.Fatalf("ledger %+v, want one refund applied once, %s", l, tc.ledgerWant)
			}
		})
	}
	t.Run("after a failed settle the whole order can be refunded", func(t *testing.T) {
		sb, clk := start(t, Faults{PendingRate: 1, SettleAfter: time.Minute, SettleFailRate: 1})
		upay(t, sb, "refund", term1, refund("r1", "1000"))
		clk.Advance(time.Minute)
		sb.SetFaults(Faults{})
		m := upay(t, sb, "refund", term1, refund("r2", "1000"))
		if path(m, "biz_response", "result_code") != "REFUND_SUCCESS" || path(m, "biz_response", "data", "net_amount") != "0" ||
			path(m, "biz_response", "data", "order_status") != "REFUNDED" {
			t.Fatalf("refund after the failed one: %v", m)
		}
	})
}

func TestQuickPayPending(t *testing.T) {
	refund := func(no, amt string) string {
		return `{"store_no":"SH001","operator":"op","refund_amount":` + amt + `,"order_no":"QP-1","refund_no":"` + no + `"}`
	}
	query := func(no string) string {
		return `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"` + no + `"}`
	}
	type step struct {
		op, body     string
		advance      time.Duration
		code, status string
	}
	tests := []struct {
		name       string
		failRate   float64
		steps      []step
		ledgerWant adapters.Status
	}{
		{"PAYING, then REFUNDED", 0, []step{
			{"Refund", refund("R1", "4000"), 0, "SUCCESS", "PAYING"},
			{"RefundQuery", query("R1"), 0, "SUCCESS", "PAYING"},
			{"Refund", refund("R1", "4000"), 0, "SUCCESS", "PAYING"},
			// 4000 of 10000 is reserved: 6001 is more than is left.
			{"Refund", refund("R2", "6001"), 0, "REFUND_AMOUNT_EXCEEDED", ""},
			{"RefundQuery", query("R1"), time.Minute, "SUCCESS", "REFUNDED"},
			{"Refund", refund("R1", "4000"), 0, "SUCCESS", "SUCCESSED"},
		}, adapters.StatusSucceeded},
		{"PAYING, then REFUNDFAILED: the money goes back", 1, []step{
			{"Refund", refund("R1", "10000"), 0, "SUCCESS", "PAYING"},
			{"Refund", refund("R2", "1"), 0, "REFUND_AMOUNT_EXCEEDED", ""},
			{"RefundQuery", query("R1"), time.Minute, "SUCCESS", "REFUNDFAILED"},
			{"Refund", refund("R1", "10000"), 0, "SUCCESS", "FAILED"},
		}, adapters.StatusFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb, clk := start(t, Faults{PendingRate: 1, SettleAfter: time.Minute, SettleFailRate: tc.failRate})
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				m := quickpay(t, sb, s.op, "SH001", s.body)
				if path(m, "code") != s.code || path(m, "data", "transaction_status") != s.status {
					t.Fatalf("step %d: got %s/%s, want %s/%s: %v", i+1, path(m, "code"), path(m, "data", "transaction_status"), s.code, s.status, m)
				}
				if s.status != "" && (path(m, "data", "refund_order_no") != "R1" || path(m, "data", "refund_transaction_no") == "") {
					t.Fatalf("step %d: refund not identified: %v", i+1, m)
				}
			}
			l := ledgerFor(sb, adapters.QuickPay, "R1")
			if len(l) != 1 || l[0].Applied != 1 || l[0].Status != tc.ledgerWant {
				t.Fatalf("ledger %+v, want one refund applied once, %s", l, tc.ledgerWant)
			}
		})
	}
	t.Run("after REFUNDFAILED the whole order can be refunded", func(t *testing.T) {
		sb, clk := start(t, Faults{PendingRate: 1, SettleAfter: time.Minute, SettleFailRate: 1})
		quickpay(t, sb, "Refund", "SH001", refund("R1", "10000"))
		clk.Advance(time.Minute)
		sb.SetFaults(Faults{})
		if m := quickpay(t, sb, "Refund", "SH001", refund("R2", "10000")); path(m, "data", "transaction_status") != "SUCCESSED" {
			t.Fatalf("refund after the failed one: %v", m)
		}
	})
}

// A dashboard refund sees a due pending refund settled, like the API does.
func TestOutOfBandAfterDuePending(t *testing.T) {
	sb, clk := start(t, Faults{PendingRate: 1, SettleAfter: time.Minute, SettleFailRate: 1})
	quickpay(t, sb, "Refund", "SH001", `{"store_no":"SH001","operator":"op","refund_amount":10000,"order_no":"QP-1","refund_no":"R1"}`)
	if _, err := sb.AddOutOfBand(OutOfBand{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "QP-1", Amount: 1}); err == nil {
		t.Fatal("out-of-band refund took money a pending refund holds")
	}
	clk.Advance(time.Minute)
	if _, err := sb.AddOutOfBand(OutOfBand{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "QP-1", Amount: 10000}); err != nil {
		t.Fatalf("out-of-band refund after the pending one failed: %v", err)
	}
}
