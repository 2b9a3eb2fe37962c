package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulkrefund/bulkrefund/internal/excel"
)

// TestCSVByteOrderMark: --csv files start with the UTF-8 byte-order mark
// (Excel needs it to show Chinese text), and none does with --no-bom.
func TestCSVByteOrderMark(t *testing.T) {
	for _, noBOM := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "csv")
		args := []string{"--results", sample("results.csv"), "--statement", sample("statement.csv"), "--tz", "UTC", "--csv", dir}
		if noBOM {
			args = append(args, "--no-bom")
		}
		if code, _, stderr := runBinary(t, nil, args...); code != 1 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
		if len(files) != 12 {
			t.Fatalf("%d CSV files", len(files))
		}
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if bytes.HasPrefix(b, []byte(excel.BOM)) == noBOM {
				t.Errorf("--no-bom %v: %s starts %q", noBOM, filepath.Base(f), b[:min(len(b), 12)])
			}
		}
	}
}
