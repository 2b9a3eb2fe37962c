package sheet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/batch"
)

// TestNumericIDs: ids Excel stored as numbers. A 16-digit one has lost its
// last digit and is refused as precision lost, as its exponent-form
// sibling is; an 11-digit one is kept; a NUL (Excel's _x0000_) is refused.
func TestNumericIDs(t *testing.T) {
	r, err := validate(t, "testdata/numeric_id.xlsx", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.sum.Valid != 2 || r.sum.Invalid != 3 {
		t.Errorf("summary %+v", r.sum)
	}
	if it := r.items[2]; it.ProviderOrderID != "7894259244067218" {
		t.Errorf("row 2 = %+v", it.Refund)
	}
	if it := r.items[5]; it.OrderNo != "20261101001" {
		t.Errorf("row 5 = %+v", it.Refund)
	}
	for row, want := range map[int]struct {
		col, value string
		err        error
		text       string
	}{
		3: {"provider_order_id", "7894259244067210", ErrPrecisionLost, "number of 16 digits"},
		4: {"provider_order_id", "4.20000114820211E+27", ErrPrecisionLost, "scientific notation"},
		6: {"refund_no", "QR-\x00", ErrControlChar, `value "QR-\x00": invisible or control character in an id: character 4 is NUL (U+0000)`},
	} {
		errs := r.invalid[row]
		if len(errs) != 1 || !errors.Is(errs[0], want.err) || errs[0].Column != want.col || errs[0].Value != want.value ||
			!strings.Contains(errs[0].Error(), want.text) {
			t.Errorf("row %d: %v, want %v on %s %q saying %q", row, errs, want.err, want.col, want.value, want.text)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, tt := range []struct {
		s       string
		numeric bool
		want    error
	}{
		{"R1", false, nil},
		{"退款-1", false, nil},
		{"A\x00B", false, ErrControlChar},
		{"A\tB", false, ErrControlChar},
		{"A\u200bB", false, ErrControlChar},
		{"\ufeffR1", false, ErrControlChar},
		{"A\u202eB", false, ErrControlChar},
		{"A\ufffdB", false, ErrControlChar},
		{"A\xffB", false, ErrControlChar},
		{"1234567890123456", false, nil}, // text: all its digits are there
		{"1234567890123456", true, ErrPrecisionLost},
		{"123456789012345", true, nil},
		{"0001234567890123", true, nil},
		{"12345678901234567.5", true, ErrPrecisionLost},
		{"4.20000114820211E+27", true, nil}, // the exponent form is the validator's
	} {
		if err := CheckID(tt.s, tt.numeric); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckID(%q, %v) = %v, want %v", tt.s, tt.numeric, err, tt.want)
		}
	}
}

// small are limits a test can exceed with a few kilobytes.
func small() Limits {
	l := DefaultLimits()
	l.FileBytes, l.PartBytes, l.WorkbookBytes, l.SharedStrings = 64<<10, 64<<10, 96<<10, 4<<10
	l.CellChars, l.Columns, l.RowBytes, l.Rows, l.XMLDepth, l.XMLToken, l.Sheets, l.Parts = 100, 50, 2<<10, 20, 16, 8<<10, 5, 30
	return l
}

// TestLimits: each limit, exceeded by a small file, ends reading with a
// *LimitError that names the file and the limit, on one line.
func TestLimits(t *testing.T) {
	hdr := "provider,account,order_no,refund_no,refund_amount,operator\n"
	sheetXML := func(rows string) map[string]string {
		return map[string]string{"xl/worksheets/sheet1.xml": `<worksheet><sheetData>` + rows + `</sheetData></worksheet>`}
	}
	cases := []struct {
		name, file string
		content    []byte
		limit      string
	}{
		{"file size", "big.csv", []byte(hdr + strings.Repeat("quickpay,SH001,1,R1,1.00,op\n", 3000)), "file size"},
		{"cell length", "cell.csv", []byte(hdr + "quickpay,SH001,1,R1,1.00," + strings.Repeat("長", 101) + "\n"), "cell length"},
		{"row length", "line.csv", []byte(hdr + strings.Repeat(strings.Repeat("x", 90)+",", 40) + "\n"), "row length"},
		{"quoted record over lines", "quoted.csv", []byte(hdr + strings.Repeat(`"`+strings.Repeat("x\n", 40)+`",`, 40) + "\n"), "row length"},
		{"blank lines", "blank.csv", []byte(hdr + strings.Repeat("\n", 5000) + "x\n"), "row length"},
		{"columns", "wide.csv", []byte(hdr + strings.Repeat(",", 60) + "\n"), "columns per row"},
		{"rows", "rows.csv", []byte(hdr + strings.Repeat("quickpay,SH001,1,R1,1.00,op\n", 25)), "rows"},
		{"xlsx cell length", "cell.xlsx", xlsxBytes(t, sheetXML(`<row r="1"><c r="A1" t="inlineStr"><is><t>`+strings.Repeat("x", 101)+`</t></is></c></row>`)), "cell length"},
		{"xlsx shared string", "sst.xlsx", xlsxBytes(t, map[string]string{"xl/sharedStrings.xml": `<sst><si><t>` + strings.Repeat("x", 101) + `</t></si></sst>`}), "cell length"},
		{"xlsx shared strings size", "ssts.xlsx", xlsxBytes(t, map[string]string{"xl/sharedStrings.xml": `<sst>` + strings.Repeat(`<si><t>`+strings.Repeat("x", 90)+`</t></si>`, 60) + `</sst>`}), "shared strings size"},
		{"xlsx columns", "wide.xlsx", xlsxBytes(t, sheetXML(`<row r="1"><c r="AZ1"><v>1</v></c></row>`)), "columns per row"},
		{"xlsx rows", "rows.xlsx", xlsxBytes(t, sheetXML(`<row r="21"><c r="A21"><v>1</v></c></row>`)), "rows"},
		{"xlsx row length", "rowlen.xlsx", xlsxBytes(t, sheetXML(`<row r="1">`+strings.Repeat(`<c t="str"><v>`+strings.Repeat("y", 90)+`</v></c>`, 30)+`</row>`)), "row length"},
		{"xml depth", "deep.xlsx", xlsxBytes(t, sheetXML(strings.Repeat("<a>", 20)+strings.Repeat("</a>", 20))), "XML nesting depth"},
		{"xml token", "ws.xlsx", xlsxBytes(t, sheetXML(`<row r="1">`+strings.Repeat(" ", 9<<10)+`</row>`)), "XML token size"},
		{"part size", "part.xlsx", xlsxBytes(t, sheetXML(strings.Repeat(`<x/>`, 20000))), "part size"},
		{"sheets", "sheets.xlsx", xlsxBytes(t, map[string]string{"xl/workbook.xml": `<workbook><sheets>` + strings.Repeat(`<sheet name="s"/>`, 6) + `</sheets></workbook>`}), "sheets"},
		{"parts", "parts.xlsx", xlsxBytes(t, manyParts(40)), "workbook parts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.file)
			if err := os.WriteFile(path, c.content, 0o600); err != nil {
				t.Fatal(err)
			}
			err := readTable(path, small())
			var le *LimitError
			if !errors.As(err, &le) || !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v, want a *LimitError", err)
			}
			msg := err.Error()
			if le.Limit != c.limit || le.File != path || !strings.HasPrefix(msg, path+": "+c.limit+" limit exceeded: ") ||
				strings.Contains(msg, "\n") || len(msg) > len(path)+200 {
				t.Errorf("error %q (limit %q, file %q), want the %s limit named, on one short line", msg, le.Limit, le.File, c.limit)
			}
		})
	}
}

// xlsxBytes returns a minimal workbook with parts replaced.
func xlsxBytes(t testing.TB, parts map[string]string) []byte {
	var b bytes.Buffer
	if err := writeWorkbook(&b, parts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func manyParts(n int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("xl/media/image%d.png", i)] = "x"
	}
	return m
}

// readTable reads every row of a file with the given limits.
func readTable(path string, lim Limits) error {
	src, err := openSource(path, "", lim, false)
	if err != nil {
		return err
	}
	defer src.close()
	for {
		if _, _, _, err := src.next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// TestCompressionRatio: a part that inflates past Ratio times its
// compressed size is refused once past ratioFloor, long before it is all
// inflated.
func TestCompressionRatio(t *testing.T) {
	lim := DefaultLimits()
	lim.Ratio = 20
	row := `<row><c t="str"><v>` + strings.Repeat("0", 1000) + `</v></c></row>`
	sheet := `<worksheet><sheetData>` + strings.Repeat(row, (ratioFloor+(1<<20))/len(row)) + `</sheetData></worksheet>`
	path := filepath.Join(t.TempDir(), "bomb.xlsx")
	os.WriteFile(path, xlsxBytes(t, map[string]string{"xl/worksheets/sheet1.xml": sheet}), 0o600)
	lim.Rows = 1 << 30
	var le *LimitError
	if err := readTable(path, lim); !errors.As(err, &le) || le.Limit != "compression ratio" || !strings.Contains(err.Error(), "xl/worksheets/sheet1.xml") {
		t.Fatalf("error %v, want the compression ratio limit on the sheet part", err)
	}
	// Under the ratio, the same file reads.
	lim.Ratio = 10000
	if err := readTable(path, lim); err != nil {
		t.Fatal(err)
	}
}

// TestNotRegular: a FIFO or a device is refused before it is opened (a
// FIFO without a writer would block the open for ever).
func TestNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "refunds.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no mkfifo:", err)
	}
	for _, path := range []string{fifo, "/dev/zero", "/dev/null"} {
		done := make(chan error, 1)
		go func() { _, err := Validate(path, Options{}, func(bItem) error { return nil }, nil); done <- err }()
		select {
		case err := <-done:
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != "regular files only" || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: %v, want the regular-files-only refusal", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still reading after 5 s", path)
		}
	}
}

// TestStdin reads "-" as CSV and as XLSX (spooled to a private temporary
// file), and leaves no temporary file behind.
func TestStdin(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	xlsx, err := os.ReadFile("testdata/formulas.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		content []byte
		valid   int
		hash    bool
	}{
		{"csv", []byte("provider,account,order_no,refund_no,refund_amount,operator\nquickpay,SH001,1,R1,1.00,op\n"), 1, true},
		{"xlsx", xlsx, 4, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			withStdin(t, c.content, func() {
				sum, err := Validate(Stdin, Options{}, func(bItem) error { return nil }, nil)
				if err != nil || sum.Valid != c.valid {
					t.Fatalf("summary %+v, err %v", sum, err)
				}
			})
			withStdin(t, c.content, func() {
				tb, err := OpenTable(Stdin, TableOptions{Hash: true})
				if err != nil {
					t.Fatal(err)
				}
				defer tb.Close()
				for {
					if _, _, err := tb.Next(); err != nil {
						break
					}
				}
				got, err := tb.SHA256()
				if err != nil || got != sha(c.content) {
					t.Errorf("sha256 %s (%v), want %s", got, err, sha(c.content))
				}
			})
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
		})
	}
	withStdin(t, nil, func() {
		if _, err := Validate(Stdin, Options{}, func(bItem) error { return nil }, nil); !errors.Is(err, ErrEmptyFile) {
			t.Errorf("empty standard input: %v", err)
		}
	})
}

// withStdin runs fn with os.Stdin reading content from a pipe.
func withStdin(t *testing.T, content []byte, fn func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(content); w.Close() }()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	fn()
}

type bItem = batch.Item

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestCSVRowNumbers: rows are numbered as a spreadsheet shows the file:
// encoding/csv skips a blank line, a spreadsheet shows it as a row; a
// record spanning lines is one row.
func TestCSVRowNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gaps.csv")
	os.WriteFile(path, []byte("\nprovider,account,order_no,refund_no,refund_amount,operator\n"+
		"quickpay,SH001,1,R1,1.00,op\n\n\n"+
		"quickpay,SH001,2,R2,1.00,\"two\nlines\"\n"+
		"quickpay,SH001,3,R3,x,op\n"), 0o600)
	r, err := validate(t, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.sum.HeaderRow != 2 || r.items[3].RefundNo != "R1" || r.items[6].RefundNo != "R2" || r.invalid[7] == nil {
		t.Errorf("header row %d, items %v, invalid rows %v", r.sum.HeaderRow, r.items, r.invalid)
	}
}
