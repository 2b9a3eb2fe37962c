package report

import (
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// TestDecisionTable drives Reconcile with one refund at a time through
// every row of the decision table on decide.
func TestDecisionTable(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	our := func(s State, amt int64) *OurRecord {
		return &OurRecord{Provider: "quickpay", Account: "SH001", OrderNo: "O1", RefundNo: "R1", Action: adapters.ActionRefund,
			Amount: amt, Currency: "CNY", State: s, FirstAttempt: t0}
	}
	their := func(s Status, amt int64) *TheirRecord {
		return &TheirRecord{Provider: "quickpay", Account: "SH001", OrderNo: "O1", RefundNo: "R1", ProviderRefundID: "X1",
			Action: adapters.ActionRefund, Amount: amt, Currency: "CNY", Status: s, Time: t0}
	}
	usd := their(StatusSucceeded, 100)
	usd.Currency = "USD"
	cases := []struct {
		name string
		o    *OurRecord
		t    *TheirRecord
		tol  int64
		want Category
	}{
		{"provider only", nil, their(StatusSucceeded, 100), 0, UnexpectedAtProvider},
		{"provider only, failed", nil, their(StatusFailed, 100), 0, UnexpectedAtProvider},
		{"planned, no record", our(StatePlanned, 100), nil, 0, Pending},
		{"failed, no record", our(StateFailed, 100), nil, 0, Failed},
		{"succeeded, no record", our(StateSucceeded, 100), nil, 0, MissingAtProvider},
		{"unknown, no record", our(StateUnknown, 100), nil, 0, MissingAtProvider},
		{"submitting, no record", our(StateSubmitting, 100), nil, 0, MissingAtProvider},
		{"pending, no record", our(StatePending, 100), nil, 0, MissingAtProvider},
		{"both failed", our(StateFailed, 100), their(StatusFailed, 90), 0, Failed},
		{"currency differs", our(StateSucceeded, 100), usd, 0, AmountMismatch},
		{"amount differs", our(StateSucceeded, 100), their(StatusSucceeded, 99), 0, AmountMismatch},
		{"amount within tolerance", our(StateSucceeded, 100), their(StatusSucceeded, 99), 1, Matched},
		{"amount beyond tolerance", our(StateSucceeded, 100), their(StatusSucceeded, 98), 1, AmountMismatch},
		{"amount differs, provider pending", our(StateSucceeded, 100), their(StatusPending, 50), 0, AmountMismatch},
		{"lookup failed", our(StateSucceeded, 100), their(StatusUnknown, 100), 0, Pending},
		{"we succeeded, they failed", our(StateSucceeded, 100), their(StatusFailed, 100), 0, StatusMismatch},
		{"we failed, they succeeded", our(StateFailed, 100), their(StatusSucceeded, 100), 0, StatusMismatch},
		{"we never sent, they succeeded", our(StatePlanned, 100), their(StatusSucceeded, 100), 0, StatusMismatch},
		{"unknown, they succeeded", our(StateUnknown, 100), their(StatusSucceeded, 100), 0, StatusMismatch},
		{"submitting, they failed", our(StateSubmitting, 100), their(StatusFailed, 100), 0, StatusMismatch},
		{"they pending", our(StateSucceeded, 100), their(StatusPending, 100), 0, Pending},
		{"we failed, they pending", our(StateFailed, 100), their(StatusPending, 100), 0, Pending},
		{"we pending, they succeeded", our(StatePending, 100), their(StatusSucceeded, 100), 0, Pending},
		{"both succeeded", our(StateSucceeded, 100), their(StatusSucceeded, 100), 0, Matched},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ours []Ours
			var theirs []Theirs
			if c.o != nil {
				ours = append(ours, NewOurs(*c.o))
			}
			if c.t != nil {
				theirs = append(theirs, NewTheirs(*c.t))
			}
			res := Reconcile(ours, theirs, nil, Options{AmountTolerance: c.tol})
			if len(res.Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(res.Rows))
			}
			r := &res.Rows[0]
			if r.Category != c.want {
				t.Errorf("category %s, want %s (reason: %s)", r.Category, c.want, r.Reason())
			}
			if c.want != Matched && r.Reason() == "" {
				t.Error("no reason")
			}
		})
	}
}

// TestGroups covers keys with several records on one side.
func TestGroups(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	o := OurRecord{Provider: "nomad", Account: "M", OrderNo: "O1", RefundNo: "R1", Action: "refund", Amount: 500, Total: 1000, Currency: "CNY", State: StateSucceeded, FirstAttempt: t0}
	tr := TheirRecord{Provider: "nomad", Account: "M", OrderNo: "O1", RefundNo: "R1", ProviderRefundID: "A", Action: "refund", Amount: 500, Currency: "CNY", Status: StatusSucceeded, Time: t0}
	cats := func(res *Result) []string {
		var s []string
		for _, r := range res.Rows {
			s = append(s, r.Category.String())
		}
		return s
	}
	t.Run("same provider refund in two statements is one refund", func(t *testing.T) {
		pend := tr
		pend.Status = StatusPending
		res := reconcileRecords([]OurRecord{o}, []TheirRecord{pend, tr}, nil, Options{})
		if got := cats(res); len(got) != 1 || got[0] != "MATCHED" {
			t.Errorf("got %v, want [MATCHED]", got)
		}
	})
	t.Run("second provider refund under one number is a duplicate", func(t *testing.T) {
		b := tr
		b.ProviderRefundID = "B"
		res := reconcileRecords([]OurRecord{o}, []TheirRecord{b, tr}, nil, Options{})
		if got := cats(res); len(got) != 2 || got[0] != "MATCHED" || got[1] != "DUPLICATE" {
			t.Errorf("got %v, want [MATCHED DUPLICATE]", got)
		}
		if res.Rows[1].O != nil || func() bool { v, _ := res.Rows[1].ProviderAmount(); return v != 500 }() {
			t.Error("the duplicate row must carry only the extra provider record")
		}
	})
	t.Run("our refund listed twice alike is one refund, the more final wins", func(t *testing.T) {
		u := o
		u.State = StateUnknown
		u.Source = 1
		res := reconcileRecords([]OurRecord{u, o}, []TheirRecord{tr}, nil, Options{})
		if got := cats(res); len(got) != 1 || got[0] != "MATCHED" {
			t.Errorf("got %v, want [MATCHED]", got)
		}
	})
	t.Run("our refund number reused for another amount", func(t *testing.T) {
		d := o
		d.Amount = 300
		d.Source = 1
		res := reconcileRecords([]OurRecord{o, d}, []TheirRecord{tr}, nil, Options{})
		if got := cats(res); len(got) != 2 || got[0] != "MATCHED" || got[1] != "DUPLICATE" {
			t.Errorf("got %v, want [MATCHED DUPLICATE]", got)
		}
	})
	t.Run("refunds past the order total", func(t *testing.T) {
		o2 := o
		o2.RefundNo = "R2"
		o2.Amount = 600
		t2 := tr
		t2.RefundNo, t2.ProviderRefundID, t2.Amount, t2.Time = "R2", "C", 600, t0.Add(time.Minute)
		res := reconcileRecords([]OurRecord{o, o2}, []TheirRecord{tr, t2}, nil, Options{})
		if got := cats(res); len(got) != 2 || got[0] != "MATCHED" || got[1] != "DUPLICATE" {
			t.Errorf("got %v, want [MATCHED DUPLICATE]", got)
		}
		if n := res.Orders[0]; n.Total != 1000 || n.TotalFrom != "refund sheet" || n.Net != -100 || !n.OverRefund {
			t.Errorf("net %+v", n)
		}
		// The ledger's total wins over the sheet's.
		res = reconcileRecords([]OurRecord{o, o2}, []TheirRecord{tr, t2}, []Order{{Provider: "nomad", Account: "M", OrderNo: "O1", Total: 2000, Currency: "CNY"}}, Options{})
		if got := cats(res); got[1] != "MATCHED" || res.Orders[0].Net != 900 || res.Orders[0].TotalFrom != "orders" {
			t.Errorf("with ledger: %v %+v", got, res.Orders[0])
		}
	})
	t.Run("revoke matches on the order", func(t *testing.T) {
		rv := OurRecord{Provider: "upay", Account: "T", OrderNo: "O9", Action: "revoke", Amount: 800, Currency: "CNY", State: StateSucceeded}
		st := TheirRecord{Provider: "upay", Account: "T", OrderNo: "O9", Action: "revoke", Amount: 800, Currency: "CNY", Status: StatusSucceeded}
		res := reconcileRecords([]OurRecord{rv}, []TheirRecord{st}, nil, Options{})
		if got := cats(res); len(got) != 1 || got[0] != "MATCHED" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("period filter keeps pending rows", func(t *testing.T) {
		p := o
		p.RefundNo, p.State = "R3", StatePending
		res := reconcileRecords([]OurRecord{o, p}, []TheirRecord{tr, {Provider: "nomad", Account: "M", OrderNo: "O1", RefundNo: "R3", Action: "refund", Amount: 500, Currency: "CNY", Status: StatusPending, Time: t0}}, nil, Options{From: t0.Add(time.Hour)})
		if got := cats(res); len(got) != 1 || got[0] != "PENDING" {
			t.Errorf("got %v, want only the PENDING row", got)
		}
	})
}

// reconcileRecords packs records and reconciles them.
func reconcileRecords(ours []OurRecord, theirs []TheirRecord, orders []Order, opt Options) *Result {
	var o []Ours
	for _, r := range ours {
		o = append(o, NewOurs(r))
	}
	var t []Theirs
	for _, r := range theirs {
		t = append(t, NewTheirs(r))
	}
	return Reconcile(o, t, orders, opt)
}
