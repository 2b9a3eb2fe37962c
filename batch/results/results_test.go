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
	"github.com/bulkrefund/bulkrefund/money"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fixture(t *testing.T) store.Store {
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
	_, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), store.Meta{}, its)
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
