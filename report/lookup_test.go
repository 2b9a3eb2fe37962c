package report

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/money"
)

// TestLookupOrderTotals: Upay's query shows an order's latest transaction
// and its refunded total (total_amount − net_amount), never an earlier
// refund one by one. Refunds made through the real Upay client against the
// sandbox, then reconciled through live lookups:
//
//   - UO-1, three refunds of ours: the latest is compared directly, the
//     two earlier ones are confirmed by the order's refunded total — all
//     MATCHED, every provider amount the refund's own;
//   - UO-2, two of ours and then a refund made out of band in the
//     provider's dashboard: the total differs, so ours stay unconfirmed
//     and the order gets a row of its own with both figures;
//   - UO-3, two of ours sent and a third we recorded as succeeded that
//     never reached the provider: the total differs (70.00 vs 85.00).
func TestLookupOrderTotals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs against the sandbox")
	}
	ctx := context.Background()
	now := time.Now()
	const term = "100000330000000001"
	var orders []sandbox.Order
	for _, no := range []string{"UO-1", "UO-2", "UO-3"} {
		orders = append(orders, sandbox.Order{Provider: adapters.Upay, Account: term, OrderNo: no, Total: 100000,
			Currency: money.CNY, PaidAt: now.Add(-48 * time.Hour), PaymentMethod: "alipay"})
	}
	sb, err := sandbox.Start(sandbox.Config{Orders: orders})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	clients, err := config.ForSandbox(sb.URL(), sb.Accounts()).Providers()
	if err != nil {
		t.Fatal(err)
	}
	upay := clients[config.Key(adapters.Upay, term)]
	var ours []Ours
	refund := func(order, no string, amount int64, send bool) {
		t.Helper()
		r := adapters.Refund{Provider: adapters.Upay, Account: term, OrderNo: order, RefundNo: no, Amount: amount, Total: 100000,
			Currency: money.CNY, Action: adapters.ActionRefund, Operator: "test"}
		rec := OurRecord{Provider: r.Provider, Account: r.Account, OrderNo: order, RefundNo: no, Action: r.Action, Amount: amount,
			Total: r.Total, Currency: r.Currency, State: StateSucceeded, Attempts: 1, FirstAttempt: now, LastAttempt: now}
		if send {
			oc, err := upay.Refund(ctx, r)
			if err != nil || oc.Status != adapters.StatusSucceeded {
				t.Fatalf("refund %s/%s: %+v %v", order, no, oc, err)
			}
			rec.ProviderRefundID = oc.ProviderRefundID
		}
		ours = append(ours, NewOurs(rec))
	}
	refund("UO-1", "1", 10000, true)
	refund("UO-1", "2", 5000, true)
	refund("UO-1", "3", 2500, true)
	refund("UO-2", "1", 1000, true)
	refund("UO-2", "2", 2000, true)
	if _, err := sb.AddOutOfBand(sandbox.OutOfBand{Provider: adapters.Upay, Account: term, OrderNo: "UO-2", Amount: 500}); err != nil {
		t.Fatal(err)
	}
	refund("UO-3", "1", 3000, true)
	refund("UO-3", "2", 4000, true)
	refund("UO-3", "3", 1500, false)

	res, err := Build(ctx, Inputs{Ours: ours, Now: now, Lookup: &Lookup{
		Provider: func(p, a string) (adapters.Provider, error) { return clients[config.Key(p, a)], nil }, PerAccount: 500}})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		cat    Category
		reason string // "" : none
		prov   int64  // -1: no provider amount
	}
	wants := map[string]want{
		"UO-1/1": {Matched, "Confirmed by the order's refunded total", 10000},
		"UO-1/2": {Matched, "Confirmed by the order's refunded total", 5000},
		"UO-1/3": {Matched, "", 2500},
		"UO-2/1": {AmountMismatch, "the provider has refunded 35.00 CNY on the order, our succeeded refunds of it add up to 30.00 CNY", -1},
		"UO-2/2": {AmountMismatch, "is unconfirmed", -1},
		"UO-2/":  {AmountMismatch, "The provider has refunded 35.00 CNY on order UO-2 in all; our succeeded refunds of it add up to 30.00 CNY (5.00 CNY more at the provider)", 3500},
		"UO-3/1": {AmountMismatch, "the provider has refunded 70.00 CNY on the order, our succeeded refunds of it add up to 85.00 CNY", -1},
		"UO-3/2": {Matched, "", 4000},
		"UO-3/3": {AmountMismatch, "is unconfirmed", -1},
		"UO-3/":  {AmountMismatch, "(15.00 CNY less at the provider)", 3000},
	}
	if len(res.Rows) != len(wants) {
		t.Errorf("%d rows, want %d", len(res.Rows), len(wants))
	}
	for i := range res.Rows {
		r := &res.Rows[i]
		k := r.OrderNo() + "/" + r.RefundNo()
		w, ok := wants[k]
		if !ok {
			t.Errorf("unexpected row %s: %s %s", k, r.Category, r.Reason())
			continue
		}
		if r.Category != w.cat || w.reason == "" && r.Reason() != "" || !strings.Contains(r.Reason(), w.reason) {
			t.Errorf("%s: %s %q, want %s with %q", k, r.Category, r.Reason(), w.cat, w.reason)
		}
		if v, known := r.ProviderAmount(); known != (w.prov >= 0) || known && v != w.prov {
			t.Errorf("%s: provider amount %d (%v), want %d", k, v, known, w.prov)
		}
	}
	for _, o := range res.Orders {
		want := map[string]int64{"UO-1": 17500, "UO-2": 3500, "UO-3": 7000}[o.OrderNo]
		if o.RefundedProvider != want {
			t.Errorf("order %s: refunded per provider %d, want the provider's refunded total %d", o.OrderNo, o.RefundedProvider, want)
		}
	}
	checkTotals(t, res, true)
}

// stubProvider answers lookups from a table: for answers the sandbox never
// gives (a success without an amount). It is a Provider, not an HTTP mock.
type stubProvider map[string]struct {
	oc  adapters.Outcome
	err error
}

func (s stubProvider) Refund(context.Context, adapters.Refund) (adapters.Outcome, error) {
	return adapters.Outcome{}, errors.New("stub: no refunds")
}

func (s stubProvider) Lookup(_ context.Context, r adapters.Refund) (adapters.Outcome, error) {
	a := s[r.RefundNo]
	return a.oc, a.err
}

// A lookup that does not report the amount confirms nothing: the row is an
// exception saying the amount is unconfirmed, and the report never shows
// our amount as the provider's. A failed lookup shows no provider amount
// either.
func TestLookupWithoutAmount(t *testing.T) {
	stub := stubProvider{
		"N1": {oc: adapters.Outcome{Status: adapters.StatusSucceeded, ProviderRefundID: "X1", NetAmount: -1}},
		"N2": {err: &adapters.Error{Provider: "nomad", Op: "lookup", Kind: adapters.KindRetryable, Message: "503"}},
		"N3": {oc: adapters.Outcome{Status: adapters.StatusSucceeded, ProviderRefundID: "X3", Amount: 700, Currency: "CNY", NetAmount: -1}},
	}
	var ours []Ours
	for _, no := range []string{"N1", "N2", "N3"} {
		ours = append(ours, NewOurs(OurRecord{Provider: "nomad", Account: "M", OrderNo: "O-" + no, RefundNo: no, Action: "refund",
			Amount: 700, Currency: "CNY", State: StateSucceeded, Attempts: 1, FirstAttempt: t9}))
	}
	res, err := Build(context.Background(), Inputs{Ours: ours, Now: t9, Lookup: &Lookup{
		Provider: func(string, string) (adapters.Provider, error) { return stub, nil }, Attempts: 1, PerAccount: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Row{}
	for i := range res.Rows {
		got[res.Rows[i].RefundNo()] = &res.Rows[i]
	}
	if r := got["N1"]; r.Category != AmountMismatch || !strings.Contains(r.Reason(), "unconfirmed") {
		t.Errorf("N1 (no amount): %s %q", r.Category, r.Reason())
	}
	if r := got["N2"]; r.Category != Pending {
		t.Errorf("N2 (lookup failed): %s", r.Category)
	}
	for _, no := range []string{"N1", "N2"} {
		if _, known := got[no].ProviderAmount(); known {
			t.Errorf("%s: a provider amount where the provider gave none", no)
		}
	}
	if r := got["N3"]; r.Category != Matched {
		t.Errorf("N3: %s", r.Category)
	}
	checkTotals(t, res, true)
}

// countingProvider answers every lookup as a success of 1.00 and counts
// the refunds asked about.
type countingProvider struct {
	mu    sync.Mutex
	asked []string
}

func (c *countingProvider) Refund(context.Context, adapters.Refund) (adapters.Outcome, error) {
	return adapters.Outcome{}, errors.New("no refunds")
}

func (c *countingProvider) Lookup(_ context.Context, r adapters.Refund) (adapters.Outcome, error) {
	c.mu.Lock()
	c.asked = append(c.asked, r.RefundNo)
	c.mu.Unlock()
	return adapters.Outcome{Status: adapters.StatusSucceeded, Amount: 100, Currency: "CNY", NetAmount: -1}, nil
}

// With a period, lookups ask only about refunds that can have a row in
// it: sent in the period, not final yet, or an exception still open — and
// the other refunds of their orders, whose amounts the order's net needs.
func TestLookupScope(t *testing.T) {
	from := t9
	old := from.Add(-30 * 24 * time.Hour)
	rec := func(order, no string, s State, at time.Time) Ours {
		return NewOurs(OurRecord{Provider: "quickpay", Account: "S", OrderNo: order, RefundNo: no, Action: "refund", Amount: 100,
			Currency: "CNY", State: s, Attempts: 1, FirstAttempt: at, LastAttempt: at})
	}
	ours := []Ours{
		rec("O1", "OLD-DONE", StateSucceeded, old),    // settled long ago: not asked
		rec("O2", "OLD-PENDING", StatePending, old),   // still open: asked
		rec("O3", "NEW", StateSucceeded, from),        // in the period: asked
		rec("O3", "NEW-SIBLING", StateSucceeded, old), // same order as NEW: asked
	}
	p := &countingProvider{}
	_, err := Build(context.Background(), Inputs{Ours: ours, Now: from.Add(time.Hour), Options: Options{From: from},
		Lookup: &Lookup{Provider: func(string, string) (adapters.Provider, error) { return p, nil }, PerAccount: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(p.asked)
	if got := strings.Join(p.asked, " "); got != "NEW NEW-SIBLING OLD-PENDING" {
		t.Errorf("looked up %q", got)
	}
}

// A statement and live lookups together: a lookup's answer is another view
// of the refund the statement lists, never a second refund — whether the
// lookup failed, or answered without the provider refund id.
func TestLookupWithStatement(t *testing.T) {
	stub := stubProvider{
		"S1": {err: &adapters.Error{Provider: "nomad", Op: "lookup", Kind: adapters.KindRetryable, Message: "503"}},
		"S2": {oc: adapters.Outcome{Status: adapters.StatusSucceeded, Amount: 700, Currency: "CNY", NetAmount: -1}},
		"S3": {oc: adapters.Outcome{Status: adapters.StatusSucceeded, Amount: 700, Currency: "CNY", ProviderRefundID: "P3", NetAmount: -1}},
	}
	var ours []Ours
	var theirs []Theirs
	for _, no := range []string{"S1", "S2", "S3"} {
		ours = append(ours, NewOurs(OurRecord{Provider: "nomad", Account: "M", OrderNo: "O-" + no, RefundNo: no, Action: "refund",
			Amount: 700, Currency: "CNY", State: StateSucceeded, Attempts: 1, FirstAttempt: t9}))
		st := StatusSucceeded
		if no == "S3" {
			st = StatusPending // yesterday's statement; the lookup knows more
		}
		theirs = append(theirs, NewTheirs(TheirRecord{Provider: "nomad", Account: "M", OrderNo: "O-" + no, RefundNo: no,
			ProviderRefundID: "P" + no[1:], Action: "refund", Amount: 700, Currency: "CNY", Status: st, Time: t9, Row: 2}))
	}
	res, err := Build(context.Background(), Inputs{Ours: ours, Theirs: theirs, Now: t9, Lookup: &Lookup{
		Provider: func(string, string) (adapters.Provider, error) { return stub, nil }, Attempts: 1, PerAccount: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 {
		t.Errorf("%d rows, want 3", len(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Category != Matched {
			t.Errorf("%s: %s %s", r.RefundNo(), r.Category, r.Reason())
		}
	}
}
