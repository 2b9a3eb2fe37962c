package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/internal/clitest"
)

// TestCLIVersion: --version and the version command print the same one line,
// on stdout, from the build info.
func TestCLIVersion(t *testing.T) {
	a := clitest.Run(t, nil, nil, "--version")
	b := clitest.Run(t, nil, nil, "version")
	for _, r := range []clitest.Result{a, b} {
		if r.Code != exitOK || r.Stderr != "" || !strings.HasPrefix(r.Stdout, "bulkrefund ") || strings.Count(r.Stdout, "\n") != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
		}
	}
	if a.Stdout != b.Stdout {
		t.Errorf("--version %q, version %q", a.Stdout, b.Stdout)
	}
}

// TestCLIHelp: help goes to stdout with exit 0, every command's in the same
// layout, flags written GNU-style (--flag, -x).
func TestCLIHelp(t *testing.T) {
	singleDash := regexp.MustCompile(`(?m)^\s+-[a-z]{2,}`)
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"validate", "--help"}, {"run", "-h"}, {"status", "--help"},
		{"sandbox", "--help"}, {"reconcile", "--help"}, {"help", "run"}, {"completion", "--help"},
	} {
		r := clitest.Run(t, nil, nil, args...)
		if r.Code != exitOK || r.Stderr != "" || !strings.Contains(r.Stdout, "Usage:\n  bulkrefund") || !strings.Contains(r.Stdout, "\nFlags:\n") {
			t.Errorf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.Code, r.Stdout, r.Stderr)
		}
		if singleDash.MatchString(r.Stdout) {
			t.Errorf("%v: a flag listed with one dash:\n%s", args, r.Stdout)
		}
	}
	r := clitest.Run(t, nil, nil, "run", "--help")
	for _, want := range []string{"-c, --config FILE", "-y, --yes", "-n, --dry-run", "-j, --parallel", "-q, --quiet", "--poll DURATION"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("run --help lacks %q:\n%s", want, r.Stdout)
		}
	}
	// No command: the help, and exit 2 (nothing was asked for).
	if r := clitest.Run(t, nil, nil); r.Code != exitUsage || !strings.Contains(r.Stdout, "Available Commands:") {
		t.Errorf("no command: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestCLIUsageErrors: a mistake on the command line is one line on stderr
// that names it and points at the command's help; exit 2; no usage dump.
func TestCLIUsageErrors(t *testing.T) {
	sheet := filepath.Join("testdata", "run", "small.csv")
	for _, tc := range []struct {
		args []string
		line string
	}{
		{[]string{"run", sheet, "--frobnicate"}, "bulkrefund run: unknown flag: --frobnicate (see 'bulkrefund run --help')"},
		{[]string{"run", sheet, "--sandbox", "--poll", "10"}, `bulkrefund run: --poll "10": want a duration with a unit, such as 30s, 10m or 1h30m (see 'bulkrefund run --help')`},
		{[]string{"run", sheet, "--sandbox", "--pol", "10s"}, "bulkrefund run: unknown flag: --pol; did you mean --poll? (see 'bulkrefund run --help')"},
		{[]string{"run", sheet, "--parallel", "many"}, `bulkrefund run: --parallel "many": want a whole number (see 'bulkrefund run --help')`},
		{[]string{"run", sheet, "-x"}, `bulkrefund run: unknown shorthand flag: 'x' in -x (see 'bulkrefund run --help')`},
		{[]string{"run"}, "bulkrefund run: give the sheet FILE, or - for standard input (see 'bulkrefund run --help')"},
		{[]string{"validate", "a.csv", "b.csv"}, "bulkrefund validate: one sheet FILE at a time, got 2: a.csv b.csv (see 'bulkrefund validate --help')"},
		{[]string{"sandbox", "--error-rate", "lots"}, `bulkrefund sandbox: --error-rate "lots": want a number, such as 0.05 (see 'bulkrefund sandbox --help')`},
		{[]string{"sandbox", "extra"}, `bulkrefund sandbox: unexpected argument "extra" (see 'bulkrefund sandbox --help')`},
		{[]string{"rn", sheet}, `bulkrefund: unknown command "rn"; did you mean "run"? (see 'bulkrefund --help')`},
		{[]string{"reconcile", "--parallel", "x"}, `bulkrefund reconcile: --parallel "x": want a whole number (see 'bulkrefund reconcile --help')`},
		{[]string{"status", "a.csv", "b.csv"}, "bulkrefund status: one sheet FILE at a time, got 2 (see 'bulkrefund status --help')"},
	} {
		r := clitest.Run(t, nil, nil, tc.args...)
		if r.Code != exitUsage || r.Stderr != tc.line+"\n" || r.Stdout != "" {
			t.Errorf("%v: exit %d\nstderr: %q\nwant:   %q\nstdout: %q", tc.args, r.Code, r.Stderr, tc.line+"\n", r.Stdout)
		}
	}
}

// TestCLICompletion: the completion command writes scripts for the four
// shells; bash parses its script; the sheet argument and file flags complete
// by extension.
func TestCLICompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r := clitest.Run(t, nil, nil, "completion", sh)
		if r.Code != exitOK || r.Stderr != "" || !strings.Contains(r.Stdout, "bulkrefund") || len(r.Stdout) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", sh, r.Code, len(r.Stdout), r.Stderr)
		}
		if sh != "bash" {
			continue
		}
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Log("no bash: the script is not parsed")
			continue
		}
		script := filepath.Join(t.TempDir(), "bulkrefund.bash")
		if err := os.WriteFile(script, []byte(r.Stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bash, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s", err, out)
		}
	}
	// What the generated scripts ask the binary: ":8" is cobra's
	// ShellCompDirectiveFilterFileExt, the extensions are the lines above.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "run", ""}, "csv\nxlsx\n:8\n"},
		{[]string{"__complete", "validate", "--errors", ""}, "csv\nxlsx\n:8\n"},
		{[]string{"__complete", "run", "x.csv", "--config", ""}, "json\n:8\n"},
		{[]string{"__complete", "run", "x.csv", "--log-format", ""}, "text\njson\n:4\n"},
		{[]string{"__complete", "reconcile", "--statement", ""}, "csv\nxlsx\n:8\n"},
		{[]string{"__complete", "ru"}, "run\t"},
	} {
		r := clitest.Run(t, nil, nil, tc.args...)
		if r.Code != exitOK || !strings.Contains(r.Stdout, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, want %q", tc.args, r.Code, r.Stdout, tc.want)
		}
	}
}

// upayOnly is small.csv's header and Upay rows: a sheet a run against the
// sandbox settles at once (Upay answers synchronously), without --poll.
func upayOnly(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "run", "small.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.HasPrefix(line, "provider,") || strings.HasPrefix(line, "upay,") {
			keep = append(keep, line)
		}
	}
	p := filepath.Join(t.TempDir(), "upay.csv")
	if err := os.WriteFile(p, []byte(strings.Join(keep, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLIConfigDiscovery: without --config, run uses the file
// $BULKREFUND_CONFIG names, else config.json in the user config directory,
// and says which at the top of its output; --config wins over both; a
// variable naming no file is an error, not a silent fallback.
func TestCLIConfigDiscovery(t *testing.T) {
	// The sandbox writes its client config into the user config directory
	// a later case looks in; the credential files beside it are named
	// relative to it.
	xdg := t.TempDir()
	sbxStart(t, "--orders", sampleOrders, "--write-config", filepath.Join(xdg, "bulkrefund"))
	cfg := filepath.Join(xdg, "bulkrefund", sandbox.ClientConfigFile)
	sheet := upayOnly(t)

	// $BULKREFUND_CONFIG names the sandbox's config: the run sends there.
	state := filepath.Join(t.TempDir(), "s.db")
	r := clitest.Run(t, nil, []string{"BULKREFUND_CONFIG=" + cfg}, "run", sheet, "--yes", "--quiet", "--ledger", state)
	if r.Code != exitOK || !strings.HasPrefix(r.Stdout, "Config: "+cfg+" (from $BULKREFUND_CONFIG)\n") || !strings.Contains(r.Stdout, "Summary: 5 rows: succeeded 5") {
		t.Errorf("BULKREFUND_CONFIG: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// The user config directory's bulkrefund/config.json.
	userCfg := filepath.Join(xdg, "bulkrefund", "config.json")
	if err := os.Rename(cfg, userCfg); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, nil, []string{"XDG_CONFIG_HOME=" + xdg}, "run", sheet, "--yes", "--quiet", "--ledger", filepath.Join(t.TempDir(), "s.db"))
	if r.Code != exitOK || !strings.HasPrefix(r.Stdout, "Config: "+userCfg+" (from user config directory)\n") {
		t.Errorf("user config dir: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// --config wins: here a config that lacks the sheet's accounts.
	lacking := filepath.Join(t.TempDir(), "lacking.json")
	os.WriteFile(lacking, []byte(`{"accounts": [{"provider": "upay", "account": "nobody", "base_url": "http://127.0.0.1:9", "secret_env": "PATH"}]}`), 0o600)
	r = clitest.Run(t, nil, []string{"BULKREFUND_CONFIG=" + userCfg}, "run", sheet, "-c", lacking, "-y", "--ledger", filepath.Join(t.TempDir(), "s.db"))
	if r.Code != exitUsage || !strings.HasPrefix(r.Stdout, "Config: "+lacking+" (from --config)\n") || !strings.Contains(r.Stderr, "row 2") {
		t.Errorf("--config over the variable: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// The variable wins over the user config directory.
	r = clitest.Run(t, nil, []string{"XDG_CONFIG_HOME=" + xdg, "BULKREFUND_CONFIG=" + lacking}, "run", sheet, "-y", "--ledger", filepath.Join(t.TempDir(), "s.db"))
	if r.Code != exitUsage || !strings.HasPrefix(r.Stdout, "Config: "+lacking+" (from $BULKREFUND_CONFIG)\n") || !strings.Contains(r.Stderr, "row 2") {
		t.Errorf("variable over the user directory: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	r = clitest.Run(t, nil, []string{"BULKREFUND_CONFIG=/nonexistent/providers.json"}, "run", sheet, "--yes")
	if r.Code != exitUsage || r.Stderr != "bulkrefund run: $BULKREFUND_CONFIG=/nonexistent/providers.json: no such file or directory\n" {
		t.Errorf("missing config file: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = clitest.Run(t, nil, nil, "run", sheet, "--yes")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "give --config FILE or --sandbox") {
		t.Errorf("no config anywhere: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// TestCLIStdin: "-" reads the sheet from standard input, CSV or XLSX judged
// by content; messages name it "stdin"; the private copy is removed.
func TestCLIStdin(t *testing.T) {
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp}
	xlsx, err := os.ReadFile("../../samples/refunds.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, bytes.NewReader(xlsx), env, "validate", "-")
	if r.Code != exitOK || r.Stdout != "stdin: 230 rows read, 230 valid, 0 invalid, 0 blank skipped\n" {
		t.Errorf("xlsx on stdin: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	bad, err := os.Open(filepath.Join("testdata", "run", "small_invalid.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	r = clitest.Run(t, bad, env, "validate", "-")
	if r.Code != exitFailures || !strings.Contains(r.Stderr, "stdin: row 4") || strings.Contains(r.Stderr+r.Stdout, tmp) {
		t.Errorf("invalid csv on stdin: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	small, err := os.ReadFile(filepath.Join("testdata", "run", "small.csv"))
	if err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, bytes.NewReader(small), env, "run", "-", "--dry-run", "--ledger", filepath.Join(t.TempDir(), "s.db"))
	if r.Code != exitOK || !strings.Contains(r.Stdout, "Plan: 13 refunds from stdin (batch ") || strings.Count(r.Stdout, "→ send") != 13 {
		t.Errorf("run --dry-run from stdin: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	r = clitest.Run(t, bytes.NewReader(small), env, "run", "-", "--sandbox", "--yes")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "works with --dry-run only") {
		t.Errorf("run from stdin: exit %d\n%s", r.Code, r.Stderr)
	}
	if r := clitest.Run(t, strings.NewReader(""), env, "validate", "-"); r.Code != exitUsage || !strings.Contains(r.Stderr, "stdin") {
		t.Errorf("empty stdin: exit %d, %s", r.Code, r.Stderr)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

// TestReconcileCommand: `bulkrefund reconcile` is the reconcile command
// (the same constructor cmd/reconcile runs), report and exit code included.
func TestReconcileCommand(t *testing.T) {
	sample := func(name string) string { return filepath.Join("..", "..", "report", "testdata", "sample", name) }
	out := filepath.Join(t.TempDir(), "report.xlsx")
	code, stdout, stderr := runCmd(t, "reconcile", "--results", sample("results.csv"), "--statement", sample("statement.csv"),
		"--orders", sample("orders.csv"), "--tz", "UTC", "-o", out)
	if code != exitFailures || !strings.Contains(stdout, "reconciled 18 refunds: MATCHED=5 AMOUNT_MISMATCH=2 STATUS_MISMATCH=2 MISSING_AT_PROVIDER=1 UNEXPECTED_AT_PROVIDER=2 DUPLICATE=2 PENDING=2 FAILED=2") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("no report: %v", err)
	}
}
