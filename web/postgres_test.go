package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/report/history"
)

// TestOnPostgres: the whole flow on a PostgreSQL ledger — users and
// sessions, upload, submit, self-approval refused, approval, a run settled
// by notifications, rows paged and found, the audit log, the nightly
// reconciliation and an explanation — so that every query of the web and
// the controls is one both engines take.
func TestOnPostgres(t *testing.T) {
	e := newEnv(t, envOptions{controls: approvalAlways, postgres: true})
	if e.Ledger.Dialect().Name != "postgres" {
		t.Fatalf("ledger on %s", e.Ledger.Dialect().Name)
	}
	dan, bob, carol := e.as("dan"), e.as("bob"), e.as("carol")
	id := dan.submitSheet(sampleXLSX)
	if p := dan.post("/batches/"+id+"/approve", nil); p.status != http.StatusForbidden {
		t.Fatalf("self-approval: %d", p.status)
	}
	if p := bob.post("/batches/"+id+"/approve", url.Values{"comment": {"ok"}}); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", p.status, p.body)
	}
	if p := dan.post("/batches/"+id+"/run", nil); p.status != http.StatusSeeOther {
		t.Fatalf("run: %d %s", p.status, p.body)
	}
	dan.waitRun(id, 2*time.Minute)
	waitSucceeded(t, dan, id, 230)
	for path, want := range map[string]string{
		"/batches/" + id + "?page=4":                       "Page 5 of 5",
		"/batches/" + id + "/watch?q=R20261100001-2":       "R20261100001-2",
		"/batches/" + id + "/watch?state=succeeded":        "Next 50",
		"/batches/" + id + "/rows?state=failed&base=watch": "No row matches",
		"/audit?batch=" + id:                               "approved",
	} {
		if p := carol.get(path); p.status != http.StatusOK || !strings.Contains(p.body, want) {
			t.Errorf("%s: %d, lacks %q", path, p.status, want)
		}
	}
	if _, err := e.Sandbox.AddOutOfBand(sandbox.OutOfBand{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "2026110100103", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	nightly(t, e, []string{id}, time.Now())
	h, _ := history.Open(context.Background(), e.Ledger)
	open, _ := h.List(context.Background(), false)
	if len(open) != 1 {
		t.Fatalf("open exceptions: %d", len(open))
	}
	if p := carol.post("/reconcile/explain", url.Values{"exception": {open[0].ID}, "note": {"by hand"}}); p.status != http.StatusSeeOther {
		t.Fatalf("explain: %d %s", p.status, p.body)
	}
	if p := carol.get("/reconcile"); !strings.Contains(p.body, "by hand") || !strings.Contains(p.body, "Latest reconciliation") {
		t.Error("reconcile page on postgres")
	}
}
