package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/internal/atomicfile"
	"github.com/bulkrefund/bulkrefund/internal/excel"
)

// maxSheetRows is Excel's row limit; a longer table continues on a sheet
// named "All refunds (2)" and so on.
const maxSheetRows = 1_048_576

// reportTitle heads the Summary, every printed page and the file's
// properties.
const reportTitle = "Refund reconciliation report"

// WriteXLSX writes the auditor's workbook, laid out to be read in Excel and
// on paper (A4 or Letter, landscape):
//
//   - Summary, a cover page: the title with the period, who made the
//     report when and with which build, key figures, counts and sums per
//     category, the inputs with their SHA-256, and a sign-off block;
//   - By provider, Exceptions, Failures, Net by order, Totals per day:
//     the columns an auditor reads, one page wide at 8 pt or more, long
//     text wrapped;
//   - All refunds: every column, printed across pages with the refund
//     number and category repeated at the left.
//
// Every sheet repeats its header row on each printed page, and every page
// carries the title, period and report id at the top and "Page X of Y" at
// the bottom. Amounts are number cells with the currency's decimals (see
// excel.Workbook for how they stay exact), times are date-time cells, flags
// read Yes/No. Every sheet is written with excelize's stream writer, so
// memory stays flat however many rows there are.
func WriteXLSX(path string, res *Result, opt ...WriteOptions) error {
	o := writeOptions(opt)
	w, err := newXLSXWriter(res, o.Paper)
	if err != nil {
		return err
	}
	defer w.f.Close()
	tables := map[string]sheet{}
	for _, sh := range res.sheets() {
		tables[sh.file] = sh
	}
	if err := w.f.SetSheetName("Sheet1", "Summary"); err != nil {
		return err
	}
	if err := w.cover("Summary", tables); err != nil {
		return err
	}
	for i := range views {
		if err := w.tableSheets(&views[i], tables[views[i].file]); err != nil {
			return err
		}
	}
	w.f.SetDocProps(&excelize.DocProperties{
		Title:       reportTitle + " " + w.period.String(),
		Subject:     "Refunds reconciled against the providers' records, " + w.period.String(),
		Identifier:  w.id,
		Creator:     res.Meta.Operator,
		Description: "Report " + w.id + ", made by " + res.Meta.ToolVersion,
		Version:     res.Meta.ToolVersion,
	})
	// Summary is the first sheet and so the active one. (SetActiveSheet
	// would parse every streamed sheet back into memory.)
	if err := atomicfile.Write(path, 0o644, func(out io.Writer) error {
		_, err := w.f.WriteTo(out)
		return err
	}); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

type xlsxWriter struct {
	f      *excel.Workbook
	res    *Result
	paper  excel.Paper
	period Period
	id     string
	// Page header and footer of every sheet.
	header, footer string

	// Styles: body cells are top-aligned, so a row whose text wraps reads
	// from its top line.
	head, headNum, body, num, wrap, dateTime, date int
	amount                                         map[int]int // currency scale → style
	// The Summary's own.
	title, subtitle, section, label, labelRule, plain, count, value, mono, sign, signHead, note int
	amountBold                                                                                  map[int]int
}

func newXLSXWriter(res *Result, paper excel.Paper) (*xlsxWriter, error) {
	w := &xlsxWriter{f: excel.New(), res: res, paper: paper, period: res.Period(), id: res.ID(),
		amount: map[int]int{}, amountBold: map[int]int{}}
	top := &excelize.Alignment{Vertical: "top"}
	numAlign := &excelize.Alignment{Vertical: "top", Horizontal: "right", Indent: 1}
	grey := []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}}
	// A light rule under every body row guides the eye along a printed row.
	rule := []excelize.Border{{Type: "bottom", Color: "D9D9D9", Style: 1}}
	headFill := excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}
	styles := []struct {
		id *int
		s  excelize.Style
	}{
		{&w.head, excelize.Style{Font: &excelize.Font{Family: font, Bold: true}, Fill: headFill,
			Border: grey, Alignment: &excelize.Alignment{Vertical: "center", WrapText: true}}},
		// Numbers are right-aligned, so are their headers.
		// Numbers and dates, and their headers, are right-aligned a space
		// from the text column to their right.
		{&w.headNum, excelize.Style{Font: &excelize.Font{Family: font, Bold: true}, Fill: headFill,
			Border: grey, Alignment: &excelize.Alignment{Vertical: "center", Horizontal: "right", Indent: 1, WrapText: true}}},
		{&w.body, excelize.Style{Alignment: top, Border: rule}},
		{&w.num, excelize.Style{Alignment: numAlign, Border: rule}},
		{&w.wrap, excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}, Border: rule}},
		{&w.dateTime, excelize.Style{CustomNumFmt: ptr(excel.DateTimeFormat), Alignment: numAlign, Border: rule}},
		{&w.date, excelize.Style{CustomNumFmt: ptr(excel.DateFormat), Alignment: numAlign, Border: rule}},
		{&w.note, excelize.Style{Font: &excelize.Font{Family: font, Italic: true, Color: "595959"}, Alignment: &excelize.Alignment{Vertical: "top", Indent: 1}}},
		{&w.title, excelize.Style{Font: &excelize.Font{Family: font, Bold: true, Size: 18}}},
		{&w.subtitle, excelize.Style{Font: &excelize.Font{Family: font, Bold: true, Size: 13}}},
		{&w.section, excelize.Style{Font: &excelize.Font{Family: font, Bold: true, Size: 12, Color: "1F3864"},
			Border: []excelize.Border{{Type: "bottom", Color: "1F3864", Style: 1}}}},
		{&w.label, excelize.Style{Font: &excelize.Font{Family: font, Bold: true}, Alignment: top}},
		{&w.labelRule, excelize.Style{Font: &excelize.Font{Family: font, Bold: true}, Alignment: top, Border: rule}},
		{&w.plain, excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", Indent: 1}}},
		{&w.count, excelize.Style{Alignment: numAlign}},
		{&w.value, excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", WrapText: true, Horizontal: "left"}}},
		{&w.mono, excelize.Style{Font: &excelize.Font{Family: "Consolas", Size: 9}, Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}}},
		{&w.sign, excelize.Style{Border: []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}}, Alignment: &excelize.Alignment{Vertical: "bottom"}}},
		{&w.signHead, excelize.Style{Font: &excelize.Font{Family: font, Bold: true}, Alignment: &excelize.Alignment{Vertical: "bottom"}}},
	}
	for _, s := range styles {
		id, err := w.f.NewStyle(&s.s)
		if err != nil {
			return nil, err
		}
		*s.id = id
	}
	// One number format per currency scale: the cell holds the amount and
	// shows exactly the currency's decimals, grouped in thousands.
	for _, scale := range []int{0, 2, 3} {
		nf := excel.AmountFormat(scale, true)
		id, err := w.f.NumberStyle(&excelize.Style{CustomNumFmt: &nf, Alignment: numAlign, Border: rule})
		if err != nil {
			return nil, err
		}
		w.amount[scale] = id
		if id, err = w.f.NumberStyle(&excelize.Style{CustomNumFmt: &nf, Font: &excelize.Font{Family: font, Bold: true}, Alignment: numAlign, Border: rule}); err != nil {
			return nil, err
		}
		w.amountBold[scale] = id
	}
	first, last := w.period.Days()
	period := first
	if last != first {
		period += " – " + last
	}
	// (A digit straight after the &9 size code would be read as part of
	// the size: every part starts with a word.)
	w.header = `&L&9&"-,Bold"` + excel.Escape(reportTitle) + "&C&9Period " + excel.Escape(period) + "&R&9Report " + excel.Escape(w.id)
	w.footer = "&L&9&A&C&9Page &P of &N&R&9Generated " + excel.Escape(timeText(res.Meta.GeneratedAt))
	return w, nil
}

func ptr[T any](v T) *T { return &v }

// font is the workbook's font (excelize's default), named in every style
// that sets a font: a font without a name falls back to the viewer's
// default, a serif in LibreOffice.
const font = "Calibri"

// boldFit is how much of a column's width bold header text may fill: bold
// Calibri is about 3 % wider than regular.
const boldFit = 0.97

// indentWidth is what an indent of 1 takes of a column's width: three
// spaces, by the OOXML definition.
const indentWidth = 1.5

// cell converts a field for the stream writer.
func (w *xlsxWriter) cell(k kind, fv field, wrap bool) any {
	if fv.null {
		return nil
	}
	switch k {
	case kAmount:
		return excel.Amount(w.amount[excel.Scale(fv.cur)], fv.n, fv.cur)
	case kInt:
		return excelize.Cell{StyleID: w.num, Value: fv.n}
	case kBool:
		return excel.YesNo(fv.b)
	case kTime:
		return excel.Time(w.dateTime, fv.t)
	case kDate:
		return excel.Date(w.date, fv.t)
	}
	if fv.s == "" {
		// No cell at all: an empty string would still be written as one.
		return nil
	}
	if wrap {
		return excelize.Cell{StyleID: w.wrap, Value: guard(fv.s)}
	}
	return guard(fv.s)
}

// tableSheets writes one view as a sheet with a styled, frozen header and
// an autofilter (an Excel table without a style), continuing on further
// sheets past Excel's row limit.
func (w *xlsxWriter) tableSheets(v *view, sh sheet) error {
	idx := make([]int, len(v.cols))
	for i, c := range v.cols {
		idx[i] = -1
		for j, d := range sh.cols {
			if d.name == c.name {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return fmt.Errorf("report layout: sheet %s names column %q, which table %s does not have", v.name, c.name, sh.file)
		}
	}
	for part, start := 1, 0; part == 1 || start < sh.n; part++ {
		name := v.name
		tname := strings.ReplaceAll(v.name, " ", "")
		if part > 1 {
			name = fmt.Sprintf("%s (%d)", v.name, part)
			tname += strconv.Itoa(part)
		}
		if _, err := w.f.NewSheet(name); err != nil {
			return err
		}
		if err := w.f.SetPage(name, v.page(w.paper, w.header, w.footer)); err != nil {
			return err
		}
		sw, err := w.f.NewStreamWriter(name)
		if err != nil {
			return err
		}
		for i, c := range v.cols {
			if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
				return err
			}
		}
		panes := &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}
		if v.across {
			panes.XSplit = v.titleCols
			panes.TopLeftCell, _ = excelize.CoordinatesToCellName(v.titleCols+1, 2)
			panes.ActivePane = "bottomRight"
		}
		if err := sw.SetPanes(panes); err != nil {
			return err
		}
		head := make([]any, len(v.cols))
		lines := 1
		for i, c := range v.cols {
			style, room := w.head, c.width
			if k := sh.cols[idx[i]].kind; k == kAmount || k == kInt || k == kTime || k == kDate {
				style, room = w.headNum, c.width-indentWidth
			}
			head[i] = excelize.Cell{StyleID: style, Value: c.name}
			lines = max(lines, excel.WrappedLines(c.name, room*boldFit))
		}
		if err := sw.SetRow("A1", head, excelize.RowOpts{Height: excel.RowHeight(lines)}); err != nil {
			return err
		}
		end := min(sh.n, start+maxSheetRows-1)
		if err := w.streamRows(sw, v, idx, sh, start, end); err != nil {
			return err
		}
		last, _ := excelize.CoordinatesToCellName(len(v.cols), max(2, end-start+1))
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

// rowBatch is a block of prepared rows, ncols values each, with the
// height each row needs.
type rowBatch struct {
	vals   []any
	height []float64
	n      int
}

const batchRows = 1024

// streamRows writes rows [start, end) of sh from sheet row 2 on, the
// view's columns (idx: the table's column of each). The rows are prepared
// (fields filled, reasons written, cells converted) on a second goroutine
// while this one hands the previous block to excelize, so both cores work:
// the stream writer's per-cell cost is most of a large workbook's time.
// Two blocks alternate, so memory stays constant.
func (w *xlsxWriter) streamRows(sw *excelize.StreamWriter, v *view, idx []int, sh sheet, start, end int) error {
	ncols := len(idx)
	free := make(chan *rowBatch, 2)
	full := make(chan *rowBatch, 2)
	done := make(chan struct{})
	for range 2 {
		free <- &rowBatch{vals: make([]any, batchRows*ncols), height: make([]float64, batchRows)}
	}
	go func() {
		defer close(full)
		fields := make([]field, len(sh.cols))
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
				lines := 1
				for k, j := range idx {
					c := v.cols[k]
					row[k] = w.cell(sh.cols[j].kind, fields[j], c.wrap)
					if c.wrap && sh.cols[j].kind == kText && fields[j].s != "" {
						lines = max(lines, excel.WrappedLines(fields[j].s, c.width))
					}
				}
				b.height[b.n] = excel.RowHeight(lines)
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
			if err := sw.SetRow(ref, b.vals[j*ncols:(j+1)*ncols], excelize.RowOpts{StyleID: w.body, Height: b.height[j]}); err != nil {
				return err
			}
			r++
		}
		free <- b
	}
	return nil
}
