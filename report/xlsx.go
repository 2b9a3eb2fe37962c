package report

import (
	"archive/zip"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/internal/atomicfile"
	"github.com/bulkrefund/bulkrefund/money"
)

// maxSheetRows is Excel's row limit; a longer table continues on a sheet
// named "All refunds (2)" and so on.
const maxSheetRows = 1_048_576

// WriteXLSX writes the auditor's workbook: Summary (counts and sums per
// category, totals per provider/account/currency/day, the inputs with their
// SHA-256, and who/when/which version), Exceptions, Failures, Net by order
// and All refunds. Every sheet is written with excelize's stream writer, so
// memory stays flat however many rows there are.
func WriteXLSX(path string, res *Result) error {
	f := excelize.NewFile()
	defer f.Close()
	// The XML of a million-row sheet is a gigabyte; default deflate spends
	// more time on it than everything else together. Fastest deflate makes
	// a somewhat larger file in a fraction of the time.
	f.ZipWriter = func(w io.Writer) excelize.ZipWriter {
		zw := zip.NewWriter(w)
		zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, flate.BestSpeed)
		})
		return zw
	}
	w, err := newXLSXStyles(f)
	if err != nil {
		return err
	}
	if err := f.SetSheetName("Sheet1", "Summary"); err != nil {
		return err
	}
	sheets := res.sheets()
	var summary []sheet
	for _, sh := range sheets {
		if sh.summary {
			summary = append(summary, sh)
		}
	}
	if err := w.summarySheet("Summary", summary); err != nil {
		return err
	}
	for _, sh := range sheets {
		if sh.summary {
			continue
		}
		if err := w.tableSheets(sh); err != nil {
			return err
		}
	}
	f.SetDocProps(&excelize.DocProperties{
		Title:   "bulkrefund reconciliation report",
		Creator: res.Meta.Operator,
		Version: res.Meta.ToolVersion,
	})
	// Summary is the first sheet and so the active one. (SetActiveSheet
	// would parse every streamed sheet back into memory.)
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := f.WriteTo(w)
		return err
	}); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

type xlsxWriter struct {
	f             *excelize.File
	header, title int
	amount        map[int]int // currency scale → style
}

func newXLSXStyles(f *excelize.File) (*xlsxWriter, error) {
	w := &xlsxWriter{f: f, amount: map[int]int{}}
	var err error
	w.header, err = f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Border:    []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}},
		Alignment: &excelize.Alignment{Vertical: "center"},
	})
	if err != nil {
		return nil, err
	}
	if w.title, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 13}}); err != nil {
		return nil, err
	}
	// One number format per currency scale: the cell holds the major-unit
	// value and shows exactly the currency's decimals.
	for _, scale := range []int{0, 2, 3} {
		nf := "#,##0"
		if scale > 0 {
			nf += "." + strings.Repeat("0", scale)
		}
		nf = nf + ";-" + nf
		id, err := f.NewStyle(&excelize.Style{CustomNumFmt: &nf})
		if err != nil {
			return nil, err
		}
		w.amount[scale] = id
	}
	return w, nil
}

// cell converts a field for the stream writer. An amount becomes the
// float64 nearest its exact decimal text; excelize writes that float back
// with the shortest round-trip formatting, which is the same decimal text
// for any amount under 10^15 minor units, so the file holds the exact value.
func (w *xlsxWriter) cell(k kind, fv field) any {
	if fv.null {
		return nil
	}
	switch k {
	case kAmount:
		scale, ok := fv.cur.Scale()
		if !ok {
			scale = 2
		}
		// Division is correctly rounded, so this is the double nearest the
		// exact decimal minor/10^scale: the same value ParseFloat would give
		// for the decimal text, without formatting and parsing each amount.
		v := float64(fv.n) / float64(money.Pow10(scale))
		return excelize.Cell{StyleID: w.amount[scale], Value: v}
	case kInt:
		return fv.n
	case kBool:
		return fv.b
	}
	if fv.s == "" {
		// No cell at all: an empty string would still be written as one.
		return nil
	}
	return guard(fv.s)
}

func (w *xlsxWriter) headerRow(cols []colDef) []any {
	row := make([]any, len(cols))
	for i, c := range cols {
		row[i] = excelize.Cell{StyleID: w.header, Value: c.name}
	}
	return row
}

// summarySheet stacks the summary tables, each under a title.
func (w *xlsxWriter) summarySheet(name string, parts []sheet) error {
	if err := w.printLandscape(name); err != nil {
		return err
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	widths := map[int]float64{}
	for _, p := range parts {
		for i, c := range p.cols {
			widths[i] = max(widths[i], c.width)
		}
	}
	for i := 0; i < len(widths); i++ {
		if err := sw.SetColWidth(i+1, i+1, widths[i]); err != nil {
			return err
		}
	}
	r := 1
	set := func(vals []any) error {
		ref, _ := excelize.CoordinatesToCellName(1, r)
		r++
		return sw.SetRow(ref, vals)
	}
	if err := set([]any{excelize.Cell{StyleID: w.title, Value: "bulkrefund reconciliation report"}}); err != nil {
		return err
	}
	r++
	for _, p := range parts {
		if err := set([]any{excelize.Cell{StyleID: w.title, Value: p.title}}); err != nil {
			return err
		}
		if err := set(w.headerRow(p.cols)); err != nil {
			return err
		}
		fields := make([]field, len(p.cols))
		vals := make([]any, len(p.cols))
		for i := 0; i < p.n; i++ {
			p.fill(i, fields)
			for k, c := range p.cols {
				vals[k] = w.cell(c.kind, fields[k])
			}
			if err := set(vals); err != nil {
				return err
			}
		}
		r++
	}
	return sw.Flush()
}

// printLandscape sets a sheet to print landscape, as wide as one page: an
// auditor who prints the report gets whole rows, not columns scattered over
// several pages. Call it before the sheet's stream writer is made: the
// stream writes the sheet properties first.
func (w *xlsxWriter) printLandscape(name string) error {
	fit, landscape, wide, tall := true, "landscape", 1, 0
	if err := w.f.SetSheetProps(name, &excelize.SheetPropsOptions{FitToPage: &fit}); err != nil {
		return err
	}
	return w.f.SetPageLayout(name, &excelize.PageLayoutOptions{Orientation: &landscape, FitToWidth: &wide, FitToHeight: &tall})
}

// tableSheets writes one table as a sheet with a styled, frozen header and
// an autofilter (an Excel table without a style), continuing on further
// sheets past Excel's row limit.
func (w *xlsxWriter) tableSheets(sh sheet) error {
	for part, start := 1, 0; part == 1 || start < sh.n; part++ {
		name := sh.title
		tname := strings.ReplaceAll(sh.title, " ", "")
		if part > 1 {
			name = fmt.Sprintf("%s (%d)", sh.title, part)
			tname += strconv.Itoa(part)
		}
		if _, err := w.f.NewSheet(name); err != nil {
			return err
		}
		if err := w.printLandscape(name); err != nil {
			return err
		}
		sw, err := w.f.NewStreamWriter(name)
		if err != nil {
			return err
		}
		for i, c := range sh.cols {
			if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
				return err
			}
		}
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return err
		}
		if err := sw.SetRow("A1", w.headerRow(sh.cols)); err != nil {
			return err
		}
		end := min(sh.n, start+maxSheetRows-1)
		if err := w.streamRows(sw, sh, start, end); err != nil {
			return err
		}
		last, _ := excelize.CoordinatesToCellName(len(sh.cols), max(2, end-start+1))
		showStripes := false
		if err := sw.AddTable(&excelize.Table{Range: "A1:" + last, Name: tname, ShowRowStripes: &showStripes}); err != nil {
			return err
		}
		if err := sw.Flush(); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// rowBatch is a block of prepared rows, ncols values each.
type rowBatch struct {
	vals []any
	n    int
}

const batchRows = 1024

// streamRows writes rows [start, end) of sh from sheet row 2 on. The rows
// are prepared (fields filled, reasons written, cells converted) on a
// second goroutine while this one hands the previous block to excelize, so
// both cores work: the stream writer's per-cell cost is most of a large
// workbook's time. Two blocks alternate, so memory stays constant.
func (w *xlsxWriter) streamRows(sw *excelize.StreamWriter, sh sheet, start, end int) error {
	ncols := len(sh.cols)
	free := make(chan *rowBatch, 2)
	full := make(chan *rowBatch, 2)
	done := make(chan struct{})
	for range 2 {
		free <- &rowBatch{vals: make([]any, batchRows*ncols)}
	}
	go func() {
		defer close(full)
		fields := make([]field, ncols)
		for i := start; i < end; {
			var b *rowBatch
			select {
			case b = <-free:
			case <-done:
				return
			}
			b.n = 0
			for ; i < end && b.n < batchRows; i++ {
				sh.fill(i, fields)
				row := b.vals[b.n*ncols : (b.n+1)*ncols]
				for k, c := range sh.cols {
					row[k] = w.cell(c.kind, fields[k])
				}
				b.n++
			}
			select {
			case full <- b:
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	r := 2
	for b := range full {
		for j := 0; j < b.n; j++ {
			ref, _ := excelize.CoordinatesToCellName(1, r)
			if err := sw.SetRow(ref, b.vals[j*ncols:(j+1)*ncols]); err != nil {
				return err
			}
			r++
		}
		free <- b
	}
	return nil
}
