package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

// pageAll reads every page of q and returns the rows' refund numbers.
func pageAll(t testing.TB, l *store.SQL, q store.PageQuery) (nos []string, pages int) {
	t.Helper()
	q.After = -1
	for {
		p, err := l.BatchPage(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range p.Rows {
			nos = append(nos, r.RefundNo)
		}
		if p.Next < 0 {
			return nos, pages
		}
		q.After = p.Next
	}
}

// onBoth runs a test on a SQLite ledger and on a PostgreSQL one (engines):
// the page queries are plain SQL both take.
func onBoth(t *testing.T, fn func(t *testing.T, l *store.SQL)) {
	engines(t, func(t *testing.T, o storetest.Opener) { fn(t, o.New(t)) })
}

// planBatch plans items as one batch of l and opens it for a run.
func planBatch(t *testing.T, l *store.SQL, items []batch.Item) store.Store {
	t.Helper()
	if _, err := l.Plan(context.Background(), storetest.Meta(items, "a.csv"), items); err != nil {
		t.Fatal(err)
	}
	st, err := l.Run(context.Background(), storetest.Meta(items, "").BatchID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestBatchPage(t *testing.T) { onBoth(t, testBatchPage) }

func testBatchPage(t *testing.T, l *store.SQL) {
	ctx := context.Background()
	items := storetest.Items(237, 0)
	st := planBatch(t, l, items)
	// A second batch sharing none of the rows must never show up.
	other := storetest.Items(50, 1000)
	if _, err := l.Plan(ctx, storetest.Meta(other, "b.csv"), other); err != nil {
		t.Fatal(err)
	}
	id := storetest.Meta(items, "").BatchID
	for i, it := range items {
		if i%10 == 3 {
			storetest.Leave(t, st, it, store.Failed, adapters.Outcome{Code: "NO"}, "refused")
		}
	}

	nos, pages := pageAll(t, l, store.PageQuery{BatchID: id, Limit: 50})
	if len(nos) != 237 || pages != 5 {
		t.Fatalf("all rows: %d rows in %d pages, want 237 in 5", len(nos), pages)
	}
	for i, no := range nos {
		if no != items[i].RefundNo {
			t.Fatalf("row %d: %s, want %s (sheet order)", i, no, items[i].RefundNo)
		}
	}
	p, err := l.BatchPage(ctx, store.PageQuery{BatchID: id, After: -1, Limit: 3})
	if err != nil || len(p.Rows) != 3 || p.Rows[0].Row != items[0].Row || p.Rows[2].Seq != 2 || p.Next != 2 {
		t.Fatalf("first page of 3: %+v %v", p, err)
	}

	failed, _ := pageAll(t, l, store.PageQuery{BatchID: id, Limit: 7, States: []store.State{store.Failed}})
	if len(failed) != 24 {
		t.Fatalf("failed rows: %d, want 24", len(failed))
	}
	for _, no := range failed {
		var k int
		fmt.Sscanf(no, "R%05d", &k)
		if k%10 != 3 {
			t.Fatalf("failed filter returned %s", no)
		}
	}

	byNo, _ := pageAll(t, l, store.PageQuery{BatchID: id, RefundNo: items[100].RefundNo})
	if len(byNo) != 1 || byNo[0] != items[100].RefundNo {
		t.Fatalf("refund number search: %v", byNo)
	}
	none, _ := pageAll(t, l, store.PageQuery{BatchID: id, RefundNo: other[0].RefundNo})
	if len(none) != 0 {
		t.Fatalf("a refund of another batch was found in this one: %v", none)
	}
	byRow, _ := pageAll(t, l, store.PageQuery{BatchID: id, Row: items[5].Row})
	if len(byRow) != 1 || byRow[0] != items[5].RefundNo {
		t.Fatalf("row search: %v", byRow)
	}
}

func TestSetBatchStatusFrom(t *testing.T) { onBoth(t, testSetBatchStatusFrom) }

func testSetBatchStatusFrom(t *testing.T, l *store.SQL) {
	ctx := context.Background()
	items := storetest.Items(4, 0)
	planBatch(t, l, items)
	id := storetest.Meta(items, "").BatchID
	if err := l.SetBatchStatusFrom(ctx, id, []string{store.BatchPlanned, store.BatchSubmitted}, store.BatchApproved,
		store.Audit{Actor: "bob", Action: "approved"}); err != nil {
		t.Fatal(err)
	}
	err := l.SetBatchStatusFrom(ctx, id, []string{store.BatchPlanned, store.BatchSubmitted}, store.BatchRejected,
		store.Audit{Actor: "carol", Action: "rejected"})
	if !errors.Is(err, store.ErrBatchStatus) || !strings.Contains(err.Error(), "approved") {
		t.Fatalf("second decision: %v, want ErrBatchStatus naming the status", err)
	}
	if err := l.SetBatchStatusFrom(ctx, "nope", []string{store.BatchPlanned}, store.BatchApproved, store.Audit{}); !errors.Is(err, store.ErrNoBatch) {
		t.Fatalf("unknown batch: %v", err)
	}
	m, _ := l.Batch(ctx, id)
	var actions []string
	l.AuditTrail(ctx, id, func(a store.Audit) error { actions = append(actions, a.Actor+":"+a.Action); return nil })
	if m.Status != store.BatchApproved || strings.Join(actions, ",") != "tester:planned,bob:approved" {
		t.Fatalf("status %s, audit %v: the refused move must leave neither", m.Status, actions)
	}
}

func TestAuditPage(t *testing.T) { onBoth(t, testAuditPage) }

func testAuditPage(t *testing.T, l *store.SQL) {
	ctx := context.Background()
	for i := range 25 {
		b := ""
		if i%5 == 0 {
			b = "b1"
		}
		if err := l.AppendAudit(ctx, store.Audit{Actor: "a", Action: fmt.Sprint(i), BatchID: b}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	before := int64(0)
	for {
		es, next, err := l.AuditPage(ctx, store.AuditQuery{Before: before, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, e.Action)
		}
		if next == 0 {
			break
		}
		before = next
	}
	if len(got) != 25 || got[0] != "24" || got[24] != "0" {
		t.Fatalf("audit newest first: %v", got)
	}
	es, next, err := l.AuditPage(ctx, store.AuditQuery{BatchID: "b1"})
	if err != nil || len(es) != 5 || next != 0 || es[0].Action != "20" {
		t.Fatalf("one batch's audit: %v %d %v", es, next, err)
	}
}

// TestBatchPageLarge: every page of a 100,000-row batch, and the searches
// and filters, answer from an index in milliseconds — the last page as fast
// as the first.
func TestBatchPageLarge(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("plans 100,000 rows and times queries: not in -short mode, and not under the race detector")
	}
	ctx := context.Background()
	items := storetest.Items(100_000, 0)
	l, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), storetest.Meta(items, "big.csv"), items)
	id := storetest.Meta(items, "").BatchID
	storetest.Leave(t, st, items[99_000], store.Failed, adapters.Outcome{Code: "NO"}, "refused")
	timed := func(name string, q store.PageQuery, want int) {
		t.Helper()
		start := time.Now()
		p, err := l.BatchPage(ctx, q)
		took := time.Since(start)
		if err != nil || len(p.Rows) != want {
			t.Fatalf("%s: %d rows, %v; want %d", name, len(p.Rows), err, want)
		}
		t.Logf("%-28s %v", name, took)
		if took > 500*time.Millisecond {
			t.Errorf("%s took %v", name, took)
		}
	}
	timed("first page", store.PageQuery{BatchID: id, After: -1}, 50)
	timed("last page", store.PageQuery{BatchID: id, After: 99_949}, 50)
	timed("refund number", store.PageQuery{BatchID: id, After: -1, RefundNo: items[77_777].RefundNo}, 1)
	timed("sheet row", store.PageQuery{BatchID: id, After: -1, Row: items[88_888].Row}, 1)
	timed("failed (one, near the end)", store.PageQuery{BatchID: id, After: -1, States: []store.State{store.Failed}}, 1)
}
