package excel

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// zipWriter is the zip container excelize writes the workbook into, with
// two changes: fastest deflate (the XML of a million-row sheet is a
// gigabyte, and default deflate spends more time on it than everything
// else together, for a somewhat smaller file), and worksheet parts passing
// through a numberWriter.
type zipWriter struct {
	zw      *zip.Writer
	numeric map[int]bool
	open    *numberWriter // the worksheet part being written
}

func (w *Workbook) zipWriter(out io.Writer) excelize.ZipWriter {
	zw := zip.NewWriter(out)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	return &zipWriter{zw: zw, numeric: w.numeric}
}

// flush writes what the open worksheet part still holds: a zip part is
// complete when the next one is created.
func (z *zipWriter) flush() error {
	if z.open == nil {
		return nil
	}
	err := z.open.Flush()
	z.open = nil
	return err
}

func (z *zipWriter) Create(name string) (io.Writer, error) {
	if err := z.flush(); err != nil {
		return nil, err
	}
	w, err := z.zw.Create(name)
	if err != nil || len(z.numeric) == 0 || !isWorksheet(name) {
		return w, err
	}
	z.open = &numberWriter{w: w, numeric: z.numeric}
	return z.open, nil
}

func (z *zipWriter) AddFS(fsys fs.FS) error {
	if err := z.flush(); err != nil {
		return err
	}
	return z.zw.AddFS(fsys)
}

func (z *zipWriter) Close() error {
	if err := z.flush(); err != nil {
		z.zw.Close()
		return err
	}
	return z.zw.Close()
}

func isWorksheet(name string) bool {
	dir, file := path.Split(name)
	return dir == "xl/worksheets/" && strings.HasSuffix(file, ".xml")
}

// The XML excelize writes for a text cell, around its text, and what a
// number cell is written as instead (see Workbook).
const (
	cellStart  = `<c r="`
	textOpen   = `" t="inlineStr"><is><t>`
	textClose  = `</t></is></c>`
	numberOpen = `"><v>`
	numberEnd  = `</v></c>`
)

// numberWriter rewrites the decimal text cells of numeric styles as number
// cells while a worksheet's XML streams through it. It holds back only the
// bytes from the last cell start on (one cell at most), so memory stays
// flat however large the sheet.
type numberWriter struct {
	w       io.Writer
	numeric map[int]bool
	buf     []byte // bytes not yet passed on: from the last cell start
	out     []byte
}

func (n *numberWriter) Write(p []byte) (int, error) {
	n.buf = append(n.buf, p...)
	// Cells before the last cell start are whole; the last may not be.
	cut := bytes.LastIndex(n.buf, []byte(cellStart))
	if cut < 0 {
		cut = len(n.buf) - partialSuffix(n.buf, cellStart)
	}
	if err := n.convert(n.buf[:cut]); err != nil {
		return 0, err
	}
	n.buf = n.buf[:copy(n.buf, n.buf[cut:])]
	return len(p), nil
}

// Flush passes on everything held back.
func (n *numberWriter) Flush() error {
	err := n.convert(n.buf)
	n.buf = n.buf[:0]
	return err
}

// convert writes b, which holds only whole cells, with the cells of
// numeric styles whose text is a decimal rewritten as numbers.
func (n *numberWriter) convert(b []byte) error {
	out := n.out[:0]
	for {
		i := bytes.Index(b, []byte(textOpen))
		if i < 0 {
			out = append(out, b...)
			break
		}
		text := i + len(textOpen)
		if style, ok := styleBefore(b[:i]); ok && n.numeric[style] {
			if j := bytes.Index(b[text:], []byte(textClose)); j >= 0 && isDecimal(b[text:text+j]) {
				out = append(out, b[:i]...)
				out = append(out, numberOpen...)
				out = append(out, b[text:text+j]...)
				out = append(out, numberEnd...)
				b = b[text+j+len(textClose):]
				continue
			}
		}
		out = append(out, b[:text]...)
		b = b[text:]
	}
	n.out = out
	_, err := n.w.Write(out)
	return err
}

// styleBefore reads the style id of the cell whose attributes b ends in:
// b ends with ` s="ID` (the closing quote is the start of textOpen).
func styleBefore(b []byte) (int, bool) {
	i := len(b)
	for i > 0 && b[i-1] >= '0' && b[i-1] <= '9' {
		i--
	}
	if i == len(b) || !bytes.HasSuffix(b[:i], []byte(` s="`)) {
		return 0, false
	}
	id, err := strconv.Atoi(string(b[i:]))
	return id, err == nil
}

// isDecimal: an optional minus, digits, and optionally a point and digits:
// the text money.Format writes, which is also a valid xsd:double.
func isDecimal(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	digits, point := 0, false
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point && digits > 0 && i < len(b)-1:
			point = true
		default:
			return false
		}
	}
	return digits > 0
}

// partialSuffix is the length of the longest end of b that starts s
// (a cell start cut by a write boundary).
func partialSuffix(b []byte, s string) int {
	for k := min(len(s)-1, len(b)); k > 0; k-- {
		if string(b[len(b)-k:]) == s[:k] {
			return k
		}
	}
	return 0
}
