package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
	"github.com/bulkrefund/bulkrefund/internal/excel"
	"github.com/bulkrefund/bulkrefund/internal/version"
)

// TestRunReportProvenance: `run --report` against the sandbox keeps the
// statement it reconciled against beside the report, and the report's
// Inputs name that file (and the state and orders) by absolute path with
// the hash of its bytes; tool_version is the build's; the period is filled.
// (The run itself is not needed for this: the report is made from a state
// that holds the sheet's refunds.)
func TestRunReportProvenance(t *testing.T) {
	for _, noBOM := range []bool{false, true} {
		dir := t.TempDir()
		var out bytes.Buffer
		e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &out}
		f := runFlags{sandbox: true, sandboxOrders: sampleOrders, report: filepath.Join(dir, "report.xlsx"), noBOM: noBOM}
		p, err := app.Load(app.SheetSpec{Path: filepath.Join("testdata", "run", "small.csv")}, "")
		if err != nil || p.Validation.Invalid > 0 {
			t.Fatalf("sheet: %v %s", err, out.String())
		}
		statePath := filepath.Join(dir, "ledger.db")
		l, _ := storetest.NewBatch(t, statePath, p.Meta, p.Items)
		ps, err := loadProviders(e, f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = writeRunReport(context.Background(), e, f, l, p.Meta.BatchID, ps)
		ps.Close()
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}

		kept := filepath.Join(dir, "report.statement.csv")
		b, err := os.ReadFile(kept)
		if err != nil {
			t.Fatalf("statement not kept beside the report: %v", err)
		}
		if bytes.HasPrefix(b, []byte(excel.BOM)) == noBOM {
			t.Errorf("noBOM %v: statement starts %q", noBOM, b[:min(len(b), 12)])
		}
		if !strings.Contains(out.String(), "Sandbox statement kept at "+kept) {
			t.Errorf("output does not say where the statement is:\n%s", out.String())
		}
		sum := sha256.Sum256(b)
		orders, _ := filepath.Abs(sampleOrders)
		x, err := excelize.OpenFile(f.report)
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := x.GetRows("Summary")
		x.Close()
		flat := ""
		for _, r := range rows {
			flat += strings.Join(r, "|") + "\n"
		}
		for _, want := range []string{
			"ledger|" + statePath + "\n", "statement|" + kept + "\n", "SHA-256|" + hex.EncodeToString(sum[:]) + "\n",
			"orders|" + orders + "\n", "Tool version|" + version.String("bulkrefund") + "\n",
			"Period " + time.Now().UTC().Format(time.DateOnly),
		} {
			if !strings.Contains(flat, want) {
				t.Errorf("Summary lacks %q:\n%s", want, flat)
			}
		}
	}
}

// TestNoBOMFlags: validate --errors, reconcile --csv and the sandbox's
// files start with the byte-order mark, and not with --no-bom.
func TestNoBOMFlags(t *testing.T) {
	for _, noBOM := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "errors.csv")
		args := []string{fixtures + "rules.csv", "--errors", out, "--max-errors", "0"}
		if noBOM {
			args = append(args, "--no-bom")
		}
		if code, _, stderr := runValidate(t, args...); code != exitFailures {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, _ := os.ReadFile(out)
		if bytes.HasPrefix(b, []byte(excel.BOM)) == noBOM || !bytes.Contains(b[:40], []byte("provider")) {
			t.Errorf("validate --errors, no-bom %v: starts %q", noBOM, b[:min(len(b), 12)])
		}

		p := filepath.Join(t.TempDir(), "orders.csv")
		if err := writeFileAtomic(p, !noBOM, func(f *os.File) error { _, err := f.WriteString("provider\n"); return err }); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != map[bool]string{false: excel.BOM + "provider\n", true: "provider\n"}[noBOM] {
			t.Errorf("sandbox file, no-bom %v: %q", noBOM, b)
		}
	}
}
