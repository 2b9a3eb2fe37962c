package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// oldState writes a per-batch state file as bulkrefund wrote them before the
// ledger: tables meta and items.
func oldState(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE meta (batch_id TEXT NOT NULL, source_path TEXT NOT NULL, source_sha256 TEXT NOT NULL,
			operator TEXT NOT NULL, host TEXT NOT NULL, tool_version TEXT NOT NULL, created TEXT NOT NULL, items INTEGER NOT NULL)`,
		`CREATE TABLE items (seq INTEGER PRIMARY KEY, row INTEGER NOT NULL, provider TEXT NOT NULL, account TEXT NOT NULL,
			order_no TEXT NOT NULL, provider_order_id TEXT NOT NULL, refund_no TEXT NOT NULL, amount INTEGER NOT NULL,
			total INTEGER NOT NULL, currency TEXT NOT NULL, action TEXT NOT NULL, operator TEXT NOT NULL, reason TEXT NOT NULL,
			payment_method TEXT NOT NULL, notify_url TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'planned',
			attempts INTEGER NOT NULL DEFAULT 0, first_attempt TEXT NOT NULL DEFAULT '', last_attempt TEXT NOT NULL DEFAULT '',
			provider_refund_id TEXT NOT NULL DEFAULT '', provider_code TEXT NOT NULL DEFAULT '', provider_message TEXT NOT NULL DEFAULT '',
			provider_amount INTEGER NOT NULL DEFAULT 0, provider_time TEXT NOT NULL DEFAULT '', last_error TEXT NOT NULL DEFAULT '')`,
		`INSERT INTO meta VALUES ('b0ld', 'old.xlsx', 'abc', 'op', 'host', 'bulkrefund dev', '2026-11-01T10:00:00Z', 3)`,
		`INSERT INTO items (seq,row,provider,account,order_no,provider_order_id,refund_no,amount,total,currency,action,operator,reason,payment_method,notify_url,state,attempts,provider_refund_id)
			VALUES (0,2,'quickpay','SH001','Q1','','OLD-1',1250,5000,'CNY','refund','op','','','','succeeded',1,'QP-1'),
			       (1,3,'quickpay','SH001','Q2','','OLD-2',99,500,'CNY','refund','op','','','','unknown',2,''),
			       (2,4,'quickpay','SH001','Q3','','OLD-3',7,500,'CNY','refund','op','','','','planned',0,'')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLedgerImportAndBackup(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "old.db")
	oldState(t, state)
	ledger := filepath.Join(dir, "ledger.db")

	// The old file is not taken for a ledger.
	code, _, stderr := runCmd(t, "status", "--ledger", state)
	if code != exitUsage || !strings.Contains(stderr, "ledger import") {
		t.Errorf("status on an old state file: exit %d %s", code, stderr)
	}
	code, stdout, stderr := runCmd(t, "ledger", "import", "--ledger", ledger, state)
	if code != exitOK || !strings.Contains(stdout, "3 rows (3 new refunds, 0 known), 2 states adopted") {
		t.Fatalf("import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, "status", "--ledger", ledger, "--refund", "OLD-2")
	if code != exitFailures || !strings.Contains(stdout, "0.99 CNY, unknown") {
		t.Errorf("imported unknown refund: exit %d\n%s", code, stdout)
	}
	// Importing again changes nothing.
	code, stdout, _ = runCmd(t, "ledger", "import", "--ledger", ledger, state)
	if code != exitOK || !strings.Contains(stdout, "already in the ledger") {
		t.Errorf("second import: exit %d\n%s", code, stdout)
	}
	backup := filepath.Join(dir, "backup.db")
	if code, stdout, stderr := runCmd(t, "ledger", "backup", "--ledger", ledger, backup); code != exitOK {
		t.Fatalf("backup: exit %d %s %s", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, "status", "--ledger", backup, "--refund", "OLD-1")
	if code != exitOK || !strings.Contains(stdout, "provider refund id QP-1") {
		t.Errorf("status of the backup: exit %d\n%s", code, stdout)
	}
}
