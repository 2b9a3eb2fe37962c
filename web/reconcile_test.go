package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/report"
	"github.com/bulkrefund/bulkrefund/report/history"
)

// nightly records a reconciliation of the ledger against the sandbox's
// statement in the ledger's exception history, as the nightly `reconcile
// --ledger` does, and returns its result.
func nightly(t *testing.T, e *env, batches []string, at time.Time) *report.Result {
	t.Helper()
	ctx := context.Background()
	stmt := filepath.Join(t.TempDir(), "statement.csv")
	f, err := os.Create(stmt)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Sandbox.WriteStatement(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h, err := history.Open(ctx, e.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	res, err := report.Build(ctx, report.Inputs{Ledger: e.Ledger, Batches: batches, Statements: []string{stmt}, History: h,
		Operator: "cron", ToolVersion: "test", Now: at})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestReconcilePage: the latest night and its open exceptions, oldest
// first with their age; an auditor's explanation is recorded (and in the
// audit log); no other role may record one; a note is required.
func TestReconcilePage(t *testing.T) {
	e := newEnv(t, envOptions{})
	carol, alice := e.as("carol"), e.as("alice")
	if body := carol.get("/reconcile").body; !strings.Contains(body, "No nightly reconciliation is recorded") {
		t.Fatal("an empty ledger shows a reconciliation")
	}
	id := runApproved(t, e, sampleXLSX)
	waitSucceeded(t, carol, id, 230)
	// Two refunds done by hand in a provider's dashboard, on two nights:
	// nobody asked for them.
	for i, ord := range []struct{ provider, account, order string }{
		{adapters.QuickPay, "SH001", "2026110100103"}, {adapters.Upay, "100000330000000001", "SQB20261100001"}} {
		if _, err := e.Sandbox.AddOutOfBand(sandbox.OutOfBand{Provider: ord.provider, Account: ord.account, OrderNo: ord.order, Amount: 1}); err != nil {
			t.Fatal(err)
		}
		nightly(t, e, []string{id}, time.Now().Add(time.Duration(i-2)*24*time.Hour))
	}
	page := carol.get("/reconcile").body
	for _, want := range []string{"Latest reconciliation", "UNEXPECTED_AT_PROVIDER", "2 days", "2026110100103", "SQB20261100001", "Explain it"} {
		if !strings.Contains(page, want) {
			t.Errorf("reconcile page lacks %q", want)
		}
	}
	if strings.Index(page, "2026110100103") > strings.Index(page, "SQB20261100001") {
		t.Error("exceptions are not oldest first")
	}
	if strings.Contains(alice.get("/reconcile").body, "Explain it") {
		t.Error("a maker is offered to explain")
	}

	h, _ := history.Open(context.Background(), e.Ledger)
	open, _ := h.List(context.Background(), false)
	if len(open) != 2 {
		t.Fatalf("open exceptions: %d", len(open))
	}
	exc := open[0].ID
	if p := alice.post("/reconcile/explain", url.Values{"exception": {exc}, "note": {"mine"}}); p.status != http.StatusForbidden {
		t.Errorf("a maker explains: %d", p.status)
	}
	if p := carol.post("/reconcile/explain", url.Values{"exception": {exc}, "note": {"  "}}); p.status != http.StatusBadRequest {
		t.Errorf("an empty note: %d", p.status)
	}
	if p := carol.post("/reconcile/explain", url.Values{"exception": {"nope"}, "note": {"x"}}); p.status != http.StatusConflict {
		t.Errorf("an unknown exception: %d", p.status)
	}
	p := carol.post("/reconcile/explain", url.Values{"exception": {exc}, "note": {"门店手工退款 — refunded by hand, ticket FIN-2250"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("explain: %d %s", p.status, p.body)
	}
	page = carol.get("/reconcile").body
	if !strings.Contains(page, "carol, ") || !strings.Contains(page, "门店手工退款 — refunded by hand, ticket FIN-2250") || !strings.Contains(page, "1 of them explained") {
		t.Errorf("the explanation is not shown")
	}
	var explained []string
	e.Ledger.AuditTrail(context.Background(), "", func(a store.Audit) error {
		if a.Action == "explained" {
			explained = append(explained, a.Actor+": "+a.Detail)
		}
		return nil
	})
	if len(explained) != 1 || !strings.HasPrefix(explained[0], "carol: ") || !strings.Contains(explained[0], "FIN-2250") {
		t.Fatalf("audit: %q", explained)
	}
	if audit := carol.get("/audit").body; !strings.Contains(audit, "explained") || !strings.Contains(audit, "FIN-2250") {
		t.Error("the audit log page lacks the explanation")
	}
}
