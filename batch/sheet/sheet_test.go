package sheet

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
	"github.com/xuri/excelize/v2"
)

var sentinels = map[string]error{
	"ErrRequired": ErrRequired, "ErrTooLong": ErrTooLong, "ErrBadFormat": ErrBadFormat,
	"ErrOutOfRange": ErrOutOfRange, "ErrPrecisionLost": ErrPrecisionLost,
	"ErrUnknownProvider": ErrUnknownProvider, "ErrBadAction": ErrBadAction,
	"ErrRevokeNotAllowed": ErrRevokeNotAllowed, "ErrRevokeNotFull": ErrRevokeNotFull,
	"ErrRevokeNotAlone": ErrRevokeNotAlone, "ErrDuplicateRefundNo": ErrDuplicateRefundNo,
	"ErrOverRefund": ErrOverRefund, "ErrOrderConflict": ErrOrderConflict, "ErrCurrency": ErrCurrency,
	"money.ErrTooManyDecimals": money.ErrTooManyDecimals, "money.ErrNotPositive": money.ErrNotPositive,
	"money.ErrNotANumber": money.ErrNotANumber, "money.ErrUnknownCurrency": money.ErrUnknownCurrency,
}

type result struct {
	sum     Summary
	items   map[int]batch.Item
	invalid map[int][]*RowError
	cells   map[int][]string
}

func validate(t *testing.T, path string, opts Options) (result, error) {
	t.Helper()
	r := result{items: map[int]batch.Item{}, invalid: map[int][]*RowError{}, cells: map[int][]string{}}
	var err error
	last := 0
	inOrder := func(row int) {
		if row <= last {
			t.Errorf("row %d reported after row %d: not in sheet order", row, last)
		}
		last = row
	}
	r.sum, err = Validate(path, opts, func(it batch.Item) error {
		inOrder(it.Row)
		r.items[it.Row] = it
		return nil
	}, func(cells []string, errs []*RowError) error {
		row := errs[0].Row
		inOrder(row)
		for _, e := range errs {
			if e.Row != row {
				t.Errorf("one row's errors carry rows %d and %d", row, e.Row)
			}
		}
		r.invalid[row] = errs
		r.cells[row] = cells
		return nil
	})
	if err == nil {
		if s := r.sum; s.Read != s.Valid+s.Invalid+s.Blank || s.Valid != len(r.items) || s.Invalid != len(r.invalid) {
			t.Errorf("summary %+v does not match %d items, %d invalid rows", s, len(r.items), len(r.invalid))
		}
	}
	return r, err
}

// TestRules runs testdata/rules.csv, whose last column says what each row
// must produce: "ok", "blank", or the sentinel(s) its errors wrap.
func TestRules(t *testing.T) {
	const path = "testdata/rules.csv"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	res, err := validate(t, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Row 22 leaves PayEase's notify_url blank: without a config that is a
	// warning, as a run takes it from the account's config.
	if !slices.Equal(res.sum.Warnings, []string{`column "expect" is not a known field; it is ignored`,
		"notify_url is blank on 1 payease row (row 22): payease requires notifyUrl, which a run takes from the account's notify_url in the provider config; validate with that config to check it"}) {
		t.Errorf("warnings = %q", res.sum.Warnings)
	}
	for i, rec := range recs[1:] {
		row := i + 2
		want := rec[len(rec)-1]
		t.Run(fmt.Sprintf("%s/row%02d", want, row), func(t *testing.T) {
			switch want {
			case "ok":
				if errs := res.invalid[row]; errs != nil {
					t.Fatalf("row %d: want valid, got %v", row, errs)
				}
				if _, ok := res.items[row]; !ok {
					t.Fatalf("row %d: not reported as an item", row)
				}
			case "":
				if res.items[row].Row != 0 || res.invalid[row] != nil {
					t.Fatalf("row %d: blank row was reported", row)
				}
			default:
				errs := res.invalid[row]
				if errs == nil {
					t.Fatalf("row %d: want %s, row is valid: %+v", row, want, res.items[row])
				}
				for _, name := range strings.Split(want, "|") {
					sentinel, ok := sentinels[name]
					if !ok {
						t.Fatalf("unknown sentinel %q in fixture", name)
					}
					if !slices.ContainsFunc(errs, func(e *RowError) bool { return errors.Is(e, sentinel) }) {
						t.Errorf("row %d: want %s, got %v", row, name, errs)
					}
				}
				if n := len(strings.Split(want, "|")); len(errs) != n {
					t.Errorf("row %d: want %d errors, got %v", row, n, errs)
				}
				for _, e := range errs {
					if !strings.HasPrefix(e.Error(), "row "+itoa(row)+", ") {
						t.Errorf("error %q does not start with its row", e)
					}
				}
			}
		})
	}
	for _, it := range res.items {
		if it.RefundNo == "QR12" && (it.Account != "SH002" || it.OrderNo != "20261101012") {
			t.Errorf("spaces not trimmed: %q %q", it.Account, it.OrderNo)
		}
	}
	if res.sum.Blank != 1 {
		t.Errorf("blank = %d, want 1", res.sum.Blank)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestFiles(t *testing.T) {
	tests := []struct {
		name                         string
		file, sheet                  string
		err                          error
		errText                      string
		read, valid, invalid, blanks int
		headerRow                    int
		format                       string
		check                        func(t *testing.T, r result)
	}{
		{name: "gbk with title row", file: "gbk_title.csv", read: 3, valid: 2, invalid: 1, headerRow: 2, format: "GB18030",
			check: func(t *testing.T, r result) {
				it := r.items[3]
				if it.Provider != adapters.QuickPay || it.Account != "SH001" || it.Operator != "王芳" || it.Reason != "商品缺货" || it.Amount != 1250 || it.Total != 10000 {
					t.Errorf("row 3 = %+v", it.Refund)
				}
				e := r.invalid[5][0]
				if e.Column != "操作员" || !errors.Is(e, ErrTooLong) {
					t.Errorf("row 5 error = %v", e)
				}
			}},
		{name: "utf-16 unicode text", file: "unicode_text.txt", read: 1, valid: 1, headerRow: 1, format: "UTF-16, tab",
			check: func(t *testing.T, r result) {
				if it := r.items[2]; it.Operator != "王芳" || it.Amount != 1250 {
					t.Errorf("row 2 = %+v", it.Refund)
				}
			}},
		{name: "xlsx rows missing from the XML", file: "gaps.xlsx", read: 4, valid: 1, invalid: 1, blanks: 2, headerRow: 1,
			check: func(t *testing.T, r result) {
				if _, ok := r.items[2]; !ok || r.invalid[5] == nil {
					t.Errorf("rows: items %v, invalid %v", r.items, r.invalid)
				}
			}},
		{name: "semicolon", file: "semicolon.csv", read: 2, valid: 1, invalid: 1, headerRow: 1, format: "semicolon",
			check: func(t *testing.T, r result) {
				if r.items[2].Amount != 123450 {
					t.Errorf("row 2 amount %d", r.items[2].Amount)
				}
				if e := r.invalid[3][0]; e.Value != "12,50" || !errors.Is(e, money.ErrNotANumber) {
					t.Errorf("row 3 error = %v", e)
				}
			}},
		{name: "bom", file: "bom.csv", read: 1, valid: 1, headerRow: 1, format: "with BOM",
			check: func(t *testing.T, r result) {
				if r.sum.Header[0] != "provider" {
					t.Errorf("BOM left in header: %q", r.sum.Header[0])
				}
			}},
		{name: "ragged", file: "ragged.csv", read: 5, valid: 2, invalid: 3, headerRow: 1, format: "CSV",
			check: func(t *testing.T, r result) {
				for row, want := range map[int]error{3: ErrRagged, 4: ErrRagged, 5: ErrMalformedRow} {
					if errs := r.invalid[row]; len(errs) != 1 || !errors.Is(errs[0], want) {
						t.Errorf("row %d: %v, want %v", row, errs, want)
					}
				}
				if _, ok := r.items[6]; !ok {
					t.Error("row 6 (trailing empty cells) should be valid")
				}
			}},
		{name: "xlsx formulas and numeric ids", file: "formulas.xlsx", read: 8, valid: 4, invalid: 3, blanks: 1, headerRow: 2, format: `sheet "退款"`,
			check: func(t *testing.T, r result) {
				if it := r.items[3]; it.OrderNo != "20261101001" || it.Amount != 1250 || it.Total != 10000 {
					t.Errorf("row 3 (numeric id) = %+v", it.Refund)
				}
				if it := r.items[4]; it.Amount != 4400 {
					t.Errorf("row 4 (formula) amount = %d", it.Amount)
				}
				if it := r.items[5]; it.Amount != 30 {
					t.Errorf("row 5 (0.1+0.2) amount = %d", it.Amount)
				}
				if it := r.items[10]; it.Amount != 123450 || it.ProviderOrderID != "7894259244067218" {
					t.Errorf("row 10 = %+v", it.Refund)
				}
				for row, want := range map[int]error{6: ErrPrecisionLost, 7: money.ErrTooManyDecimals, 8: money.ErrAmbiguousFloat} {
					if errs := r.invalid[row]; len(errs) != 1 || !errors.Is(errs[0], want) {
						t.Errorf("row %d: %v, want %v", row, errs, want)
					}
				}
				if e := r.invalid[6][0]; e.Column != "交易号" || e.Value != "4.20000114820211E+27" {
					t.Errorf("row 6 error names %q %q", e.Column, e.Value)
				}
			}},
		{name: "xlsx --sheet with fen column", file: "formulas.xlsx", sheet: "QuickPay", read: 1, valid: 1, headerRow: 1,
			check: func(t *testing.T, r result) {
				if r.items[2].Amount != 1250 {
					t.Errorf("fen column: amount %d, want 1250", r.items[2].Amount)
				}
			}},
		{name: "sep= line", file: "sep_line.csv", read: 2, valid: 1, invalid: 1, headerRow: 2, format: "semicolon",
			check: func(t *testing.T, r result) {
				if r.items[4].Amount != 150 {
					t.Errorf("row 4 = %+v", r.items[4].Refund)
				}
			}},
		{name: "--sheet ignores case", file: "formulas.xlsx", sheet: "quickpay", read: 1, valid: 1, headerRow: 1, format: `sheet "QuickPay"`},
		{name: "no such sheet", file: "formulas.xlsx", sheet: "Nope", err: ErrNoSuchSheet, errText: "QuickPay"},
		{name: "sheet on csv", file: "bom.csv", sheet: "x", err: ErrNoSuchSheet},
		{name: "empty", file: "empty.csv", err: ErrEmptyFile},
		{name: "header only", file: "header_only.csv", err: ErrNoRows},
		{name: "pdf renamed", file: "pdf_renamed.xlsx", err: ErrUnreadable, errText: "PDF"},
		{name: "encrypted", file: "encrypted.xlsx", err: ErrUnreadable, errText: "password"},
		{name: "truncated", file: "truncated.xlsx", err: ErrUnreadable, errText: "truncated"},
		{name: "missing file", file: "nope.csv", err: ErrUnreadable},
		{name: "missing column", file: "missing_column.csv", err: ErrMissingColumn, errText: "refund_no"},
		{name: "no header", file: "no_header.csv", err: ErrNoHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := validate(t, filepath.Join("testdata", tt.file), Options{Sheet: tt.sheet})
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error = %v, want %v containing %q", err, tt.err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := r.sum
			if s.Read != tt.read || s.Valid != tt.valid || s.Invalid != tt.invalid || s.Blank != tt.blanks || s.HeaderRow != tt.headerRow {
				t.Errorf("summary = %+v", s)
			}
			if !strings.Contains(s.Format, tt.format) {
				t.Errorf("format %q does not mention %q", s.Format, tt.format)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// TestSamples: the bundled CSV and XLSX hold the same valid refunds.
func TestSamples(t *testing.T) {
	var lists [2][]batch.Item
	for i, name := range []string{"../../samples/refunds.csv", "../../samples/refunds.xlsx"} {
		sum, err := Validate(name, Options{}, func(it batch.Item) error {
			lists[i] = append(lists[i], it)
			return nil
		}, func(cells []string, errs []*RowError) error {
			t.Errorf("%s: %v", name, errs)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Invalid != 0 || sum.Valid < 200 {
			t.Errorf("%s: %+v", name, sum)
		}
	}
	if a, b := batch.Identity(lists[0]), batch.Identity(lists[1]); a != b {
		for i := range lists[0] {
			if lists[0][i].Refund != lists[1][i].Refund {
				t.Fatalf("item %d differs:\ncsv  %+v\nxlsx %+v", i, lists[0][i].Refund, lists[1][i].Refund)
			}
		}
		t.Fatalf("identities differ")
	}
	perProvider := map[string]int{}
	revokes, multi := 0, map[string]int{}
	for _, it := range lists[0] {
		perProvider[it.Provider]++
		if it.Action == adapters.ActionRevoke {
			revokes++
			if it.Provider != adapters.Upay || it.Amount != it.Total {
				t.Errorf("bad revoke %+v", it.Refund)
			}
		}
		multi[it.Provider+it.OrderNo]++
	}
	for _, p := range adapters.Providers {
		if perProvider[p] < 20 {
			t.Errorf("%s has %d refunds", p, perProvider[p])
		}
	}
	partial := 0
	for _, n := range multi {
		if n >= 2 {
			partial++
		}
	}
	if revokes != 1 || partial < 5 {
		t.Errorf("revokes = %d, orders with several refunds = %d", revokes, partial)
	}
}

func TestErrorsWriter(t *testing.T) {
	header := []string{"渠道", "操作员", "=cmd"}
	cells := []string{"quickpay", "@SUM(1+1)", "-2", "extra"}
	errs := []*RowError{
		{Row: 7, Column: "操作员", Value: "@SUM(1+1)", Err: ErrTooLong},
		{Row: 7, Column: "渠道", Value: "x", Err: ErrUnknownProvider},
	}
	want := []string{"quickpay", "'@SUM(1+1)", "'-2", "7",
		`column "操作员", value "@SUM(1+1)": too long; column "渠道", value "x": unknown provider; cells beyond the header: extra`}
	dir := t.TempDir()

	t.Run("csv", func(t *testing.T) {
		path := filepath.Join(dir, "errors.csv")
		w, err := NewErrorsWriter(path, header)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(7, cells, errs); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		if !strings.HasPrefix(string(b), "\ufeff") {
			t.Error("no BOM")
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(recs[0], []string{"渠道", "操作员", "'=cmd", "row", "error"}) || !slices.Equal(recs[1], want) {
			t.Errorf("got %q", recs)
		}
	})
	t.Run("xlsx", func(t *testing.T) {
		path := filepath.Join(dir, "errors.xlsx")
		w, err := NewErrorsWriter(path, header)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(7, cells, errs); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := f.GetRows("Errors")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[1], want) {
			t.Errorf("row 2 = %q", rows[1])
		}
		if typ, _ := f.GetCellType("Errors", "D2"); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
			t.Errorf("row column type %v, want a number", typ)
		}
		panes, err := f.GetPanes("Errors")
		if err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("header not frozen: %+v %v", panes, err)
		}
		styleID, _ := f.GetCellStyle("Errors", "A1")
		style, err := f.GetStyle(styleID)
		if err != nil || style.Font == nil || !style.Font.Bold {
			t.Errorf("header not bold: %+v %v", style, err)
		}
	})
}

func TestHeaderMatching(t *testing.T) {
	tests := []struct {
		cell  string
		want  field
		minor bool
	}{
		{"Refund Amount", fRefundAmount, false},
		{"refund_amount_fen", fRefundAmount, true},
		{"refundAmount", fRefundAmount, false},
		{" 退款金额（分） ", fRefundAmount, true},
		{"退款金额(元)", fRefundAmount, false},
		{"total_amount_cents", fTotalAmount, true},
		{"TERMINAL_SN", fAccount, false},
		{"merchantId", fAccount, false},
		{"商户订单号", fOrderNo, false},
		{"orderRequestId", fOrderNo, false},
		{"refund request no", fRefundNo, false},
		{"ｒｅｆｕｎｄ＿ｎｏ", fRefundNo, false},
		{"交易号", fProviderOrderID, false},
		{"支付方式", fPaymentMethod, false},
	}
	for _, tt := range tests {
		c, found, unknown, err := matchHeader([]string{tt.cell})
		if err != nil || found != 1 || len(unknown) != 0 || c.idx[tt.want] != 0 || c.minor[tt.want] != tt.minor {
			t.Errorf("%q: found %d, unknown %q, idx %v, minor %v, err %v", tt.cell, found, unknown, c.idx, c.minor, err)
		}
	}
	if _, _, _, err := matchHeader([]string{"退款金额", "refund_amount"}); !errors.Is(err, ErrDuplicateCol) {
		t.Errorf("duplicate column: %v", err)
	}
	if _, _, unknown, _ := matchHeader([]string{"operator_fen"}); len(unknown) != 1 {
		t.Errorf("a unit suffix makes only amounts: %q", unknown)
	}
}

func TestExpandExponent(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"2.0261101001E+10", "20261101001", true},
		{"1E+3", "1000", true},
		{"1.23456789012345E+14", "123456789012345", true},
		{"4.20000114820211E+27", "", false},
		{"7.8942592440672096E+15", "", false},
		{"1.5E+0", "", false},
		{"1E-3", "", false},
	}
	for _, tt := range tests {
		if !looksExponent(tt.in) {
			t.Errorf("%q not recognized as exponent form", tt.in)
		}
		got, ok := expandExponent(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("expandExponent(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for _, s := range []string{"R1E5", "E5", "1E", "12", "1.2.3E4", "SQB1E+5"} {
		if looksExponent(s) {
			t.Errorf("%q taken for a number", s)
		}
	}
}

func TestGuard(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "abc": "abc", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@A1": "'@A1",
		"\tx": "'\tx", "\rx": "'\rx", "＝1": "'＝1", "张伟": "张伟", "1-2": "1-2",
	} {
		if got := Guard(in); got != want {
			t.Errorf("Guard(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRowErrorText(t *testing.T) {
	e := &RowError{Row: 12, Column: "退款金额", Value: "12.345", Err: money.ErrTooManyDecimals}
	if got, want := e.Error(), `row 12, column "退款金额", value "12.345": more decimals than the currency allows`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if !errors.Is(e, money.ErrTooManyDecimals) {
		t.Error("RowError does not unwrap")
	}
	if got := (&RowError{Row: 3, Err: ErrRagged}).Error(); got != "row 3: wrong number of cells" {
		t.Errorf("got %s", got)
	}
}

// TestLateEncodingChange: the encoding is judged from the first 64 KiB; a
// GBK row after that is reported on its row, not read as garbled ids.
func TestLateEncodingChange(t *testing.T) {
	var b strings.Builder
	b.WriteString("provider,account,order_no,refund_no,refund_amount,operator\n")
	n := 0
	for b.Len() < 70<<10 {
		n++
		fmt.Fprintf(&b, "quickpay,SH001,%d,QR-%d,1.00,op\n", n, n)
	}
	b.WriteString("quickpay,SH001,x,QR-x,1.00,\xcd\xf5\xb7\xbc\n") // 王芳 in GBK
	path := filepath.Join(t.TempDir(), "mixed.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := validate(t, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	errs := r.invalid[n+2]
	if r.sum.Valid != n || len(errs) != 1 || !errors.Is(errs[0], ErrMalformedRow) || !strings.Contains(errs[0].Error(), "UTF-8") {
		t.Errorf("summary %+v, row %d: %v", r.sum, n+2, errs)
	}
}

// TestWorkbookNamedCSV: a workbook saved or renamed with a .csv name is
// still read as the workbook it is.
func TestWorkbookNamedCSV(t *testing.T) {
	b, err := os.ReadFile("testdata/formulas.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "refunds.csv")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := validate(t, path, Options{})
	if err != nil || r.sum.Valid != 4 || !strings.HasPrefix(r.sum.Format, "XLSX") {
		t.Errorf("summary %+v, err %v", r.sum, err)
	}
}

// TestCallbackErrorStops: an error from a callback ends Validate at once
// with that error, and the reading goroutine is gone when it returns.
func TestCallbackErrorStops(t *testing.T) {
	stop := errors.New("stop here")
	before := runtime.NumGoroutine()
	for _, file := range []string{"../../samples/refunds.csv", "../../samples/refunds.xlsx"} {
		n := 0
		sum, err := Validate(file, Options{}, func(batch.Item) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		}, nil)
		if !errors.Is(err, stop) || n != 3 || sum.Valid != 3 {
			t.Errorf("%s: err %v after %d items, summary %+v", file, err, n, sum)
		}
	}
	// The reading goroutine signals it is done (wg.Done) a moment before
	// it has returned: give it that moment, not a leak's worth.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(time.Second); after > before && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(5 * time.Millisecond)
	}
	if after > before {
		t.Errorf("%d goroutines before, %d after", before, after)
	}
}

func TestValueAliases(t *testing.T) {
	v := newValidator(columns{}, false, Options{})
	for _, tt := range []struct{ provider, action, currency string }{
		{"UPAY", "REFUND", "cny"},
		{"ＵＰａｙ", "退款", "ＣＮＹ"},
		{"Shou Qian Ba", "Refund", " CNY "},
		{"收钱吧", "撤单", ""},
	} {
		cells := []string{tt.provider, "100000330000000001", "O1", "R1", "1.00", "张伟", tt.action, tt.currency, "1.00"}
		c, _, _, _ := matchHeader([]string{"provider", "account", "order_no", "refund_no", "refund_amount", "operator", "action", "currency", "total_amount"})
		v.cols = c
		r := rowResult{row: 2, cells: cells}
		v.row(&r)
		if r.errs != nil || r.item.Provider != adapters.Upay || r.item.Currency != money.CNY {
			t.Errorf("%q %q %q: %v %+v", tt.provider, tt.action, tt.currency, r.errs, r.item.Refund)
		}
	}
}

func TestPrintReport(t *testing.T) {
	l := NewErrorLog(2)
	l.Add([]*RowError{{Row: 3, Column: "退款金额", Value: "x", Err: money.ErrNotANumber}, {Row: 3, Err: ErrRagged}})
	l.Add([]*RowError{{Row: 9, Column: "渠道", Value: "wechat", Err: ErrUnknownProvider}})
	var out, errb strings.Builder
	PrintReport(&out, &errb, "s.csv", Summary{Read: 10, Valid: 7, Invalid: 2, Blank: 1, Warnings: []string{"w"}}, l)
	if got, want := out.String(), "s.csv: 10 rows read, 7 valid, 2 invalid, 1 blank skipped\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	want := "s.csv: warning: w\n" +
		"s.csv: row 3, column \"退款金额\", value \"x\": not a number\n" +
		"s.csv: row 3: wrong number of cells\n" +
		"s.csv: … and 1 more error (write them all with --errors FILE)\n"
	if errb.String() != want || l.Total() != 3 {
		t.Errorf("stderr %q (total %d), want %q", errb.String(), l.Total(), want)
	}

	// Thousands of warnings (a header of unknown columns) print as ten
	// lines and a count.
	errb.Reset()
	warnings := make([]string, 5000)
	for i := range warnings {
		warnings[i] = fmt.Sprintf("column %q is not a known field; it is ignored", strconv.Itoa(i))
	}
	PrintReport(&out, &errb, "s.csv", Summary{Warnings: warnings}, nil)
	lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	if len(lines) != maxWarnings+1 || lines[maxWarnings] != "s.csv: … and 4990 more warnings" {
		t.Errorf("%d warning lines, last %q", len(lines), lines[len(lines)-1])
	}
}
