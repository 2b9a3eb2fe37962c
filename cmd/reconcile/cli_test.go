package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/internal/clitest"
	"github.com/bulkrefund/bulkrefund/money"
)

func runBinary(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	r := clitest.Run(t, nil, env, args...)
	return r.Code, r.Stdout, r.Stderr
}

func TestCLIVersionHelp(t *testing.T) {
	_, v1, _ := runBinary(t, nil, "--version")
	code, v2, stderr := runBinary(t, nil, "version")
	if code != 0 || stderr != "" || v1 != v2 || !strings.HasPrefix(v1, "reconcile ") || strings.Count(v1, "\n") != 1 {
		t.Errorf("--version %q, version %q (exit %d, stderr %q)", v1, v2, code, stderr)
	}
	code, stdout, stderr := runBinary(t, nil, "--help")
	for _, want := range []string{"Usage:\n  reconcile", "-o, --output FILE", "-c, --config FILE", "--ledger PATH", "Exit: 0 all matched"} {
		if code != 0 || stderr != "" || !strings.Contains(stdout, want) {
			t.Errorf("--help: exit %d, stderr %q, stdout lacks %q:\n%s", code, stderr, want, stdout)
		}
	}
}

func TestCLIUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		line string
	}{
		{[]string{"--frobnicate"}, "reconcile: unknown flag: --frobnicate (see 'reconcile --help')"},
		{[]string{"--statment", "x.csv"}, "reconcile: unknown flag: --statment; did you mean --statement? (see 'reconcile --help')"},
		{[]string{"--amount-tolerance", "0.5"}, `reconcile: --amount-tolerance "0.5": want a whole number (see 'reconcile --help')`},
		{[]string{"report.xlsx"}, `reconcile: unexpected argument "report.xlsx" (see 'reconcile --help')`},
		{[]string{"--results", "r.csv", "--lookup", "-o", "x.xlsx"}, "reconcile: --lookup and --config go together: give --config FILE, set $BULKREFUND_CONFIG, or create $XDG_CONFIG_HOME/bulkrefund/config.json (see 'reconcile --help')"},
	} {
		code, stdout, stderr := runBinary(t, nil, tc.args...)
		if code != 2 || stderr != tc.line+"\n" || stdout != "" {
			t.Errorf("%v: exit %d\nstderr %q\nwant   %q", tc.args, code, stderr, tc.line+"\n")
		}
	}
}

func TestCLICompletion(t *testing.T) {
	code, script, stderr := runBinary(t, nil, "completion", "bash")
	if code != 0 || stderr != "" || !strings.Contains(script, "__start_reconcile") {
		t.Fatalf("completion bash: exit %d, stderr %q", code, stderr)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to parse the script")
	}
	p := filepath.Join(t.TempDir(), "reconcile.bash")
	os.WriteFile(p, []byte(script), 0o600)
	if out, err := exec.Command(bash, "-n", p).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
}

// TestCLIConfigFromEnv: --lookup without --config uses the file
// $BULKREFUND_CONFIG names, says so on stderr, and looks every refund up
// with its accounts.
func TestCLIConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	var orders []sandbox.Order
	for _, o := range sandbox.GenerateOrders(30, 5, now) {
		if o.Provider == adapters.Upay || o.Provider == adapters.QuickPay {
			orders = append(orders, o)
		}
	}
	sb, err := sandbox.Start(sandbox.Config{Orders: orders})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfgPath, clients := sandboxClients(t, dir, sb)

	// Refund each order through the adapters, and write the results file a
	// run would have written.
	results := filepath.Join(dir, "results.csv")
	at := now.UTC().Format(time.RFC3339)
	var rows [][]string
	for i, o := range orders {
		r := adapters.Refund{Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo, ProviderOrderID: o.ProviderOrderID,
			RefundNo: fmt.Sprintf("ENV%03d", i), Amount: max(1, o.Total/2), Total: o.Total, Currency: o.Currency,
			Action: adapters.ActionRefund, Operator: "op", PaymentMethod: o.PaymentMethod}
		out, err := clients[config.Key(o.Provider, o.Account)].Refund(context.Background(), r)
		if err != nil || out.Status != adapters.StatusSucceeded {
			t.Fatalf("refund %s: %+v %v", r.RefundNo, out, err)
		}
		rows = append(rows, []string{fmt.Sprint(i + 2), o.Provider, o.Account, o.OrderNo, o.ProviderOrderID, r.RefundNo, "refund",
			money.Format(r.Amount, o.Currency), string(o.Currency), "succeeded", out.ProviderRefundID, "", "", "1", at, at, ""})
	}
	writeResults(t, results, rows)

	js := filepath.Join(dir, "report.json")
	code, stdout, stderr := runBinary(t, []string{"BULKREFUND_CONFIG=" + cfgPath}, "--results", results, "--lookup", "--json", js)
	if code != 0 || stderr != "reconcile: config "+cfgPath+" (from $BULKREFUND_CONFIG)\n" ||
		!strings.Contains(stdout, fmt.Sprintf("reconciled %d refunds: MATCHED=%d\n", len(orders), len(orders))) {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}
