package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// TestOldStateFile: a per-batch state file of an earlier bulkrefund is
// read as it is (nothing written to it), through the ledger's importer
// into a throw-away ledger. It also shows two cases of issue 9 end to end:
// Upay refund "1" of orders U1 and U2 are two refunds (U2's is missing at
// the provider, it does not vanish into U1's row), and a statement that
// writes OLD-2 as "old-2" with the same provider refund id pairs with it.
func TestOldStateFile(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/old-state.db")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "old-state.db")
	os.WriteFile(state, b, 0o600)
	before := sha256.Sum256(b)

	out := filepath.Join(dir, "r.json")
	code, stdout, stderr := runProcess(t, "--state", state, "--statement", "testdata/old-statement.csv", "--tz", "UTC", "--json", out)
	if code != 1 || !strings.Contains(stdout, "reconciled 4 refunds: MATCHED=3 MISSING_AT_PROVIDER=1\n") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	exc := jsonTable(t, out, "exceptions")
	if len(exc) != 1 || exc[0]["order_no"] != "U2" || exc[0]["refund_no"] != "1" {
		t.Errorf("exceptions %v", exc)
	}
	for _, r := range jsonTable(t, out, "all_refunds") {
		if r["refund_no"] == "OLD-2" && (r["category"] != "MATCHED" || !strings.Contains(r["reason"].(string), "provider refund id QP-2")) {
			t.Errorf("OLD-2: %v %v", r["category"], r["reason"])
		}
	}
	if info := jsonTable(t, out, "report_info"); !strings.Contains(stringsOf(info), "old-op") {
		t.Errorf("the state's operator is not in the provenance: %v", info)
	}
	if after, _ := os.ReadFile(state); sha256.Sum256(after) != before {
		t.Error("reconcile changed the state file")
	}

	// A ledger given as a state file is pointed to --ledger.
	ledger := filepath.Join(dir, "ledger.db")
	l, err := store.OpenSQLite(ledger, store.SQLiteOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, _, stderr = runProcess(t, "--state", ledger, "--statement", "testdata/old-statement.csv", "--json", out)
	if code != 2 || !strings.Contains(stderr, "--ledger "+ledger) {
		t.Errorf("a ledger as --state: exit %d %s", code, stderr)
	}
}

func stringsOf(rows []map[string]any) string {
	var b strings.Builder
	for _, r := range rows {
		for _, v := range r {
			if s, ok := v.(string); ok {
				b.WriteString(s + " ")
			}
		}
	}
	return b.String()
}
