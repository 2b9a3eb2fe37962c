package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	sheetreader "github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

// TestBundledSample runs the repository's sample (samples/refunds.csv
// against samples/orders.csv, the README's first command) through the real
// sheet reader, runner and sandbox, and reconciles it against the sandbox's
// statement and the orders ledger: nothing is an exception, and every
// Summary, Totals and Net figure adds up to the detail rows.
func TestBundledSample(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sample against the sandbox")
	}
	ctx := context.Background()
	root := filepath.Join("..", "samples")
	now := time.Now()
	var items []batch.Item
	if _, err := sheetreader.Validate(filepath.Join(root, "refunds.csv"), sheetreader.Options{},
		func(it batch.Item) error { items = append(items, it); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	orders, err := sandbox.LoadOrders(filepath.Join(root, "orders.csv"), now)
	if err != nil {
		t.Fatal(err)
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
	dir := t.TempDir()
	ledger, st := storetest.NewBatch(t, filepath.Join(dir, "ledger.db"), store.Meta{Created: now}, items)
	r := &runner.Runner{Store: st, Route: func(p, a string) (runner.Target, bool) {
		c, ok := clients[config.Key(p, a)]
		return runner.Target{Provider: c}, ok
	}, Options: runner.Options{Parallel: 8, Poll: 15 * time.Second, PollInterval: 20 * time.Millisecond}}
	sum, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	var stmt bytes.Buffer
	if err := sb.WriteStatement(&stmt); err != nil {
		t.Fatal(err)
	}
	stmtPath := filepath.Join(dir, "statement.csv")
	os.WriteFile(stmtPath, stmt.Bytes(), 0o644)

	res, err := Build(ctx, Inputs{Ledger: ledger, Batches: []string{batch.Identity(items)}, Statements: []string{stmtPath},
		Orders: []string{filepath.Join(root, "orders.csv")}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(items) {
		t.Errorf("%d rows for %d refunds", len(res.Rows), len(items))
	}
	// The sample is valid and within every order's total: whatever the
	// sandbox refused, both sides must agree on it.
	for i := range res.Rows {
		if r := &res.Rows[i]; r.Category.Exception() {
			t.Errorf("row %d %s: %s: %s", r.O.Row, r.RefundNo(), r.Category, r.Reason())
		}
	}
	if res.Count(Matched)+res.Count(Failed) != len(items) || sum.States[store.Succeeded] != res.Count(Matched) {
		t.Errorf("run %v, report MATCHED %d FAILED %d", sum.States, res.Count(Matched), res.Count(Failed))
	}
	checkTotals(t, res, true)
	for _, o := range res.Orders {
		if o.TotalFrom != "orders" || o.OverRefund {
			t.Errorf("order %s: total from %q, over-refund %v", o.OrderNo, o.TotalFrom, o.OverRefund)
		}
	}
}
