package sandbox_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/report"
)

// The statement and orders files the sandbox writes are read by reconcile
// (package report) to the same records: the file contracts hold both ways.
func TestFilesReadByReport(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	orders := sandbox.GenerateOrders(200, 11, now)
	sb, err := sandbox.New(sandbox.Config{Orders: orders, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cst := time.FixedZone("CST", 8*3600)
	revoked := false
	for i, o := range orders {
		in := sandbox.OutOfBand{Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo, Amount: o.Total / 3}
		if o.Provider == adapters.Upay && !revoked && o.PaidAt.In(cst).Format("20060102") == now.In(cst).Format("20060102") {
			in.Type, revoked = adapters.ActionRevoke, true
		} else if i%4 == 0 {
			in.RefundNo = "R-" + o.OrderNo
		}
		if _, err := sb.AddOutOfBand(in); err != nil {
			t.Fatal(err)
		}
	}
	if !revoked {
		t.Fatal("no Upay order paid today to revoke")
	}
	dir := t.TempDir()
	stmt, ord := filepath.Join(dir, "statement.csv"), filepath.Join(dir, "orders.csv")
	for _, f := range []struct {
		path  string
		write func(*os.File) error
	}{
		{stmt, func(f *os.File) error { return sb.WriteStatement(f) }},
		{ord, func(f *os.File) error { return sandbox.WriteOrders(f, orders) }},
	} {
		fh, err := os.Create(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.write(fh); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	theirs, _, err := report.ReadStatement(stmt, 0, nil)
	if err != nil {
		t.Fatalf("report.ReadStatement: %v", err)
	}
	ledger := sb.Ledger()
	if len(theirs) != len(ledger) {
		t.Fatalf("report read %d refunds, ledger has %d", len(theirs), len(ledger))
	}
	byID := map[string]sandbox.LedgerRefund{}
	for _, l := range ledger {
		byID[l.ProviderRefundID] = l
	}
	for _, th := range theirs {
		l, ok := byID[th.ProviderRefundID()]
		if !ok {
			t.Fatalf("report read a refund the ledger lacks: %+v", th)
		}
		for _, c := range []struct {
			name      string
			got, want any
		}{
			{"provider", th.Provider(), l.Provider}, {"account", th.Account(), l.Account}, {"order_no", th.OrderNo(), l.OrderNo},
			{"provider_order_id", th.ProviderOrderID(), l.ProviderOrderID}, {"refund_no", th.RefundNo(), l.RefundNo},
			{"type", th.Action(), l.Type}, {"amount", th.Amount, l.Amount}, {"currency", th.Currency(), l.Currency},
			{"status", fmt.Sprint(th.Status), string(l.Status)}, {"time", th.Time().UTC(), l.Time.Truncate(time.Second).UTC()},
		} {
			if c.got != c.want {
				t.Errorf("%s: report read %v, ledger has %v (%+v)", c.name, c.got, c.want, l)
			}
		}
	}
	back, _, err := report.ReadOrders(ord, now, nil)
	if err != nil || len(back) != len(orders) {
		t.Fatalf("report.ReadOrders: %d, %v", len(back), err)
	}
	for i := range back {
		if back[i].OrderNo != orders[i].OrderNo || back[i].Total != orders[i].Total || !back[i].PaidAt.Equal(orders[i].PaidAt) || back[i].ProviderOrderID != orders[i].ProviderOrderID {
			t.Fatalf("order %d: %+v vs %+v", i, back[i], orders[i])
		}
	}
}
