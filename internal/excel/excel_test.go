package excel

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/money"
)

// TestNumberWriterChunks feeds the rewriter one worksheet's XML cut at
// every possible byte, and in random pieces: the result never depends on
// where the writes were cut.
func TestNumberWriterChunks(t *testing.T) {
	in := `<worksheet><sheetData><row r="2">` +
		`<c r="A2" t="inlineStr"><is><t>R1</t></is></c>` +
		`<c r="B2" s="7" t="inlineStr"><is><t>12345678901234567.89</t></is></c>` +
		`<c r="C2" s="7" t="inlineStr"><is><t>-0.05</t></is></c>` +
		`<c r="D2" s="8" t="inlineStr"><is><t>12.50</t></is></c>` + // not a numeric style
		`<c r="E2" s="7" t="inlineStr"><is><t>12.5.0</t></is></c>` + // not a decimal
		`<c r="F2" s="7" t="inlineStr"><is><t xml:space="preserve"> 1 </t></is></c>` +
		`<c r="G2" s="17" t="inlineStr"><is><t>3</t></is></c>` + // 17 is not 7
		`<c r="H2" s="7"><v>4</v></c>` +
		`</row></sheetData></worksheet>`
	want := strings.NewReplacer(
		`s="7" t="inlineStr"><is><t>12345678901234567.89</t></is></c>`, `s="7"><v>12345678901234567.89</v></c>`,
		`s="7" t="inlineStr"><is><t>-0.05</t></is></c>`, `s="7"><v>-0.05</v></c>`,
	).Replace(in)
	run := func(cuts []int) string {
		var out bytes.Buffer
		n := &numberWriter{w: &out, numeric: map[int]bool{7: true}}
		prev := 0
		for _, c := range append(cuts, len(in)) {
			if _, err := n.Write([]byte(in[prev:c])); err != nil {
				t.Fatal(err)
			}
			prev = c
		}
		if err := n.Flush(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if got := run(nil); got != want {
		t.Fatalf("whole:\n got %s\nwant %s", got, want)
	}
	for c := 0; c <= len(in); c++ {
		if got := run([]int{c}); got != want {
			t.Fatalf("cut at %d:\n got %s\nwant %s", c, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var cuts []int
		for c := rng.IntN(7); c < len(in); c += 1 + rng.IntN(9) {
			cuts = append(cuts, c)
		}
		if got := run(cuts); got != want {
			t.Fatalf("cuts %v:\n got %s\nwant %s", cuts, got, want)
		}
	}
}

func TestIsDecimal(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "12.50": true, "-0.05": true, "99804.33": true, "": false, "-": false,
		".5": false, "5.": false, "1.2.3": false, "1e5": false, "+1": false, "1,000": false, " 1": false, "--1": false} {
		if got := isDecimal([]byte(s)); got != want {
			t.Errorf("isDecimal(%q) = %v", s, got)
		}
	}
}

// TestWorkbookNumbersAndDates writes amounts and times through the stream
// writer and reads them back with excelize: number cells whose stored value
// is the exact decimal, even where no float64 is, and date cells that show
// the CSV's RFC 3339 text.
func TestWorkbookNumbersAndDates(t *testing.T) {
	w := New()
	defer w.Close()
	nf2, nf0 := AmountFormat(2, true), AmountFormat(0, true)
	cny, err := w.NumberStyle(&excelize.Style{CustomNumFmt: &nf2})
	if err != nil {
		t.Fatal(err)
	}
	jpy, _ := w.NumberStyle(&excelize.Style{CustomNumFmt: &nf0})
	dtf := DateTimeFormat
	dt, _ := w.NewStyle(&excelize.Style{CustomNumFmt: &dtf})
	sw, err := w.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	amounts := []int64{9980433, 1, 0, -5, 12345678901234567, 99999999999999999, 9007199254740993, -12345678901234567}
	base := time.Date(2026, 11, 20, 10, 30, 7, 999_999_999, time.FixedZone("CST", 8*3600))
	for i, a := range amounts {
		tm := base.Add(time.Duration(i) * 7919 * time.Second)
		if err := sw.SetRow(fmt.Sprintf("A%d", i+1), []any{Amount(cny, a, money.CNY), Amount(jpy, a, "JPY"), Time(dt, tm), "text 12.50"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "n.xlsx")
	if err := w.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, a := range amounts {
		for col, cur := range map[string]money.Currency{"A": money.CNY, "B": "JPY"} {
			ref := fmt.Sprintf("%s%d", col, i+1)
			typ, _ := f.GetCellType("Sheet1", ref)
			// A cell without a type attribute is a number (the OOXML default).
			if typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
				t.Errorf("%s: type %v, want a number", ref, typ)
			}
			raw, _ := f.GetCellValue("Sheet1", ref, excelize.Options{RawCellValue: true})
			if want := money.Format(a, cur); raw != want {
				t.Errorf("%s: stored %q, want the exact %q", ref, raw, want)
			}
		}
		ref := fmt.Sprintf("C%d", i+1)
		shown, _ := f.GetCellValue("Sheet1", ref)
		if want := base.Add(time.Duration(i) * 7919 * time.Second).UTC().Format(time.RFC3339); shown != want {
			t.Errorf("%s shows %q, want %q", ref, shown, want)
		}
		if typ, _ := f.GetCellType("Sheet1", ref); typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
			t.Errorf("%s: type %v, want a date (a number with a date format)", ref, typ)
		}
	}
	if v, _ := f.GetCellValue("Sheet1", "A1"); v != "99,804.33" {
		t.Errorf("A1 shows %q, want 99,804.33", v)
	}
	if typ, _ := f.GetCellType("Sheet1", "D1"); typ != excelize.CellTypeInlineString {
		t.Errorf("text cell D1 has type %v", typ)
	}
}

// TestTimeSeconds: seconds across a day (every 13th, so every second of
// the minute and every minute show up), 999 ms past the second, written as
// date cells, each show the second as written: truncated like the CSV, no
// float rounding to the neighbour.
func TestTimeSeconds(t *testing.T) {
	w := New()
	defer w.Close()
	dtf := DateTimeFormat
	dt, _ := w.NewStyle(&excelize.Style{CustomNumFmt: &dtf})
	sw, _ := w.NewStreamWriter("Sheet1")
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for i := range 86400 / 13 {
		sw.SetRow(fmt.Sprintf("A%d", i+1), []any{Time(dt, day.Add(time.Duration(i*13)*time.Second+999*time.Millisecond))})
	}
	sw.Flush()
	var buf bytes.Buffer
	if err := w.Write(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := f.GetRows("Sheet1")
	for i, r := range rows {
		if want := day.Add(time.Duration(i*13) * time.Second).Format(time.RFC3339); r[0] != want {
			t.Fatalf("row %d shows %q, want %q", i+1, r[0], want)
		}
	}
}

// TestSetPage reads the page setup back: landscape, paper, fit or scale,
// margins, header and footer, and the print titles as a sheet-scoped
// _xlnm.Print_Titles name.
func TestSetPage(t *testing.T) {
	w := New()
	defer w.Close()
	w.NewSheet("Wide 'one' x")
	if err := w.SetPage("Sheet1", Page{Paper: Letter, FitWidth: true, TitleRows: 1, Header: "&L" + Escape("A & B"), Footer: "&CPage &P of &N"}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetPage("Wide 'one' x", Page{Scale: 80, TitleRows: 2, TitleCols: 3}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := w.Write(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := f.GetPageLayout("Sheet1")
	p, _ := f.GetSheetProps("Sheet1")
	if *l.Orientation != "landscape" || *l.Size != 1 || *l.FitToWidth != 1 || *l.FitToHeight != 0 || !*p.FitToPage {
		t.Errorf("Sheet1 layout %+v props %+v", l, p)
	}
	l, _ = f.GetPageLayout("Wide 'one' x")
	p, _ = f.GetSheetProps("Wide 'one' x")
	if *l.Orientation != "landscape" || *l.Size != 9 || *l.AdjustTo != 80 || *l.PageOrder != "overThenDown" || *p.FitToPage {
		t.Errorf("Wide layout %+v props %+v", l, p)
	}
	hf, _ := f.GetHeaderFooter("Sheet1")
	if hf == nil || hf.OddHeader != "&LA && B" || hf.OddFooter != "&CPage &P of &N" {
		t.Errorf("header/footer %+v", hf)
	}
	m, _ := f.GetPageMargins("Sheet1")
	if *m.Left != marginSide || *m.Right != marginSide {
		t.Errorf("margins %+v", m)
	}
	want := map[string]string{"Sheet1": "'Sheet1'!$1:$1", "Wide 'one' x": "'Wide ''one'' x'!$A:$C,'Wide ''one'' x'!$1:$2"}
	names := f.GetDefinedName()
	for _, n := range names {
		if n.Name == "_xlnm.Print_Titles" && want[n.Scope] == n.RefersTo {
			delete(want, n.Scope)
		}
	}
	if len(want) > 0 {
		t.Errorf("print titles missing %v; names %+v", want, names)
	}
}

func TestFitScale(t *testing.T) {
	// 10 columns of 15 characters: 10·(7·15+5)·0.75 = 825 pt on a page
	// whose printable width is Letter's 792 − 57.6 = 734.4 pt.
	w := make([]float64, 10)
	for i := range w {
		w[i] = 15
	}
	if got := FitScale(w); got < 0.8901 || got > 0.8902 {
		t.Errorf("FitScale = %v, want 734.4/825", got)
	}
	if got := FitScale(w[:2]); got != 1 {
		t.Errorf("narrow sheet scale %v, want 1", got)
	}
	if MinScale*BodyPoints/100 < MinPrintedPoints {
		t.Errorf("MinScale %d%% prints %v pt", MinScale, MinScale*BodyPoints/100)
	}
}

func TestWrappedLines(t *testing.T) {
	for _, tc := range []struct {
		s     string
		width float64
		want  int
	}{
		{"", 10, 1},
		{"1234567890", 11, 1},
		{"1234567890", 10, 2}, // a cell's padding takes a little of its width
		{"12345678901234567890", 11, 2},
		{"aaaa aaaa aaaa", 10, 2}, // breaks at the space
		{"20261120-890000593-1001", 18, 2},
		{"line one\nline two", 40, 2},
		{"退款成功退款成功", 10, 2}, // wide characters take two
		{"The provider has 2 records for this refund number; this extra one (provider id N-RF-1B, succeeded) is 15.50 CNY.", 32, 4},
	} {
		if got := WrappedLines(tc.s, tc.width); got != tc.want {
			t.Errorf("WrappedLines(%q, %v) = %d, want %d", tc.s, tc.width, got, tc.want)
		}
	}
	if RowHeight(1) != 0 || RowHeight(3) != 45 || RowHeight(100) != 409 {
		t.Errorf("RowHeight: %v %v %v", RowHeight(1), RowHeight(3), RowHeight(100))
	}
}
