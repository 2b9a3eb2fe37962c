package excel

import (
	"fmt"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Paper is the paper size a workbook is set up for. Sheets are laid out to
// fit both (the narrower printable width, Letter's, decides), so a printer
// loaded with the other one prints the same pages.
type Paper uint8

const (
	A4 Paper = iota
	Letter
)

func (p Paper) String() string {
	if p == Letter {
		return "Letter"
	}
	return "A4"
}

// excelSize is the paperSize code of the worksheet's page setup.
func (p Paper) excelSize() int {
	if p == Letter {
		return 1
	}
	return 9
}

// Landscape widths in points, and the page margins every sheet gets.
const (
	a4Landscape     = 841.89
	letterLandscape = 792.0
	marginSide      = 0.4 // inches, left and right
	marginTop       = 0.75
	marginBottom    = 0.6
	marginHeader    = 0.3
	marginFooter    = 0.3
)

// BodyPoints is the font size of a workbook's cells (excelize's default,
// Calibri 11); MinPrintedPoints is the smallest print we accept. A sheet
// printed at scale s shows its text at BodyPoints·s.
const (
	BodyPoints       = 11.0
	MinPrintedPoints = 8.0
	// MinScale is the least print scale, in percent, that keeps text at
	// MinPrintedPoints or more: 73 % of 11 pt is 8.03 pt.
	MinScale = 73
)

// PrintableWidth is the width in points between the side margins of a
// landscape page of the narrower paper.
func PrintableWidth() float64 {
	return min(a4Landscape, letterLandscape) - 2*marginSide*72
}

// ColumnPoints is how wide a column of Excel width w prints at 100 %:
// Excel's width is in characters of the default font's widest digit (7
// pixels for Calibri 11 at 96 dpi) plus 5 pixels of padding.
func ColumnPoints(w float64) float64 { return (7*w + 5) * 0.75 }

// FitScale is the scale, at most 1, at which columns of these widths fit
// one page wide on either paper.
func FitScale(widths []float64) float64 {
	var total float64
	for _, w := range widths {
		total += ColumnPoints(w)
	}
	return min(1, PrintableWidth()/total)
}

// Page is how one sheet prints.
type Page struct {
	Paper Paper
	// FitWidth shrinks the sheet to one page wide. Only for sheets whose
	// columns FitScale puts at MinScale or more; wider sheets print at
	// Scale across several pages, with TitleCols repeated on each.
	FitWidth bool
	Scale    int // percent, when not FitWidth; 0 means 100
	// TitleRows rows at the top and TitleCols columns at the left print on
	// every page (Excel's print titles, the _xlnm.Print_Titles name).
	TitleRows, TitleCols int
	// Header and Footer are Excel header/footer strings, such as
	// "&L"+Escape(title)+"&RPage &P of &N" (see Escape).
	Header, Footer string
}

// Escape makes text safe inside a header or footer string, where & starts
// a code.
func Escape(s string) string { return strings.ReplaceAll(s, "&", "&&") }

// SetPage sets how sheet prints: landscape on the paper, margins, scale or
// fit to one page wide, print titles, header and footer. Call it before
// the sheet's stream writer is made: the stream writes the page setup
// from the sheet as it was when the writer was made.
func (w *Workbook) SetPage(sheet string, p Page) error {
	size, landscape := p.Paper.excelSize(), "landscape"
	layout := &excelize.PageLayoutOptions{Size: &size, Orientation: &landscape}
	fit := p.FitWidth
	if fit {
		wide, tall := 1, 0
		layout.FitToWidth, layout.FitToHeight = &wide, &tall
	} else {
		scale := uint(p.Scale)
		if scale == 0 {
			scale = 100
		}
		layout.AdjustTo = &scale
		// Wide sheets print their first columns down every page, then the
		// next columns: each page then holds whole rows of some columns,
		// and the repeated title columns say which rows they are.
		order := "overThenDown"
		layout.PageOrder = &order
	}
	if err := w.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: &fit}); err != nil {
		return err
	}
	if err := w.SetPageLayout(sheet, layout); err != nil {
		return err
	}
	side, top, bottom, header, footer := marginSide, marginTop, marginBottom, marginHeader, marginFooter
	if err := w.SetPageMargins(sheet, &excelize.PageLayoutMarginsOptions{Left: &side, Right: &side, Top: &top,
		Bottom: &bottom, Header: &header, Footer: &footer}); err != nil {
		return err
	}
	if p.Header != "" || p.Footer != "" {
		if err := w.SetHeaderFooter(sheet, &excelize.HeaderFooterOptions{OddHeader: p.Header, OddFooter: p.Footer}); err != nil {
			return fmt.Errorf("%s: header/footer: %w", sheet, err)
		}
	}
	var titles []string
	q := "'" + strings.ReplaceAll(sheet, "'", "''") + "'!"
	if p.TitleCols > 0 {
		last, err := excelize.ColumnNumberToName(p.TitleCols)
		if err != nil {
			return err
		}
		titles = append(titles, q+"$A:$"+last)
	}
	if p.TitleRows > 0 {
		titles = append(titles, fmt.Sprintf("%s$1:$%d", q, p.TitleRows))
	}
	if len(titles) > 0 {
		return w.SetDefinedName(&excelize.DefinedName{Name: "_xlnm.Print_Titles", RefersTo: strings.Join(titles, ","), Scope: sheet})
	}
	return nil
}
