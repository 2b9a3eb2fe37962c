package sheet

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/bulkrefund/bulkrefund/internal/clip"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// source yields the rows of a sheet one at a time.
type source interface {
	// next returns the next row's spreadsheet number and cells. rowErr is a
	// problem confined to this row (a malformed CSV record); err ends the
	// iteration (io.EOF at the end). An input over one of the Limits ends
	// it with a *LimitError.
	next() (row int, cells []string, rowErr error, err error)
	// numeric reports, for each cell of the row last returned, whether the
	// file stored it as a number; nil when it stores no types (CSV).
	numeric() []bool
	// stored reports whether cells are a spreadsheet's stored values (XLSX),
	// in which numbers may be binary-float text, rather than text (CSV).
	stored() bool
	// ragged reports whether a row shorter than the header is an error: in
	// CSV every record has every cell; XLSX drops trailing blank cells.
	ragged() bool
	describe() string
	input() *inputFile
	close() error
}

// open picks the reader by extension, then by content for unknown ones.
func open(path string, opts Options) (source, error) {
	return openSource(path, opts.Sheet, DefaultLimits(), false)
}

func openSource(path, sheet string, lim Limits, wantHash bool) (source, error) {
	in, err := openInput(path, lim, wantHash)
	if err != nil {
		return nil, err
	}
	src, err := pickSource(in, path, sheet, lim)
	if err != nil {
		in.close()
		return nil, named(err, in.name)
	}
	return src, nil
}

func pickSource(in *inputFile, path, sheet string, lim Limits) (source, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case ext == ".xlsx" || ext == ".xlsm" || in.isZip():
		// A zip is a workbook whatever its name: a renamed "refunds.csv"
		// that is really an XLSX is read as one.
		return openXLSX(in, sheet, lim)
	case ext == ".xls" || ext == ".et" || ext == ".numbers" || ext == ".ods":
		return nil, fmt.Errorf("%w: %s: %s files are not supported; save the sheet as .xlsx or .csv", ErrUnreadable, in.name, ext)
	}
	if sheet != "" {
		return nil, fmt.Errorf("%w: --sheet applies to XLSX files only, and %s is CSV", ErrNoSuchSheet, in.name)
	}
	return openCSV(in, lim)
}

// ---- CSV ----

type csvSource struct {
	in       *inputFile
	r        *csv.Reader
	guard    *recordGuard
	lim      Limits
	row      int
	line     int // the last line of the record last read
	encoding string
	delim    rune
	// checkUTF8: the encoding was judged from the first 64 KiB; a later
	// row in another encoding is a row error, not garbled ids.
	checkUTF8 bool
}

const sniffSize = 64 << 10

func openCSV(in *inputFile, lim Limits) (*csvSource, error) {
	br := in.stream.(*bufio.Reader)
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
	guard := &recordGuard{r: r, max: int64(lim.RowBytes)}
	cr := csv.NewReader(guard)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	src := &csvSource{in: in, r: cr, guard: guard, lim: lim, encoding: enc, delim: delim, checkUTF8: enc != "GB18030"}
	if sepLine {
		// The hint line is not a row of the sheet, but Excel numbers it.
		src.r.Read()
		src.row, src.line = 1, 1
		guard.base = cr.InputOffset()
	}
	return src, nil
}

// recordGuard stands between the decoded text and encoding/csv, which
// holds a whole record in memory however long it is: it never lets the
// reader get more than Limits.RowBytes past the end of the last record.
type recordGuard struct {
	r io.Reader
	// passed counts the bytes handed to the CSV reader; base is where the
	// last record it returned ended (csv.Reader.InputOffset).
	passed, base int64
	max          int64
	tripped      bool
}

func (g *recordGuard) Read(b []byte) (int, error) {
	room := g.max - (g.passed - g.base)
	if room <= 0 {
		g.tripped = true
		return 0, errors.New("record too long")
	}
	if int64(len(b)) > room {
		b = b[:room]
	}
	n, err := g.r.Read(b)
	g.passed += int64(n)
	return n, err
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
	s.guard.base = s.r.InputOffset()
	if s.guard.tripped {
		return 0, nil, nil, &LimitError{File: s.in.name, Limit: "row length", Max: int64(s.lim.RowBytes),
			Detail: fmt.Sprintf("row %d runs over %s without ending (one endless line, a huge cell, or only blank lines)", s.row+1, size(int64(s.lim.RowBytes)))}
	}
	var le *LimitError
	if errors.As(err, &le) {
		return 0, nil, nil, err
	}
	if err == io.EOF {
		return 0, nil, nil, io.EOF
	}
	s.count(rec, err)
	if s.row > s.lim.Rows {
		return 0, nil, nil, &LimitError{File: s.in.name, Limit: "rows", Max: int64(s.lim.Rows),
			Detail: fmt.Sprintf("the file has more than %s rows", thousands(int64(s.lim.Rows)))}
	}
	if len(rec) > s.lim.Columns {
		return 0, nil, nil, &LimitError{File: s.in.name, Limit: "columns per row", Max: int64(s.lim.Columns),
			Detail: fmt.Sprintf("row %d has %s cells, over %s", s.row, thousands(int64(len(rec))), thousands(int64(s.lim.Columns)))}
	}
	for i, c := range rec {
		if len(c) > s.lim.CellChars && utf8.RuneCountInString(c) > s.lim.CellChars {
			return 0, nil, nil, &LimitError{File: s.in.name, Limit: "cell length", Max: int64(s.lim.CellChars),
				Detail: fmt.Sprintf("row %d, column %d is over %s characters (Excel's own limit)", s.row, i+1, thousands(int64(s.lim.CellChars)))}
		}
	}
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

// count numbers the record just read as a spreadsheet numbers it: one row
// per record, and one per blank line, which encoding/csv skips but a
// spreadsheet shows as an empty row.
func (s *csvSource) count(rec []string, err error) {
	start, end := 0, 0
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe):
		start, end = pe.StartLine, pe.Line
	case len(rec) > 0:
		start, _ = s.r.FieldPos(0)
		end = start
		for _, c := range rec {
			if strings.IndexByte(c, '\n') >= 0 {
				end += strings.Count(c, "\n")
			}
		}
	}
	if start > s.line+1 {
		s.row += start - s.line - 1
	}
	s.row++
	s.line = max(end, s.line+1)
}

func (s *csvSource) stored() bool      { return false }
func (s *csvSource) numeric() []bool   { return nil }
func (s *csvSource) input() *inputFile { return s.in }
func (s *csvSource) ragged() bool      { return true }
func (s *csvSource) describe() string {
	name := map[rune]string{',': "comma", ';': "semicolon", '\t': "tab", '|': "pipe"}[s.delim]
	return "CSV, " + s.encoding + ", " + name + "-separated"
}
func (s *csvSource) close() error { return s.in.close() }

// ---- XLSX ----

type xlsxSource struct {
	in    *inputFile
	rows  *sheetRows
	sheet string
	nums  []bool
}

func openXLSX(in *inputFile, sheet string, lim Limits) (*xlsxSource, error) {
	magic, path := in.head, in.name
	switch {
	case bytes.HasPrefix(magic, []byte("%PDF")):
		return nil, fmt.Errorf("%w: %s is a PDF file, not an XLSX workbook", ErrUnreadable, path)
	case bytes.HasPrefix(magic, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		// An OLE compound file: a password-protected XLSX or a legacy .xls.
		return nil, fmt.Errorf("%w: %s is password-protected (or a legacy .xls); remove the password or save as .xlsx", ErrUnreadable, path)
	case !bytes.HasPrefix(magic, []byte("PK")):
		return nil, fmt.Errorf("%w: %s is not an XLSX workbook (not a zip archive)", ErrUnreadable, path)
	}
	ra, n, err := in.readerAt()
	if err != nil {
		return nil, err
	}
	wb, err := openWorkbook(ra, n, lim)
	if err != nil {
		return nil, prefixFile(err, path)
	}
	sh, err := pickSheet(wb.sheets, sheet, path)
	if err != nil {
		return nil, err
	}
	rows, err := wb.sheetRows(sh)
	if err != nil {
		return nil, prefixFile(err, path)
	}
	return &xlsxSource{in: in, rows: rows, sheet: sh.name}, nil
}

// prefixFile names the file in an unreadable-file error (a *LimitError
// gets its file from named).
func prefixFile(err error, path string) error {
	var le *LimitError
	if errors.As(err, &le) || !errors.Is(err, ErrUnreadable) {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), ErrUnreadable.Error()+": ")
	return fmt.Errorf("%w: %s: %s", ErrUnreadable, path, msg)
}

// pickSheet finds the sheet to read: the one named (Excel treats names
// case-insensitively, so do we; an exact match wins), or the first visible
// one.
func pickSheet(sheets []wbSheet, name, path string) (wbSheet, error) {
	if name == "" {
		for _, sh := range sheets {
			if !sh.hidden {
				return sh, nil
			}
		}
		return wbSheet{}, fmt.Errorf("%w: %s has no visible sheet", ErrUnreadable, path)
	}
	found := -1
	for i, sh := range sheets {
		if sh.name == name || (found < 0 && strings.EqualFold(sh.name, name)) {
			found = i
		}
	}
	if found < 0 {
		list := make([]string, len(sheets))
		for i, sh := range sheets {
			list[i] = sh.name
		}
		return wbSheet{}, fmt.Errorf("%w: %s in %s (sheets: %s)", ErrNoSuchSheet, clip.Quote(name), path, clip.Join(list))
	}
	return sheets[found], nil
}

func (s *xlsxSource) next() (int, []string, error, error) {
	row, cells, nums, err := s.rows.next()
	if err != nil {
		if err != io.EOF {
			err = prefixFile(named(err, s.in.name), s.in.name)
		}
		return 0, nil, nil, err
	}
	s.nums = nums
	return row, cells, nil, nil
}

func (s *xlsxSource) numeric() []bool   { return s.nums }
func (s *xlsxSource) stored() bool      { return true }
func (s *xlsxSource) ragged() bool      { return false }
func (s *xlsxSource) input() *inputFile { return s.in }
func (s *xlsxSource) describe() string  { return "XLSX, sheet " + fmt.Sprintf("%q", s.sheet) }
func (s *xlsxSource) close() error {
	s.rows.close()
	return s.in.close()
}
