package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers driver "sqlite"; pure Go, no cgo
)

// SQLiteDialect is the embedded ledger's engine.
var SQLiteDialect = Dialect{
	Name:   "sqlite",
	Rebind: func(q string) string { return q },
	Migrations: []string{
		schemaV1("INTEGER PRIMARY KEY", " WITHOUT ROWID") + `;
CREATE TRIGGER IF NOT EXISTS audit_never_updated BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is never edited'); END;
CREATE TRIGGER IF NOT EXISTS audit_never_deleted BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is never edited'); END`,
	},
}

// schemaV1 is the ledger's first schema, in SQL both engines take; id is
// the engine's auto-increment primary key type, and keyed the clause that
// stores a table by its primary key alone (SQLite's WITHOUT ROWID), where
// the engine has one. Indexes are few on purpose: each one is written for
// every refund planned, and planning a batch against a ledger of millions
// must stay fast.
func schemaV1(id, keyed string) string {
	return `CREATE TABLE refunds (
	id ` + id + `,
	rkey TEXT NOT NULL UNIQUE,
	provider TEXT NOT NULL, account TEXT NOT NULL, order_no TEXT NOT NULL,
	provider_order_id TEXT NOT NULL, refund_no TEXT NOT NULL,
	amount BIGINT NOT NULL, total BIGINT NOT NULL, currency TEXT NOT NULL,
	action TEXT NOT NULL, operator TEXT NOT NULL, reason TEXT NOT NULL,
	payment_method TEXT NOT NULL, notify_url TEXT NOT NULL,
	state TEXT NOT NULL,
	version BIGINT NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	first_attempt TEXT NOT NULL DEFAULT '', last_attempt TEXT NOT NULL DEFAULT '',
	provider_refund_id TEXT NOT NULL DEFAULT '', provider_code TEXT NOT NULL DEFAULT '',
	provider_message TEXT NOT NULL DEFAULT '', provider_amount BIGINT NOT NULL DEFAULT 0,
	provider_time TEXT NOT NULL DEFAULT '', last_error TEXT NOT NULL DEFAULT '',
	first_batch TEXT NOT NULL, planned_at TEXT NOT NULL, updated_at TEXT NOT NULL,
	owner TEXT NOT NULL DEFAULT '', lease_until TEXT NOT NULL DEFAULT ''
);
CREATE INDEX refunds_refund_no ON refunds (refund_no);
CREATE INDEX refunds_planned_at ON refunds (planned_at);
CREATE TABLE batches (
	id TEXT PRIMARY KEY,
	source_path TEXT NOT NULL, source_sha256 TEXT NOT NULL,
	operator TEXT NOT NULL, host TEXT NOT NULL, tool_version TEXT NOT NULL,
	created TEXT NOT NULL, items INTEGER NOT NULL,
	status TEXT NOT NULL DEFAULT 'planned',
	run_owner TEXT NOT NULL DEFAULT '', run_lease_until TEXT NOT NULL DEFAULT ''
);
CREATE TABLE batch_items (
	batch_id TEXT NOT NULL, seq INTEGER NOT NULL, row INTEGER NOT NULL, refund_id BIGINT NOT NULL,
	PRIMARY KEY (batch_id, seq)
)` + keyed + `;
CREATE TABLE audit (
	id ` + id + `,
	at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
	batch_id TEXT NOT NULL DEFAULT '', refund_key TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_batch ON audit (batch_id)`
}

// SQLiteOptions say how to open a ledger file.
type SQLiteOptions struct {
	// Create makes a new ledger where no file exists. Without it a missing
	// file is an error wrapping fs.ErrNotExist (status, reconcile).
	Create bool
	// Fresh allows replacing an empty (0-byte) file with a new ledger. An
	// empty file where a ledger is expected is otherwise refused: it is what
	// a failed copy or a truncated backup looks like, and taking it as a new
	// ledger would send every refund of every batch again.
	Fresh bool
}

var sqliteMagic = []byte("SQLite format 3\x00")

// OpenSQLite opens the ledger file at path (see SQLiteOptions).
func OpenSQLite(path string, o SQLiteOptions) (*SQL, error) {
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("ledger %q: the name may not contain '?'", path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if !o.Create {
			return nil, fmt.Errorf("ledger %s: %w", path, err)
		}
		if err := createLedgerFile(path); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("ledger %s: %w: not a regular file", path, ErrNotLedger)
	case fi.Size() == 0 && !o.Fresh:
		return nil, fmt.Errorf("ledger %s: %w: the file is empty (0 bytes). If it is meant to be a new ledger, "+
			"pass --new-ledger; if it should hold refunds, restore it from a backup first", path, ErrNotLedger)
	case fi.Size() > 0:
		if err := checkMagic(path); err != nil {
			return nil, err
		}
	}
	// synchronous=FULL: in WAL mode NORMAL may lose the last commits on power
	// loss, and a lost "submitting" is exactly what must never happen. Group
	// commit keeps the fsync count low enough that FULL costs little.
	dsn := path + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-65536)&_pragma=temp_store(2)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if err := checkNotOldState(db, path); err != nil {
		db.Close()
		return nil, err
	}
	l, err := Open(db, SQLiteDialect, path)
	if err != nil {
		db.Close()
		if strings.Contains(err.Error(), "malformed") || strings.Contains(err.Error(), "not a database") {
			return nil, fmt.Errorf("ledger %s: %w: %v", path, ErrNotLedger, err)
		}
		return nil, err
	}
	// At rest the ledger is one file: fold the write-ahead log back into it
	// when done, so that a copy of ledger.db alone is a complete backup.
	l.onClose = append(l.onClose, func() { db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`) })
	return l, nil
}

func checkMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return fmt.Errorf("ledger %s: %w: it is not an SQLite file (truncated, or another kind of file)", path, ErrNotLedger)
	}
	return nil
}

// checkNotOldState refuses a per-batch state file of an earlier version,
// which has tables meta and items and no ledger_schema.
func checkNotOldState(db *sql.DB, path string) error {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('meta','items')`).Scan(&n); err != nil {
		return fmt.Errorf("ledger %s: %w: %v", path, ErrNotLedger, err)
	}
	var ledger int
	db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='table' AND name='ledger_schema'`).Scan(&ledger)
	if n == 2 && ledger == 0 {
		return fmt.Errorf("ledger %s: %w: it is a per-batch state file of an earlier bulkrefund; "+
			"import it into the ledger with `bulkrefund ledger import %s`", path, ErrNotLedger, path)
	}
	return nil
}

// Checkpoint folds the write-ahead log into the main file (SQLite only).
func (l *SQL) Checkpoint(ctx context.Context) error {
	if l.d.Name != "sqlite" {
		return nil
	}
	if err := l.sync(ctx); err != nil {
		return err
	}
	_, err := l.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// Backup writes a consistent copy of an SQLite ledger to path (which must
// not exist), while other processes may be writing: one file, complete.
func (l *SQL) Backup(ctx context.Context, path string) error {
	if l.d.Name != "sqlite" {
		return fmt.Errorf("ledger %s: back up a PostgreSQL ledger with pg_dump", l.where)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists already: give a new file", path)
	}
	if err := l.sync(ctx); err != nil {
		return err
	}
	if _, err := l.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return l.errf("backup to %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// createLedgerFile makes a new, complete ledger at path without ever
// showing another process an empty file there: the schema is written to a
// private file first, which is then linked into place (atomically, and
// only if nothing is there yet: of two processes creating one ledger, one
// links and the other opens what it linked). The file is created 0600, so
// SQLite gives the -wal and -shm files that mode too.
func createLedgerFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", tmp+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	l, err := Open(db, SQLiteDialect, tmp)
	if err != nil {
		db.Close()
		return err
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		l.Close()
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	if err := l.Close(); err != nil {
		return err
	}
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	return nil
}
