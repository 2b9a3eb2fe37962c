package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/internal/clitest"
)

// withControls writes a copy of the sandbox's client config with a
// "controls" section, beside it (its key files are named relative to it).
func withControls(t *testing.T, cfg, controls string) string {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["controls"] = json.RawMessage(controls)
	out, _ := json.MarshalIndent(m, "", "  ")
	f, err := os.CreateTemp(filepath.Dir(cfg), "controls-*.json")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(out)
	f.Close()
	return f.Name()
}

// sandboxRefunds counts the refunds the sandbox process holds.
func sandboxRefunds(t *testing.T, p *sbxProc) int {
	t.Helper()
	_, b := p.get(t, "/_sandbox/ledger", "")
	var all []json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatalf("sandbox ledger: %s", b)
	}
	return len(all)
}

var submittedID = regexp.MustCompile(`Submitted batch ([0-9a-f]{64})`)

// TestMakerCheckerCLI: with approval required, run refuses a batch that
// is not approved, submit records it, its maker cannot approve it, a
// checker's approval lets it run; a rejected batch never runs.
func TestMakerCheckerCLI(t *testing.T) {
	cfgDir := t.TempDir()
	sbx := sbxStart(t, "--orders", sampleOrders, "--write-config", cfgDir)
	cfg := withControls(t, filepath.Join(cfgDir, sandbox.ClientConfigFile), `{"approval": {"always": true}}`)
	ledger := filepath.Join(t.TempDir(), "ledger.db")
	sheet := upayOnly(t)

	r := clitest.Run(t, nil, nil, "run", sheet, "--config", cfg, "--ledger", ledger, "--yes")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "needs a second person's approval") || !strings.Contains(r.Stderr, "nothing was sent") {
		t.Fatalf("run before approval: exit %d\n%s", r.Code, r.Stderr)
	}
	if n := sandboxRefunds(t, sbx); n != 0 {
		t.Fatalf("%d refunds sent without approval", n)
	}

	r = clitest.Run(t, nil, nil, "submit", sheet, "--config", cfg, "--ledger", ledger)
	m := submittedID.FindStringSubmatch(r.Stdout)
	if r.Code != exitOK || m == nil || !strings.Contains(r.Stdout, "needs a second person's approval") {
		t.Fatalf("submit: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	id := m[1]
	r = clitest.Run(t, nil, nil, "approve", id[:16], "--config", cfg, "--ledger", ledger, "--comment", "mine")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "cannot approve it") {
		t.Fatalf("self-approval: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// Another person approves (here bob, as the web page would record him).
	l, err := app.OpenLedgerExisting(context.Background(), ledger)
	if err != nil {
		t.Fatal(err)
	}
	ctl, _ := app.ReadControls(cfg)
	if err := app.Approve(context.Background(), l, id, "bob", "checked", ctl); err != nil {
		t.Fatal(err)
	}
	l.Close()
	r = clitest.Run(t, nil, nil, "run", sheet, "--config", cfg, "--ledger", ledger, "--yes")
	if r.Code != exitOK || !strings.Contains(r.Stdout, "Approved by bob") {
		t.Fatalf("run after approval: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// The same rows with one remark changed: another batch, not approved.
	edited := strings.Replace(mustRead(t, sheet), "部分退货", "客户要求", 1)
	editedPath := filepath.Join(t.TempDir(), "edited.csv")
	os.WriteFile(editedPath, []byte(edited), 0o600)
	r = clitest.Run(t, nil, nil, "run", editedPath, "--config", cfg, "--ledger", ledger, "--yes")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "needs a second person's approval") {
		t.Fatalf("the changed sheet ran on the old approval: exit %d\n%s", r.Code, r.Stderr)
	}
	r = clitest.Run(t, nil, nil, "submit", editedPath, "--config", cfg, "--ledger", ledger)
	id2 := submittedID.FindStringSubmatch(r.Stdout)
	if r.Code != exitOK || id2 == nil || id2[1] == id {
		t.Fatalf("submitting the changed sheet: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = clitest.Run(t, nil, nil, "reject", id2[1], "--ledger", ledger)
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "comment") {
		t.Fatalf("reject without a comment: exit %d\n%s", r.Code, r.Stderr)
	}
	r = clitest.Run(t, nil, nil, "reject", id2[1], "--ledger", ledger, "--comment", "wrong reason text")
	if r.Code != exitOK || !strings.Contains(r.Stdout, "Rejected by") {
		t.Fatalf("reject: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = clitest.Run(t, nil, nil, "run", editedPath, "--config", cfg, "--ledger", ledger, "--yes")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "was rejected") || !strings.Contains(r.Stderr, "wrong reason text") {
		t.Fatalf("running a rejected batch: exit %d\n%s", r.Code, r.Stderr)
	}
	// Even once the controls ask no approval, a rejection stands.
	r = clitest.Run(t, nil, nil, "run", editedPath, "--sandbox", "--sandbox-orders", sampleOrders, "--ledger", ledger, "--yes")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "was rejected") {
		t.Fatalf("running a rejected batch without controls: exit %d\n%s", r.Code, r.Stderr)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOverLimitCLI: submit and run refuse a sheet over the limits before
// any call, naming the rows and totals.
func TestOverLimitCLI(t *testing.T) {
	cfgDir := t.TempDir()
	sbx := sbxStart(t, "--orders", sampleOrders, "--write-config", cfgDir)
	cfg := withControls(t, filepath.Join(cfgDir, sandbox.ClientConfigFile),
		`{"limits": {"max_refund": {"CNY": "100.00"}, "accounts": [{"provider": "upay", "account": "100000330000000001", "max_batch_total": {"CNY": "200.00"}}]}}`)
	ledger := filepath.Join(t.TempDir(), "ledger.db")
	sheet := upayOnly(t)
	for _, cmd := range [][]string{{"submit", sheet}, {"run", sheet, "--yes"}} {
		r := clitest.Run(t, nil, nil, append(cmd, "--config", cfg, "--ledger", ledger)...)
		if r.Code != exitUsage || !strings.Contains(r.Stderr, "over the configured limits: nothing was sent") ||
			!strings.Contains(r.Stderr, "refunds above the max_refund limit of 100.00 CNY") || !strings.Contains(r.Stderr, "on rows 2,") ||
			!strings.Contains(r.Stderr, "upay/100000330000000001: total") {
			t.Errorf("%s over the limits: exit %d\n%s", cmd[0], r.Code, r.Stderr)
		}
	}
	if n := sandboxRefunds(t, sbx); n != 0 {
		t.Fatalf("%d refunds sent over the limits", n)
	}
	if _, err := os.Stat(ledger); !os.IsNotExist(err) {
		t.Errorf("a refused sheet left a ledger behind: %v", err)
	}
}

// TestTypedTotalsNeedApprovalForYes: above the typed-confirmation
// threshold, --yes is not enough without an approval.
func TestTypedTotalsNeedApprovalForYes(t *testing.T) {
	cfgDir := t.TempDir()
	sbx := sbxStart(t, "--orders", sampleOrders, "--write-config", cfgDir)
	cfg := withControls(t, filepath.Join(cfgDir, sandbox.ClientConfigFile), `{"typed_confirmation": {"above": {"CNY": "1.00"}}}`)
	r := clitest.Run(t, nil, nil, "run", upayOnly(t), "--config", cfg, "--ledger", filepath.Join(t.TempDir(), "l.db"), "--yes")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "above the typed-confirmation threshold") {
		t.Fatalf("--yes above the threshold: exit %d\n%s", r.Code, r.Stderr)
	}
	if n := sandboxRefunds(t, sbx); n != 0 {
		t.Fatalf("%d refunds sent", n)
	}
}

func TestTypedTotals(t *testing.T) {
	totals := []app.Total{{Currency: "CNY", Rows: 3, Amount: 123456}, {Currency: "USD", Rows: 1, Amount: 500}}
	for _, tc := range []struct {
		input string
		ok    bool
	}{
		{"1,234.56\n5.00\n", true},
		{"1234.56\n5\n", true},
		{"yes\n", false},
		{"1,234.56\n5.01\n", false},
		{"", false},
	} {
		var out bytes.Buffer
		got := typedTotals(bufio.NewReader(strings.NewReader(tc.input)), &out, totals)
		if got != tc.ok || (!got && !strings.Contains(out.String(), "Nothing sent")) {
			t.Errorf("%q: %v\n%s", tc.input, got, out.String())
		}
	}
}
