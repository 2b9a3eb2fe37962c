package sheet

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// source yields the rows of a sheet one at a time.
type source interface {
	// next returns the next row's spreadsheet number and cells. rowErr is a
	// problem confined to this row (a malformed CSV record); err ends the
	// iteration (io.EOF at the end).
	next() (row int, cells []string, rowErr error, err error)
	// stored reports whether cells are a spreadsheet's stored values (XLSX),
	// in which numbers may be binary-float text, rather than text (CSV).
	stored() bool
	// ragged reports whether a row shorter than the header is an error: in
	// CSV every record has every cell; XLSX drops trailing blank cells.
	ragged() bool
	describe() string
	close() error
}

// open picks the reader by extension, then by content for unknown ones.
func open(path string, opts Options) (source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is a directory", ErrUnreadable, path)
	}
	if st.Size() == 0 {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrEmptyFile, path)
	}
	var magic [8]byte
	n, _ := io.ReadFull(f, magic[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	ext := strings.ToLower(filepath.Ext(path))
	isZip := n >= 4 && bytes.Equal(magic[:4], []byte("PK\x03\x04"))
	switch {
	case ext == ".xlsx" || ext == ".xlsm" || isZip:
		// A zip is a workbook whatever its name: a renamed "refunds.csv"
		// that is really an XLSX is read as one.
		f.Close()
		return openXLSX(path, magic[:n], opts.Sheet)
	case ext == ".xls" || ext == ".et" || ext == ".numbers" || ext == ".ods":
		f.Close()
		return nil, fmt.Errorf("%w: %s: %s files are not supported; save the sheet as .xlsx or .csv", ErrUnreadable, path, ext)
	}
	if opts.Sheet != "" {
		f.Close()
		return nil, fmt.Errorf("%w: --sheet applies to XLSX files only, and %s is CSV", ErrNoSuchSheet, path)
	}
	return openCSV(f)
}

// ---- CSV ----

type csvSource struct {
	f        *os.File
	r        *csv.Reader
	row      int
	encoding string
	delim    rune
	// checkUTF8: the encoding was judged from the first 64 KiB; a later
	// row in another encoding is a row error, not garbled ids.
	checkUTF8 bool
}

const sniffSize = 64 << 10

func openCSV(f *os.File) (*csvSource, error) {
	br := bufio.NewReaderSize(f, 256<<10)
	head, _ := br.Peek(sniffSize)
	var r io.Reader = br
	enc := "UTF-8"
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
		head = head[3:]
		enc = "UTF-8 with BOM"
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		// Excel's "Unicode Text" export: UTF-16 with a BOM, usually tab-separated.
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		r = transform.NewReader(br, dec)
		h := head[:len(head)&^1]
		head, _, _ = transform.Bytes(unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder(), h)
		enc = "UTF-16"
	case !validUTF8Prefix(head):
		// Not UTF-8: Chinese Excel and WPS save CSV as GBK, which GB18030
		// decodes (it is a superset).
		r = transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder())
		enc = "GB18030"
	}
	delim := sniffDelimiter(head)
	// Excel writes and honours a first line "sep=;" naming the separator.
	sepLine := false
	if len(head) >= 5 && bytes.EqualFold(head[:4], []byte("sep=")) && (len(head) == 5 || head[5] == '\r' || head[5] == '\n') {
		if d := rune(head[4]); d == ',' || d == ';' || d == '\t' || d == '|' {
			delim, sepLine = d, true
		}
	}
	cr := csv.NewReader(r)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	src := &csvSource{f: f, r: cr, encoding: enc, delim: delim, checkUTF8: enc != "GB18030"}
	if sepLine {
		// The hint line is not a row of the sheet, but Excel numbers it.
		src.r.Read()
		src.row++
	}
	return src, nil
}

// validUTF8Prefix is utf8.Valid, forgiving a rune cut at the end of the
// sniffed window.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return true
		}
		if r, _ := utf8.DecodeLastRune(b); r != utf8.RuneError {
			return false
		}
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

// sniffDelimiter picks ',', ';' or '\t' by counting them outside quotes in
// the first lines; ',' wins ties. The three bytes never occur inside a GBK
// or GB18030 multi-byte character, so raw bytes can be counted.
func sniffDelimiter(head []byte) rune {
	var count [3]int
	cands := [3]byte{',', ';', '\t'}
	lines, inQuote := 0, false
	for _, c := range head {
		switch c {
		case '"':
			inQuote = !inQuote
		case '\n':
			if !inQuote {
				lines++
			}
		}
		if lines >= 20 {
			break
		}
		if !inQuote {
			for i, d := range cands {
				if c == d {
					count[i]++
				}
			}
		}
	}
	best := 0
	for i := 1; i < 3; i++ {
		if count[i] > count[best] {
			best = i
		}
	}
	return rune(cands[best])
}

func (s *csvSource) next() (int, []string, error, error) {
	rec, err := s.r.Read()
	if err == io.EOF {
		return 0, nil, nil, io.EOF
	}
	s.row++
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return s.row, rec, fmt.Errorf("%w: %v", ErrMalformedRow, pe.Err), nil
		}
		return s.row, nil, nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	if s.checkUTF8 {
		for _, c := range rec {
			if !utf8.ValidString(c) {
				return s.row, rec, fmt.Errorf("%w: the row is not valid %s; is the file saved in one encoding?", ErrMalformedRow, s.encoding), nil
			}
		}
	}
	return s.row, rec, nil, nil
}

func (s *csvSource) stored() bool { return false }
func (s *csvSource) ragged() bool { return true }
func (s *csvSource) describe() string {
	name := map[rune]string{',': "comma", ';': "semicolon", '\t': "tab", '|': "pipe"}[s.delim]
	return "CSV, " + s.encoding + ", " + name + "-separated"
}
func (s *csvSource) close() error { return s.f.Close() }

// ---- XLSX ----

type xlsxSource struct {
	f     *excelize.File
	rows  *excelize.Rows
	row   int
	sheet string
	raw   excelize.Options
}

func openXLSX(path string, magic []byte, sheet string) (*xlsxSource, error) {
	switch {
	case bytes.HasPrefix(magic, []byte("%PDF")):
		return nil, fmt.Errorf("%w: %s is a PDF file, not an XLSX workbook", ErrUnreadable, path)
	case bytes.HasPrefix(magic, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		// An OLE compound file: a password-protected XLSX or a legacy .xls.
		return nil, fmt.Errorf("%w: %s is password-protected (or a legacy .xls); remove the password or save as .xlsx", ErrUnreadable, path)
	case !bytes.HasPrefix(magic, []byte("PK")):
		return nil, fmt.Errorf("%w: %s is not an XLSX workbook (not a zip archive)", ErrUnreadable, path)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: damaged or truncated XLSX workbook: %v", ErrUnreadable, path, err)
	}
	if sheet == "" {
		for _, name := range f.GetSheetList() {
			if v, err := f.GetSheetVisible(name); err == nil && v {
				sheet = name
				break
			}
		}
		if sheet == "" {
			f.Close()
			return nil, fmt.Errorf("%w: %s has no visible sheet", ErrUnreadable, path)
		}
	} else {
		// Excel treats sheet names case-insensitively; so do we, and we
		// report the name as the workbook spells it.
		list := f.GetSheetList()
		found := ""
		for _, name := range list {
			if name == sheet || (found == "" && strings.EqualFold(name, sheet)) {
				found = name
			}
		}
		if found == "" {
			f.Close()
			return nil, fmt.Errorf("%w: %q in %s (sheets: %s)", ErrNoSuchSheet, sheet, path, strings.Join(list, ", "))
		}
		sheet = found
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: sheet %q: %v", ErrUnreadable, path, sheet, err)
	}
	return &xlsxSource{f: f, rows: rows, sheet: sheet, raw: excelize.Options{RawCellValue: true}}, nil
}

func (s *xlsxSource) next() (int, []string, error, error) {
	if !s.rows.Next() {
		if err := s.rows.Error(); err != nil {
			return 0, nil, nil, fmt.Errorf("%w: sheet %q: %v", ErrUnreadable, s.sheet, err)
		}
		return 0, nil, nil, io.EOF
	}
	// Next yields gap rows too, so counting calls gives the row number.
	s.row++
	cells, err := s.rows.Columns(s.raw)
	if err != nil {
		return s.row, nil, nil, fmt.Errorf("%w: sheet %q row %d: %v", ErrUnreadable, s.sheet, s.row, err)
	}
	return s.row, cells, nil, nil
}

func (s *xlsxSource) stored() bool     { return true }
func (s *xlsxSource) ragged() bool     { return false }
func (s *xlsxSource) describe() string { return "XLSX, sheet " + fmt.Sprintf("%q", s.sheet) }
func (s *xlsxSource) close() error {
	s.rows.Close()
	return s.f.Close()
}
