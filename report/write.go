package report

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/bulkrefund/bulkrefund/internal/atomicfile"
	"github.com/bulkrefund/bulkrefund/internal/excel"
)

// WriteOptions are how the report's files are written; the zero value is
// the default. Each writer takes at most one.
type WriteOptions struct {
	// NoBOM leaves out the UTF-8 byte-order mark every CSV file starts
	// with by default (Excel needs it to read UTF-8; see excel.BOM), for a
	// tool that does not expect it.
	NoBOM bool
	// Paper is the paper the XLSX is set up to print on, A4 unless
	// Letter. Its sheets are laid out to fit both.
	Paper Paper
}

// Paper is a paper size for the printed report.
type Paper = excel.Paper

// The paper sizes a report is laid out for.
const (
	A4     = excel.A4
	Letter = excel.Letter
)

func writeOptions(opt []WriteOptions) WriteOptions {
	if len(opt) > 0 {
		return opt[0]
	}
	return WriteOptions{}
}

// WriteCSV writes one CSV file per table of the report into dir (created if
// missing): summary, by_provider, totals, provenance, report_info,
// exceptions, failures, net_by_order, all_refunds. Files are UTF-8 with a
// byte-order mark (unless opt says NoBOM); amounts are exact major-unit
// decimal text; times RFC 3339 UTC, days YYYY-MM-DD; text that a
// spreadsheet would run as a formula is quoted (see guard).
func WriteCSV(dir string, res *Result, opt ...WriteOptions) error {
	o := writeOptions(opt)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Two files at a time, one per core: All refunds and Net by order are
	// each a million lines in a large reconciliation.
	var g errgroup.Group
	g.SetLimit(2)
	for _, sh := range res.sheets() {
		g.Go(func() error { return writeCSVFile(filepath.Join(dir, sh.file+".csv"), sh, !o.NoBOM) })
	}
	return g.Wait()
}

func writeCSVFile(path string, sh sheet, bom bool) error {
	err := atomicfile.Write(path, 0o644, func(out io.Writer) error {
		if bom {
			if _, err := io.WriteString(out, excel.BOM); err != nil {
				return err
			}
		}
		return writeCSVTable(out, sh)
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func writeCSVTable(out io.Writer, sh sheet) error {
	w := csv.NewWriter(out)
	rec := make([]string, len(sh.cols))
	for i, c := range sh.cols {
		rec[i] = c.name
	}
	w.Write(rec)
	fields := make([]field, len(sh.cols))
	for i := 0; i < sh.n; i++ {
		sh.fill(i, fields)
		for k, c := range sh.cols {
			rec[k] = csvCell(c.kind, fields[k])
		}
		w.Write(rec)
	}
	w.Flush()
	return w.Error()
}

func csvCell(k kind, f field) string {
	if f.null {
		return ""
	}
	switch k {
	case kAmount:
		return major(f.n, f.cur)
	case kInt:
		return strconv.FormatInt(f.n, 10)
	case kBool:
		return strconv.FormatBool(f.b)
	case kTime:
		return timeText(f.t)
	case kDate:
		return f.t.Format(time.DateOnly)
	}
	return guard(f.s)
}

// WriteJSON writes the report as one JSON object with a key per table
// (the CSV file names) holding an array of row objects. Amounts are exact
// decimal strings; text is written as is (no formula guard: it is not
// meant for a spreadsheet).
func WriteJSON(path string, res *Result) error {
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return writeJSON(bufio.NewWriterSize(w, 1<<16), res)
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func writeJSON(w *bufio.Writer, res *Result) error {
	var buf []byte
	w.WriteString("{")
	for si, sh := range res.sheets() {
		if si > 0 {
			w.WriteString(",")
		}
		buf = appendJSONString(buf[:0], sh.file)
		w.Write(buf)
		w.WriteString(":[")
		fields := make([]field, len(sh.cols))
		for i := 0; i < sh.n; i++ {
			sh.fill(i, fields)
			buf = buf[:0]
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, "\n{"...)
			for k, c := range sh.cols {
				if k > 0 {
					buf = append(buf, ',')
				}
				buf = appendJSONString(buf, c.name)
				buf = append(buf, ':')
				fv := fields[k]
				switch {
				case fv.null:
					buf = append(buf, "null"...)
				case c.kind == kAmount:
					buf = appendJSONString(buf, major(fv.n, fv.cur))
				case c.kind == kInt:
					buf = strconv.AppendInt(buf, fv.n, 10)
				case c.kind == kBool:
					buf = strconv.AppendBool(buf, fv.b)
				case c.kind == kTime:
					buf = appendJSONString(buf, timeText(fv.t))
				case c.kind == kDate:
					buf = appendJSONString(buf, fv.t.Format(time.DateOnly))
				default:
					buf = appendJSONString(buf, fv.s)
				}
			}
			buf = append(buf, '}')
			w.Write(buf)
		}
		w.WriteString("]")
	}
	w.WriteString("}\n")
	return w.Flush()
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xF])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
