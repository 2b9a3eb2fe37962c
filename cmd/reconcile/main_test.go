package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/internal/clitest"
)

// exitInterrupted is what reconcile exits with after a signal.
const exitInterrupted = 130

// TestMain lets the tests run the real command as a child process: this test
// binary as main (runProcess), and the command built by go build
// (clitest.Run).
func TestMain(m *testing.M) {
	if os.Getenv("RECONCILE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(clitest.Main(m, "reconcile"))
}

func sample(name string) string {
	return filepath.Join("..", "..", "report", "testdata", "sample", name)
}

// runProcess runs reconcile as a separate process and returns its exit code.
func runProcess(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RECONCILE_TEST_MAIN=1", "USER=cron-test")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"exceptions remain", []string{"--results", sample("results.csv"), "--statement", sample("statement.csv"), "--orders", sample("orders.csv"), "--tz", "UTC", "-o", filepath.Join(dir, "a.xlsx")}, 1, ""},
		{"all matched or agreed failed", []string{"--results", "testdata/clean-results.csv", "--statement", "testdata/clean-statement.csv", "-o", filepath.Join(dir, "b.xlsx")}, 0, ""},
		{"no arguments", nil, 2, "nowhere to write"},
		{"no provider side", []string{"--results", "testdata/clean-results.csv", "-o", filepath.Join(dir, "c.xlsx")}, 2, "no provider side"},
		{"lookup without config", []string{"--results", "testdata/clean-results.csv", "--lookup", "-o", filepath.Join(dir, "c.xlsx")}, 2, "--lookup and --config"},
		{"bad date", []string{"--results", "testdata/clean-results.csv", "--statement", "testdata/clean-statement.csv", "--from", "20.11.2026", "-o", filepath.Join(dir, "c.xlsx")}, 2, "--from"},
		{"bad amount in statement", []string{"--results", "testdata/clean-results.csv", "--statement", "testdata/bad-statement.csv", "-o", filepath.Join(dir, "c.xlsx")}, 2, `bad-statement.csv:2: column "Amount": value "100.001": invalid amount`},
		{"negative amount in statement", []string{"--results", "testdata/clean-results.csv", "--statement", "testdata/negative-statement.csv", "-o", filepath.Join(dir, "c.xlsx")}, 2, `negative-statement.csv:2: column "amount": value "-100.00": invalid amount: negative amount: a statement gives each refund's amount as a positive number`},
		{"missing file", []string{"--results", "testdata/nope.csv", "--statement", "testdata/clean-statement.csv", "-o", filepath.Join(dir, "c.xlsx")}, 2, "nope.csv"},
		{"bad flag", []string{"--frobnicate"}, 2, "unknown flag: --frobnicate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runProcess(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			if c.stderr != "" && !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr, c.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "c.xlsx")); err == nil {
		t.Error("a failed reconcile wrote a report")
	}
}

// TestOutputs: one run writes the XLSX, the CSV directory and the JSON, all
// with the same rows; the operator comes from $USER when nothing else says.
func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	xlsx, csvDir, js := filepath.Join(dir, "r.xlsx"), filepath.Join(dir, "csv"), filepath.Join(dir, "r.json")
	code, stdout, stderr := runProcess(t, "--results", sample("results.csv"), "--statement", sample("statement.csv"),
		"--orders", sample("orders.csv"), "--tz", "UTC", "-o", xlsx, "--csv", csvDir, "--json", js)
	if code != 1 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stdout, "reconciled 18 refunds: MATCHED=5 AMOUNT_MISMATCH=2 STATUS_MISMATCH=2 MISSING_AT_PROVIDER=1 UNEXPECTED_AT_PROVIDER=2 DUPLICATE=2 PENDING=2 FAILED=2") {
		t.Errorf("summary line: %q", stdout)
	}
	var doc map[string][]map[string]any
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(xlsx)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for key, sheet := range map[string]string{"all_refunds": "All refunds", "exceptions": "Exceptions", "failures": "Failures", "net_by_order": "Net by order"} {
		rows, _ := f.GetRows(sheet)
		csvb, err := os.ReadFile(filepath.Join(csvDir, key+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		csvLines := strings.Count(string(csvb), "\n")
		if len(doc[key]) != len(rows)-1 || csvLines != len(rows) {
			t.Errorf("%s: JSON %d rows, XLSX %d data rows, CSV %d lines", key, len(doc[key]), len(rows)-1, csvLines)
		}
	}
	var op string
	for _, r := range doc["report_info"] {
		if r["field"] == "operator" {
			op, _ = r["value"].(string)
		}
	}
	if op != "cron-test" {
		t.Errorf("operator %q, want $USER", op)
	}
	if got := doc["all_refunds"][0]["our_amount"]; got != "15.50" {
		t.Errorf("JSON amount %v, want the exact decimal string 15.50", got)
	}
}

func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--results", sample("results.csv"), "--statement", sample("statement.csv"), "-o", filepath.Join(t.TempDir(), "r.xlsx")}, &stdout, &stderr)
	if code != exitInterrupted {
		t.Errorf("exit %d, want 130; stderr %s", code, stderr.String())
	}
}
