package report

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

// TestResultsFileContract checks the results-file contract with the runner's
// side: a real SQLite store with refunds in every state, written by
// batch/results as CSV and as XLSX, reads back as the same records as the
// store itself.
func TestResultsFileContract(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	statePath := filepath.Join(dir, "ledger.db")
	mk := func(row int, p, acct, order, ref string, amt int64, act adapters.Action) batch.Item {
		return batch.Item{Row: row, Refund: adapters.Refund{Provider: p, Account: acct, OrderNo: order, ProviderOrderID: "T" + order,
			RefundNo: ref, Amount: amt, Total: amt * 3, Currency: "CNY", Action: act, PaymentMethod: "alipay"}}
	}
	items := []batch.Item{
		mk(2, "upay", "100000330000000001", "O1", "R1", 1250, adapters.ActionRefund),
		mk(3, "quickpay", "SH001", "O2", "R2", 99, adapters.ActionRefund),
		mk(4, "nomad", "wechat.sh_smk", "O3", "R3", 100000, adapters.ActionRefund),
		mk(5, "payease", "890000593", "20261120-890000593-1", "R4", 1, adapters.ActionRefund),
		mk(6, "upay", "100000330000000002", "O5", "R5", 500, adapters.ActionRevoke),
		mk(7, "quickpay", "SH002", "O6", "R6", 700, adapters.ActionRefund),
	}
	l, st := storetest.NewBatch(t, statePath, store.Meta{Operator: "op", Created: time.Now()}, items)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	outcomes := []struct {
		state store.State
		o     adapters.Outcome
		err   string
	}{
		{store.Succeeded, adapters.Outcome{Status: adapters.StatusSucceeded, Code: "REFUND_SUCCESS", ProviderRefundID: "U1"}, ""},
		{store.Failed, adapters.Outcome{Status: adapters.StatusFailed, Code: "REFUND_AMOUNT_EXCEEDED", Message: "'=1+2, \"quoted\""}, "provider refused"},
		{store.Pending, adapters.Outcome{Status: adapters.StatusPending, Code: "PROCESSING", ProviderRefundID: "N3"}, ""},
		{store.Unknown, adapters.Outcome{}, "timeout after send"},
		{store.Succeeded, adapters.Outcome{Status: adapters.StatusSucceeded, Code: "CANCEL_SUCCESS"}, ""},
	}
	for i, oc := range outcomes {
		key := items[i].Key()
		if err := st.Apply(ctx, key, 0, store.Planned, store.EvSend, store.Change{At: at.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		ev := map[store.State]store.Event{store.Succeeded: store.EvSucceeded, store.Failed: store.EvFailed, store.Pending: store.EvPending, store.Unknown: store.EvUnknown}[oc.state]
		if err := st.Apply(ctx, key, 1, store.Submitting, ev, store.Change{Outcome: oc.o, Reason: oc.err}); err != nil {
			t.Fatal(err)
		}
	}
	// items[5] stays planned.
	for _, name := range []string{"results.csv", "results.xlsx"} {
		if err := results.WriteFile(ctx, filepath.Join(dir, name), st); err != nil {
			t.Fatal(err)
		}
	}
	want, _, err := ReadBatch(ctx, l, batch.Identity(items), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(items) {
		t.Fatalf("store gave %d records", len(want))
	}
	for _, name := range []string{"results.csv", "results.xlsx"} {
		got, _, err := ReadResults(filepath.Join(dir, name), 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", name, len(got), len(want))
		}
		for i := range want {
			w, g := want[i].Record(), got[i].Record()
			// The results format has no total_amount or payment_method column.
			w.Total, w.PaymentMethod = 0, ""
			// Times are written to the second (RFC3339) at least; compare so.
			w.FirstAttempt, w.LastAttempt = w.FirstAttempt.Truncate(time.Second), w.LastAttempt.Truncate(time.Second)
			g.FirstAttempt, g.LastAttempt = g.FirstAttempt.Truncate(time.Second), g.LastAttempt.Truncate(time.Second)
			if w != g {
				t.Errorf("%s row %d:\n got %+v\nwant %+v", name, i, g, w)
			}
		}
	}
}

// TestStatementXLSX reads a statement workbook as a provider's export looks:
// a title row, numeric amount cells, a Chinese header.
func TestStatementXLSX(t *testing.T) {
	f := excelize.NewFile()
	rows := [][]any{
		{"QuickPay 退款对账单 2026-11-20"},
		{"门店编码", "商户订单号", "退款单号", "退款流水号", "退款金额", "退款状态", "退款时间"},
		{"SH001", "Q-O1", "Q1", "QPR1", 12.5, "SUCCESS", "2026-11-20 10:00:01"},
		{"SH001", "Q-O2", "Q2", "QPR2", 7, "REFUNDFAILED", "2026-11-20 10:05:00"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "qp.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	rs, sum, err := ReadStatement(path, 0, time.FixedZone("CST", 8*3600))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || sum == "" {
		t.Fatalf("%d records, sha256 %q", len(rs), sum)
	}
	r := rs[0].Record()
	if r.Provider != "quickpay" || r.RefundNo != "Q1" || r.Amount != 1250 || r.Status != StatusSucceeded || r.Row != 3 ||
		!r.Time.Equal(time.Date(2026, 11, 20, 2, 0, 1, 0, time.UTC)) {
		t.Errorf("first record %+v", r)
	}
	if r := rs[1].Record(); r.Amount != 700 || r.Status != StatusFailed {
		t.Errorf("second record %+v", r)
	}
}
