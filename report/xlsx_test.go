package report

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/internal/excel"
)

// TestXLSXReadBack writes the sample's workbook and reads every cell back:
// each sheet holds exactly the rows of the matching CSV file, in the
// columns its layout chose; amounts are number cells whose stored value is
// the CSV's exact decimal; times and days are date cells that show the
// CSV's text; flags read Yes/No; headers are styled, frozen and filtered.
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
	want := []string{"Summary", "By provider", "Exceptions", "Resolved", "Cleared", "Failures", "Net by order", "Totals per day", "All refunds"}
	if got := f.GetSheetList(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("sheets %v, want %v", got, want)
	}
	for _, v := range views {
		shown, err := f.GetRows(v.name)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := f.GetRows(v.name, excelize.Options{RawCellValue: true})
		csvRows := readCSV(t, filepath.Join(dir, v.file+".csv"))
		if len(shown) != len(csvRows) {
			t.Errorf("%s: %d rows, CSV has %d", v.name, len(shown), len(csvRows))
			continue
		}
		csvCol := map[string]int{}
		for j, h := range csvRows[0] {
			csvCol[h] = j
		}
		var kinds = map[string]kind{}
		for _, sh := range res.sheets() {
			if sh.file == v.file {
				for _, c := range sh.cols {
					kinds[c.name] = c.kind
				}
			}
		}
		for k, c := range v.cols {
			if got := cellAt(shown, 0, k); got != c.name {
				t.Errorf("%s: column %d is %q, want %q", v.name, k+1, got, c.name)
			}
			j, ok := csvCol[c.name]
			if !ok {
				t.Fatalf("%s: column %q is not in %s.csv", v.name, c.name, v.file)
			}
			for i := 1; i < len(csvRows); i++ {
				w := csvRows[i][j]
				var got string
				switch kinds[c.name] {
				case kAmount, kInt:
					// The stored value: the exact decimal, not a float's digits.
					got = cellAt(raw, i, k)
				case kBool:
					got = cellAt(shown, i, k)
					w = map[string]string{"true": "Yes", "false": "No"}[w]
				default:
					got = cellAt(shown, i, k)
				}
				if got != w {
					t.Errorf("%s!%s (%s): %q, CSV has %q", v.name, cellName(k+1, i+1), c.name, got, w)
				}
				ref := cellName(k+1, i+1)
				typ, _ := f.GetCellType(v.name, ref)
				switch kinds[c.name] {
				case kAmount, kInt, kTime, kDate:
					// A cell without a type attribute is a number (OOXML's default).
					if w != "" && typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
						t.Errorf("%s!%s (%s): cell type %v, want a number", v.name, ref, c.name, typ)
					}
				}
			}
		}
		panes, err := f.GetPanes(v.name)
		if err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("%s: header not frozen: %+v %v", v.name, panes, err)
		}
		tables, err := f.GetTables(v.name)
		if err != nil || len(tables) != 1 || !strings.HasPrefix(tables[0].Range, "A1:") {
			t.Errorf("%s: no autofilter table: %+v %v", v.name, tables, err)
		}
		hs, _ := f.GetCellStyle(v.name, "A1")
		st, _ := f.GetStyle(hs)
		if st == nil || st.Font == nil || !st.Font.Bold {
			t.Errorf("%s: header not bold", v.name)
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
	if st, _ := f.GetCellStyle("All refunds", ref); st == 0 {
		t.Errorf("amount cell %s has no number format", ref)
	} else if s, _ := f.GetStyle(st); s.CustomNumFmt == nil || *s.CustomNumFmt != "#,##0.00;-#,##0.00" {
		t.Errorf("amount cell %s format %v", ref, s.CustomNumFmt)
	}
	// A time is a date-time cell.
	ref = findCell(t, f, "All refunds", "R2", "time")
	if st, _ := f.GetCellStyle("All refunds", ref); st == 0 {
		t.Errorf("time cell %s has no date format", ref)
	} else if s, _ := f.GetStyle(st); s.CustomNumFmt == nil || *s.CustomNumFmt != excel.DateTimeFormat {
		t.Errorf("time cell %s format %v", ref, s.CustomNumFmt)
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
	// Summary, the cover: the title with the period, the report's id, every
	// category with its count and exact sums, the inputs with their
	// hashes, and the sign-off block.
	rows, _ := f.GetRows("Summary", excelize.Options{RawCellValue: true})
	flat := ""
	for _, r := range rows {
		flat += strings.Join(r, "|") + "\n"
	}
	for _, s := range []string{"Refund reconciliation report\n", "Period 2026-11-20 to 2026-11-21 (UTC)\n",
		"Report id|" + res.ID(), "Operator|auditor-test", "Tool version|test",
		"MATCHED|CNY|5|264.50|264.50|264.50", "FAILED|CNY|2|21.99|12.00|0.00", "AMOUNT_MISMATCH|USD|0|0.00|7.00|7.00",
		"Refunded|CNY|18|401.50|425.00|23.50", "Refunded|USD|0|0.00|7.00|7.00",
		"results|testdata/sample/results.csv", "statement|testdata/sample/statement.csv", "orders|testdata/sample/orders.csv",
		"Sign-off", "|Name||Signature||Date", "Prepared by", "Reviewed by", "Approved by"} {
		if !strings.Contains(flat, s) {
			t.Errorf("Summary lacks %q:\n%s", s, flat)
		}
	}
	for _, src := range res.Meta.Sources {
		if !strings.Contains(flat, "SHA-256|"+src.SHA256) {
			t.Errorf("Summary lacks the hash of %s", src.Path)
		}
	}
	// A category without rows in a second currency is left off the cover
	// (the CSV has it), but every category shows at least once.
	if strings.Contains(flat, "MATCHED|USD") {
		t.Errorf("Summary lists an empty MATCHED USD line:\n%s", flat)
	}
	for _, c := range Categories() {
		if !strings.Contains(flat, "\n"+c.String()+"|") {
			t.Errorf("Summary lacks category %v", c)
		}
	}
}

func cellAt(rows [][]string, i, j int) string {
	if i < len(rows) && j < len(rows[i]) {
		return rows[i][j]
	}
	return ""
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
	if len(rows) > 0 && len(rows[0]) > 0 {
		rows[0][0] = strings.TrimPrefix(rows[0][0], excel.BOM)
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
