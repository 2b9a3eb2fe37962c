package results_test

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
	"github.com/bulkrefund/bulkrefund/internal/excel"
	"github.com/bulkrefund/bulkrefund/money"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fixture(t *testing.T, extra ...batch.Item) store.Store {
	t.Helper()
	ctx := context.Background()
	its := []batch.Item{
		{Row: 3, Refund: adapters.Refund{Provider: adapters.Upay, Account: "100000330000000001", OrderNo: "ORDER-1", ProviderOrderID: "7895000000000001",
			RefundNo: "R1", Amount: 1250, Total: 5000, Currency: money.CNY, Action: adapters.ActionRefund}},
		{Row: 4, Refund: adapters.Refund{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "=HYPERLINK(\"x\")", RefundNo: "@R2",
			Amount: 5, Total: 100, Currency: money.CNY, Action: adapters.ActionRefund}},
		{Row: 5, Refund: adapters.Refund{Provider: adapters.Nomad, Account: "wechat.sh_smk", OrderNo: "N1", RefundNo: "NR1",
			Amount: 300, Total: 300, Currency: "JPY", Action: adapters.ActionRefund}},
		{Row: 6, Refund: adapters.Refund{Provider: adapters.Upay, Account: "100000330000000002", OrderNo: "ORDER-9",
			Amount: 999, Total: 999, Currency: money.CNY, Action: adapters.ActionRevoke}},
	}
	_, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), store.Meta{}, append(its, extra...))
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	must := func(key string, ver int64, from store.State, ev store.Event, c store.Change) {
		if err := st.Apply(ctx, key, ver, from, ev, c); err != nil {
			t.Fatal(err)
		}
	}
	must(its[0].Key(), 0, store.Planned, store.EvSend, store.Change{At: t0})
	must(its[0].Key(), 1, store.Submitting, store.EvSucceeded, store.Change{Outcome: adapters.Outcome{ProviderRefundID: "PR-1", Code: "REFUND_SUCCESS", Message: "ok, 好"}})
	must(its[1].Key(), 0, store.Planned, store.EvSend, store.Change{At: t0})
	must(its[1].Key(), 1, store.Submitting, store.EvUnknown, store.Change{})
	must(its[1].Key(), 2, store.Unknown, store.EvSend, store.Change{At: t0.Add(3 * time.Second)})
	must(its[1].Key(), 3, store.Submitting, store.EvFailed, store.Change{Outcome: adapters.Outcome{Code: "FAILED", Message: "-bad, \"quoted\""}, Reason: "quickpay refund: final FAILED"})
	must(its[2].Key(), 0, store.Planned, store.EvSend, store.Change{At: t0})
	must(its[2].Key(), 1, store.Submitting, store.EvUnknown, store.Change{Reason: "gave up after 8 attempts in this run; last: timeout"})
	return st
}

func TestCSVGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	if err := results.WriteFile(context.Background(), path, fixture(t)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "results.golden.csv")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("CSV differs from %s:\n%s\nwant:\n%s", golden, got, want)
	}
}

func TestXLSXReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.xlsx")
	if err := results.WriteFile(context.Background(), path, fixture(t)); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Results")
	if err != nil {
		t.Fatal(err)
	}
	// The XLSX holds the same cells as the CSV.
	cf, _ := os.Open(filepath.Join("testdata", "results.golden.csv"))
	defer cf.Close()
	want, err := csv.NewReader(cf).ReadAll()
	want[0][0] = strings.TrimPrefix(want[0][0], "\uFEFF")
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows { // GetRows drops trailing empty cells
		for len(rows[i]) < len(results.Header) {
			rows[i] = append(rows[i], "")
		}
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("XLSX rows\n%q\nwant\n%q", rows, want)
	}
	panes, err := f.GetPanes("Results")
	if err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("header not frozen: %+v %v", panes, err)
	}
	// No cell is a formula.
	for r := 1; r <= len(rows); r++ {
		for c := 1; c <= len(results.Header); c++ {
			name, _ := excelize.CoordinatesToCellName(c, r)
			if fm, _ := f.GetCellFormula("Results", name); fm != "" {
				t.Errorf("%s is a formula: %q", name, fm)
			}
		}
	}
}

func TestBadExtension(t *testing.T) {
	err := results.WriteFile(context.Background(), filepath.Join(t.TempDir(), "out.txt"), fixture(t))
	if !errors.Is(err, results.ErrFormat) {
		t.Errorf("err %v, want ErrFormat", err)
	}
}

func TestGuard(t *testing.T) {
	for in, want := range map[string]string{"": "", "=1+1": "'=1+1", "+86": "'+86", "-5": "'-5", "@SUM": "'@SUM", "\tx": "'\tx",
		"ok": "ok", "a=b": "a=b", "'": "'", "'ok": "'ok", "'=x": "''=x", "''-1": "'''-1"} {
		if got := results.Guard(in); got != want {
			t.Errorf("Guard(%q) = %q, want %q", in, got, want)
		}
		if back := results.Unguard(want); back != in {
			t.Errorf("Unguard(%q) = %q, want %q", want, back, in)
		}
	}
}

func FuzzGuardRoundTrip(f *testing.F) {
	for _, s := range []string{"", "=", "'=", "''+1", "ok", "'", "-5", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g := results.Guard(s)
		if results.Unguard(g) != s {
			t.Errorf("Unguard(Guard(%q)) = %q", s, results.Unguard(g))
		}
		if g != "" && strings.ContainsRune("=+-@\t\r", rune(g[0])) {
			t.Errorf("Guard(%q) = %q still starts with a formula character", s, g)
		}
	})
}

// TestXLSXCells reads the workbook's cells as Excel keeps them: the amount
// a number cell holding the exact decimal (also past float64's digits), the
// attempt times date-time cells, row and attempts numbers.
func TestXLSXCells(t *testing.T) {
	ctx := context.Background()
	big := batch.Item{Row: 7, Refund: adapters.Refund{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "BIG", RefundNo: "BIG-1",
		Amount: 12345678901234567, Total: 12345678901234567, Currency: money.CNY, Action: adapters.ActionRefund}}
	st := fixture(t, big)
	path := filepath.Join(t.TempDir(), "out.xlsx")
	if err := results.WriteFile(ctx, path, st); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	isNumber := func(ref string) bool {
		typ, _ := f.GetCellType("Results", ref)
		return typ == excelize.CellTypeUnset || typ == excelize.CellTypeNumber
	}
	for ref, want := range map[string]string{"H2": "12.50", "H3": "0.05", "H4": "300", "H5": "9.99", "H6": "123456789012345.67",
		"A2": "3", "N3": "2"} {
		raw, _ := f.GetCellValue("Results", ref, excelize.Options{RawCellValue: true})
		if raw != want || !isNumber(ref) {
			t.Errorf("%s: stored %q, number %v; want the number %s", ref, raw, isNumber(ref), want)
		}
	}
	// Shown as the CSV shows them: no thousands separators, so a reader of
	// formatted text gets the exact decimal back.
	if v, _ := f.GetCellValue("Results", "H2"); v != "12.50" {
		t.Errorf("H2 shows %q", v)
	}
	for _, ref := range []string{"O2", "P3"} {
		shown, _ := f.GetCellValue("Results", ref)
		raw, _ := f.GetCellValue("Results", ref, excelize.Options{RawCellValue: true})
		if !strings.HasPrefix(shown, "2026-11-21T10:00:0") || !strings.HasSuffix(shown, "Z") || !isNumber(ref) || strings.Contains(raw, "T") {
			t.Errorf("%s: shows %q, stored %q: want a date-time cell", ref, shown, raw)
		}
	}
}

func items(t *testing.T, st store.Store) []batch.Item {
	t.Helper()
	var its []batch.Item
	st.Each(context.Background(), func(r store.Record) error {
		its = append(its, batch.Item{Row: r.Row, Refund: adapters.Refund{Provider: r.Provider, Account: r.Account, OrderNo: r.OrderNo,
			ProviderOrderID: r.ProviderOrderID, RefundNo: r.RefundNo, Amount: r.Amount, Total: r.Total, Currency: r.Currency, Action: r.Action}})
		return nil
	})
	return its
}

// TestXLSXPrint: the results print landscape at 80 % over pages across,
// the header row and the row column repeated on each, with the sheet's
// source and batch at the top of every page and "Page X of Y" at the foot.
func TestXLSXPrint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.xlsx")
	if err := results.WriteFile(context.Background(), path, fixture(t), results.Options{Paper: excel.Letter}); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, _ := f.GetPageLayout("Results")
	if *l.Orientation != "landscape" || *l.Size != 1 || *l.AdjustTo != 80 {
		t.Errorf("layout: %v, paper %v, scale %v", *l.Orientation, *l.Size, *l.AdjustTo)
	}
	var titles string
	for _, n := range f.GetDefinedName() {
		if n.Name == "_xlnm.Print_Titles" && n.Scope == "Results" {
			titles = n.RefersTo
		}
	}
	if titles != "'Results'!$A:$A,'Results'!$1:$1" {
		t.Errorf("print titles %q", titles)
	}
	hf, _ := f.GetHeaderFooter("Results")
	if hf == nil || !strings.Contains(hf.OddHeader, "Refund results") || !strings.Contains(hf.OddFooter, "Page &P of &N") {
		t.Errorf("header/footer %+v", hf)
	}
}

// TestCSVByteOrderMark: the CSV starts with the UTF-8 byte-order mark,
// unless NoBOM.
func TestCSVByteOrderMark(t *testing.T) {
	for _, noBOM := range []bool{false, true} {
		var b strings.Builder
		if err := results.WriteCSV(context.Background(), &b, fixture(t), results.Options{NoBOM: noBOM}); err != nil {
			t.Fatal(err)
		}
		if got := strings.HasPrefix(b.String(), "\uFEFFrow,provider,"); got == noBOM || !strings.Contains(b.String(), "row,provider,") {
			t.Errorf("NoBOM %v: starts %q", noBOM, b.String()[:12])
		}
	}
}
