package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func runValidate(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, append([]string{"validate"}, args...))
	return code, out.String(), errb.String()
}

const fixtures = "../../batch/sheet/testdata/"

func TestValidateExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{"sample csv", []string{"../../samples/refunds.csv"}, exitOK, "230 rows read, 230 valid, 0 invalid, 0 blank skipped", ""},
		{"sample xlsx", []string{"../../samples/refunds.xlsx"}, exitOK, "230 rows read, 230 valid, 0 invalid", ""},
		{"invalid rows", []string{fixtures + "gbk_title.csv"}, exitFailures, "3 rows read, 2 valid, 1 invalid",
			`row 5, column "操作员", value "财务部退款专员王芳芳芳芳芳芳芳芳芳": too long`},
		{"flags after file", []string{fixtures + "formulas.xlsx", "--sheet", "QuickPay"}, exitOK, "1 rows read, 1 valid", ""},
		{"no such sheet", []string{"--sheet", "Nope", fixtures + "formulas.xlsx"}, exitUsage, "", "no such sheet"},
		{"empty", []string{fixtures + "empty.csv"}, exitUsage, "", "file is empty"},
		{"header only", []string{fixtures + "header_only.csv"}, exitUsage, "", "no data rows"},
		{"pdf", []string{fixtures + "pdf_renamed.xlsx"}, exitUsage, "", "is a PDF file"},
		{"encrypted", []string{fixtures + "encrypted.xlsx"}, exitUsage, "", "password-protected"},
		{"truncated", []string{fixtures + "truncated.xlsx"}, exitUsage, "", "damaged or truncated"},
		{"missing column", []string{fixtures + "missing_column.csv"}, exitUsage, "", "missing required column: refund_no"},
		{"missing file", []string{"nope.csv"}, exitUsage, "", "no such file"},
		{"no file", nil, exitUsage, "", "bulkrefund validate: give the sheet FILE"},
		{"two files", []string{"a.csv", "b.csv"}, exitUsage, "", "one sheet FILE at a time"},
		{"bad flag", []string{"--nope", "a.csv"}, exitUsage, "", "bulkrefund validate: unknown flag: --nope (see 'bulkrefund validate --help')\n"},
		{"help", []string{"-h"}, exitOK, "--errors OUT", ""},
		{"errors over input", []string{fixtures + "bom.csv", "--errors", fixtures + "bom.csv"}, exitUsage, "", "would overwrite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runValidate(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("stack trace on stderr: %s", stderr)
			}
		})
	}
}

func TestValidateMaxErrors(t *testing.T) {
	code, stdout, stderr := runValidate(t, "--max-errors", "3", fixtures+"rules.csv")
	if code != exitFailures {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	// two warnings (the expect column, a PayEase row with no notify_url),
	// three errors, one "and N more" line
	if len(lines) != 6 || !strings.Contains(lines[1], "notify_url is blank on 1 payease row (row 22)") ||
		!strings.Contains(lines[5], "more errors") || !strings.Contains(lines[2], "row 3, column \"operator\"") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if !strings.Contains(stdout, "88 rows read, 23 valid, 64 invalid, 1 blank skipped") {
		t.Errorf("stdout: %s", stdout)
	}
}

// TestValidateErrorsFile: --errors writes every invalid row with its
// original cells, row and error, guarded against formula injection, in CSV
// and in XLSX read back with excelize.
func TestValidateErrorsFile(t *testing.T) {
	dir := t.TempDir()
	for _, ext := range []string{".csv", ".xlsx"} {
		t.Run(ext, func(t *testing.T) {
			out := filepath.Join(dir, "errors"+ext)
			code, _, stderr := runValidate(t, fixtures+"rules.csv", "--errors", out, "--max-errors", "0")
			if code != exitFailures {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rows [][]string
			if ext == ".csv" {
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				rows, err = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
			} else {
				f, err := excelize.OpenFile(out)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if rows, err = f.GetRows("Errors"); err != nil {
					t.Fatal(err)
				}
				if p, _ := f.GetPanes("Errors"); !p.Freeze {
					t.Error("header row not frozen")
				}
			}
			head := rows[0]
			if len(head) != 16 || head[0] != "provider" || head[13] != "expect" || head[14] != "row" || head[15] != "error" {
				t.Fatalf("header %q", head)
			}
			if len(rows) != 1+64 {
				t.Errorf("%d invalid rows written, want 64", len(rows)-1)
			}
			found := false
			for _, r := range rows[1:] {
				if r[14] == "3" && !strings.Contains(r[15], `column "operator"`) {
					t.Errorf("row 3 error: %q", r[15])
				}
				if r[4] == "QR11" {
					found = true
					if r[9] != "'@SUM(1+1)-operator-too-long" {
						t.Errorf("formula not guarded: %q", r[9])
					}
				}
				if r[4] == "RNEG" && r[5] != "'-5" {
					t.Errorf("leading minus not guarded: %q", r[5])
				}
			}
			if !found {
				t.Error("row QR11 missing from the errors file")
			}
		})
	}
}

// TestValidateProcess runs the real binary: exit codes as a shell sees them.
func TestValidateProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := binary(t)
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"validate", "../../samples/refunds.xlsx"}, exitOK},
		{[]string{"validate", fixtures + "rules.csv"}, exitFailures},
		{[]string{"validate", fixtures + "pdf_renamed.xlsx"}, exitUsage},
		{[]string{"validate", fixtures + "encrypted.xlsx"}, exitUsage},
	} {
		cmd := exec.Command(bin, tt.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || strings.Contains(stderr.String(), "goroutine ") {
			t.Errorf("%v: exit %d, want %d\n%s", tt.args, code, tt.code, stderr.String())
		}
	}
}

// TestValidateConfigDefaults: a blank PayEase notify_url is a warning
// without --config, filled from the account's notify_url with it, and an
// error when the config gives none. No credential is needed to validate.
func TestValidateConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	sheet := filepath.Join(dir, "refunds.csv")
	os.WriteFile(sheet, []byte("provider,account,order_no,refund_no,refund_amount,notify_url\n"+
		"payease,890000593,20261120-890000593-1,P1,1.00,\n"), 0o600)
	writeCfg := func(name, notify string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`{"accounts":[{"provider":"payease","account":"890000593","base_url":"https://p.example",`+
			`"private_key_file":"absent.pem","platform_public_key_file":"absent.pem"`+notify+`}]}`), 0o600)
		return p
	}
	code, stdout, stderr := runValidate(t, sheet)
	if code != exitOK || !strings.Contains(stdout, "1 valid") || !strings.Contains(stderr, "warning: notify_url is blank on 1 payease row (row 2)") {
		t.Errorf("no config: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runValidate(t, sheet, "--config", writeCfg("with.json", `,"notify_url":"https://m.example/n"`))
	if code != exitOK || !strings.Contains(stdout, "1 valid") || strings.Contains(stderr, "warning") {
		t.Errorf("config with notify_url: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = runValidate(t, sheet, "--config", writeCfg("without.json", ""))
	if code != exitFailures || !strings.Contains(stderr, "the provider config gives no notify_url for payease account 890000593") {
		t.Errorf("config without notify_url: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runValidate(t, sheet, "--config", filepath.Join(dir, "nope.json"))
	if code != exitUsage || !strings.Contains(stderr, "nope.json") {
		t.Errorf("missing config: exit %d\n%s", code, stderr)
	}
}
