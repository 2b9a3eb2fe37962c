// Package results writes a run's results file: every item with its state and
// what the provider said, as CSV or XLSX (by the file name's extension), in
// the results format shared with reconcile.
package results

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/atomicfile"
	"github.com/bulkrefund/bulkrefund/internal/excel"
	"github.com/bulkrefund/bulkrefund/money"
)

// Header is the results file's header row, in order.
var Header = []string{"row", "provider", "account", "order_no", "provider_order_id", "refund_no", "action",
	"amount", "currency", "state", "provider_refund_id", "provider_code", "provider_message",
	"attempts", "first_attempt", "last_attempt", "error"}

// ErrFormat: the results file name has an extension other than .csv or .xlsx.
var ErrFormat = errors.New("results file must end in .csv or .xlsx")

// Fields renders one record as the results row: amounts in major units,
// times RFC3339 UTC ("" if none). Text is returned raw; writers guard it.
func Fields(r store.Record) []string {
	return []string{
		strconv.Itoa(r.Row), r.Provider, r.Account, r.OrderNo, r.ProviderOrderID, r.RefundNo, string(r.Action),
		money.Format(r.Amount, r.Currency), string(r.Currency), string(r.State),
		r.ProviderRefundID, r.ProviderCode, r.ProviderMessage,
		strconv.Itoa(r.Attempts), fmtTime(r.FirstAttempt), fmtTime(r.LastAttempt), r.LastError,
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// textColumns are the columns whose values come from a sheet or a provider
// and so may start with a formula character.
var textColumns = map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 10: true, 11: true, 12: true, 16: true}

// Guard defuses text a spreadsheet would take as a formula (=, +, -, @, or a
// leading tab/CR) by prefixing an apostrophe, the OWASP CSV-injection advice.
// It is exactly reversible by Unguard, so that reconcile reads back the ids
// that were written: text already starting with apostrophes before a formula
// character gets one more.
func Guard(s string) string {
	if needsGuard(s) {
		return "'" + s
	}
	return s
}

// Unguard undoes Guard: Unguard(Guard(s)) == s for every s.
func Unguard(s string) string {
	if len(s) > 1 && s[0] == '\'' && needsGuard(s[1:]) {
		return s[1:]
	}
	return s
}

// needsGuard: s is apostrophes (possibly none) then a formula character.
func needsGuard(s string) bool {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	if i == len(s) {
		return false
	}
	switch s[i] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// Options are how a results file is written; the zero value is the
// default. Each writer takes at most one.
type Options struct {
	// NoBOM leaves out the UTF-8 byte-order mark a CSV file starts with by
	// default (Excel needs it to show Chinese text; see excel.BOM).
	NoBOM bool
	// Paper is the paper the XLSX is set up to print on: A4 unless Letter.
	Paper excel.Paper
}

func options(opt []Options) Options {
	if len(opt) > 0 {
		return opt[0]
	}
	return Options{}
}

// WriteFile writes every record of st to path, as CSV or XLSX by extension.
// It writes to a temporary file beside path and renames it, so a reader never
// sees half a file.
func WriteFile(ctx context.Context, path string, st store.Store, opt ...Options) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".csv" && ext != ".xlsx" {
		return fmt.Errorf("%w: %q", ErrFormat, path)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if ext == ".csv" {
			return WriteCSV(ctx, w, st, opt...)
		}
		return WriteXLSX(ctx, w, st, opt...)
	})
}

// WriteCSV writes the results as CSV: UTF-8 with a byte-order mark (so that
// Excel shows Chinese text; reconcile skips it) unless opt says NoBOM,
// header first.
func WriteCSV(ctx context.Context, w io.Writer, st store.Store, opt ...Options) error {
	if !options(opt).NoBOM {
		if _, err := io.WriteString(w, excel.BOM); err != nil {
			return err
		}
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	err := st.Each(ctx, func(r store.Record) error {
		f := Fields(r)
		for i := range f {
			if textColumns[i] {
				f[i] = Guard(f[i])
			}
		}
		return cw.Write(f)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// The XLSX's columns: width, and whether long text wraps. The sheet prints
// landscape at 80 % (text at 8.8 pt) over two pages across, row to state
// on the first and the provider's answer on the second, with the header
// row and the row column repeated on every page.
var xlsxCols = []struct {
	width float64
	wrap  bool
}{
	{8, false}, {9, false}, {19, true}, {20, true}, {18, true}, {22, true}, {7, false},
	{14, false}, {8, false}, {10, false}, {31, true}, {16, true}, {30, true}, {10, false}, {21, false},
	{21, false}, {40, true},
}

// Column indexes of the typed cells.
const (
	colRow, colAmount, colAttempts, colFirst, colLast = 0, 7, 13, 14, 15
)

// WriteXLSX writes the results as one "Results" sheet through excelize's
// stream writer (bounded memory for any row count), as Excel keeps them:
// the amount a number cell with the currency's decimals, holding the exact
// decimal (see excel.Workbook: money never passes through a float); the
// attempt times date-time cells shown as the CSV's RFC 3339 text; row and
// attempts numbers; text guarded. Amounts have no thousands separators, so
// that a reader of the cells' formatted text (reconcile's) reads back the
// CSV's exact text. Printed, the header row and the row column repeat on
// every page, and every page names the batch and says "Page X of Y".
func WriteXLSX(ctx context.Context, w io.Writer, st store.Store, opt ...Options) error {
	o := options(opt)
	f := excel.New()
	defer f.Close()
	const sheet = "Results"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	m, err := st.Meta(ctx)
	if err != nil && !errors.Is(err, store.ErrNoBatch) {
		return err
	}
	left := "Refund results"
	if m.SourcePath != "" {
		left += " of " + filepath.Base(m.SourcePath)
	}
	batchID := m.BatchID
	if len(batchID) > 16 {
		batchID = batchID[:16]
	}
	if err := f.SetPage(sheet, excel.Page{Paper: o.Paper, Scale: 80, TitleRows: 1, TitleCols: 1,
		Header: "&L&9" + excel.Escape(left) + "&R&9Batch " + excel.Escape(batchID),
		Footer: "&L&9Run started " + excel.Escape(fmtTime(m.Created)) + "&C&9Page &P of &N"}); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	top := &excelize.Alignment{Vertical: "top"}
	rule := []excelize.Border{{Type: "bottom", Color: "D9D9D9", Style: 1}}
	headStyle := excelize.Style{Font: &excelize.Font{Family: "Calibri", Bold: true, Color: "FFFFFF"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"305496"}}, Alignment: &excelize.Alignment{Vertical: "center", WrapText: true}}
	head, err := f.NewStyle(&headStyle)
	if err != nil {
		return err
	}
	// Numbers, and their headers, are right-aligned a space from the text
	// to their right.
	numAlign := &excelize.Alignment{Vertical: "top", Horizontal: "right", Indent: 1}
	headStyle.Alignment = &excelize.Alignment{Vertical: "center", Horizontal: "right", Indent: 1}
	headNum, _ := f.NewStyle(&headStyle)
	body, _ := f.NewStyle(&excelize.Style{Alignment: top, Border: rule})
	num, _ := f.NewStyle(&excelize.Style{Alignment: numAlign, Border: rule})
	wrap, _ := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}, Border: rule})
	dtf := excel.DateTimeFormat
	dateTime, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &dtf, Alignment: top, Border: rule})
	amount := map[int]int{}
	for _, scale := range []int{0, 2, 3} {
		nf := excel.AmountFormat(scale, false)
		if amount[scale], err = f.NumberStyle(&excelize.Style{CustomNumFmt: &nf, Alignment: numAlign, Border: rule}); err != nil {
			return err
		}
	}
	for i, c := range xlsxCols {
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, XSplit: 1, YSplit: 1, TopLeftCell: "B2", ActivePane: "bottomRight"}); err != nil {
		return err
	}
	hc := make([]any, len(Header))
	for i, h := range Header {
		hc[i] = excelize.Cell{StyleID: head, Value: h}
		if i == colRow || i == colAmount || i == colAttempts {
			hc[i] = excelize.Cell{StyleID: headNum, Value: h}
		}
	}
	if err := sw.SetRow("A1", hc, excelize.RowOpts{Height: 18}); err != nil {
		return err
	}
	n := 1
	row := make([]any, len(Header))
	err = st.Each(ctx, func(r store.Record) error {
		n++
		lines := 1
		for i, v := range Fields(r) {
			if textColumns[i] {
				v = Guard(v)
			}
			switch {
			case v == "":
				row[i] = nil
			case xlsxCols[i].wrap:
				row[i] = excelize.Cell{StyleID: wrap, Value: v}
				lines = max(lines, excel.WrappedLines(v, xlsxCols[i].width))
			default:
				row[i] = v
			}
		}
		row[colRow], row[colAttempts] = excelize.Cell{StyleID: num, Value: r.Row}, excelize.Cell{StyleID: num, Value: r.Attempts}
		row[colAmount] = excel.Amount(amount[excel.Scale(r.Currency)], r.Amount, r.Currency)
		row[colFirst], row[colLast] = excel.Time(dateTime, r.FirstAttempt), excel.Time(dateTime, r.LastAttempt)
		cell, _ := excelize.CoordinatesToCellName(1, n)
		return sw.SetRow(cell, row, excelize.RowOpts{StyleID: body, Height: excel.RowHeight(lines)})
	})
	if err != nil {
		return err
	}
	last, _ := excelize.CoordinatesToCellName(len(Header), max(2, n))
	off := false
	if err := sw.AddTable(&excelize.Table{Range: "A1:" + last, Name: "Results", ShowRowStripes: &off}); err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}
