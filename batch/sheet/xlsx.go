package sheet

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The XLSX reader: archive/zip for the container, xmlScanner for the parts.
// It reads what a refund sheet needs and nothing else: the workbook's sheet
// list (names, hidden or not), the shared strings, and one sheet's cells as
// stored, with their types. Styles, formats and formulas are not read;
// numbers come as the text the file stores (the exact money parser reads
// them), dates as their serial numbers, formulas as their cached values.
//
// Every byte is counted as it inflates: a part may not inflate past
// Limits.PartBytes, nor the parts together past Limits.WorkbookBytes, nor
// one part past Limits.Ratio times the compressed bytes it was read from.
// The sizes the zip declares are not trusted for any of it.

// workbook is an open XLSX file.
type workbook struct {
	zr       *zip.Reader
	lim      Limits
	parts    map[string]*zip.File
	inflated int64 // bytes inflated from all parts so far
	sheets   []wbSheet
	sstPart  string
}

// wbSheet is one entry of the workbook's sheet list.
type wbSheet struct {
	name   string
	hidden bool
	part   string // zip entry of its XML; "" for a sheet the file does not hold
}

func openWorkbook(ra io.ReaderAt, n int64, lim Limits) (*workbook, error) {
	zr, err := zip.NewReader(ra, n)
	if err != nil {
		return nil, fmt.Errorf("%w: damaged or truncated XLSX workbook: %v", ErrUnreadable, err)
	}
	if len(zr.File) > lim.Parts {
		return nil, limitErr("workbook parts", int64(lim.Parts), fmt.Sprintf("the zip has more than %s entries", thousands(int64(lim.Parts))))
	}
	wb := &workbook{zr: zr, lim: lim, parts: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		wb.parts[strings.TrimPrefix(f.Name, "/")] = f
	}
	// _rels/.rels names the workbook part; xl/workbook.xml is the default.
	wbPart := "xl/workbook.xml"
	if err := wb.rels("_rels/.rels", "", func(typ, target string) {
		if strings.HasSuffix(typ, "/officeDocument") {
			wbPart = target
		}
	}); err != nil {
		return nil, err
	}
	if wb.parts[wbPart] == nil {
		return nil, fmt.Errorf("%w: not an XLSX workbook (no %s in the zip)", ErrUnreadable, wbPart)
	}
	ids := map[string]string{}
	relsPart := path.Join(path.Dir(wbPart), "_rels", path.Base(wbPart)+".rels")
	if err := wb.rels(relsPart, path.Dir(wbPart), func(typ, target string) {
		if strings.HasSuffix(typ, "/sharedStrings") {
			wb.sstPart = target
		}
	}, ids); err != nil {
		return nil, err
	}
	if wb.sstPart == "" && wb.parts["xl/sharedStrings.xml"] != nil {
		wb.sstPart = "xl/sharedStrings.xml"
	}
	if err := wb.readSheetList(wbPart, ids); err != nil {
		return nil, err
	}
	return wb, nil
}

// rels reads a relationships part, if the zip has it: fn gets each
// relationship's type and its target resolved against dir; ids, if given,
// maps every internal relationship's id to its target.
func (wb *workbook) rels(part, dir string, fn func(typ, target string), ids ...map[string]string) error {
	if wb.parts[part] == nil {
		return nil
	}
	return wb.scan(part, func(s *xmlScanner, k tokKind) error {
		if k != tokStart || !s.is("Relationship") {
			return nil
		}
		get := func(name string) (string, error) {
			raw, _ := s.attr(name, false)
			v, err := s.text(raw, false)
			return string(v), err
		}
		id, err1 := get("Id")
		typ, err2 := get("Type")
		target, err3 := get("Target")
		mode, err4 := get("TargetMode")
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return err
		}
		if strings.EqualFold(mode, "External") {
			return nil
		}
		if strings.HasPrefix(target, "/") {
			target = path.Clean(target[1:])
		} else {
			target = path.Join(dir, target)
		}
		fn(typ, target)
		if len(ids) > 0 {
			ids[0][id] = target
		}
		return nil
	})
}

// readSheetList reads the workbook part's <sheet name state r:id> list.
func (wb *workbook) readSheetList(part string, ids map[string]string) error {
	return wb.scan(part, func(s *xmlScanner, k tokKind) error {
		if k != tokStart || !s.is("sheet") {
			return nil
		}
		if len(wb.sheets) >= wb.lim.Sheets {
			return limitErr("sheets", int64(wb.lim.Sheets), fmt.Sprintf("the workbook lists more than %s sheets", thousands(int64(wb.lim.Sheets))))
		}
		var sh wbSheet
		raw, _ := s.attr("name", false)
		name, err := s.text(raw, false)
		if err != nil {
			return err
		}
		sh.name = string(name)
		raw, _ = s.attr("state", false)
		sh.hidden = len(raw) > 0 && string(raw) != "visible"
		raw, _ = s.attr("id", true)
		sh.part = ids[string(raw)]
		wb.sheets = append(wb.sheets, sh)
		return nil
	})
}

// scan runs fn on every token of a part.
func (wb *workbook) scan(part string, fn func(*xmlScanner, tokKind) error) error {
	p, err := wb.open(part)
	if err != nil {
		return err
	}
	defer p.Close()
	s := newXMLScanner(p, wb.lim)
	for {
		k, err := s.next()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			err = fn(s, k)
		}
		if err != nil {
			return wb.partErr(part, err)
		}
	}
}

// partErr says which part an error is in.
func (wb *workbook) partErr(part string, err error) error {
	var le *LimitError
	if errors.As(err, &le) {
		if !strings.Contains(le.Detail, part) {
			le.Detail = part + ": " + le.Detail
		}
		return err
	}
	if errors.Is(err, ErrUnreadable) {
		return err
	}
	return fmt.Errorf("%w: damaged XLSX workbook: %s: %v", ErrUnreadable, part, err)
}

// partReader inflates one zip entry, counting what it reads and what it
// makes, and checks the entry's CRC-32 at its end.
type partReader struct {
	wb         *workbook
	name       string
	raw        countingReader
	inflate    io.Reader
	closer     io.Closer
	n          int64
	crc        hash.Hash32
	want       uint32
	checkCRC   bool
	compressed int64
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func (wb *workbook) open(name string) (*partReader, error) {
	f := wb.parts[name]
	if f == nil {
		return nil, fmt.Errorf("%w: damaged XLSX workbook: %s is missing", ErrUnreadable, name)
	}
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, fmt.Errorf("%w: damaged XLSX workbook: %s: %v", ErrUnreadable, name, err)
	}
	p := &partReader{wb: wb, name: name, raw: countingReader{r: raw}, crc: crc32.NewIEEE(), want: f.CRC32, checkCRC: f.CRC32 != 0}
	switch f.Method {
	case zip.Store:
		p.inflate = &p.raw
	case zip.Deflate:
		// bufio gives flate the io.ByteReader it wants, so that it reads
		// no further than it needs; the count stays honest.
		fr := flate.NewReader(bufio.NewReaderSize(&p.raw, 32<<10))
		p.inflate, p.closer = fr, fr
	default:
		return nil, fmt.Errorf("%w: %s is compressed with method %d, which XLSX files do not use", ErrUnreadable, name, f.Method)
	}
	return p, nil
}

func (p *partReader) Read(b []byte) (int, error) {
	n, err := p.inflate.Read(b)
	p.n += int64(n)
	p.wb.inflated += int64(n)
	p.crc.Write(b[:n])
	lim := p.wb.lim
	switch {
	case p.n > lim.PartBytes:
		return n, limitErr("part size", lim.PartBytes, fmt.Sprintf("%s inflates past %s", p.name, size(lim.PartBytes)))
	case p.wb.inflated > lim.WorkbookBytes:
		return n, limitErr("workbook size", lim.WorkbookBytes, fmt.Sprintf("the parts read inflate past %s", size(lim.WorkbookBytes)))
	case p.n > ratioFloor && p.n > lim.Ratio*max(p.raw.n, 1):
		return n, limitErr("compression ratio", lim.Ratio, fmt.Sprintf("%s inflates to more than %d times its compressed size (a zip bomb?)", p.name, lim.Ratio))
	}
	if err == io.EOF && p.checkCRC && p.crc.Sum32() != p.want {
		return n, fmt.Errorf("%w: damaged XLSX workbook: %s fails its checksum", ErrUnreadable, p.name)
	}
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("%w: damaged or truncated XLSX workbook: %s: %v", ErrUnreadable, p.name, err)
	}
	return n, err
}

func (p *partReader) Close() error {
	if p.closer != nil {
		return p.closer.Close()
	}
	return nil
}

// ---- shared strings ----

// sst is the shared-strings table: every string's text in one buffer.
type sst struct {
	text []byte
	ends []uint32 // ends[i] is where string i ends in text
}

func (t *sst) get(i int) ([]byte, bool) {
	if i < 0 || i >= len(t.ends) {
		return nil, false
	}
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.text[start:t.ends[i]], true
}

// readSST reads the shared strings: each <si>'s text is its <t> elements
// joined, phonetic runs (<rPh>) left out, _xHHHH_ escapes decoded, as
// Excel shows the string.
func (wb *workbook) readSST() (*sst, error) {
	t := &sst{}
	if wb.sstPart == "" {
		return t, nil
	}
	if wb.parts[wb.sstPart] == nil {
		return nil, fmt.Errorf("%w: damaged XLSX workbook: %s is missing", ErrUnreadable, wb.sstPart)
	}
	var (
		inSI       bool
		start      int
		tDepth     = -1 // depth of the <t> being read, -1 outside
		phonetic   = -1 // depth of the <rPh> being skipped, -1 outside
		lim        = wb.lim
		itemBudget = int64(0)
	)
	err := wb.scan(wb.sstPart, func(s *xmlScanner, k tokKind) error {
		switch k {
		case tokStart:
			switch {
			case s.is("si") && !inSI:
				inSI, start = true, len(t.text)
			case inSI && phonetic < 0 && s.is("rPh"):
				phonetic = s.depth()
			case inSI && phonetic < 0 && s.is("t"):
				tDepth = s.depth()
			}
		case tokText:
			if tDepth < 0 || s.depth() != tDepth {
				return nil
			}
			v, err := s.text(s.raw, s.cdata)
			if err != nil {
				return err
			}
			t.text = append(t.text, v...)
			if len(t.text)-start > 7*lim.CellChars+7 {
				return limitErr("cell length", int64(lim.CellChars), fmt.Sprintf("shared string %d is over %s characters", len(t.ends), thousands(int64(lim.CellChars))))
			}
		case tokEnd:
			switch {
			case s.depth()+1 == tDepth:
				tDepth = -1
			case s.depth()+1 == phonetic:
				phonetic = -1
			case inSI && s.is("si"):
				inSI = false
				item := bstrDecode(t.text[start:])
				if len(item) != len(t.text)-start {
					t.text = append(t.text[:start], item...)
				}
				if n := len(t.text) - start; n > lim.CellChars && utf8.RuneCount(t.text[start:]) > lim.CellChars {
					return limitErr("cell length", int64(lim.CellChars), fmt.Sprintf("shared string %d is over %s characters", len(t.ends), thousands(int64(lim.CellChars))))
				}
				itemBudget += 8
				if int64(len(t.text))+itemBudget > lim.SharedStrings {
					return limitErr("shared strings size", lim.SharedStrings, fmt.Sprintf("the shared strings take more than %s", size(lim.SharedStrings)))
				}
				t.ends = append(t.ends, uint32(len(t.text)))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// bstrDecode decodes the _xHHHH_ escapes by which OOXML stores characters
// XML cannot hold (_x0008_ for U+0008, _x005F_ for a literal '_'), as
// excelize does: an escape of a lone UTF-16 surrogate decodes to nothing.
// It returns b itself when there is nothing to decode.
func bstrDecode(b []byte) []byte {
	i := bytes.Index(b, []byte("_x"))
	if i < 0 {
		return b
	}
	out := append([]byte(nil), b[:i]...)
	for i < len(b) {
		if b[i] == '_' && i+7 <= len(b) && b[i+1] == 'x' && b[i+6] == '_' {
			if v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 32); err == nil && isHex4(b[i+2:i+6]) {
				if r := rune(v); r < 0xD800 || r > 0xDFFF {
					out = utf8.AppendRune(out, r)
				}
				i += 7
				continue
			}
		}
		out = append(out, b[i])
		i++
	}
	return out
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// ---- one sheet's rows ----

// sheetRows reads one sheet's rows in order. Rows the XML skips (never
// touched in Excel) come back empty with their numbers, as the spreadsheet
// shows them.
type sheetRows struct {
	part  *partReader
	s     *xmlScanner
	sst   *sst
	lim   Limits
	name  string
	rowN  int // number of the row last returned
	xmlN  int // number of the row element read ahead, 0 if none
	done  bool
	inDat bool // inside <sheetData>

	typ   []byte // the t attribute of the cell being read
	vbuf  []byte // an inline string cell's <v> text
	line  []byte // the row's cell text, one after the other
	ends  []int  // where each cell ends in line
	num   []bool // whether each cell was stored as a number
	cells []string
}

func (wb *workbook) sheetRows(sh wbSheet) (*sheetRows, error) {
	if sh.part == "" || wb.parts[sh.part] == nil {
		return nil, fmt.Errorf("%w: sheet %q is not a worksheet the file holds", ErrUnreadable, sh.name)
	}
	t, err := wb.readSST()
	if err != nil {
		return nil, err
	}
	p, err := wb.open(sh.part)
	if err != nil {
		return nil, err
	}
	return &sheetRows{part: p, s: newXMLScanner(p, wb.lim), sst: t, lim: wb.lim, name: sh.part}, nil
}

func (r *sheetRows) close() error { return r.part.Close() }

// next returns the next row's number and cells (and whether each was a
// number cell); io.EOF after the last row. The slices are reused by the
// next call; the strings are not.
func (r *sheetRows) next() (int, []string, []bool, error) {
	if r.xmlN > r.rowN+1 {
		// A row the XML skips.
		r.rowN++
		return r.rowN, nil, nil, nil
	}
	if r.xmlN == 0 {
		if r.done {
			return 0, nil, nil, io.EOF
		}
		if err := r.findRow(); err != nil {
			return 0, nil, nil, err
		}
		if r.done {
			return 0, nil, nil, io.EOF
		}
		if r.xmlN > r.rowN+1 {
			r.rowN++
			return r.rowN, nil, nil, nil
		}
	}
	r.rowN, r.xmlN = r.xmlN, 0
	if err := r.readCells(); err != nil {
		return 0, nil, nil, err
	}
	return r.rowN, r.cells, r.num, nil
}

// findRow reads up to the next <row> start tag and its number.
func (r *sheetRows) findRow() error {
	s := r.s
	for {
		k, err := s.next()
		if err == io.EOF {
			if !r.inDat {
				r.done = true
				return nil
			}
			return r.err(s.syntax("the part ends inside <sheetData>"))
		}
		if err != nil {
			return r.err(err)
		}
		switch {
		case k == tokStart && s.is("sheetData"):
			r.inDat = true
		case k == tokEnd && s.is("sheetData"):
			// Nothing after the cells matters: stop reading here.
			r.done = true
			return nil
		case k == tokStart && r.inDat && s.is("row"):
			n := r.rowN + 1
			if raw, ok := s.attr("r", false); ok {
				v, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
				if err != nil || v < 1 {
					return r.err(s.syntax("row number %q", clipBytes(raw)))
				}
				if v <= r.rowN {
					return r.err(s.syntax("row %d comes after row %d", v, r.rowN))
				}
				n = v
			}
			if n > r.lim.Rows {
				return r.rowsLimit()
			}
			r.xmlN = n
			return nil
		}
	}
}

func (r *sheetRows) rowsLimit() error {
	return limitErr("rows", int64(r.lim.Rows), fmt.Sprintf("the sheet has more than %s rows", thousands(int64(r.lim.Rows))))
}

func (r *sheetRows) err(err error) error {
	var le *LimitError
	if errors.As(err, &le) {
		if !strings.Contains(le.Detail, r.name) && !strings.HasPrefix(le.Detail, "row ") {
			le.Detail = r.name + ": " + le.Detail
		}
		return err
	}
	if errors.Is(err, ErrUnreadable) {
		return err
	}
	return fmt.Errorf("%w: damaged XLSX workbook: %s near row %d: %v", ErrUnreadable, r.name, max(r.rowN, 1), err)
}

// readCells reads the cells of the row whose start tag was just read, up to
// its end tag.
func (r *sheetRows) readCells() error {
	s := r.s
	r.line, r.ends, r.num = r.line[:0], r.ends[:0], r.num[:0]
	if s.selfClosing {
		s.next() // <row/>: its end
		r.cells = r.cells[:0]
		return nil
	}
	rowDepth := s.depth()
	var (
		col                   int // column of the cell being read, 1-based
		typ                   []byte
		inCell, hasF, inIS    bool
		sawIS                 bool
		vDepth, tDepth, phDep = -1, -1, -1
		start                 int // where the cell's text starts in line
	)
	for {
		k, err := s.next()
		if err != nil {
			if err == io.EOF {
				err = s.syntax("the part ends inside row %d", r.rowN)
			}
			return r.err(err)
		}
		switch k {
		case tokStart:
			switch {
			case !inCell && s.depth() == rowDepth+1 && s.is("c"):
				inCell, hasF, inIS, sawIS = true, false, false, false
				r.vbuf = r.vbuf[:0]
				col++
				if raw, ok := s.attr("r", false); ok {
					c, ok := columnOf(raw)
					if !ok {
						return r.err(s.syntax("cell reference %q", clipBytes(raw)))
					}
					col = c
				}
				if col > r.lim.Columns {
					return limitErr("columns per row", int64(r.lim.Columns), fmt.Sprintf("row %d has a cell beyond column %s", r.rowN, thousands(int64(r.lim.Columns))))
				}
				raw, _ := s.attr("t", false)
				typ = append(r.typ[:0], raw...)
				r.typ = typ
				start = len(r.line)
			case inCell && s.depth() == rowDepth+2 && s.is("v"):
				vDepth = s.depth()
			case inCell && s.depth() == rowDepth+2 && s.is("f"):
				hasF = true
			case inCell && s.depth() == rowDepth+2 && s.is("is"):
				inIS, sawIS = true, true
			case inIS && phDep < 0 && s.is("rPh"):
				phDep = s.depth()
			case inIS && phDep < 0 && s.is("t"):
				tDepth = s.depth()
			}
		case tokText:
			d := s.depth()
			inline := string(typ) == "inlineStr"
			if !(d == vDepth && vDepth > 0) && !(d == tDepth && tDepth > 0 && inline) {
				continue
			}
			v, err := s.text(s.raw, s.cdata)
			if err != nil {
				return r.err(err)
			}
			if d == vDepth && inline {
				// An inline string's text is in <is>; a <v> counts only
				// without one, as excelize reads it.
				r.vbuf = append(r.vbuf, v...)
				if len(r.vbuf) > 7*r.lim.CellChars+7 {
					return r.cellLimit(col)
				}
				continue
			}
			r.line = append(r.line, v...)
			if len(r.line)-start > 7*r.lim.CellChars+7 {
				// Before decoding: an _xHHHH_ escape is 7 bytes a character.
				return r.cellLimit(col)
			}
			if len(r.line) > r.lim.RowBytes {
				return r.rowBytesLimit()
			}
		case tokEnd:
			d := s.depth() + 1 // depth of the element just closed
			switch {
			case d == vDepth:
				vDepth = -1
			case d == tDepth:
				tDepth = -1
			case d == phDep:
				phDep = -1
			case inIS && d == rowDepth+2 && s.is("is"):
				inIS = false
			case inCell && d == rowDepth+1:
				inCell = false
				if string(typ) == "inlineStr" && !sawIS {
					r.line = append(r.line[:start], r.vbuf...)
				}
				if err := r.endCell(col, typ, start, hasF); err != nil {
					return err
				}
			case d == rowDepth:
				r.finish()
				return nil
			}
		}
	}
}

// endCell turns the text gathered for one cell into its value, as
// excelize's raw values: a shared string's text, an inline string's text,
// and the stored text of anything else (numbers, booleans as 1/0, errors,
// ISO dates, formulas' cached values).
func (r *sheetRows) endCell(col int, typ []byte, start int, hasF bool) error {
	v := r.line[start:]
	number := false
	switch string(typ) {
	case "s":
		if len(bytes.TrimSpace(v)) == 0 {
			break
		}
		i, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		str, ok := r.sst.get(i)
		if err != nil || !ok {
			return r.err(fmt.Errorf("%w: damaged XLSX workbook: row %d refers to shared string %q, which the workbook does not have", ErrUnreadable, r.rowN, clipBytes(v)))
		}
		r.line = append(r.line[:start], str...)
	case "inlineStr":
		if d := bstrDecode(v); len(d) != len(v) {
			r.line = append(r.line[:start], d...)
		}
	case "", "n":
		number = true
	}
	v = r.line[start:]
	if len(v) > r.lim.CellChars && utf8.RuneCount(v) > r.lim.CellChars {
		return r.cellLimit(col)
	}
	if len(r.line) > r.lim.RowBytes {
		return r.rowBytesLimit()
	}
	if len(v) == 0 && !hasF {
		// excelize keeps an empty cell only when it has a formula.
		r.line = r.line[:start]
		return nil
	}
	// Place the cell at its column: blanks fill the gap. A cell whose
	// reference goes backwards is appended, as excelize does.
	for len(r.ends) < col-1 {
		r.ends = append(r.ends, start)
		r.num = append(r.num, false)
	}
	r.ends = append(r.ends, len(r.line))
	r.num = append(r.num, number && len(v) > 0)
	return nil
}

func (r *sheetRows) finish() {
	line := string(r.line)
	r.cells = r.cells[:0]
	prev := 0
	for _, e := range r.ends {
		r.cells = append(r.cells, line[prev:e])
		prev = e
	}
}

func (r *sheetRows) cellLimit(col int) error {
	return limitErr("cell length", int64(r.lim.CellChars), fmt.Sprintf("row %d, column %s is over %s characters (Excel's own limit)", r.rowN, columnName(col), thousands(int64(r.lim.CellChars))))
}

func (r *sheetRows) rowBytesLimit() error {
	return limitErr("row length", int64(r.lim.RowBytes), fmt.Sprintf("row %d is over %s", r.rowN, size(int64(r.lim.RowBytes))))
}

// columnOf reads the column of a cell reference: "C12" → 3, "$XFD$1" → 16384.
// It reports false for anything that is not letters then digits.
func columnOf(ref []byte) (int, bool) {
	ref = bytes.TrimSpace(ref)
	col, i := 0, 0
	if i < len(ref) && ref[i] == '$' {
		i++
	}
	for ; i < len(ref); i++ {
		c := ref[i] | 0x20
		if c < 'a' || c > 'z' {
			break
		}
		col = col*26 + int(c-'a') + 1
		if col > 1<<20 {
			return 0, false
		}
	}
	if col == 0 {
		return 0, false
	}
	if i < len(ref) && ref[i] == '$' {
		i++
	}
	if i == len(ref) {
		return 0, false
	}
	for ; i < len(ref); i++ {
		if ref[i] < '0' || ref[i] > '9' {
			return 0, false
		}
	}
	return col, true
}

// columnName is the letters of a 1-based column: 3 → "C".
func columnName(col int) string {
	var b []byte
	for col > 0 {
		col--
		b = append([]byte{byte('A' + col%26)}, b...)
		col /= 26
	}
	return string(b)
}
