// Package hostile generates input files built to exhaust a reader: zip
// bombs, whitespace bombs, a 2 GiB shared string, cells of 50 MB, a line
// of 300 MB, a million columns, rows past Excel's limit, XML nested a
// million deep, thousands of sheets, ids with NUL bytes, a FIFO, a device.
//
// Each generator writes one file into a directory (a test's t.TempDir())
// and returns its path. Nothing large is ever held in memory or committed:
// the bombs are deflate streams built from one compressed chunk repeated
// (a 2 GiB part costs a few MB on disk and a fraction of a second), the
// files past a size limit are sparse, and the rest stream to disk.
//
// All of them carry a header that both a refund sheet and a provider
// statement accept (provider, account, order_no, refund_no, refund_amount,
// operator, status), so that each reader reaches the hostile part.
package hostile

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Header is the header row of every generated sheet.
var Header = []string{"provider", "account", "order_no", "refund_no", "refund_amount", "operator", "status"}

// A Case is one hostile input.
type Case struct {
	Name string
	// Limits are the names of the limits (sheet.LimitError.Limit) the
	// readers may refuse it with; the first to trip wins, which can
	// depend on the reader.
	Limits []string
	// RowErrors: the file is readable but holds invalid rows (NUL in
	// ids): a refund sheet reports them row by row (exit 1), a statement
	// is refused at its first one (exit 2). Want is then a text the
	// messages must contain.
	RowErrors bool
	Want      string
	// Heavy cases take seconds or hundreds of MB of disk to make; tests
	// skip them under -short.
	Heavy bool
	Make  func(dir string) (string, error)
}

// Cases lists the corpus.
func Cases() []Case {
	return []Case{
		{Name: "zip bomb", Limits: []string{"compression ratio"}, Make: zipBomb},
		{Name: "whitespace bomb", Limits: []string{"XML token size", "compression ratio"}, Make: whitespaceBomb},
		{Name: "2 GiB shared string", Limits: []string{"cell length", "compression ratio"}, Make: hugeSharedString},
		{Name: "50 MB cell xlsx", Limits: []string{"cell length"}, Make: bigCellXLSX},
		{Name: "50 MB cell csv", Limits: []string{"row length", "cell length"}, Make: bigCellCSV},
		{Name: "300 MB line", Limits: []string{"row length"}, Heavy: true, Make: longLine},
		{Name: "million columns csv", Limits: []string{"columns per row"}, Make: wideCSV},
		{Name: "million columns xlsx", Limits: []string{"columns per row"}, Make: wideXLSX},
		{Name: "rows past the limit csv", Limits: []string{"rows"}, Make: manyRowsCSV},
		{Name: "rows past the limit xlsx", Limits: []string{"rows"}, Make: farRowXLSX},
		{Name: "deeply nested xml", Limits: []string{"XML nesting depth"}, Make: deepXML},
		{Name: "many sheets", Limits: []string{"workbook parts", "sheets"}, Make: manySheets},
		{Name: "many sheets listed", Limits: []string{"sheets"}, Make: manySheetsListed},
		{Name: "file over the size limit", Limits: []string{"file size"}, Make: sparseBig},
		{Name: "/dev/zero", Limits: []string{"regular files only"}, Make: func(string) (string, error) { return "/dev/zero", nil }},
		{Name: "fifo", Limits: []string{"regular files only"}, Make: fifo},
		{Name: "NUL in ids csv", RowErrors: true, Want: `\x00`, Make: nulCSV},
		{Name: "NUL in ids xlsx", RowErrors: true, Want: `\x00`, Make: nulXLSX},
	}
}

// ---- CSV ----

const validRow = "quickpay,SH001,20261101001,QR-1,1.00,op,succeeded"

func writeFile(dir, name string, fn func(w *bufio.Writer) error) (string, error) {
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = fn(w)
	if e := w.Flush(); err == nil {
		err = e
	}
	if e := f.Close(); err == nil {
		err = e
	}
	return path, err
}

func repeat(w io.Writer, s string, n int) error {
	chunk := strings.Repeat(s, max(1, (64<<10)/len(s)))
	per := len(chunk) / len(s)
	for n > 0 {
		k := min(n, per)
		if _, err := io.WriteString(w, chunk[:k*len(s)]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func csvHeader(w io.Writer) error {
	_, err := io.WriteString(w, strings.Join(Header, ",")+"\n"+validRow+"\n")
	return err
}

func bigCellCSV(dir string) (string, error) {
	return writeFile(dir, "big-cell.csv", func(w *bufio.Writer) error {
		csvHeader(w)
		io.WriteString(w, `quickpay,SH001,20261101002,QR-2,1.00,op,"`)
		repeat(w, "x", 50<<20)
		_, err := io.WriteString(w, "\"\n")
		return err
	})
}

// longLine is the row that was once accepted as valid: a reason (here the
// operator column) of 300 MB.
func longLine(dir string) (string, error) {
	return writeFile(dir, "long-line.csv", func(w *bufio.Writer) error {
		csvHeader(w)
		io.WriteString(w, "quickpay,SH001,20261101002,QR-2,1.00,")
		repeat(w, "y", 300<<20)
		_, err := io.WriteString(w, ",succeeded\n")
		return err
	})
}

func wideCSV(dir string) (string, error) {
	return writeFile(dir, "wide.csv", func(w *bufio.Writer) error {
		io.WriteString(w, strings.Join(Header, ","))
		repeat(w, ",", 1_000_000-len(Header))
		_, err := io.WriteString(w, "\n"+validRow+"\n")
		return err
	})
}

// manyRowsCSV: a valid header and row, then blank rows past Excel's
// 1,048,576.
func manyRowsCSV(dir string) (string, error) {
	return writeFile(dir, "rows.csv", func(w *bufio.Writer) error {
		csvHeader(w)
		return repeat(w, ",,,,,,\n", 1_100_000)
	})
}

func nulCSV(dir string) (string, error) {
	return writeFile(dir, "nul-ids.csv", func(w *bufio.Writer) error {
		csvHeader(w)
		_, err := io.WriteString(w, "quickpay,SH001,2026\x001101003,QR-3,1.00,op,succeeded\n"+
			"quickpay,SH001,20261101004,QR\x00-4,1.00,op,succeeded\n")
		return err
	})
}

// sparseBig is a CSV of 1.5 GiB that takes no disk: a header, then a hole.
func sparseBig(dir string) (string, error) {
	path, err := writeFile(dir, "big.csv", func(w *bufio.Writer) error { return csvHeader(w) })
	if err != nil {
		return "", err
	}
	return path, os.Truncate(path, 3<<29)
}

func fifo(dir string) (string, error) {
	path := filepath.Join(dir, "refunds.csv")
	return path, syscall.Mkfifo(path, 0o600)
}

// ---- XLSX ----

// part is one zip entry: plain content, or a raw deflate stream with its
// CRC-32 and inflated size.
type part struct {
	text string
	raw  []byte
	crc  uint32
	size uint64
}

// bomb builds the deflate stream of prefix + chunk×n + suffix without
// compressing n chunks: each piece is compressed alone (a fresh
// compressor, so no back-reference crosses pieces) and ended with a sync
// flush (byte-aligned, not final), so the pieces concatenate; an empty
// final block ends the stream.
func bomb(prefix, chunk, suffix string, n int) part {
	piece := func(s string) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		w.Write([]byte(s))
		w.Flush()
		return b.Bytes()
	}
	var final bytes.Buffer
	fw, _ := flate.NewWriter(&final, flate.BestCompression)
	fw.Close()
	c := piece(chunk)
	raw := append(piece(prefix), bytes.Repeat(c, n)...)
	raw = append(raw, piece(suffix)...)
	raw = append(raw, final.Bytes()...)
	crc := crc32.Update(0, crc32.IEEETable, []byte(prefix))
	cb := []byte(chunk)
	for i := 0; i < n; i++ {
		crc = crc32.Update(crc, crc32.IEEETable, cb)
	}
	crc = crc32.Update(crc, crc32.IEEETable, []byte(suffix))
	return part{raw: raw, crc: crc, size: uint64(len(prefix)) + uint64(len(chunk))*uint64(n) + uint64(len(suffix))}
}

func inline(s string) string {
	return `<c t="inlineStr"><is><t>` + s + `</t></is></c>`
}

// headerRow is the header as an XML row of inline strings, and a valid row.
func headerRows() string {
	var b strings.Builder
	b.WriteString(`<row r="1">`)
	for _, h := range Header {
		b.WriteString(inline(h))
	}
	b.WriteString(`</row><row r="2">`)
	for _, v := range strings.Split(validRow, ",") {
		b.WriteString(inline(v))
	}
	b.WriteString(`</row>`)
	return b.String()
}

const (
	sheetStart = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
	sheetEnd = `</sheetData></worksheet>`
)

// workbook writes a workbook with one visible sheet whose parts are given
// (and replace the defaults); more lists extra sheets (name → part).
func workbook(dir, name string, parts map[string]part, more ...string) (string, error) {
	var sheets, rels strings.Builder
	sheets.WriteString(`<sheet name="Sheet1" sheetId="1" r:id="rId1"/>`)
	rels.WriteString(`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
		`<Relationship Id="rId0" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>`)
	for i, p := range more {
		fmt.Fprintf(&sheets, `<sheet name="S%d" sheetId="%d" r:id="rIdx%d"/>`, i, i+2, i)
		fmt.Fprintf(&rels, `<Relationship Id="rIdx%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="%s"/>`, i, strings.TrimPrefix(p, "xl/"))
	}
	all := map[string]part{
		"[Content_Types].xml": {text: `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>`},
		"_rels/.rels": {text: `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		"xl/workbook.xml": {text: `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ` +
			`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>` + sheets.String() + `</sheets></workbook>`},
		"xl/_rels/workbook.xml.rels": {text: `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` + rels.String() + `</Relationships>`},
		"xl/sharedStrings.xml":       {text: `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>`},
		"xl/worksheets/sheet1.xml":   {text: sheetStart + headerRows() + sheetEnd},
	}
	for k, v := range parts {
		all[k] = v
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	// The sharedStrings part goes first, as Excel writes it: a reader that
	// trusts order would meet the bomb first.
	order := []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"}
	first := map[string]bool{}
	for _, k := range order {
		first[k] = true
	}
	for k := range all {
		if !first[k] {
			order = append(order, k)
		}
	}
	for _, name := range order {
		p := all[name]
		if p.raw != nil {
			w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: p.crc,
				CompressedSize64: uint64(len(p.raw)), UncompressedSize64: p.size})
			if err != nil {
				return "", err
			}
			if _, err := w.Write(p.raw); err != nil {
				return "", err
			}
			continue
		}
		// Stored, not deflated: 20,000 small parts compress slowly under
		// the race detector, and a reader must take both methods.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			return "", err
		}
		if _, err := io.WriteString(w, p.text); err != nil {
			return "", err
		}
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	return path, f.Close()
}

// zipBomb: a sheet of valid rows that inflates to 2 GiB from about 2 MB.
func zipBomb(dir string) (string, error) {
	var row strings.Builder
	row.WriteString("<row>")
	for _, v := range strings.Split(validRow, ",") {
		row.WriteString(inline(v))
	}
	row.WriteString("</row>")
	chunk := strings.Repeat(row.String(), (1<<20)/row.Len())
	return workbook(dir, "zip-bomb.xlsx", map[string]part{
		"xl/worksheets/sheet1.xml": bomb(sheetStart+headerRows(), chunk, sheetEnd, (2<<30)/len(chunk)),
	})
}

// whitespaceBomb: 2 GiB of spaces between two rows.
func whitespaceBomb(dir string) (string, error) {
	return workbook(dir, "whitespace-bomb.xlsx", map[string]part{
		"xl/worksheets/sheet1.xml": bomb(sheetStart+headerRows(), strings.Repeat(" ", 1<<20), sheetEnd, 2048),
	})
}

// hugeSharedString: one shared string of 2 GiB, referred to by a cell.
func hugeSharedString(dir string) (string, error) {
	return workbook(dir, "huge-string.xlsx", map[string]part{
		"xl/sharedStrings.xml": bomb(`<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>`,
			strings.Repeat("A", 1<<20), `</t></si></sst>`, 2048),
		"xl/worksheets/sheet1.xml": {text: sheetStart + headerRows() + `<row r="3"><c t="s"><v>0</v></c></row>` + sheetEnd},
	})
}

func bigCellXLSX(dir string) (string, error) {
	return workbook(dir, "big-cell.xlsx", map[string]part{
		"xl/worksheets/sheet1.xml": bomb(sheetStart+headerRows()+`<row r="3"><c t="inlineStr"><is><t>`, strings.Repeat("x", 1<<20), `</t></is></c></row>`+sheetEnd, 50),
	})
}

// wideXLSX: one row of a million cells (no references: each is the next).
func wideXLSX(dir string) (string, error) {
	cell := `<c><v>1</v></c>`
	return workbook(dir, "wide.xlsx", map[string]part{
		"xl/worksheets/sheet1.xml": bomb(sheetStart+headerRows()+`<row r="3">`, strings.Repeat(cell, 1000), `</row>`+sheetEnd, 1000),
	})
}

func farRowXLSX(dir string) (string, error) {
	return workbook(dir, "far-row.xlsx", map[string]part{
		"xl/worksheets/sheet1.xml": {text: sheetStart + headerRows() + `<row r="1048577"><c t="inlineStr"><is><t>x</t></is></c></row>` + sheetEnd},
	})
}

// deepXML: elements nested a million deep inside the sheet data.
func deepXML(dir string) (string, error) {
	return workbook(dir, "deep.xlsx", map[string]part{
		"xl/worksheets/sheet1.xml": {text: sheetStart + headerRows() + strings.Repeat("<x>", 1_000_000) + strings.Repeat("</x>", 1_000_000) + sheetEnd},
	})
}

// manySheets: 20,000 sheets, each its own part.
func manySheets(dir string) (string, error) {
	parts := map[string]part{}
	var more []string
	for i := 0; i < 20000; i++ {
		p := fmt.Sprintf("xl/worksheets/s%d.xml", i)
		parts[p] = part{text: sheetStart + sheetEnd}
		more = append(more, p)
	}
	return workbook(dir, "many-sheets.xlsx", parts, more...)
}

// manySheetsListed: a workbook listing 100,000 sheets, all one part.
func manySheetsListed(dir string) (string, error) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ` +
		`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>`)
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&b, `<sheet name="S%d" sheetId="%d" r:id="rId1"/>`, i, i+1)
	}
	b.WriteString(`</sheets></workbook>`)
	return workbook(dir, "many-sheets-listed.xlsx", map[string]part{"xl/workbook.xml": {text: b.String()}})
}

// nulXLSX: ids with NUL, as Excel stores it (_x0000_).
func nulXLSX(dir string) (string, error) {
	row := `<row r="3">` + inline("quickpay") + inline("SH001") + inline("2026_x0000_1101003") + inline("QR-3") +
		inline("1.00") + inline("op") + inline("succeeded") + `</row>`
	return workbook(dir, "nul-ids.xlsx", map[string]part{
		"xl/worksheets/sheet1.xml": {text: sheetStart + headerRows() + row + sheetEnd},
	})
}
