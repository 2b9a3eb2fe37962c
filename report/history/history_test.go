package history_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/report"
	"github.com/bulkrefund/bulkrefund/report/history"
)

func openLedger(t *testing.T) (*store.SQL, *history.Store) {
	t.Helper()
	l, err := store.OpenSQLite(filepath.Join(t.TempDir(), "ledger.db"), store.SQLiteOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	h, err := history.Open(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	return l, h
}

func seen(id string, c report.Category, first time.Time, nights int, refundNo string) report.Seen {
	return report.Seen{Age: report.Age{ID: id, FirstSeen: first, NightsOpen: nights}, Category: c, Reason: "because",
		Provider: "quickpay", Account: "S", RefundNo: refundNo, RefundKey: "quickpay\x00S\x00\x00" + refundNo}
}

// TestRecordOpenResolve: a night's exceptions open occurrences; the next
// night brings them up to date or clears them with the evidence; an
// explanation is added (never edited) and holds while the category does;
// the ledger's audit trail has it too.
func TestRecordOpenResolve(t *testing.T) {
	ctx := context.Background()
	l, h := openLedger(t)
	d1 := time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	if err := h.Record(ctx, report.Night{At: d1, Night: "2026-11-21", Rows: 10, Seen: []report.Seen{
		seen("quickpay/S/Q1", report.MissingAtProvider, d1, 1, "Q1"),
		seen("quickpay/S/Q2", report.StatusMismatch, d1, 1, "Q2"),
		seen("quickpay/S/Q2B", report.Pending, d1, 1, "Q2"),
	}}); err != nil {
		t.Fatal(err)
	}
	open, err := h.Open(ctx)
	if err != nil || len(open) != 3 {
		t.Fatalf("open %v %v", open, err)
	}
	if o := open[0]; o.ID != "quickpay/S/Q1" || !o.FirstSeen.Equal(d1) || o.NightsOpen != 1 || o.LastNight != "2026-11-21" || o.Resolution != nil {
		t.Errorf("first open: %+v", o)
	}

	// Explanations: by id; by refund number when it names one exception;
	// never when it names two, or none, or without a note or author.
	if _, err := h.Resolve(ctx, "Q2", "n", "alice", d2); !errors.Is(err, history.ErrAmbiguous) || !strings.Contains(err.Error(), "quickpay/S/Q2B") {
		t.Errorf("ambiguous refund number: %v", err)
	}
	if _, err := h.Resolve(ctx, "nope", "n", "alice", d2); !errors.Is(err, history.ErrNoException) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := h.Resolve(ctx, "Q1", " ", "alice", d2); !errors.Is(err, history.ErrEmpty) {
		t.Errorf("no note: %v", err)
	}
	ex, err := h.Resolve(ctx, "Q1", "refunded by cheque, see ticket 42", "alice", d2)
	if err != nil || ex.Exception.ID != "quickpay/S/Q1" || ex.Category != report.MissingAtProvider || ex.By != "alice" {
		t.Fatalf("resolve: %+v %v", ex, err)
	}
	var audit []store.Audit
	l.AuditTrail(ctx, "", func(a store.Audit) error { audit = append(audit, a); return nil })
	if a := audit[len(audit)-1]; a.Action != "explained" || a.Actor != "alice" || a.Key != "quickpay\x00S\x00\x00Q1" || !strings.Contains(a.Detail, "ticket 42") {
		t.Errorf("audit entry %+v", a)
	}

	// Night 2: Q1 seen again (explained, holds), Q2 cleared, Q2B turned
	// into another category.
	if err := h.Record(ctx, report.Night{At: d2, Night: "2026-11-22", Seen: []report.Seen{
		seen("quickpay/S/Q1", report.MissingAtProvider, d1, 2, "Q1"),
		seen("quickpay/S/Q2B", report.StatusMismatch, d1, 2, "Q2"),
	}, Cleared: []report.Cleared{{ID: "quickpay/S/Q2", Category: report.StatusMismatch, At: d2, Now: report.Matched, Evidence: "MATCHED: amount and status agree"}}}); err != nil {
		t.Fatal(err)
	}
	all, err := h.List(ctx, true)
	if err != nil || len(all) != 3 {
		t.Fatalf("list %v %v", all, err)
	}
	byID := map[string]history.Exception{}
	for _, e := range all {
		byID[e.ID] = e
	}
	if e := byID["quickpay/S/Q1"]; !e.Open() || !e.Explained() || e.NightsOpen != 2 || !e.LastSeen.Equal(d2) || !e.FirstSeen.Equal(d1) || e.Resolutions[0].Note != "refunded by cheque, see ticket 42" {
		t.Errorf("Q1 %+v", e)
	}
	if e := byID["quickpay/S/Q2"]; e.Open() || !e.ClearedAt.Equal(d2) || e.ClearedAs != "MATCHED" || e.Evidence != "MATCHED: amount and status agree" {
		t.Errorf("Q2 %+v", e)
	}
	if e := byID["quickpay/S/Q2B"]; e.Category != report.StatusMismatch || e.NightsOpen != 2 {
		t.Errorf("Q2B %+v", e)
	}
	open, _ = h.Open(ctx)
	if len(open) != 2 || open[0].Resolution == nil || open[0].Resolution.By != "alice" {
		t.Errorf("open after night 2: %+v", open)
	}
	// An exception that clears and comes back is a new occurrence.
	if err := h.Record(ctx, report.Night{At: d2.Add(time.Hour), Night: "2026-11-22", Seen: []report.Seen{seen("quickpay/S/Q2", report.MissingAtProvider, d2.Add(time.Hour), 1, "Q2")}}); err != nil {
		t.Fatal(err)
	}
	all, _ = h.List(ctx, true)
	if len(all) != 4 {
		t.Errorf("%d occurrences, want 4", len(all))
	}
}

// TestAuditRules: the history is an audit trail: explanations and nights
// are never edited or deleted, an exception never deleted, its identity
// and first sighting never changed, a cleared one never reopened — by the
// database itself, whatever program writes to it.
func TestAuditRules(t *testing.T) {
	ctx := context.Background()
	l, h := openLedger(t)
	d := time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC)
	h.Record(ctx, report.Night{At: d, Night: "2026-11-21", Seen: []report.Seen{seen("quickpay/S/Q1", report.MissingAtProvider, d, 1, "Q1"), seen("quickpay/S/Q3", report.Pending, d, 1, "Q3")}})
	h.Record(ctx, report.Night{At: d, Night: "2026-11-21", Cleared: []report.Cleared{{ID: "quickpay/S/Q3", At: d, Now: report.Matched, Evidence: "e"}}})
	if _, err := h.Resolve(ctx, "Q1", "explained", "alice", d); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE reconcile_resolutions SET note = 'other'`,
		`DELETE FROM reconcile_resolutions`,
		`UPDATE reconcile_nights SET operator = 'x'`,
		`DELETE FROM reconcile_nights`,
		`DELETE FROM reconcile_exceptions`,
		`UPDATE reconcile_exceptions SET first_seen = '2000-01-01T00:00:00.000000000Z' WHERE exc_id = 'quickpay/S/Q1'`,
		`UPDATE reconcile_exceptions SET exc_id = 'other' WHERE exc_id = 'quickpay/S/Q1'`,
		`UPDATE reconcile_exceptions SET cleared_at = '' WHERE exc_id = 'quickpay/S/Q3'`,
	} {
		if _, err := l.DB().ExecContext(ctx, q); err == nil {
			t.Errorf("%s: allowed", q)
		}
	}
	all, _ := h.List(ctx, true)
	if len(all) != 2 || len(all[0].Resolutions) != 1 || all[0].Resolutions[0].Note != "explained" {
		t.Errorf("history changed: %+v", all)
	}
}
