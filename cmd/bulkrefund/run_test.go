package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

const sampleOrders = "../../samples/orders.csv"

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestRunUsage(t *testing.T) {
	sheet := filepath.Join("testdata", "run", "small.csv")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no file", []string{"run", "--sandbox"}, exitUsage, "bulkrefund run: give the sheet FILE"},
		{"no providers", []string{"run", sheet, "--yes"}, exitUsage, "give --config FILE or --sandbox"},
		{"both providers", []string{"run", sheet, "--sandbox", "--config", "x.json"}, exitUsage, "exclude each other"},
		{"bad results ext", []string{"run", sheet, "--sandbox", "--results", "out.txt"}, exitUsage, ".csv or .xlsx"},
		{"bad report ext", []string{"run", sheet, "--sandbox", "--report", "out.csv"}, exitUsage, ".xlsx or .json"},
		{"bad log format", []string{"run", sheet, "--sandbox", "--log-format", "xml"}, exitUsage, "text or json"},
		{"bad parallel", []string{"run", sheet, "--sandbox", "--parallel", "0"}, exitUsage, "at least 1"},
		{"missing sheet", []string{"run", "testdata/run/none.csv", "--sandbox", "--yes"}, exitUsage, "none.csv"},
		{"missing config", []string{"run", sheet, "--config", "testdata/run/none.json", "--yes", "--ledger", "LEDGER"}, exitUsage, "none.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, a := range tc.args {
				if a == "STATE" {
					tc.args[i] = filepath.Join(t.TempDir(), "s.db")
				}
			}
			code, _, stderr := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want %d; stderr %q should contain %q", code, tc.code, stderr, tc.stderr)
			}
		})
	}
}

// TestRunRefusesWithoutTerminal: a cron job must opt in with --yes; nothing
// is sent and no ledger is created.
func TestRunRefusesWithoutTerminal(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	code, _, stderr := runCmd(t, "run", "testdata/run/small.csv", "--sandbox", "--sandbox-orders", sampleOrders, "--ledger", state)
	if code != exitUsage || !strings.Contains(stderr, "pass --yes") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state created without confirmation: %v", err)
	}
}

func TestRunInvalidRowsSendNothing(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	code, stdout, stderr := runCmd(t, "run", "testdata/run/small_invalid.csv", "--sandbox", "--sandbox-orders", sampleOrders, "--yes", "--ledger", state)
	if code != exitFailures {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "row 4") || !strings.Contains(stderr, "12.345") || !strings.Contains(stderr, "nothing was sent") {
		t.Errorf("stderr should name row 4, the value and say nothing was sent:\n%s", stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state created for an invalid sheet: %v", err)
	}

	// --skip-invalid runs the 12 valid rows and still exits 1.
	code, stdout, stderr = runCmd(t, "run", "testdata/run/small_invalid.csv", "--sandbox", "--sandbox-orders", sampleOrders, "--yes",
		"--ledger", state, "--skip-invalid", "--poll", "10s", "--quiet")
	if code != exitFailures || !strings.Contains(stdout, "Summary: 12 rows: succeeded 12") {
		t.Errorf("--skip-invalid: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestRunResumeDryRunStatus runs a small sheet to the end, then checks that
// the same command resumes with nothing to do, that --dry-run reports every
// row done, that a changed sheet is refused, and what status prints.
func TestRunResumeDryRunStatus(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "s.db")
	results := filepath.Join(dir, "out.xlsx")
	args := []string{"run", "testdata/run/small.csv", "--sandbox", "--sandbox-orders", sampleOrders, "--yes", "--ledger", state,
		"--poll", "10s", "--results", results, "--quiet"}
	code, stdout, stderr := runCmd(t, args...)
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Plan: 13 refunds", "Summary: 13 rows: succeeded 13", "Summary: 13 rows: succeeded 13"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ledger file: %v %v", fi.Mode(), err)
	}
	f, err := excelize.OpenFile(results)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := f.GetRows("Results")
	f.Close()
	if len(rows) != 14 || rows[1][9] != "succeeded" || rows[1][5] != "R20261100001-1" || rows[1][7] != "187.78" {
		t.Errorf("results rows %d, first %q", len(rows), rows[1])
	}

	code, stdout, _ = runCmd(t, args...)
	if code != exitOK || !strings.Contains(stdout, "The ledger already holds succeeded 13") || !strings.Contains(stdout, "(0 provider calls this run)") {
		t.Errorf("second run: exit %d\n%s", code, stdout)
	}

	code, stdout, _ = runCmd(t, "run", "testdata/run/small.csv", "--dry-run", "--ledger", state)
	if code != exitOK || strings.Count(stdout, "→ done earlier: succeeded") != 13 {
		t.Errorf("dry run: exit %d\n%s", code, stdout)
	}

	// An amount edited under a refund number already sent: refused before any call.
	code, stdout, stderr = runCmd(t, "run", "testdata/run/small_changed.csv", "--sandbox", "--sandbox-orders", sampleOrders, "--yes", "--ledger", state)
	if code != exitUsage || !strings.Contains(stderr, "refund number already used for another refund") || !strings.Contains(stderr, "row 2:") ||
		!strings.Contains(stderr, "succeeded") || strings.Contains(stdout, "Summary:") {
		t.Errorf("changed sheet: exit %d\n%s\n%s", code, stdout, stderr)
	}

	code, stdout, _ = runCmd(t, "status", "--ledger", state, "testdata/run/small.csv")
	if code != exitOK || !strings.Contains(stdout, "By state: succeeded 13") || !hasFields(stdout, "payease", "(all)", "CNY", "(all)", "2", "2359.91") {
		t.Errorf("status: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCmd(t, "status", "--ledger", state)
	if code != exitOK || !strings.Contains(stdout, "1 batch(es)") || !strings.Contains(stdout, "succeeded 13") {
		t.Errorf("status of all batches: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCmd(t, "status", "--ledger", state, "--refund", "R20261100001-1")
	if code != exitOK || !strings.Contains(stdout, "187.78 CNY, succeeded") {
		t.Errorf("status --refund: exit %d\n%s", code, stdout)
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.db")
	code, stdout, _ := runCmd(t, "run", "testdata/run/small.csv", "--dry-run", "--ledger", state)
	if code != exitOK || strings.Count(stdout, "→ send") != 13 {
		t.Errorf("dry run: exit %d\n%s", code, stdout)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("dry run created the state: %v", err)
	}
}

func TestStatusWithoutLedger(t *testing.T) {
	code, _, stderr := runCmd(t, "status", "--ledger", filepath.Join(t.TempDir(), "none.db"))
	if code != exitUsage || !strings.Contains(stderr, "no ledger") {
		t.Errorf("exit %d, %s", code, stderr)
	}
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("BULKREFUND_LEDGER", "")
	if code, _, stderr := runCmd(t, "status"); code != exitUsage || !strings.Contains(stderr, "no ledger") {
		t.Errorf("status without a ledger anywhere: exit %d %s", code, stderr)
	}
}

// hasFields reports whether some line of out consists of exactly fields.
func hasFields(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

// TestRunConfigLacksAccount: a sheet naming an account the config lacks
// fails before the confirmation, naming the row.
func TestRunConfigLacksAccount(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "upay.key"), []byte("0123456789abcdef0123456789abcdef"), 0o600)
	cfg := filepath.Join(dir, "providers.json")
	os.WriteFile(cfg, []byte(`{"accounts": [{"provider": "upay", "account": "100000330000000001",
		"base_url": "http://127.0.0.1:9", "secret_file": "upay.key"}]}`), 0o600)
	state := filepath.Join(dir, "s.db")
	code, _, stderr := runCmd(t, "run", "testdata/run/small.csv", "--config", cfg, "--yes", "--ledger", state)
	if code != exitUsage || !strings.Contains(stderr, "row 6") || !strings.Contains(stderr, "100000330000000002") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state created: %v", err)
	}
}

// TestRunEditedSheetResumes: a sheet edited after its run (a reason fixed,
// a row added) is another batch of the same refunds: nothing already done
// is sent again, only the new row.
func TestRunEditedSheetResumes(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger.db")
	base := []string{"--sandbox", "--sandbox-orders", sampleOrders, "--yes", "--ledger", ledger, "--poll", "10s", "--quiet"}
	if code, stdout, stderr := runCmd(t, append([]string{"run", "testdata/run/small.csv"}, base...)...); code != exitOK {
		t.Fatalf("first run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// A reason fixed: the same refunds, nothing sent.
	src, err := os.ReadFile("testdata/run/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(t.TempDir(), "edited.csv")
	os.WriteFile(edited, []byte(strings.Replace(string(src), "部分退货", "部分退货（已核对）", 1)), 0o644)
	code, stdout, stderr := runCmd(t, append([]string{"run", edited}, base...)...)
	if code != exitOK || !strings.Contains(stdout, "The ledger already holds succeeded 13") || !strings.Contains(stdout, "(0 provider calls this run)") {
		t.Errorf("reason edited: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, append([]string{"run", "testdata/run/small_plus.csv"}, base...)...)
	if code != exitOK || !strings.Contains(stdout, "The ledger already holds succeeded 13") || !strings.Contains(stdout, "Summary: 14 rows: succeeded 14 (1 provider calls this run)") {
		t.Errorf("grown sheet: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestRunEmptyLedgerRefused: an empty file where the ledger should be (a
// failed copy, a truncated backup) is never taken as a new ledger.
func TestRunEmptyLedgerRefused(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger.db")
	os.WriteFile(ledger, nil, 0o600)
	args := []string{"run", "testdata/run/small.csv", "--sandbox", "--sandbox-orders", sampleOrders, "--yes", "--ledger", ledger, "--quiet", "--poll", "10s"}
	code, stdout, stderr := runCmd(t, args...)
	if code != exitUsage || !strings.Contains(stderr, "empty (0 bytes)") || !strings.Contains(stderr, "--new-ledger") || strings.Contains(stdout, "Summary") {
		t.Errorf("empty ledger: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runCmd(t, append(args, "--new-ledger")...); code != exitOK {
		t.Errorf("with --new-ledger: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// --sandbox run without --ledger gets a ledger of its own, because the
// in-process sandbox starts empty: the second run must send every refund
// again and reconcile clean, not take them as done.
func TestRunSandboxTwice(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	report := filepath.Join(t.TempDir(), "report.xlsx")
	for i := 1; i <= 2; i++ {
		code, stdout, stderr := runCmd(t, "run", "testdata/run/small.csv", "--sandbox", "--sandbox-orders", sampleOrders,
			"--yes", "--quiet", "--poll", "10s", "--report", report)
		if code != exitOK || !strings.Contains(stdout, "Summary: 13 rows: succeeded 13") {
			t.Fatalf("run %d: exit %d\n%s\n%s", i, code, stdout, stderr)
		}
	}
	states, err := filepath.Glob(filepath.Join(os.Getenv("XDG_STATE_HOME"), "bulkrefund", "sandbox", "*.db"))
	if err != nil || len(states) != 2 {
		t.Fatalf("sandbox ledgers: %v, %v", states, err)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_STATE_HOME"), "bulkrefund", "ledger.db")); !os.IsNotExist(err) {
		t.Errorf("a sandbox run wrote into the installation's ledger: %v", err)
	}
}

// TestRunReusedRefundNumberRefused: next month's sheet reuses a QuickPay
// refund number (unique per merchant) for another order. The provider
// would answer with last month's refund; the run refuses before any call.
func TestRunReusedRefundNumberRefused(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.db")
	base := []string{"--sandbox", "--sandbox-orders", sampleOrders, "--yes", "--ledger", ledger, "--poll", "10s", "--quiet"}
	if code, stdout, stderr := runCmd(t, append([]string{"run", "testdata/run/small.csv"}, base...)...); code != exitOK {
		t.Fatalf("first run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	next := filepath.Join(dir, "next-month.csv")
	os.WriteFile(next, []byte("provider,account,order_no,refund_no,refund_amount,total_amount,operator\n"+
		"quickpay,SH001,2026120100999,SH001-2026110100101-1,20.00,100.00,赵敏\n"), 0o644)
	code, stdout, stderr := runCmd(t, append([]string{"run", next}, base...)...)
	if code != exitUsage || !strings.Contains(stderr, "row 2: quickpay refund SH001-2026110100101-1 (order 2026120100999") ||
		!strings.Contains(stderr, "of order 2026110100101, succeeded") || strings.Contains(stdout, "Summary:") {
		t.Errorf("reused refund number: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestRunPollsAsyncProvidersByDefault: a batch with PayEase and Nomad rows
// (they settle later) keeps looking pending refunds up without --poll, and
// says so.
func TestRunPollsAsyncProvidersByDefault(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger.db")
	code, stdout, stderr := runCmd(t, "run", "testdata/run/small.csv", "--sandbox", "--sandbox-orders", sampleOrders, "--yes", "--quiet", "--ledger", ledger)
	if code != exitOK || !strings.Contains(stdout, "nomad and payease settle refunds later: pending refunds are looked up for up to 10m0s") ||
		!strings.Contains(stdout, "Summary: 13 rows: succeeded 13") {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}
