package report

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
	"github.com/bulkrefund/bulkrefund/money"
)

// TestResultsXLSXRoundTrip: a results workbook, now with number and
// date-time cells, reads back through ReadResults as the same amounts and
// times as its CSV twin, for amounts from a fen to billions of yuan.
func TestResultsXLSXRoundTrip(t *testing.T) {
	ctx := context.Background()
	amounts := []int64{1, 99, 1250, 123456, 9980433, 100000000000, 999999999999999}
	var its []batch.Item
	for i, a := range amounts {
		ref := "R" + string(rune('A'+i))
		its = append(its, batch.Item{Row: i + 2, Refund: adapters.Refund{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "O" + ref,
			RefundNo: ref, Amount: a, Total: a, Currency: money.CNY, Action: adapters.ActionRefund}})
	}
	its = append(its, batch.Item{Row: 20, Refund: adapters.Refund{Provider: adapters.Nomad, Account: "wechat.sh_smk", OrderNo: "J1",
		RefundNo: "J1", Amount: 300, Total: 300, Currency: "JPY", Action: adapters.ActionRefund}})
	_, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), store.Meta{}, its)
	at := time.Date(2026, 11, 20, 23, 59, 59, 999_000_000, time.UTC)
	for i, it := range its {
		if err := st.Apply(ctx, it.Key(), 0, store.Planned, store.EvSend, store.Change{At: at.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(ctx, it.Key(), 1, store.Submitting, store.EvSucceeded, store.Change{
			Outcome: adapters.Outcome{Status: adapters.StatusSucceeded, ProviderRefundID: "P" + it.RefundNo}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"results.csv", "results.xlsx"} {
		if err := results.WriteFile(ctx, filepath.Join(dir, name), st); err != nil {
			t.Fatal(err)
		}
	}
	want, _, err := ReadResults(filepath.Join(dir, "results.csv"), 0, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadResults(filepath.Join(dir, "results.xlsx"), 0, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(its) || len(want) != len(its) {
		t.Fatalf("%d and %d records, want %d", len(got), len(want), len(its))
	}
	for i := range want {
		w, g := want[i].Record(), got[i].Record()
		if w != g || g.Amount != its[i].Amount || !g.FirstAttempt.Equal(at.Add(time.Duration(i)*time.Hour).Truncate(time.Second)) {
			t.Errorf("row %d:\n xlsx %+v\n  csv %+v", i, g, w)
		}
	}
}

// TestResultsXLSXSeventeenDigits: an amount of 17 significant digits is
// stored exactly in results.xlsx (see batch/results), but ReadResults takes
// each cell's formatted text, which excelize renders to Excel's 15
// significant digits: 123456789012345.67 would read as ...346.00. Reading
// number cells by their stored value (excelize.Options{RawCellValue}) is
// what the sheet package's own XLSX reader does.
func TestResultsXLSXSeventeenDigits(t *testing.T) {
	ctx := context.Background()
	it := batch.Item{Row: 2, Refund: adapters.Refund{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "O1", RefundNo: "R1",
		Amount: 12345678901234567, Total: 12345678901234567, Currency: money.CNY, Action: adapters.ActionRefund}}
	_, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), store.Meta{}, []batch.Item{it})
	path := filepath.Join(t.TempDir(), "results.xlsx")
	if err := results.WriteFile(ctx, path, st); err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadResults(path, 0, time.UTC)
	if err != nil || len(got) != 1 || got[0].Amount != it.Amount {
		t.Fatalf("read %v, %v; want %d fen", got, err, it.Amount)
	}
}
