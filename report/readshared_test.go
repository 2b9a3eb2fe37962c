package report

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/results"
	bsheet "github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
	"github.com/bulkrefund/bulkrefund/money"
)

// TestResultsCSVAndXLSXAgree: a results file written by batch/results as
// CSV and as XLSX reads back as the same records, amounts exact.
func TestResultsCSVAndXLSXAgree(t *testing.T) {
	ctx := context.Background()
	items := []batch.Item{
		{Row: 2, Refund: adapters.Refund{Provider: adapters.Upay, Account: "100000330000000001", OrderNo: "O1", ProviderOrderID: "7895000000000001",
			RefundNo: "R1", Amount: 1250, Total: 5000, Currency: money.CNY, Action: adapters.ActionRefund}},
		{Row: 3, Refund: adapters.Refund{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "=HYPERLINK(\"x\")", RefundNo: "@R2",
			Amount: 99, Total: 100, Currency: money.CNY, Action: adapters.ActionRefund}},
		{Row: 4, Refund: adapters.Refund{Provider: adapters.Nomad, Account: "wechat.sh_smk", OrderNo: "N1", RefundNo: "NR1",
			Amount: 300, Total: 300, Currency: "JPY", Action: adapters.ActionRefund}},
	}
	_, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), store.Meta{}, items)
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	if err := st.Apply(ctx, items[0].Key(), 0, store.Planned, store.EvSend, store.Change{At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, items[0].Key(), 1, store.Submitting, store.EvSucceeded, store.Change{Outcome: adapters.Outcome{ProviderRefundID: "PR-1", Code: "REFUND_SUCCESS"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var got [2][]Ours
	for i, name := range []string{"results.csv", "results.xlsx"} {
		path := filepath.Join(dir, name)
		if err := results.WriteFile(ctx, path, st); err != nil {
			t.Fatal(err)
		}
		recs, sum, err := ReadResults(path, 0, nil)
		if err != nil || len(recs) != len(items) || len(sum) != 64 {
			t.Fatalf("%s: %d records, sha256 %q, %v", name, len(recs), sum, err)
		}
		got[i] = recs
	}
	for i := range items {
		c, x := got[0][i].Record(), got[1][i].Record()
		if c != x {
			t.Errorf("row %d:\n csv  %+v\n xlsx %+v", i, c, x)
		}
		if c.Amount != items[i].Amount || c.RefundNo != items[i].RefundNo || c.OrderNo != items[i].OrderNo || c.Row != int32(items[i].Row) {
			t.Errorf("row %d read back as %+v", i, c)
		}
	}
}

// statementXLSX writes a statement workbook whose amount cells are
// number cells holding the given stored values.
func statementXLSX(t *testing.T, amounts ...any) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	rows := [][]any{{"provider", "account", "refund_no", "amount", "status"}}
	for i, a := range amounts {
		rows = append(rows, []any{"quickpay", "SH001", "Q" + string(rune('1'+i)), a, "succeeded"})
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "statement.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStatementAmountsExact: XLSX statement amounts are read from the
// number the cell stores, through the money parser refund sheets use, not
// through a display format. The old reader turned 12.345 into 1235 fen and
// 12.499999999 into 1250; both are errors now, naming row, column, value.
func TestStatementAmountsExact(t *testing.T) {
	rs, _, err := ReadStatement(statementXLSX(t, 12.5, 0.1+0.2, 7.0, 1234.56), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{1250, 30, 700, 123456} {
		if got := rs[i].Record().Amount; got != want {
			t.Errorf("record %d: amount %d, want %d", i, got, want)
		}
	}
	for _, c := range []struct {
		amount any
		value  string
		err    error
	}{
		{12.345, "12.345", money.ErrTooManyDecimals},
		{12.499999999, "12.499999999", money.ErrTooManyDecimals},
		{12.34567891234567, "12.34567891234567", money.ErrAmbiguousFloat},
	} {
		_, _, err := ReadStatement(statementXLSX(t, 1.0, c.amount), 0, nil)
		var ie *InputError
		if !errors.As(err, &ie) || !errors.Is(err, ErrAmount) || !errors.Is(err, c.err) || ie.Row != 3 || ie.Column != "amount" || ie.Value != c.value {
			t.Errorf("%v: %v, want row 3, column amount, value %s, %v", c.amount, err, c.value, c.err)
		}
	}
}

// TestStatementIDsChecked: statement ids are held to the rules of refund
// sheets: a number cell of 16 digits has lost one, a NUL is never an id.
func TestStatementIDsChecked(t *testing.T) {
	f := excelize.NewFile()
	rows := [][]any{
		{"provider", "account", "refund_no", "provider_refund_id", "amount", "status"},
		{"upay", "100000330000000001", "R1", int64(4200001148202111), 1.5, "succeeded"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		f.SetSheetRow("Sheet1", cell, &r)
	}
	path := filepath.Join(t.TempDir(), "s.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	_, _, err := ReadStatement(path, 0, nil)
	var ie *InputError
	if !errors.As(err, &ie) || !errors.Is(err, bsheet.ErrPrecisionLost) || ie.Column != "provider_refund_id" || ie.Row != 2 {
		t.Errorf("16-digit number id: %v", err)
	}
	csv := filepath.Join(t.TempDir(), "s.csv")
	os.WriteFile(csv, []byte("provider,account,refund_no,amount,status\nupay,T1,R\x001,1.00,succeeded\n"), 0o600)
	_, _, err = ReadStatement(csv, 0, nil)
	if !errors.As(err, &ie) || !errors.Is(err, bsheet.ErrControlChar) || ie.Column != "refund_no" || !strings.Contains(err.Error(), `\x00`) {
		t.Errorf("NUL in an id: %v", err)
	}
}

// TestStatementLimits: a statement over a limit is refused with the
// reader's *LimitError, which names the file and the limit.
func TestStatementLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.csv")
	os.WriteFile(path, []byte("provider,account,refund_no,amount,status\nupay,T1,R1,1.00,"+strings.Repeat("x", 40000)+"\n"), 0o600)
	_, _, err := ReadStatement(path, 0, nil)
	var le *bsheet.LimitError
	if !errors.As(err, &le) || le.Limit != "cell length" || !strings.HasPrefix(err.Error(), path+": cell length limit exceeded") {
		t.Errorf("error %v, want the cell length limit", err)
	}
	if _, _, err := ReadStatement("/dev/zero", 0, nil); !errors.As(err, &le) || le.Limit != "regular files only" {
		t.Errorf("/dev/zero: %v", err)
	}
}
