package sheet

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// readAll reads a sheet with our reader: each row's number and cells, and
// which cells were number cells.
func readAll(t testing.TB, path, sheet string) (rows map[int][]string, nums map[int][]bool, last int) {
	t.Helper()
	src, err := openSource(path, sheet, DefaultLimits(), false)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer src.close()
	rows, nums = map[int][]string{}, map[int][]bool{}
	for {
		row, cells, rowErr, err := src.next()
		if err == io.EOF {
			return rows, nums, last
		}
		if err != nil || rowErr != nil {
			t.Fatalf("%s row %d: %v %v", path, row, err, rowErr)
		}
		if row != last+1 {
			t.Fatalf("%s: row %d after row %d", path, row, last)
		}
		last = row
		if len(cells) > 0 {
			rows[row] = slices.Clone(cells)
			nums[row] = slices.Clone(src.numeric())
		}
	}
}

// excelizeRows reads a sheet with excelize's row iterator and raw values,
// as the reader this one replaced did.
func excelizeRows(t testing.TB, path, sheet string) (map[int][]string, int) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	it, err := f.Rows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	rows, n := map[int][]string{}, 0
	for it.Next() {
		n++
		cells, err := it.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(cells) > 0 {
			rows[n] = cells
		}
	}
	// excelize counts a trailing run of rows without cells; we stop at the
	// last row element, as it does.
	return rows, n
}

func sameRows(t *testing.T, name string, ours, theirs map[int][]string) {
	t.Helper()
	for row, want := range theirs {
		if got := ours[row]; !slices.Equal(got, want) {
			t.Errorf("%s row %d:\n ours     %q\n excelize %q", name, row, got, want)
		}
	}
	for row, got := range ours {
		if _, ok := theirs[row]; !ok {
			t.Errorf("%s row %d: ours %q, excelize has no cells", name, row, got)
		}
	}
}

// kitchenSink writes a workbook with every kind of cell excelize writes,
// in a normal sheet, a stream-written sheet (inline strings) and a hidden
// one.
func kitchenSink(t testing.TB, path string) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	rich := []excelize.RichTextRun{{Text: "bold ", Font: &excelize.Font{Bold: true}}, {Text: "and plain"}}
	values := []any{
		"text", "  spaces kept  ", "line\nbreak", "crlf\r\nbreak", `<&>"'`, "_x0041_ literal", "ctrl\x01\x08char",
		"退款原因 ✓ 🎉", "", 12.5, 0.1 + 0.2, 1e21, -3.25, int64(20261101001), int64(1234567890123456), true, false,
		time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC), "=not a formula", "12.50", "٣٤", strings.Repeat("長", 300),
	}
	for i, v := range values {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		if err := f.SetCellValue("Sheet1", cell, v); err != nil {
			t.Fatal(err)
		}
	}
	// Row 3 skips row 2; cells skip columns; a formula with a cached
	// value, one without, a string formula, an error, rich text.
	f.SetCellValue("Sheet1", "B3", "b3")
	f.SetCellValue("Sheet1", "E3", 7.0)
	f.SetCellFormula("Sheet1", "F3", "E3*2")
	f.SetCellValue("Sheet1", "F3", 14.0)
	f.SetCellFormula("Sheet1", "F3", "E3*2")
	f.SetCellFormula("Sheet1", "G3", "E3*3")
	f.SetCellFormula("Sheet1", "H3", `"a"&"b"`)
	f.SetCellRichText("Sheet1", "I3", rich)
	f.SetCellValue("Sheet1", "AB7", "far")
	f.SetCellValue("Sheet1", "A9", "after a gap")
	f.SetCellStr("Sheet1", "A10", "4.20000114820211E+27")
	f.SetCellValue("Sheet1", "B10", 4.20000114820211e27)

	f.NewSheet("Stream")
	sw, err := f.NewStreamWriter("Stream")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i*2)
		if err := sw.SetRow(cell, []any{fmt.Sprintf("R%d", i), float64(i) / 8, "id " + strings.Repeat("x", i), nil, true, excelize.Cell{Formula: "B1*2", Value: 3}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.NewSheet("Hidden")
	f.SetCellValue("Hidden", "C2", "hidden")
	f.SetSheetVisible("Hidden", false)
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

// TestXLSXMatchesExcelize reads every workbook fixture and a kitchen-sink
// workbook with both readers: the cells must be the same, row for row.
func TestXLSXMatchesExcelize(t *testing.T) {
	sink := filepath.Join(t.TempDir(), "sink.xlsx")
	kitchenSink(t, sink)
	cases := []struct{ path, sheet string }{
		{sink, "Sheet1"}, {sink, "Stream"}, {sink, "Hidden"},
		{"testdata/formulas.xlsx", "说明"}, {"testdata/formulas.xlsx", "退款"}, {"testdata/formulas.xlsx", "QuickPay"},
		{"testdata/gaps.xlsx", "Sheet1"}, {"testdata/numeric_id.xlsx", "Sheet1"},
		{"../../samples/refunds.xlsx", "退款明细"},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path)+"/"+c.sheet, func(t *testing.T) {
			ours, _, last := readAll(t, c.path, c.sheet)
			theirs, n := excelizeRows(t, c.path, c.sheet)
			sameRows(t, c.path, ours, theirs)
			if last != n {
				t.Errorf("we read %d rows, excelize %d", last, n)
			}
		})
	}
	// Cell types: numbers are flagged, text, booleans and formulas'
	// string results are not.
	_, nums, _ := readAll(t, sink, "Sheet1")
	for col, want := range map[int]bool{0: false, 9: true, 13: true, 14: true, 15: false, 17: true, 19: false} {
		if nums[1][col] != want {
			t.Errorf("row 1 cell %d numeric = %v, want %v", col, nums[1][col], want)
		}
	}
	if !nums[10][1] || nums[10][0] {
		t.Errorf("row 10: the text %q and the number must differ: %v", "4.20000114820211E+27", nums[10])
	}
}

// TestXLSXHandWritten covers what excelize does not write but other
// programs do: prefixed element names, inline strings with phonetic runs,
// CDATA, comments, entities, self-closing rows and cells, rows and cells
// without references, a UTF-8 BOM, shared strings with rich text.
func TestXLSXHandWritten(t *testing.T) {
	sheet := "\ufeff" + `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!-- written by hand -->
<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
 <x:sheetData>
  <x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="C1" t="s"><x:v> 1 </x:v></x:c></x:row>
  <x:row><x:c t="inlineStr"><x:is><x:r><x:t>東京</x:t></x:r><x:rPh sb="0" eb="2"><x:t>トウキョウ</x:t></x:rPh></x:is></x:c><x:c><x:v>1.5E+3</x:v></x:c></x:row>
  <x:row r="4"/>
  <x:row r="6"><x:c r="B6" t="str"><x:v><![CDATA[a<b]]>&amp;c&#x41;&#66;</x:v></x:c><x:c r="C6" t="b"><x:v>1</x:v></x:c><x:c r="D6" t="e"><x:v>#N/A</x:v></x:c><x:c r="E6"/><x:c r="F6" s="1"><x:f>1+1</x:f></x:c></x:row>
  <x:row r="7"><x:c r="A7" t="inlineStr"><x:v>v only</x:v></x:c><x:c r="B7" t="d"><x:v>2026-11-20T10:30:00Z</x:v></x:c></x:row>
 </x:sheetData>
 <x:extLst><x:ext><deep><deeper/></deep></x:ext></x:extLst>
</x:worksheet>`
	sst := `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2">` +
		`<si><t xml:space="preserve"> provider </t></si><si><r><rPr><b/></rPr><t>rich</t></r><r><t xml:space="preserve"> text_x000D_</t></r></si></sst>`
	path := writeXLSX(t, map[string]string{"xl/worksheets/sheet1.xml": sheet, "xl/sharedStrings.xml": sst})
	ours, nums, last := readAll(t, path, "")
	want := map[int][]string{
		1: {" provider ", "", "rich text\r"},
		2: {"東京", "1.5E+3"},
		6: {"", "a<b&cAB", "1", "#N/A", "", ""},
		7: {"v only", "2026-11-20T10:30:00Z"},
	}
	sameRows(t, "hand-written", ours, want)
	if last != 7 {
		t.Errorf("last row %d, want 7", last)
	}
	if !nums[2][1] || nums[2][0] || nums[6][2] {
		t.Errorf("cell types %v", nums)
	}
	theirs, _ := excelizeRows(t, path, "Sheet1")
	sameRows(t, "excelize", ours, theirs)
}

// writeXLSX makes a minimal workbook: one visible sheet, Sheet1, whose
// parts are given (and may replace the defaults).
func writeXLSX(t testing.TB, parts map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hand.xlsx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeWorkbook(f, parts); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeWorkbook(w io.Writer, parts map[string]string) error {
	all := map[string]string{
		"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`,
		"_rels/.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml": `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
			`<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml": `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>`,
		"xl/sharedStrings.xml":     `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>`,
	}
	for k, v := range parts {
		all[k] = v
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	slices.Sort(names)
	zw := zip.NewWriter(w)
	for _, name := range names {
		fw, err := zw.Create(name)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(fw, all[name]); err != nil {
			return err
		}
	}
	return zw.Close()
}

// TestXLSXDamaged: whatever is wrong with a workbook's XML is an
// unreadable-file error naming the part, never rows made up or dropped.
func TestXLSXDamaged(t *testing.T) {
	row := func(s string) string {
		return `<worksheet><sheetData>` + s + `</sheetData></worksheet>`
	}
	cases := map[string]string{
		"mismatched tags":     row(`<row r="1"><c r="A1"><v>1</c></v></row>`),
		"truncated":           `<worksheet><sheetData><row r="1"><c r="A1"><v>1</v>`,
		"unknown entity":      row(`<row r="1"><c r="A1" t="str"><v>&nbsp;</v></c></row>`),
		"doctype":             `<!DOCTYPE x [<!ENTITY a "aaaa">]>` + row(``),
		"rows backwards":      row(`<row r="5"/><row r="3"/>`),
		"bad cell reference":  row(`<row r="1"><c r="1A"><v>1</v></c></row>`),
		"bad shared string":   row(`<row r="1"><c r="A1" t="s"><v>7</v></c></row>`),
		"non-numeric sst ref": row(`<row r="1"><c r="A1" t="s"><v>x</v></c></row>`),
		"invalid UTF-8":       row("<row r=\"1\"><c r=\"A1\" t=\"str\"><v>\xff</v></c></row>"),
		"control character":   row("<row r=\"1\"><c r=\"A1\" t=\"str\"><v>a\x01b</v></c></row>"),
		"unquoted attribute":  row(`<row r=1/>`),
	}
	for name, xml := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeXLSX(t, map[string]string{"xl/worksheets/sheet1.xml": xml})
			src, err := openSource(path, "", DefaultLimits(), false)
			for err == nil {
				_, _, _, err = src.next()
			}
			if !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want an unreadable-file error naming the file", err)
			}
			if src != nil {
				src.close()
			}
		})
	}
	// A workbook whose sheet part is missing, or whose zip is cut.
	path := writeXLSX(t, nil)
	b, _ := os.ReadFile(path)
	var buf bytes.Buffer
	zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if f.Name != "xl/worksheets/sheet1.xml" {
			zw.Copy(f)
		}
	}
	zw.Close()
	os.WriteFile(path, buf.Bytes(), 0o600)
	if _, err := openSource(path, "", DefaultLimits(), false); !errors.Is(err, ErrUnreadable) {
		t.Errorf("missing sheet part: %v", err)
	}
}
