package report

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/report/internal/gen"
)

func buildGenerated(tb testing.TB, dir string, orders bool) *Result {
	tb.Helper()
	in := Inputs{Results: []string{filepath.Join(dir, "results.csv")}, Statements: []string{filepath.Join(dir, "statement.csv")}, Now: sampleNow}
	if orders {
		in.Orders = []string{filepath.Join(dir, "orders.csv")}
	}
	res, err := Build(context.Background(), in)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// TestTotalsGenerated reconciles a generated 100,000-order scenario: every
// category gets exactly the rows the generator planted, and every Summary,
// Totals and Net figure equals the sum of its detail rows.
func TestTotalsGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 orders")
	}
	dir := t.TempDir()
	e, err := gen.Write(dir, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	res := buildGenerated(t, dir, true)
	want := map[Category]int{
		Matched: e.Matched, AmountMismatch: e.AmountMismatch, StatusMismatch: e.StatusMismatch, MissingAtProvider: e.Missing,
		UnexpectedAtProvider: e.Unexpected, Duplicate: e.Duplicate, Pending: e.Pending, Failed: e.Failed,
	}
	for c, n := range want {
		if got := res.Count(c); got != n {
			t.Errorf("%s: %d rows, want %d", c, got, n)
		}
	}
	if len(res.Orders) != e.Orders {
		t.Errorf("%d orders in Net by order, want %d", len(res.Orders), e.Orders)
	}
	checkTotals(t, res, true)

	// A period filter keeps the totals consistent with the rows it keeps.
	from := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	res = Reconcile(res.Ours, res.Theirs, nil, Options{From: from, To: from.Add(12 * time.Hour)})
	for i := range res.Rows {
		r := &res.Rows[i]
		if tm := r.Time(); r.Category != Pending && (tm.Before(from) || !tm.Before(from.Add(12*time.Hour))) {
			t.Fatalf("row at %v kept outside the period", tm)
		}
	}
	checkTotals(t, res, false)
}

// BenchmarkReport measures the pipeline on 100,000 generated orders; the
// read-only sub-benchmark is the baseline the others are compared with.
func BenchmarkReport(b *testing.B) {
	dir := b.TempDir()
	if _, err := gen.Write(dir, 100_000); err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	b.Run("read-only", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := ReadResults(filepath.Join(dir, "results.csv"), 0, nil); err != nil {
				b.Fatal(err)
			}
			if _, _, err := ReadStatement(filepath.Join(dir, "statement.csv"), 1, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reconcile", func(b *testing.B) {
		for b.Loop() {
			buildGenerated(b, dir, false)
		}
	})
	b.Run("to-csv", func(b *testing.B) {
		for b.Loop() {
			if err := WriteCSV(out, buildGenerated(b, dir, false)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("to-xlsx", func(b *testing.B) {
		for b.Loop() {
			if err := WriteXLSX(filepath.Join(out, "r.xlsx"), buildGenerated(b, dir, false)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
