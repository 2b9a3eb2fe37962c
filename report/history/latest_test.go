package history_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/report"
)

func TestLatest(t *testing.T) {
	ctx := context.Background()
	_, h := openLedger(t)
	if _, ok, err := h.Latest(ctx); ok || err != nil {
		t.Fatalf("a fresh ledger has a night: %v %v", ok, err)
	}
	first := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	for i, night := range []string{"2026-11-20", "2026-11-21"} {
		n := report.Night{At: first.Add(time.Duration(i) * 24 * time.Hour), Night: night, Operator: "cron", ToolVersion: "v1", Rows: 10 + i,
			Seen: []report.Seen{seen("E1", report.Pending, first, i+1, "R1")}}
		if err := h.Record(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	n, ok, err := h.Latest(ctx)
	if err != nil || !ok || n.Night != "2026-11-21" || n.Rows != 11 || n.Seen != 1 || n.Operator != "cron" || !n.At.Equal(first.Add(24*time.Hour)) {
		t.Fatalf("latest: %+v %v %v", n, ok, err)
	}
}
