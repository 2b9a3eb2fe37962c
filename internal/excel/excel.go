// Package excel holds what every workbook and CSV file bulkrefund writes
// has in common, so that a finance user's Excel keeps each cell as what it
// means: amounts are number cells holding the exact decimal (SUM works, and
// no digit is lost on the way), times are date-time cells, every page of a
// printout repeats its header rows and says which report and page it is,
// and CSV files start with the byte-order mark Excel needs to read UTF-8.
//
// Workbooks are written with excelize's stream writer, so a million rows
// stay in bounded memory; see Workbook for how exact numbers get through it.
package excel

import (
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/money"
)

// BOM is the UTF-8 byte-order mark. Excel opens a CSV file by double-click
// in the system's legacy code page (GBK on a Chinese Windows) unless the
// file starts with it, and then shows 退款成功 as mojibake. Every CSV file
// bulkrefund writes starts with it unless the caller asks otherwise; every
// CSV reader of bulkrefund skips it.
const BOM = "\uFEFF"

// Number formats. Times are written in UTC and say so: a date-time cell
// has no zone, and the "Z" keeps the text Excel shows identical to the
// RFC 3339 text of the CSV file, which is also what a reader that takes
// formatted cell text (as reconcile's does) parses back.
const (
	DateTimeFormat = `yyyy-mm-dd"T"hh:mm:ss"Z"`
	DateFormat     = "yyyy-mm-dd"
)

// AmountFormat is the number format of amounts with scale decimals (a
// currency's minor-unit digits: 2 for CNY, 0 for JPY, 3 for KWD), with
// thousands separators when grouped. The decimals are always shown, so an
// amount reads as the same text as in the CSV file.
func AmountFormat(scale int, grouped bool) string {
	nf := "0"
	if grouped {
		nf = "#,##0"
	}
	if scale > 0 {
		nf += "." + strings.Repeat("0", scale)
	}
	return nf + ";-" + nf
}

// Scale is the currency's minor-unit digits; 2 for a code money does not
// know (readers reject those at the edge, so it never shows in a report).
func Scale(cur money.Currency) int {
	if s, ok := cur.Scale(); ok {
		return s
	}
	return 2
}

// Amount is the cell of an amount of minor units in style, which must come
// from Workbook.NumberStyle: the exact decimal text (money.Format), which
// the workbook stores as a number (see Workbook).
func Amount(style int, minor int64, cur money.Currency) excelize.Cell {
	return excelize.Cell{StyleID: style, Value: money.Format(minor, cur)}
}

// Time is a date-time cell (nil for the zero time) in UTC, truncated to the
// second as the CSV's RFC 3339 text is, so both show the same instant.
func Time(style int, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return excelize.Cell{StyleID: style, Value: t.UTC().Truncate(time.Second)}
}

// Date is a date cell for a calendar day (nil for the zero time): the
// day's midnight, taken from t's own year, month and day.
func Date(style int, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	y, m, d := t.Date()
	return excelize.Cell{StyleID: style, Value: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// YesNo is how a flag reads in a workbook.
func YesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// Workbook is an excelize file whose worksheets are written with stream
// writers, with exact number cells.
//
// excelize's stream writer writes a number only from a Go integer or
// float64, and a float64 holds 15 to 17 significant digits: 17-digit fen
// amounts (and some of 16) have no float64 that prints back as their
// decimal. So amounts never become floats here. They are handed to the
// stream writer as their exact decimal text in a style made by NumberStyle,
// and as the workbook is saved, each such cell's XML
//
//	<c r="K2" s="7" t="inlineStr"><is><t>123456789012345.67</t></is></c>
//
// is rewritten to a number cell holding that very decimal:
//
//	<c r="K2" s="7"><v>123456789012345.67</v></c>
//
// The file then stores the exact amount; whatever reads it gets the digits
// that were written (Excel itself keeps 15 significant digits of any
// number, which is Excel's limit, not the file's).
type Workbook struct {
	*excelize.File
	numeric map[int]bool
}

// New starts a workbook (its first sheet is "Sheet1").
func New() *Workbook {
	w := &Workbook{File: excelize.NewFile(), numeric: map[int]bool{}}
	w.File.ZipWriter = w.zipWriter
	return w
}

// NumberStyle registers a style for cells whose decimal text is to be
// stored as a number. Give it a number format; a style equal to one made
// with NewStyle shares its id (excelize merges equal styles), so keep such
// styles for numbers.
func (w *Workbook) NumberStyle(s *excelize.Style) (int, error) {
	id, err := w.NewStyle(s)
	if err != nil {
		return 0, err
	}
	w.numeric[id] = true
	return id, nil
}
