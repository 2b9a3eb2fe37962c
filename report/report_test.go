package report

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/money"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var sampleNow = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

func buildSample(t *testing.T, opt Options) *Result {
	t.Helper()
	dir := filepath.Join("testdata", "sample")
	res, err := Build(context.Background(), Inputs{
		Results:     []string{filepath.Join(dir, "results.csv")},
		Statements:  []string{filepath.Join(dir, "statement.csv")},
		Orders:      []string{filepath.Join(dir, "orders.csv")},
		Options:     opt,
		Operator:    "auditor-test",
		ToolVersion: "test",
		Now:         sampleNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSampleCategories pins every row of the sample to its category: each
// refund number of the fixture was written to land in one known category.
func TestSampleCategories(t *testing.T) {
	res := buildSample(t, Options{})
	want := map[string]string{
		"R1": "MATCHED", "R2": "AMOUNT_MISMATCH", "Q1": "STATUS_MISMATCH", "Q2": "MISSING_AT_PROVIDER",
		"Q9": "UNEXPECTED_AT_PROVIDER", "N1": "MATCHED", "N1/N-RF-1B": "DUPLICATE", "N2": "PENDING",
		"P1": "FAILED", "P2": "FAILED", "revoke U-O3": "MATCHED", "R4": "STATUS_MISMATCH", "R5": "PENDING",
		"R6": "MATCHED", "R7": "DUPLICATE", "P3": "AMOUNT_MISMATCH", "Q8": "UNEXPECTED_AT_PROVIDER", "Q5": "MATCHED",
	}
	got := map[string]string{}
	for i := range res.Rows {
		r := &res.Rows[i]
		k := r.RefundNo()
		if r.Action() == "revoke" {
			k = "revoke " + r.OrderNo()
		}
		if r.O == nil && r.Category == Duplicate {
			k += "/" + r.T.ProviderRefundID()
		}
		if _, dup := got[k]; dup {
			t.Errorf("two rows for %s", k)
		}
		got[k] = r.Category.String()
		if r.Category != Matched && r.Reason() == "" {
			t.Errorf("%s: %s row without a reason", k, r.Category)
		}
		if r.Category != Matched && r.Todo() == "" {
			t.Errorf("%s: %s row without what to do", k, r.Category)
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: category %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d: %v", len(got), len(want), got)
	}
	if res.Clean() {
		t.Error("Clean() = true with exceptions present")
	}
}

func TestGoldenCSV(t *testing.T) {
	res := buildSample(t, Options{})
	dir := t.TempDir()
	if err := WriteCSV(dir, res); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	if len(files) != 12 {
		t.Fatalf("%d CSV files, want 12", len(files))
	}
	for _, f := range files {
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "sample."+strings.TrimSuffix(filepath.Base(f), ".csv")+".golden")
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update once)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s:\n%s", filepath.Base(f), golden, firstDiff(string(got), string(want)))
		}
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

// TestDeterministic: the same inputs, given in another order, give the same
// rows in the same order.
func TestDeterministic(t *testing.T) {
	a := buildSample(t, Options{})
	ours := append([]Ours(nil), a.Ours...)
	theirs := append([]Theirs(nil), a.Theirs...)
	for i, j := 0, len(ours)-1; i < j; i, j = i+1, j-1 {
		ours[i], ours[j] = ours[j], ours[i]
	}
	for i, j := 0, len(theirs)-1; i < j; i, j = i+1, j-1 {
		theirs[i], theirs[j] = theirs[j], theirs[i]
	}
	b := Reconcile(ours, theirs, nil, Options{})
	a2 := Reconcile(a.Ours, a.Theirs, nil, Options{})
	if len(a2.Rows) != len(b.Rows) {
		t.Fatalf("%d rows vs %d", len(a2.Rows), len(b.Rows))
	}
	for i := range b.Rows {
		x, y := &a2.Rows[i], &b.Rows[i]
		if x.RefundNo() != y.RefundNo() || x.Category != y.Category || x.ProviderRefundID() != y.ProviderRefundID() {
			t.Errorf("row %d: %s %s %s vs %s %s %s", i, x.RefundNo(), x.Category, x.ProviderRefundID(), y.RefundNo(), y.Category, y.ProviderRefundID())
		}
	}
}

func TestTotalsSample(t *testing.T) {
	res := buildSample(t, Options{})
	checkTotals(t, res, true)
	// Net by order of the sample, by hand: U-O4 total 100.00, two 60.00 refunds.
	for _, o := range res.Orders {
		if o.OrderNo == "U-O4" {
			if o.Total != 10000 || o.RefundedProvider != 12000 || o.Net != -2000 || !o.OverRefund || o.TotalFrom != "orders" {
				t.Errorf("U-O4 net: %+v", o)
			}
		}
		if o.OrderNo == "U-O1" && (o.Total != 20000 || o.RefundedProvider != 14000 || o.RefundedOurs != 15000 || o.Net != 6000 || o.OverRefund) {
			t.Errorf("U-O1 net: %+v", o)
		}
	}
}

// checkTotals recomputes every Summary, Totals and Net figure from the
// detail rows, independently of summarize and netOrders.
func checkTotals(t *testing.T, res *Result, unfiltered bool) {
	t.Helper()
	type ck struct {
		c   Category
		cur money.Currency
	}
	type sums struct{ rows, our, prov, provRef int64 }
	cats := map[ck]*sums{}
	get := func(k ck) *sums {
		if cats[k] == nil {
			cats[k] = &sums{}
		}
		return cats[k]
	}
	type tk struct {
		p, a string
		cur  money.Currency
		day  string
	}
	type tsums struct{ rows, exc, our, ourRef, provRef int64 }
	tots := map[tk]*tsums{}
	gett := func(k tk) *tsums {
		if tots[k] == nil {
			tots[k] = &tsums{}
		}
		return tots[k]
	}
	type ok struct {
		p, a, o string
		cur     money.Currency
	}
	orders := map[ok][3]int64{}
	loc := res.Options.Location
	for i := range res.Rows {
		r := &res.Rows[i]
		get(ck{r.Category, r.Currency()}).rows++
		day := ""
		if tm := r.Time(); !tm.IsZero() {
			day = tm.In(loc).Format(time.DateOnly)
		}
		tt := gett(tk{r.Provider(), r.Account(), r.Currency(), day})
		tt.rows++
		if r.Category.Exception() {
			tt.exc++
		}
		if r.O != nil {
			get(ck{r.Category, r.O.Currency()}).our += r.O.Amount
			tt.our += r.O.Amount
			if r.O.State == StateSucceeded {
				tt.ourRef += r.O.Amount
			}
		}
		if v, known := r.ProviderAmount(); known {
			s := get(ck{r.Category, r.ProviderCurrency()})
			s.prov += v
			tp := gett(tk{r.Provider(), r.Account(), r.ProviderCurrency(), day})
			if r.ProviderStatus() == StatusSucceeded {
				s.provRef += v
				tp.provRef += v
			}
		}
		// Net by order: each side's refunded amount on the line of its own
		// currency; a row counts on the line of its currency.
		k := ok{r.Provider(), r.Account(), r.OrderNo(), r.Currency()}
		v := orders[k]
		v[2]++
		orders[k] = v
		if r.O != nil {
			k := ok{r.Provider(), r.Account(), r.OrderNo(), r.O.Currency()}
			v := orders[k]
			v[1] += r.OurRefunded()
			orders[k] = v
		}
		if r.T != nil {
			k := ok{r.Provider(), r.Account(), r.OrderNo(), r.ProviderCurrency()}
			v := orders[k]
			v[0] += r.ProviderRefunded()
			orders[k] = v
		}
	}
	var n int
	for _, s := range res.Summary {
		want := get(ck{s.Category, s.Currency})
		if int64(s.Rows) != want.rows || s.OurAmount != want.our || s.ProviderAmount != want.prov || s.ProviderRefunded != want.provRef {
			t.Errorf("summary %s %s: %+v, detail rows give %+v", s.Category, s.Currency, s, *want)
		}
		n += s.Rows
	}
	if n != len(res.Rows) {
		t.Errorf("summary counts %d rows, report has %d", n, len(res.Rows))
	}
	n = 0
	for _, s := range res.Totals {
		want := gett(tk{s.Provider, s.Account, s.Currency, s.Day})
		if int64(s.Rows) != want.rows || int64(s.Exceptions) != want.exc || s.OurAmount != want.our || s.OurRefunded != want.ourRef || s.ProviderRefunded != want.provRef {
			t.Errorf("totals %s %s %s %s: %+v, detail rows give %+v", s.Provider, s.Account, s.Currency, s.Day, s, *want)
		}
		n += s.Rows
	}
	if n != len(res.Rows) {
		t.Errorf("totals count %d rows, report has %d", n, len(res.Rows))
	}
	seen := 0
	for _, o := range res.Orders {
		if o.TotalFrom != "" && o.Net != o.Total-o.RefundedProvider {
			t.Errorf("order %s: net %d != total %d - refunded %d", o.OrderNo, o.Net, o.Total, o.RefundedProvider)
		}
		if o.TotalFrom != "" && o.OverRefund != (o.RefundedProvider > o.Total || o.RefundedOurs > o.Total) {
			t.Errorf("order %s: over-refund flag %v with total %d, refunded %d/%d", o.OrderNo, o.OverRefund, o.Total, o.RefundedProvider, o.RefundedOurs)
		}
		if unfiltered {
			v, found := orders[ok{o.Provider, o.Account, o.OrderNo, o.Currency}]
			if !found || v[0] != o.RefundedProvider || v[1] != o.RefundedOurs || v[2] != int64(o.Refunds) {
				t.Errorf("order %s %s: refunded %d/%d in %d rows, detail rows give %v", o.OrderNo, o.Currency, o.RefundedProvider, o.RefundedOurs, o.Refunds, v)
			}
			if o.CurrencyDiffers != (o.Currency != o.OrderCurrency) || o.CurrencyDiffers && (o.TotalFrom != "" || o.OverRefund) {
				t.Errorf("order %s %s: a line in another currency than the order's (%s) must be flagged and have no total: %+v", o.OrderNo, o.Currency, o.OrderCurrency, o)
			}

			seen++
		}
	}
	if unfiltered && seen != len(orders) {
		t.Errorf("%d orders in Net by order, detail rows have %d", seen, len(orders))
	}
}

func TestReadErrors(t *testing.T) {
	cases := []struct {
		name, file, content string
		row                 int
		column              string
		err                 error
	}{
		{"amount decimals", "s.csv", "provider,account,refund_no,amount,currency,status\nupay,T1,R1,12.345,CNY,succeeded\n", 2, "amount", ErrAmount},
		{"amount text", "s.csv", "provider,account,refund_no,amount,currency,status\nupay,T1,R1,12,CNY,succeeded\nupay,T1,R2,abc,CNY,succeeded\n", 3, "amount", ErrAmount},
		{"bad status", "s.csv", "provider,account,refund_no,amount,status\nupay,T1,R1,1.00,maybe\n", 2, "status", ErrBadValue},
		{"bad currency", "s.csv", "provider,account,refund_no,Amount,币种,status\nupay,T1,R1,1.00,CYN,succeeded\n", 2, "币种", ErrBadValue},
		{"precision lost", "s.csv", "provider,account,refund_no,sn,amount,status\nupay,T1,R1,7.89500000000001E+15,1.00,succeeded\n", 2, "sn", ErrBadValue},
		{"missing column", "s.csv", "provider,account,refund_no,status\nupay,T1,R1,succeeded\n", 1, "amount", ErrMissingColumn},
		{"no header", "s.csv", "a,b\n1,2\n", 0, "", ErrNoHeader},
		{"bad time", "s.csv", "provider,account,refund_no,amount,status,time\nupay,T1,R1,1.00,succeeded,yesterday\n", 2, "time", ErrBadValue},
		{"unknown provider", "s.csv", "provider,account,refund_no,amount,status\nalipay,T1,R1,1.00,succeeded\n", 2, "provider", ErrBadValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), c.file)
			os.WriteFile(p, []byte(c.content), 0o644)
			_, _, err := ReadStatement(p, 0, nil)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v, want an *InputError", err)
			}
			if !errors.Is(err, c.err) || ie.Row != c.row || ie.Column != c.column {
				t.Errorf("got %v (row %d, column %q), want row %d column %q wrapping %v", err, ie.Row, ie.Column, c.row, c.column, c.err)
			}
		})
	}
}

// TestStatementAliases reads a provider-style export: a title row, Chinese
// headers, amounts in fen, no provider column (the account column's name
// says it is Upay), a GBK-encoded file.
func TestStatementAliases(t *testing.T) {
	rs, _, err := ReadStatement(filepath.Join("testdata", "upay-export-gbk.csv"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d records, want 2", len(rs))
	}
	r := rs[0].Record()
	if r.Provider != "upay" || r.Account != "100000330000000001" || r.RefundNo != "R1" || r.Amount != 1250 || r.Status != StatusSucceeded || r.Row != 3 {
		t.Errorf("first record %+v", r)
	}
	if r1 := rs[1].Record(); r1.Action != "revoke" || r1.RefundNo != "" || r1.Status != StatusPending {
		t.Errorf("second record %+v", r1)
	}
}

// TestNegativeStatementAmount: some provider exports show refunds as
// negative numbers. They are rejected, not sign-flipped (the same export may
// hold payments as positive rows), with the place, the value and what to do.
func TestNegativeStatementAmount(t *testing.T) {
	cases := []struct {
		name, content, want string
	}{
		{"major units", "provider,account,refund_no,amount,currency,status\nupay,T1,R1,12.50,CNY,succeeded\nupay,T1,R2,-12.50,CNY,succeeded\n",
			`s.csv:3: column "amount": value "-12.50": invalid amount: negative amount: `},
		{"chinese header", "provider,终端号,退款单号,退款金额,状态\nupay,T1,R1,-0.01,退款成功\n",
			`s.csv:2: column "退款金额": value "-0.01": invalid amount: negative amount: `},
		{"minor units", "provider,account,refund_no,refund_amount_fen,status\nupay,T1,R1,-1250,succeeded\n",
			`s.csv:2: column "refund_amount_fen": value "-1250": invalid amount: negative amount: `},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.csv")
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadStatement(p, 0, nil)
			if !errors.Is(err, ErrAmount) {
				t.Fatalf("error %v, want one wrapping ErrAmount", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, p[:len(p)-len("s.csv")]) || !strings.Contains(msg, c.want) {
				t.Errorf("error %q\nwant it to contain %q", msg, c.want)
			}
			if !strings.Contains(msg, "remove the minus sign") || !strings.Contains(msg, "keep only its refund rows") {
				t.Errorf("error %q does not say what to do", msg)
			}
		})
	}
}
