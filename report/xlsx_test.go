package report

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/money"
)

// TestXLSXReadBack writes the sample's workbook and reads every cell back:
// each sheet holds exactly the rows of the matching CSV file, amounts are
// numbers whose stored text is the exact decimal, headers are styled, frozen
// and filtered.
func TestXLSXReadBack(t *testing.T) {
	res := buildSample(t, Options{})
	dir := t.TempDir()
	path := filepath.Join(dir, "report.xlsx")
	if err := WriteXLSX(path, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(dir, res); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []string{"Summary", "Exceptions", "Resolved", "Cleared", "Failures", "Net by order", "All refunds"}
	if got := f.GetSheetList(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("sheets %v, want %v", got, want)
	}
	for sheet, file := range map[string]string{"Exceptions": "exceptions", "Failures": "failures", "Net by order": "net_by_order", "All refunds": "all_refunds"} {
		rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		csvRows := readCSV(t, filepath.Join(dir, file+".csv"))
		if len(rows) != len(csvRows) {
			t.Errorf("%s: %d rows, CSV has %d", sheet, len(rows), len(csvRows))
			continue
		}
		for i := range csvRows {
			for j := range csvRows[i] {
				got := ""
				if j < len(rows[i]) {
					got = rows[i][j]
				}
				w := csvRows[i][j]
				if w == "true" || w == "false" {
					w = map[string]string{"true": "1", "false": "0"}[w]
				}
				// The XLSX stores an amount as the shortest decimal of its
				// float, so "30.00" is stored as 30 and "15.50" as 15.5:
				// compare the exact decimal values.
				if got != w && trimDecimal(got) != trimDecimal(w) {
					t.Errorf("%s!%s: %q, CSV has %q", sheet, cellName(j+1, i+1), got, w)
				}
			}
		}
		panes, err := f.GetPanes(sheet)
		if err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("%s: header not frozen: %+v %v", sheet, panes, err)
		}
		tables, err := f.GetTables(sheet)
		if err != nil || len(tables) != 1 || !strings.HasPrefix(tables[0].Range, "A1:") {
			t.Errorf("%s: no autofilter table: %+v %v", sheet, tables, err)
		}
		layout, err := f.GetPageLayout(sheet)
		props, perr := f.GetSheetProps(sheet)
		if err != nil || perr != nil || layout.Orientation == nil || *layout.Orientation != "landscape" ||
			layout.FitToWidth == nil || *layout.FitToWidth != 1 || props.FitToPage == nil || !*props.FitToPage {
			t.Errorf("%s: does not print landscape, one page wide: %+v %+v %v %v", sheet, layout, props, err, perr)
		}
		hs, _ := f.GetCellStyle(sheet, "A1")
		st, _ := f.GetStyle(hs)
		if st == nil || st.Font == nil || !st.Font.Bold {
			t.Errorf("%s: header not bold", sheet)
		}
	}
	// An amount cell is a number with the currency's format, displayed exactly.
	ref := findCell(t, f, "All refunds", "R2", "our_amount")
	if typ, _ := f.GetCellType("All refunds", ref); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
		t.Errorf("amount cell %s has type %v, want a number", ref, typ)
	}
	if v, _ := f.GetCellValue("All refunds", ref); v != "50.00" {
		t.Errorf("amount cell %s shows %q, want 50.00", ref, v)
	}
	// The formula-looking order number is text with a guard quote, never a formula.
	for _, sheet := range []string{"All refunds", "Exceptions"} {
		ref := findCell(t, f, sheet, "Q8", "order_no")
		if v, _ := f.GetCellValue(sheet, ref); v != `'=HYPERLINK("http://x")` {
			t.Errorf("%s!%s = %q, want the guarded text", sheet, ref, v)
		}
		if fo, _ := f.GetCellFormula(sheet, ref); fo != "" {
			t.Errorf("%s!%s holds a formula %q", sheet, ref, fo)
		}
	}
	// Summary: every category is listed with its count; provenance has the hashes.
	rows, _ := f.GetRows("Summary", excelize.Options{RawCellValue: true})
	flat := ""
	for _, r := range rows {
		flat += strings.Join(r, "|") + "\n"
	}
	for _, s := range []string{"MATCHED|CNY|5|264.5|264.5|264.5", "FAILED|CNY|2|21.99|12|0", "operator|auditor-test",
		"results|testdata/sample/results.csv|" + res.Meta.Sources[0].SHA256 + "|15"} {
		if !strings.Contains(flat, s) {
			t.Errorf("Summary lacks %q:\n%s", s, flat)
		}
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func cellName(col, row int) string {
	s, _ := excelize.CoordinatesToCellName(col, row)
	return s
}

// findCell returns the cell of column name in the row whose refund_no is refundNo.
func findCell(t *testing.T, f *excelize.File, sheet, refundNo, name string) string {
	t.Helper()
	rows, _ := f.GetRows(sheet)
	col, rn := -1, -1
	for j, h := range rows[0] {
		if h == name {
			col = j
		}
		if h == "refund_no" {
			rn = j
		}
	}
	for i, r := range rows {
		if rn < len(r) && r[rn] == refundNo {
			return cellName(col+1, i+1)
		}
	}
	t.Fatalf("%s: no row for %s", sheet, refundNo)
	return ""
}

func trimDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// TestAmountFloatExact backs the claim in xlsxWriter.cell: dividing minor
// units by 10^scale gives the same double as parsing the exact decimal text.
func TestAmountFloatExact(t *testing.T) {
	for _, cur := range []money.Currency{"CNY", "JPY", "KWD"} {
		scale, _ := cur.Scale()
		for _, n := range []int64{0, 1, 5, 10, 99, 101, 1999, 123456789, 999999999999, 1 << 52, 1<<53 - 2000} {
			for i := int64(0); i < 200; i++ {
				v := n + i*7
				want, _ := strconv.ParseFloat(money.Format(v, cur), 64)
				if got := float64(v) / float64(money.Pow10(scale)); got != want {
					t.Fatalf("%d %s: %v != %v", v, cur, got, want)
				}
			}
		}
	}
}
