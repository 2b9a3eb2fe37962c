package report

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// table is a sheet read row by row: CSV (UTF-8 with or without BOM, or
// GB18030/GBK as Excel in China writes it) or the first sheet of an XLSX.
type table struct {
	path  string
	row   int // spreadsheet number of the row last returned
	csv   *csv.Reader
	xrows *excelize.Rows
	xf    *excelize.File
	f     *os.File
	hash  hash.Hash
}

// openTable opens path by its extension. The file's SHA-256 is computed
// over the very bytes the table is read from (see digest).
func openTable(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	t := &table{path: path, f: f}
	h := sha256.New()
	t.hash = h
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx", ".xlsm":
		// excelize needs random access; hash the file first.
		if _, err := io.Copy(h, f); err != nil {
			f.Close()
			return nil, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		xf, err := excelize.OpenReader(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: not a readable XLSX file: %w", path, err)
		}
		t.xf = xf
		sheets := xf.GetSheetList()
		if len(sheets) == 0 {
			t.Close()
			return nil, fmt.Errorf("%s: the workbook has no sheet", path)
		}
		t.xrows, err = xf.Rows(sheets[0])
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	default:
		br := bufio.NewReaderSize(io.TeeReader(f, h), 1<<16)
		var r io.Reader = br
		head, _ := br.Peek(4096)
		head = trimIncompleteRune(head)
		switch {
		case len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF:
			br.Discard(3)
		case !utf8.Valid(head):
			r = transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder())
		}
		c := csv.NewReader(r)
		c.FieldsPerRecord = -1
		c.ReuseRecord = true
		t.csv = c
	}
	return t, nil
}

// trimIncompleteRune drops a UTF-8 sequence cut by the peek window.
func trimIncompleteRune(b []byte) []byte {
	for i := 0; i < 3 && len(b) > 0; i++ {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

// next returns the next row's cells; io.EOF at the end. The slice is
// reused by the following call; its strings are not.
func (t *table) next() ([]string, error) {
	if t.csv != nil {
		rec, err := t.csv.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &InputError{File: t.path, Row: pe.Line, Err: fmt.Errorf("%w: %v", ErrBadValue, pe.Err)}
			}
			return nil, err
		}
		t.row, _ = t.csv.FieldPos(0)
		return rec, nil
	}
	if !t.xrows.Next() {
		if err := t.xrows.Error(); err != nil {
			return nil, fmt.Errorf("%s: %w", t.path, err)
		}
		return nil, io.EOF
	}
	t.row++
	return t.xrows.Columns()
}

// digest reads what is left so the hash covers the whole file, and
// returns it.
func (t *table) digest() (string, error) {
	if t.csv != nil {
		// Bytes the CSV reader never pulled through the tee still count.
		if _, err := io.Copy(t.hash, t.f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(t.hash.Sum(nil)), nil
}

func (t *table) Close() error {
	if t.xrows != nil {
		t.xrows.Close()
	}
	if t.xf != nil {
		t.xf.Close()
	}
	return t.f.Close()
}

// hashFile returns the SHA-256 of a file, for inputs read by other code
// (a run's SQLite store).
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// estimateRows guesses a CSV file's row count from its size, so that a
// million-row input is read into a slice of the right size instead of
// one grown by doubling (which holds two copies at the moment it grows).
// lineLen is a typical line length of the format; the guess is capped so
// that a huge file with long lines does not reserve absurd memory.
func (t *table) estimateRows(lineLen int64) int {
	fi, err := t.f.Stat()
	if err != nil || t.csv == nil {
		return 0
	}
	return int(min(fi.Size()/lineLen+16, 1<<24))
}
