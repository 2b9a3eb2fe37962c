package report

import (
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// The cases of issue 9 that lose or mis-state money in the matcher and in
// Net by order, each through Reconcile on records as the readers give them.

var t9 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func upayOurs(order, sn, refundNo string, amount int64) OurRecord {
	return OurRecord{Provider: "upay", Account: "T1", OrderNo: order, ProviderOrderID: sn, RefundNo: refundNo,
		Action: adapters.ActionRefund, Amount: amount, Currency: "CNY", State: StateSucceeded, FirstAttempt: t9}
}

func upayTheirs(order, sn, refundNo, prid string, amount int64) TheirRecord {
	return TheirRecord{Provider: "upay", Account: "T1", OrderNo: order, ProviderOrderID: sn, RefundNo: refundNo,
		ProviderRefundID: prid, Action: adapters.ActionRefund, Amount: amount, Currency: "CNY", Status: StatusSucceeded, Time: t9}
}

func rowsBy(res *Result) map[string]*Row {
	m := map[string]*Row{}
	for i := range res.Rows {
		r := &res.Rows[i]
		m[r.OrderNo()+"|"+r.ProviderOrderID()+"|"+r.RefundNo()] = r
	}
	return m
}

// Upay makes refund numbers unique per order: refund "1" of order A and
// refund "1" of order B are two refunds. With only A at the provider, B must
// be MISSING_AT_PROVIDER, not vanish into A's row.
func TestUpayRefundNumbersPerOrder(t *testing.T) {
	res := reconcileRecords(
		[]OurRecord{upayOurs("A", "", "1", 500), upayOurs("B", "", "1", 700)},
		[]TheirRecord{upayTheirs("A", "", "1", "U-A-1", 500)}, nil, Options{})
	if len(res.Rows) != 2 {
		t.Fatalf("%d rows, want 2 (one per order)", len(res.Rows))
	}
	got := rowsBy(res)
	if r := got["A||1"]; r == nil || r.Category != Matched {
		t.Errorf("order A: %+v", r)
	}
	if r := got["B||1"]; r == nil || r.Category != MissingAtProvider || r.OurAmount() != 700 {
		t.Errorf("order B: want MISSING_AT_PROVIDER of 7.00, got %+v", r)
	}
	// Account-scoped providers keep refund numbers unique per account: one
	// number on two orders is one refund number reused.
	qp := func(order string, amt int64) OurRecord {
		return OurRecord{Provider: "quickpay", Account: "S", OrderNo: order, RefundNo: "Q1", Action: "refund", Amount: amt, Currency: "CNY", State: StateSucceeded}
	}
	res = reconcileRecords([]OurRecord{qp("A", 500), qp("B", 700)}, nil, nil, Options{})
	cats := map[Category]int{}
	for _, r := range res.Rows {
		cats[r.Category]++
	}
	if cats[Duplicate] != 1 || cats[MissingAtProvider] != 1 {
		t.Errorf("QuickPay refund number on two orders: %v, want one MISSING and one DUPLICATE", cats)
	}
}

// Upay refunds identified by sn only (no client_sn) are keyed and netted by
// sn: two 1.00 refunds of two orders are neither one over-refunded order nor
// a DUPLICATE.
func TestUpayRefundsBySN(t *testing.T) {
	a, b := upayOurs("", "SN-A", "1", 100), upayOurs("", "SN-B", "1", 100)
	a.Total, b.Total = 100, 100
	res := reconcileRecords([]OurRecord{a, b},
		[]TheirRecord{upayTheirs("", "SN-A", "1", "P-A", 100), upayTheirs("", "SN-B", "1", "P-B", 100)}, nil, Options{})
	for _, r := range res.Rows {
		if r.Category != Matched {
			t.Errorf("%s %s: %s: %s", r.ProviderOrderID(), r.RefundNo(), r.Category, r.Reason())
		}
	}
	if len(res.Rows) != 2 || len(res.Orders) != 2 {
		t.Fatalf("%d rows, %d orders; want 2 and 2", len(res.Rows), len(res.Orders))
	}
	for _, o := range res.Orders {
		if o.OverRefund || o.RefundedProvider != 100 || o.RefundedOurs != 100 || o.Net != 0 {
			t.Errorf("order %q/%q: %+v", o.OrderNo, o.ProviderOrderID, o)
		}
	}
	// A statement that names the order by both numbers pairs with a refund
	// we know by sn only.
	res = reconcileRecords([]OurRecord{a}, []TheirRecord{upayTheirs("ORDER-A", "SN-A", "1", "P-A", 100)}, nil, Options{})
	if len(res.Rows) != 1 || res.Rows[0].Category != Matched {
		t.Errorf("sn-only refund against a statement with client_sn and sn: %d rows, first %s", len(res.Rows), res.Rows[0].Category)
	}
}

// A statement that spells the refund number differently (case, leading
// zeros) but carries our provider refund id is the same refund: one
// MATCHED row, with a reason that says how it was paired.
func TestPairedByProviderRefundID(t *testing.T) {
	for _, spelled := range []string{"r-0001", "1"} {
		o := OurRecord{Provider: "quickpay", Account: "S", OrderNo: "O1", RefundNo: "R-0001", Action: "refund", Amount: 990,
			Currency: "CNY", State: StateSucceeded, ProviderRefundID: "QP-77", FirstAttempt: t9}
		tr := TheirRecord{Provider: "quickpay", Account: "S", OrderNo: "O1", RefundNo: spelled, ProviderRefundID: "QP-77",
			Action: "refund", Amount: 990, Currency: "CNY", Status: StatusSucceeded, Time: t9}
		res := reconcileRecords([]OurRecord{o}, []TheirRecord{tr}, nil, Options{})
		if len(res.Rows) != 1 || res.Rows[0].Category != Matched {
			var got []string
			for _, r := range res.Rows {
				got = append(got, r.Category.String())
			}
			t.Fatalf("spelled %q: rows %v, want one MATCHED", spelled, got)
		}
		if why := res.Rows[0].Reason(); !strings.Contains(why, "provider refund id QP-77") || !strings.Contains(why, spelled) {
			t.Errorf("reason %q does not say it was paired by the provider refund id", why)
		}
		// Paired, but the amounts are still compared.
		tr.Amount = 900
		res = reconcileRecords([]OurRecord{o}, []TheirRecord{tr}, nil, Options{})
		if len(res.Rows) != 1 || res.Rows[0].Category != AmountMismatch {
			t.Errorf("spelled %q with another amount: %d rows, first %s", spelled, len(res.Rows), res.Rows[0].Category)
		}
	}
}

// A Upay revoke nobody submitted is a revoke of the order, not "a refund".
func TestUnexpectedRevokeReason(t *testing.T) {
	res := reconcileRecords(nil, []TheirRecord{{Provider: "upay", Account: "T1", OrderNo: "O7", Action: adapters.ActionRevoke,
		Amount: 2500, Currency: "CNY", Status: StatusSucceeded, Time: t9}}, nil, Options{})
	why := res.Rows[0].Reason()
	if res.Rows[0].Category != UnexpectedAtProvider || !strings.Contains(why, "revoked") || strings.Contains(why, "refund of") {
		t.Errorf("%s: %q", res.Rows[0].Category, why)
	}
}

// Net by order never adds one currency to another: a USD order whose
// refund the provider recorded as CNY 72.00 keeps its USD net whole, and
// the CNY refund is a line of its own.
func TestNetByOrderPerCurrency(t *testing.T) {
	o := OurRecord{Provider: "nomad", Account: "M", OrderNo: "O1", RefundNo: "R1", Action: "refund", Amount: 1000, Total: 10000,
		Currency: "USD", State: StateSucceeded, FirstAttempt: t9}
	tr := TheirRecord{Provider: "nomad", Account: "M", OrderNo: "O1", RefundNo: "R1", ProviderRefundID: "N1", Action: "refund",
		Amount: 7200, Currency: "CNY", Status: StatusSucceeded, Time: t9}
	res := reconcileRecords([]OurRecord{o}, []TheirRecord{tr}, []Order{{Provider: "nomad", Account: "M", OrderNo: "O1", Total: 10000, Currency: "USD"}}, Options{})
	if res.Rows[0].Category != AmountMismatch {
		t.Errorf("category %s", res.Rows[0].Category)
	}
	var usd, cny *OrderNet
	for i := range res.Orders {
		switch res.Orders[i].Currency {
		case "USD":
			usd = &res.Orders[i]
		case "CNY":
			cny = &res.Orders[i]
		}
	}
	if usd == nil || usd.Total != 10000 || usd.RefundedProvider != 0 || usd.RefundedOurs != 1000 || usd.Net != 10000 || usd.OverRefund {
		t.Errorf("USD line: %+v (want total 100.00, nothing refunded in USD per the provider, net 100.00)", usd)
	}
	if cny == nil || cny.RefundedProvider != 7200 || cny.TotalFrom != "" || cny.OverRefund {
		t.Errorf("CNY line: %+v (want its own line: 72.00 refunded, no total, no net)", cny)
	}
	checkTotals(t, res, true)
}

// A provider record repeated under one provider refund id with a changed
// amount is one refund: flagged once (AMOUNT_MISMATCH with both amounts in
// the reason) and counted once, at the record that knows most.
func TestProviderAmountChanged(t *testing.T) {
	o := OurRecord{Provider: "payease", Account: "M", OrderNo: "O1", RefundNo: "R1", Action: "refund", Amount: 5000, Total: 9000,
		Currency: "CNY", State: StateSucceeded, FirstAttempt: t9}
	early := TheirRecord{Provider: "payease", Account: "M", OrderNo: "O1", RefundNo: "R1", ProviderRefundID: "PE-1", Action: "refund",
		Amount: 5000, Currency: "CNY", Status: StatusPending, Time: t9, Source: 0, Row: 3}
	late := early
	late.Amount, late.Status, late.Time, late.Source = 4500, StatusSucceeded, t9.Add(time.Hour), 1
	res := reconcileRecords([]OurRecord{o}, []TheirRecord{early, late}, nil, Options{})
	if len(res.Rows) != 1 {
		t.Fatalf("%d rows, want one (the provider's two records are one refund)", len(res.Rows))
	}
	r := &res.Rows[0]
	why := r.Reason()
	if r.Category != AmountMismatch || !strings.Contains(why, "50.00") || !strings.Contains(why, "45.00") || !strings.Contains(why, "PE-1") {
		t.Errorf("%s: %q", r.Category, why)
	}
	if res.Orders[0].RefundedProvider != 4500 {
		t.Errorf("refunded per provider %d, want 4500 (counted once)", res.Orders[0].RefundedProvider)
	}
	var prov int64
	for _, s := range res.Summary {
		prov += s.ProviderRefunded
	}
	if prov != 4500 {
		t.Errorf("summary provider_refunded %d, want 4500", prov)
	}
	checkTotals(t, res, true)
}

// Two succeeded records of one provider refund id with different amounts:
// the money is counted once (the later record), never twice.
func TestProviderAmountChangedBothSucceeded(t *testing.T) {
	o := OurRecord{Provider: "payease", Account: "M", OrderNo: "O1", RefundNo: "R1", Action: "refund", Amount: 5000, Total: 9000,
		Currency: "CNY", State: StateSucceeded, FirstAttempt: t9}
	a := TheirRecord{Provider: "payease", Account: "M", OrderNo: "O1", RefundNo: "R1", ProviderRefundID: "PE-1", Action: "refund",
		Amount: 5000, Currency: "CNY", Status: StatusSucceeded, Time: t9, Row: 3}
	b := a
	b.Amount, b.Time, b.Source = 4800, t9.Add(time.Hour), 1
	res := reconcileRecords([]OurRecord{o}, []TheirRecord{a, b}, nil, Options{})
	if len(res.Rows) != 1 || res.Rows[0].Category != AmountMismatch {
		t.Fatalf("%d rows, first %s; want one AMOUNT_MISMATCH", len(res.Rows), res.Rows[0].Category)
	}
	if n := res.Orders[0]; n.RefundedProvider != 4800 || n.OverRefund {
		t.Errorf("net %+v: want 48.00 refunded per provider, not both records", n)
	}
	checkTotals(t, res, true)
}
