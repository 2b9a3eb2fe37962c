package sheet

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/internal/clip"
	"github.com/bulkrefund/bulkrefund/internal/excel"
)

// Guard makes text safe to put in a cell: a spreadsheet evaluates a cell
// starting with '=', '+', '-' or '@' (and some treat a leading tab or CR the
// same way) as a formula, so such text gets a leading apostrophe, which
// spreadsheets show as text. Use it for every text cell written out.
func Guard(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	// Full-width forms are folded to ASCII by some spreadsheets.
	if strings.HasPrefix(s, "＝") || strings.HasPrefix(s, "＋") || strings.HasPrefix(s, "－") || strings.HasPrefix(s, "＠") {
		return "'" + s
	}
	return s
}

// ErrorsWriter writes the --errors file: each invalid row's original cells,
// then `row` and `error` columns. The format follows the extension: .xlsx
// (header styled and frozen, written with excelize's stream writer) or CSV
// (UTF-8 with a BOM so that Excel shows Chinese text).
type ErrorsWriter struct {
	path  string
	width int
	// CSV
	f  *os.File
	bw *bufio.Writer
	cw *csv.Writer
	// XLSX
	x    *excelize.File
	sw   *excelize.StreamWriter
	next int
	buf  []any
}

// ErrorsOptions are how the errors file is written; the zero value is the
// default.
type ErrorsOptions struct {
	// NoBOM leaves out the UTF-8 byte-order mark a CSV errors file starts
	// with by default.
	NoBOM bool
}

// NewErrorsWriter creates path and writes the header. opt, at most one,
// says how.
func NewErrorsWriter(path string, header []string, opt ...ErrorsOptions) (*ErrorsWriter, error) {
	w := &ErrorsWriter{path: path, width: len(header)}
	head := make([]string, 0, len(header)+2)
	for _, h := range header {
		head = append(head, Guard(h))
	}
	head = append(head, "row", "error")
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx":
		w.x = excelize.NewFile()
		const name = "Errors"
		if err := w.x.SetSheetName("Sheet1", name); err != nil {
			return nil, err
		}
		sw, err := w.x.NewStreamWriter(name)
		if err != nil {
			return nil, err
		}
		w.sw = sw
		style, err := w.x.NewStyle(&excelize.Style{
			Font:   &excelize.Font{Bold: true, Color: "FFFFFF"},
			Fill:   excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"C0504D"}},
			Border: []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}},
		})
		if err != nil {
			return nil, err
		}
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return nil, err
		}
		for i := range head {
			width := 16.0
			if i == len(head)-1 {
				width = 80
			}
			if err := sw.SetColWidth(i+1, i+1, width); err != nil {
				return nil, err
			}
		}
		cells := make([]any, len(head))
		for i, h := range head {
			cells[i] = excelize.Cell{StyleID: style, Value: h}
		}
		if err := sw.SetRow("A1", cells); err != nil {
			return nil, err
		}
		w.next = 2
	default:
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		w.f = f
		w.bw = bufio.NewWriter(f)
		if len(opt) == 0 || !opt[0].NoBOM {
			w.bw.WriteString(excel.BOM)
		}
		w.cw = csv.NewWriter(w.bw)
		if err := w.cw.Write(head); err != nil {
			f.Close()
			return nil, err
		}
	}
	return w, nil
}

// Write adds one invalid row. cells are its original cells (padded or kept
// as they are: a ragged row shows all it had).
func (w *ErrorsWriter) Write(row int, cells []string, errs []*RowError) error {
	n := len(cells)
	if n < w.width {
		n = w.width
	}
	out := make([]string, 0, n+2)
	for i := 0; i < n; i++ {
		s := ""
		if i < len(cells) {
			s = cells[i]
		}
		out = append(out, Guard(s))
	}
	reasons := make([]string, 0, len(errs)+1)
	for _, e := range errs {
		reasons = append(reasons, e.Reason())
	}
	// Extra cells of a ragged row would shift row/error out of their
	// columns; keep them visible in the error text instead.
	if len(out) > w.width {
		if extra := strings.TrimRight(strings.Join(cells[w.width:], " | "), " |"); extra != "" {
			reasons = append(reasons, "cells beyond the header: "+extra)
		}
		out = out[:w.width]
	}
	out = append(out, strconv.Itoa(row), Guard(strings.Join(reasons, "; ")))
	if w.cw != nil {
		return w.cw.Write(out)
	}
	w.buf = w.buf[:0]
	for i, s := range out {
		if i == len(out)-2 {
			w.buf = append(w.buf, row)
			continue
		}
		w.buf = append(w.buf, s)
	}
	cell, err := excelize.CoordinatesToCellName(1, w.next)
	if err != nil {
		return err
	}
	w.next++
	return w.sw.SetRow(cell, w.buf)
}

// Close flushes and closes the file.
func (w *ErrorsWriter) Close() error {
	if w.cw != nil {
		w.cw.Flush()
		err := w.cw.Error()
		if e := w.bw.Flush(); err == nil {
			err = e
		}
		if e := w.f.Close(); err == nil {
			err = e
		}
		return err
	}
	err := w.sw.Flush()
	if err == nil {
		err = w.x.SaveAs(w.path)
	}
	if e := w.x.Close(); err == nil {
		err = e
	}
	return err
}

// ErrorLog keeps the first Max error lines for the terminal and counts the rest.
type ErrorLog struct {
	Max   int
	lines []string
	total int
}

// NewErrorLog keeps up to max lines.
func NewErrorLog(max int) *ErrorLog { return &ErrorLog{Max: max} }

// Add records one invalid row's errors.
func (l *ErrorLog) Add(errs []*RowError) {
	for _, e := range errs {
		l.total++
		if len(l.lines) < l.Max {
			l.lines = append(l.lines, e.Error())
		}
	}
}

// Total is the number of errors added, printed or not.
func (l *ErrorLog) Total() int { return l.total }

// maxWarnings bounds the warning lines PrintReport prints (a header of
// thousands of unknown columns would otherwise print thousands).
const maxWarnings = 10

// PrintReport prints what `bulkrefund validate` prints: warnings and up to
// Max error lines on stderr, then the one-line summary on stdout. name is
// the file as the user named it.
func PrintReport(stdout, stderr io.Writer, name string, s Summary, l *ErrorLog) {
	for i, w := range s.Warnings {
		if i == maxWarnings {
			fmt.Fprintf(stderr, "%s: … and %d more warnings\n", name, len(s.Warnings)-i)
			break
		}
		fmt.Fprintf(stderr, "%s: warning: %s\n", name, clip.Line(w))
	}
	if l != nil {
		for _, line := range l.lines {
			fmt.Fprintf(stderr, "%s: %s\n", name, line)
		}
		if more := l.total - len(l.lines); more > 0 {
			noun := "errors"
			if more == 1 {
				noun = "error"
			}
			fmt.Fprintf(stderr, "%s: … and %d more %s (write them all with --errors FILE)\n", name, more, noun)
		}
	}
	fmt.Fprintf(stdout, "%s: %d rows read, %d valid, %d invalid, %d blank skipped\n", name, s.Read, s.Valid, s.Invalid, s.Blank)
}
