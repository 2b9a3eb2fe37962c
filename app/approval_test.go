package app_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

func ledger(t *testing.T) *store.SQL {
	t.Helper()
	l, err := app.OpenLedger(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func planned(items []batch.Item) *app.Planned {
	return &app.Planned{Items: items, Meta: store.Meta{BatchID: batch.Identity(items), SourcePath: "sheet.csv", SourceSHA256: "abc",
		ToolVersion: "test", Created: time.Now().UTC(), Items: len(items), Operator: "os-user"}}
}

func always() *app.Controls { return &app.Controls{Approval: app.ApprovalRule{Always: true}} }

func TestMakerChecker(t *testing.T) {
	ctx := context.Background()
	l := ledger(t)
	items := storetest.Items(12, 0)
	p := planned(items)
	id := p.Meta.BatchID
	totals := app.CurrencyTotals(items)

	if _, err := app.MayRun(ctx, l, id, totals, always()); !errors.Is(err, app.ErrNeedsApproval) {
		t.Fatalf("a batch not in the ledger: %v", err)
	}
	res, err := app.Submit(ctx, l, p, "alice", always())
	if err != nil || res.Meta.Status != store.BatchSubmitted {
		t.Fatalf("submit: %+v %v", res, err)
	}
	if _, err := app.MayRun(ctx, l, id, totals, always()); !errors.Is(err, app.ErrNeedsApproval) {
		t.Fatalf("submitted, not approved: %v", err)
	}
	if _, err := app.MayRun(ctx, l, id, totals, &app.Controls{}); err != nil {
		t.Fatalf("no approval needed by the controls: %v", err)
	}
	if err := app.Approve(ctx, l, id, "alice", "looks fine", always()); !errors.Is(err, app.ErrSelfApproval) {
		t.Fatalf("self-approval: %v", err)
	}
	if err := app.Approve(ctx, l, id, " ALICE ", "", always()); !errors.Is(err, app.ErrSelfApproval) {
		t.Fatalf("self-approval, other case and spaces: %v", err)
	}
	if err := app.Reject(ctx, l, id, "bob", "  "); !errors.Is(err, app.ErrCommentRequired) {
		t.Fatalf("reject without comment: %v", err)
	}
	if err := app.Approve(ctx, l, id, "bob", "checked against\nthe tickets", always()); err != nil {
		t.Fatal(err)
	}
	d, err := app.MayRun(ctx, l, id, totals, always())
	if err != nil || d == nil || d.Actor != "bob" || d.Hash != id || d.Comment != "checked against the tickets" {
		t.Fatalf("approved: %+v %v", d, err)
	}
	if err := app.Reject(ctx, l, id, "carol", "too late"); !errors.Is(err, app.ErrDecided) {
		t.Fatalf("reject after approval: %v", err)
	}
	m, _ := l.Batch(ctx, id)
	if m.Status != store.BatchApproved {
		t.Fatalf("status %s", m.Status)
	}

	// Any change to the rows is another batch, with no approval.
	changed := append([]batch.Item(nil), items...)
	changed[3].Amount++
	cp := planned(changed)
	if cp.Meta.BatchID == id {
		t.Fatal("a changed amount kept the batch id")
	}
	if _, err := app.MayRun(ctx, l, cp.Meta.BatchID, app.CurrencyTotals(changed), always()); !errors.Is(err, app.ErrNeedsApproval) {
		t.Fatalf("changed batch: %v", err)
	}
	changed[3].Amount--
	changed[5].Reason = "another remark"
	if planned(changed).Meta.BatchID == id {
		t.Fatal("a changed remark kept the batch id")
	}

	// The trail holds every decision with who, when and the comment.
	var got []string
	l.AuditTrail(ctx, id, func(a store.Audit) error {
		got = append(got, a.Actor+" "+a.Action+" "+a.Detail)
		return nil
	})
	trail := strings.Join(got, "\n")
	for _, want := range []string{"alice submitted content sha256 " + id, "bob approved content sha256 " + id + "; comment: checked against the tickets"} {
		if !strings.Contains(trail, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, trail)
		}
	}
}

func TestRejectedNeverRuns(t *testing.T) {
	ctx := context.Background()
	l := ledger(t)
	items := storetest.Items(3, 0)
	p := planned(items)
	if _, err := app.Submit(ctx, l, p, "alice", nil); err != nil {
		t.Fatal(err)
	}
	if err := app.Reject(ctx, l, p.Meta.BatchID, "bob", "wrong month"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*app.Controls{nil, always()} {
		if _, err := app.MayRun(ctx, l, p.Meta.BatchID, app.CurrencyTotals(items), c); !errors.Is(err, app.ErrRejected) || !strings.Contains(err.Error(), "wrong month") {
			t.Fatalf("rejected batch: %v", err)
		}
	}
	if err := app.Approve(ctx, l, p.Meta.BatchID, "carol", "", always()); !errors.Is(err, app.ErrDecided) {
		t.Fatalf("approve after rejection: %v", err)
	}
	if _, err := app.Submit(ctx, l, p, "alice", nil); !errors.Is(err, app.ErrDecided) {
		t.Fatalf("submitting the rejected rows again: %v", err)
	}
}

func TestSubmitOverLimitRecordsNothing(t *testing.T) {
	ctx := context.Background()
	l := ledger(t)
	items := storetest.Items(3, 0)
	c, _ := app.ParseControls([]byte(`{"limits": {"max_rows": 2}}`), "p.json")
	if _, err := app.Submit(ctx, l, planned(items), "alice", c); !errors.Is(err, app.ErrOverLimit) {
		t.Fatalf("over limit: %v", err)
	}
	if bs, _ := l.Batches(ctx); len(bs) != 0 {
		t.Fatalf("a refused batch was recorded: %+v", bs)
	}
	// Limits lowered after submission: the checker cannot approve it.
	if _, err := app.Submit(ctx, l, planned(items), "alice", nil); err != nil {
		t.Fatal(err)
	}
	if err := app.Approve(ctx, l, planned(items).Meta.BatchID, "bob", "", c); !errors.Is(err, app.ErrOverLimit) {
		t.Fatalf("approving an over-limit batch: %v", err)
	}
}

func TestConcurrentDecisionsOneWins(t *testing.T) {
	ctx := context.Background()
	l := ledger(t)
	items := storetest.Items(3, 0)
	p := planned(items)
	if _, err := app.Submit(ctx, l, p, "alice", nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = app.Approve(ctx, l, p.Meta.BatchID, "bob", "", nil)
			} else {
				errs[i] = app.Reject(ctx, l, p.Meta.BatchID, "carol", "no")
			}
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	st, _ := app.Approvals(ctx, l, p.Meta.BatchID)
	decisions := 0
	for _, d := range st.History {
		if d.Action != app.ActionSubmitted {
			decisions++
		}
	}
	if ok != 1 || decisions != 1 {
		t.Fatalf("%d decisions succeeded, %d recorded; want exactly one: %v", ok, decisions, errs)
	}
}
