package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
	"github.com/bulkrefund/bulkrefund/money"
)

// TestScenarioSandbox is the scenario end to end over loopback: a
// batch runs through the real runner and adapters against the sandbox with
// injected faults (503s and lost responses), two refunds are then made out
// of band through the sandbox's admin endpoint, and the sandbox's statement
// is edited (one amount changed, one refund removed, one refund paid a
// second time under the same number). The report must list exactly those
// five rows as exceptions, in the right categories, and nothing else.
func TestScenarioSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a batch against the sandbox")
	}
	ctx := context.Background()
	now := time.Now()
	dir := t.TempDir()
	orders := sandbox.GenerateOrders(48, 11, now)
	sb, err := sandbox.Start(sandbox.Config{Orders: orders, Faults: sandbox.Faults{ErrorRate: 0.1, LostResponseRate: 0.1, Seed: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg := config.ForSandbox(sb.URL(), sb.Accounts())
	clients, err := cfg.Providers()
	if err != nil {
		t.Fatal(err)
	}

	// One refund of half the total per order; the first Upay order paid
	// today (Asia/Shanghai) is revoked instead.
	cst, _ := time.LoadLocation("Asia/Shanghai")
	var items []batch.Item
	revoked := false
	for i, o := range orders {
		it := batch.Item{Row: i + 2, Refund: adapters.Refund{
			Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo, ProviderOrderID: o.ProviderOrderID,
			RefundNo: fmt.Sprintf("SC%04d-1", i), Amount: max(1, o.Total/2), Total: o.Total, Currency: o.Currency,
			Action: adapters.ActionRefund, Operator: "scenario", Reason: "test", PaymentMethod: o.PaymentMethod,
		}}
		if o.Provider == adapters.PayEase {
			it.NotifyURL = config.SandboxNotifyURL
		}
		if !revoked && o.Provider == adapters.Upay && sameDay(o.PaidAt.In(cst), now.In(cst)) {
			it.Action, it.Amount, it.RefundNo, revoked = adapters.ActionRevoke, o.Total, "", true
		}
		items = append(items, it)
	}
	ledger, st := storetest.NewBatch(t, filepath.Join(dir, "ledger.db"), store.Meta{Operator: "scenario-op", Created: now}, items)
	r := &runner.Runner{
		Store: st,
		Route: func(p, a string) (runner.Target, bool) {
			c, ok := clients[config.Key(p, a)]
			return runner.Target{Provider: c}, ok
		},
		Options: runner.Options{Parallel: 6, MaxAttempts: 20, CallTimeout: 5 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond,
			Poll: 10 * time.Second, PollInterval: 20 * time.Millisecond},
	}
	sum, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.States[store.Succeeded] != len(items) {
		t.Fatalf("the run did not settle every refund: %v", sum.States)
	}
	st.Close()

	// Out-of-band refunds through the admin endpoint.
	oob := map[string]bool{}
	for _, i := range []int{3, 4} {
		o := orders[i]
		body := fmt.Sprintf(`{"provider":%q,"account":%q,"order_no":%q,"refund_no":"OOB-%d","amount":"0.01"}`, o.Provider, o.Account, o.OrderNo, i)
		resp, err := http.Post(sb.URL()+"/_sandbox/refunds", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("out-of-band refund: %d %s", resp.StatusCode, b)
		}
		oob[fmt.Sprintf("OOB-%d", i)] = true
	}

	// The statement, then the edits.
	resp, err := http.Get(sb.URL() + "/_sandbox/statement")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	changed, removed, duplicated := items[5].RefundNo, items[6].RefundNo, items[7].RefundNo
	var out [][]string
	out = append(out, recs[0])
	for _, rec := range recs[1:] {
		switch rec[col["refund_no"]] {
		case removed:
			continue
		case changed:
			cur := money.Currency(rec[col["currency"]])
			v, err := money.ParseMajor(rec[col["amount"]], cur)
			if err != nil {
				t.Fatal(err)
			}
			rec[col["amount"]] = money.Format(v+1, cur)
		case duplicated:
			dup := append([]string(nil), rec...)
			dup[col["provider_refund_id"]] += "-AGAIN"
			out = append(out, dup)
		}
		out = append(out, rec)
	}
	stmt := writeCSVFixture(t, filepath.Join(dir, "statement.csv"), out)
	var ob bytes.Buffer
	sandbox.WriteOrders(&ob, orders)
	ordersPath := filepath.Join(dir, "orders.csv")
	os.WriteFile(ordersPath, ob.Bytes(), 0o644)

	res, err := Build(ctx, Inputs{Ledger: ledger, Batches: []string{batch.Identity(items)}, Statements: []string{stmt}, Orders: []string{ordersPath}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	matched := 0
	for i := range res.Rows {
		r := &res.Rows[i]
		if r.Category == Matched {
			matched++
			continue
		}
		got = append(got, r.Category.String()+" "+r.RefundNo())
	}
	sort.Strings(got)
	want := []string{"AMOUNT_MISMATCH " + changed, "DUPLICATE " + duplicated, "MISSING_AT_PROVIDER " + removed,
		"UNEXPECTED_AT_PROVIDER OOB-3", "UNEXPECTED_AT_PROVIDER OOB-4"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("exceptions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if matched != len(items)-2 {
		t.Errorf("%d MATCHED rows, want %d", matched, len(items)-2)
	}
	if res.Meta.Operator != "scenario-op" || len(res.Meta.BatchIDs) != 1 || res.Meta.Sources[0].SHA256 == "" {
		t.Errorf("provenance: %+v", res.Meta)
	}
	checkTotals(t, res, true)

	// The same batch through live lookups: the adapters agree with our
	// state on every refund (lookups ask only about ours, so the
	// out-of-band refunds are not seen).
	res, err = Build(ctx, Inputs{Ledger: ledger, Batches: []string{batch.Identity(items)}, Orders: []string{ordersPath}, Now: now,
		Lookup: &Lookup{Provider: func(p, a string) (adapters.Provider, error) { return clients[config.Key(p, a)], nil }, Parallel: 4, PerAccount: 200, Attempts: 8}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Rows {
		if r := &res.Rows[i]; r.Category != Matched {
			t.Errorf("lookup: %s %s %s %s: %s", r.Category, r.Provider(), r.Action(), r.RefundNo(), r.Reason())
		}
	}
	if len(res.Rows) != len(items) {
		t.Errorf("lookup: %d rows, want %d", len(res.Rows), len(items))
	}
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

func writeCSVFixture(t *testing.T, path string, recs [][]string) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(recs)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
