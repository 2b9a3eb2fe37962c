package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/internal/excel"
	"github.com/bulkrefund/bulkrefund/money"
)

// TestPrintSetup reads back how every sheet prints: landscape on the paper
// asked for; one page wide, or across pages at 80 % for All refunds; the
// header row (and for All refunds the refund number and category columns)
// repeated on every page as the sheet's _xlnm.Print_Titles; a page header
// with the title, period and report id, and "Page X of Y" at the foot.
func TestPrintSetup(t *testing.T) {
	res := buildSample(t, Options{})
	for _, paper := range []Paper{A4, Letter} {
		path := filepath.Join(t.TempDir(), "report.xlsx")
		if err := WriteXLSX(path, res, WriteOptions{Paper: paper}); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		titles := map[string]string{}
		for _, n := range f.GetDefinedName() {
			if n.Name == "_xlnm.Print_Titles" {
				titles[n.Scope] = n.RefersTo
			}
		}
		size := map[Paper]int{A4: 9, Letter: 1}[paper]
		for _, sheet := range f.GetSheetList() {
			l, err := f.GetPageLayout(sheet)
			if err != nil {
				t.Fatal(err)
			}
			props, _ := f.GetSheetProps(sheet)
			if *l.Orientation != "landscape" || *l.Size != size {
				t.Errorf("%v %s: orientation %v, paper %v", paper, sheet, *l.Orientation, *l.Size)
			}
			across := sheet == "All refunds"
			switch {
			case across && (props.FitToPage == nil || *props.FitToPage || l.AdjustTo == nil || *l.AdjustTo != acrossScale):
				t.Errorf("%s: prints fit %v at %v, want across pages at %d %%", sheet, props.FitToPage, l.AdjustTo, acrossScale)
			case !across && (props.FitToPage == nil || !*props.FitToPage || *l.FitToWidth != 1 || *l.FitToHeight != 0):
				t.Errorf("%s: fit %v, %v wide × %v tall, want one page wide", sheet, props.FitToPage, *l.FitToWidth, *l.FitToHeight)
			}
			want := "'" + sheet + "'!$1:$1"
			switch sheet {
			case "Summary":
				want = ""
			case "All refunds":
				want = "'All refunds'!$A:$B,'All refunds'!$1:$1"
			}
			if titles[sheet] != want {
				t.Errorf("%s: print titles %q, want %q", sheet, titles[sheet], want)
			}
			hf, _ := f.GetHeaderFooter(sheet)
			if hf == nil {
				t.Errorf("%s: no header or footer", sheet)
				continue
			}
			for _, s := range []string{reportTitle, "Period 2026-11-20 – 2026-11-21", "Report " + res.ID()} {
				if !strings.Contains(hf.OddHeader, s) {
					t.Errorf("%s: header %q lacks %q", sheet, hf.OddHeader, s)
				}
			}
			if !strings.Contains(hf.OddFooter, "Page &P of &N") || !strings.Contains(hf.OddFooter, "&A") {
				t.Errorf("%s: footer %q lacks the sheet name and Page &P of &N", sheet, hf.OddFooter)
			}
		}
		f.Close()
	}
}

// TestPaperWidths: every sheet printed one page wide keeps its text at
// 8 pt or more on A4 and Letter; a sheet printed across pages has room on
// each page for its repeated columns and its widest other column.
func TestPaperWidths(t *testing.T) {
	check := func(name string, widths []float64) {
		if pt := excel.FitScale(widths) * excel.BodyPoints; pt < excel.MinPrintedPoints {
			t.Errorf("%s prints at %.1f pt one page wide", name, pt)
		}
	}
	check("Summary", coverWidths)
	for _, v := range views {
		if !v.across {
			check(v.name, v.widths())
			continue
		}
		if acrossScale*excel.BodyPoints/100 < excel.MinPrintedPoints {
			t.Errorf("%s prints at %d %%", v.name, acrossScale)
		}
		var title float64
		for _, c := range v.cols[:v.titleCols] {
			title += excel.ColumnPoints(c.width)
		}
		for _, c := range v.cols[v.titleCols:] {
			if (title+excel.ColumnPoints(c.width))*acrossScale/100 > excel.PrintableWidth() {
				t.Errorf("%s: column %s does not fit on a page beside the repeated columns", v.name, c.name)
			}
		}
	}
}

// TestColumnsHoldTheirNumbers: a number that does not fit its column
// prints as ### (numbers never wrap): every amount column holds
// -99,999,999.99, every time and day column its value, with the indent and
// padding of a number cell; and every header fits on one line.
func TestColumnsHoldTheirNumbers(t *testing.T) {
	widest := map[kind]string{kAmount: "-99,999,999.99", kTime: "2026-11-20T12:00:01Z", kDate: "2026-11-20", kInt: "1000000"}
	kinds := map[string]map[string]kind{}
	for _, sh := range buildSample(t, Options{}).sheets() {
		kinds[sh.file] = map[string]kind{}
		for _, c := range sh.cols {
			kinds[sh.file][c.name] = c.kind
		}
	}
	for _, v := range views {
		for _, c := range v.cols {
			s, number := widest[kinds[v.file][c.name]]
			if number && excel.TextWidth(s)+indentWidth+0.5 > c.width {
				t.Errorf("%s: %s (width %v) cannot show %s", v.name, c.name, c.width, s)
			}
			// A header fits on one line: a name broken mid-word reads badly.
			head := excel.TextWidth(c.name)/boldFit + 0.5
			if number {
				head += indentWidth
			}
			if head > c.width {
				t.Errorf("%s: header %s needs width %.1f, has %v", v.name, c.name, head, c.width)
			}
		}
	}
}

// TestExactAmounts: amounts that no float64 holds (17 significant digits)
// are stored as number cells with their exact decimal, in the detail
// sheets and in the Summary's sums.
func TestExactAmounts(t *testing.T) {
	amounts := []int64{9980433, 12345678901234567, 99999999999999999, 9007199254740993}
	var ours []Ours
	var theirs []Theirs
	at := time.Date(2026, 11, 20, 10, 30, 7, 0, time.UTC)
	for i, a := range amounts {
		ref := "R" + string(rune('1'+i))
		ours = append(ours, NewOurs(OurRecord{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "O" + ref, RefundNo: ref,
			Action: adapters.ActionRefund, Amount: a, Currency: money.CNY, State: StateSucceeded, FirstAttempt: at, LastAttempt: at}))
		theirs = append(theirs, NewTheirs(TheirRecord{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "O" + ref, RefundNo: ref,
			ProviderRefundID: "P" + ref, Action: adapters.ActionRefund, Amount: a, Currency: money.CNY, Status: StatusSucceeded, Time: at}))
	}
	res := Reconcile(ours, theirs, nil, Options{})
	res.Meta.GeneratedAt = at
	path := filepath.Join(t.TempDir(), "r.xlsx")
	if err := WriteXLSX(path, res); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, a := range amounts {
		ref := findCell(t, f, "All refunds", "R"+string(rune('1'+i)), "our_amount")
		raw, _ := f.GetCellValue("All refunds", ref, excelize.Options{RawCellValue: true})
		typ, _ := f.GetCellType("All refunds", ref)
		if want := money.Format(a, money.CNY); raw != want || (typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber) {
			t.Errorf("%d fen: stored %q (type %v), want the number %s", a, raw, typ, want)
		}
	}
	var sum int64
	for _, a := range amounts {
		sum += a
	}
	rows, _ := f.GetRows("Summary", excelize.Options{RawCellValue: true})
	want := "MATCHED|CNY|4|" + strings.Repeat(money.Format(sum, money.CNY)+"|", 3)
	found := false
	for _, r := range rows {
		found = found || strings.Join(r, "|")+"|" == want
	}
	if !found {
		t.Errorf("Summary has no line %q", want)
	}
}

// TestCSVByteOrderMark: every CSV file starts with the UTF-8 byte-order
// mark, and none does with NoBOM; the rest of the bytes are the same.
func TestCSVByteOrderMark(t *testing.T) {
	res := buildSample(t, Options{})
	with, without := t.TempDir(), t.TempDir()
	if err := WriteCSV(with, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(without, res, WriteOptions{NoBOM: true}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(with, "*.csv"))
	if len(files) != 12 {
		t.Fatalf("%d files", len(files))
	}
	for _, p := range files {
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(without, filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(a, []byte("\xEF\xBB\xBF")) {
			t.Errorf("%s: no byte-order mark", filepath.Base(p))
		}
		if bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) || !bytes.Equal(a[3:], b) {
			t.Errorf("%s with NoBOM: %q…", filepath.Base(p), b[:min(len(b), 12)])
		}
	}
}

// TestPeriod: the period is always filled, from the options where given and
// from the rows' times (whole days in the report's zone) where not.
func TestPeriod(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	day := func(y, m, d int, loc *time.Location) time.Time {
		return time.Date(y, time.Month(m), d, 0, 0, 0, 0, loc)
	}
	for _, tc := range []struct {
		name     string
		opt      Options
		str      string
		from, to time.Time
		basis    string
	}{
		{"from the data", Options{}, "2026-11-20 to 2026-11-21", day(2026, 11, 20, time.UTC), day(2026, 11, 22, time.UTC), "earliest and latest"},
		{"asked", Options{From: day(2026, 11, 1, time.UTC), To: day(2026, 12, 1, time.UTC)}, "2026-11-01 to 2026-11-30",
			day(2026, 11, 1, time.UTC), day(2026, 12, 1, time.UTC), "as asked"},
		{"from asked", Options{From: day(2026, 11, 20, time.UTC)}, "2026-11-20 to 2026-11-21",
			day(2026, 11, 20, time.UTC), day(2026, 11, 22, time.UTC), "start as asked"},
		// Days are the report zone's: 2026-11-21T02:00Z is the 21st in Shanghai
		// and the earliest row, 2026-11-20T10:00:01Z, is the 20th there too.
		{"zone", Options{Location: cst}, "2026-11-20 to 2026-11-21", day(2026, 11, 20, cst), day(2026, 11, 22, cst), "earliest and latest"},
	} {
		res := buildSample(t, tc.opt)
		p := res.Period()
		if p.String() != tc.str || !p.From.Equal(tc.from) || !p.To.Equal(tc.to) || !strings.Contains(p.Basis, tc.basis) {
			t.Errorf("%s: %q [%v, %v) %q", tc.name, p.String(), p.From, p.To, p.Basis)
		}
	}
	empty := Reconcile(nil, nil, nil, Options{})
	empty.Meta.GeneratedAt = sampleNow
	if p := empty.Period(); p.String() != "2026-11-21" || !strings.Contains(p.Basis, "no refund has a time") {
		t.Errorf("no rows: %q %q", p.String(), p.Basis)
	}
}

// TestReportID: the id is the same for the same report and changes with
// the generation time and with any input.
func TestReportID(t *testing.T) {
	a, b := buildSample(t, Options{}), buildSample(t, Options{})
	if a.ID() != b.ID() || !strings.HasPrefix(a.ID(), "R20261121-") || len(a.ID()) != len("R20261121-")+8 {
		t.Fatalf("ids %q %q", a.ID(), b.ID())
	}
	b.Meta.GeneratedAt = b.Meta.GeneratedAt.Add(time.Second)
	c := buildSample(t, Options{})
	c.Meta.Sources[1].SHA256 = strings.Repeat("0", 64)
	if b.ID() == a.ID() || c.ID() == a.ID() {
		t.Errorf("ids do not change: %q %q %q", a.ID(), b.ID(), c.ID())
	}
}
