package sheet

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// scanAll tokenizes with our scanner into a comparable list: start tags
// with their attributes (values decoded), end tags, and text with runs
// joined, as encoding/xml would give them.
func scanAll(r io.Reader) ([]string, error) {
	lim := DefaultLimits()
	lim.XMLToken = 64 << 10
	s := newXMLScanner(r, lim)
	var out []string
	var text []byte
	flush := func() {
		if len(text) > 0 {
			out = append(out, "T"+string(text))
			text = text[:0]
		}
	}
	for {
		k, err := s.next()
		if err == io.EOF {
			flush()
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch k {
		case tokText:
			v, err := s.text(s.raw, s.cdata)
			if err != nil {
				return out, err
			}
			text = append(text, v...)
		case tokStart:
			flush()
			e := "S" + string(s.qname)
			for _, a := range s.attrs {
				v, err := s.text(a.raw, false)
				if err != nil {
					return out, err
				}
				e += " " + string(a.name) + "=" + string(v)
			}
			out = append(out, e)
		case tokEnd:
			flush()
			out = append(out, "E"+string(s.qname))
		}
	}
}

// stdAll is scanAll by encoding/xml. ok is false when encoding/xml
// refuses the input or holds something we refuse by design (a DOCTYPE).
func stdAll(b []byte) (out []string, ok bool) {
	// Well-formed first: Token checks that end tags match.
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false
		}
		if _, dir := tok.(xml.Directive); dir {
			return nil, false
		}
	}
	// Then the tokens as written, prefixes unresolved.
	d = xml.NewDecoder(bytes.NewReader(b))
	var text []byte
	flush := func() {
		if len(text) > 0 {
			out = append(out, "T"+string(text))
			text = text[:0]
		}
	}
	qn := func(n xml.Name) string {
		if n.Space != "" {
			return n.Space + ":" + n.Local
		}
		return n.Local
	}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			flush()
			return out, true
		}
		if err != nil {
			return nil, false
		}
		switch t := tok.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.StartElement:
			flush()
			e := "S" + qn(t.Name)
			for _, a := range t.Attr {
				e += " " + qn(a.Name) + "=" + a.Value
			}
			out = append(out, e)
		case xml.EndElement:
			flush()
			out = append(out, "E"+qn(t.Name))
		}
	}
}

func checkScanner(t *testing.T, b []byte) {
	ours, err := scanAll(bytes.NewReader(b))
	// A refill at every byte must change nothing.
	slow, slowErr := scanAll(iotest.OneByteReader(bytes.NewReader(b)))
	if (err == nil) != (slowErr == nil) || strings.Join(ours, "\x00") != strings.Join(slow, "\x00") {
		t.Fatalf("one byte at a time differs:\n %q %v\n %q %v", ours, err, slow, slowErr)
	}
	var le *LimitError
	if err != nil && !errors.Is(err, errXML) && !errors.As(err, &le) {
		t.Fatalf("unclassified error %v", err)
	}
	std, ok := stdAll(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
	if !ok {
		return
	}
	if err != nil {
		if errors.As(err, &le) {
			return // a limit, which encoding/xml does not have
		}
		t.Fatalf("encoding/xml reads %q, we refuse it: %v", b, err)
	}
	if strings.Join(ours, "\x00") != strings.Join(std, "\x00") {
		t.Fatalf("tokens differ for %q:\n ours     %q\n encoding %q", b, ours, std)
	}
}

func TestXMLScanner(t *testing.T) {
	for _, s := range []string{
		`<a/>`,
		`<?xml version="1.0"?><!-- c --><x:a xmlns:x="u" x:b='1' c="&lt;&amp;&#65;&#x42;&#x0000041;">t&gt;<![CDATA[<raw>&amp;]]>u</x:a>`,
		"<a>\r\nline\rend</a>",
		`<a b = "1"	c="2" ></a >`,
		`<a>` + strings.Repeat("x", 100000) + `</a>`,
		"\xef\xbb\xbf<a/>",
		`<a><b></a></b>`,
		`<a>&unknown;</a>`,
		`<a b=1/>`,
		`<!DOCTYPE a><a/>`,
		"<a>\x01</a>",
		"<a>\xff</a>",
		`<a>`,
		`<a x="<"/>`,
	} {
		checkScanner(t, []byte(s))
	}
}

// FuzzXMLScanner checks our tokenizer against encoding/xml: whatever
// encoding/xml reads (well-formed, no DOCTYPE), we read as the same
// tokens; whatever the bytes, no panic, a classified error, and the same
// result when the input arrives one byte at a time.
func FuzzXMLScanner(f *testing.F) {
	for _, path := range []string{"testdata/formulas.xlsx", "testdata/gaps.xlsx", "testdata/numeric_id.xlsx"} {
		zr, err := zip.OpenReader(path)
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, ".xml") || strings.HasSuffix(zf.Name, ".rels") {
				rc, _ := zf.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				if len(b) < 8<<10 {
					f.Add(b)
				}
			}
		}
		zr.Close()
	}
	f.Add([]byte(`<x:a xmlns:x="u" x:b='1'>t&gt;<![CDATA[<raw>]]><!-- c --><?pi x?></x:a>`))
	f.Add([]byte("<a>\r\n&#x10FFFF;&#65;</a>"))
	f.Fuzz(checkScanner)
}

// FuzzSheetXML puts fuzzed bytes where a workbook's sheet goes and reads
// the sheet, in memory: no panic, every error classified, rows in order,
// cells within the limits, number flags for every cell.
func FuzzSheetXML(f *testing.F) {
	f.Add([]byte(`<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>provider</t></is></c></row></sheetData></worksheet>`))
	f.Add([]byte(`<worksheet><sheetData><row r="2"><c r="B2" t="s"><v>3</v></c><c><f>1+1</f></c><c t="b"><v>1</v></c></row><row r="9"/></sheetData></worksheet>`))
	zr, err := zip.OpenReader("testdata/formulas.xlsx")
	if err != nil {
		f.Fatal(err)
	}
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "xl/worksheets/") {
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			f.Add(b)
		}
	}
	zr.Close()
	sst := `<sst><si><t>provider</t></si><si><t>account</t></si><si><r><t>order</t></r><r><t>_no</t></r></si><si><t>refund_no</t></si>` +
		`<si><t>refund_amount</t></si><si><t>operator</t></si><si><t>quick_x0070_ay</t><rPh><t>x</t></rPh></si></sst>`
	lim := DefaultLimits()
	lim.Rows = 5000 // gaps of a million rows would only be slow
	f.Fuzz(func(t *testing.T, sheet []byte) {
		var b bytes.Buffer
		if err := writeWorkbook(&b, map[string]string{"xl/worksheets/sheet1.xml": string(sheet), "xl/sharedStrings.xml": sst}); err != nil {
			t.Fatal(err)
		}
		wb, err := openWorkbook(bytes.NewReader(b.Bytes()), int64(b.Len()), lim)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := wb.sheetRows(wb.sheets[0])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.close()
		last := 0
		for {
			row, cells, nums, err := rows.next()
			if err != nil {
				var le *LimitError
				if err != io.EOF && !errors.Is(err, ErrUnreadable) && !errors.As(err, &le) {
					t.Fatalf("unclassified error %v", err)
				}
				return
			}
			if row != last+1 || len(cells) > lim.Columns || len(nums) != len(cells) {
				t.Fatalf("row %d after %d, %d cells, %d flags", row, last, len(cells), len(nums))
			}
			last = row
		}
	})
}
