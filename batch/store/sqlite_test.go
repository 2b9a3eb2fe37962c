package store_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

func openSQLite(t *testing.T, path string) *store.SQL {
	t.Helper()
	l, err := store.OpenSQLite(path, store.SQLiteOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, storetest.Opener{
		New:    func(t *testing.T) *store.SQL { return openSQLite(t, filepath.Join(t.TempDir(), "ledger.db")) },
		Reopen: func(t *testing.T, l *store.SQL) *store.SQL { return openSQLite(t, l.Where()) },
	})
}

func TestEmptyFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.OpenSQLite(path, store.SQLiteOptions{Create: true})
	if !errors.Is(err, store.ErrNotLedger) || !strings.Contains(err.Error(), "--new-ledger") {
		t.Fatalf("empty ledger file: %v", err)
	}
	l, err := store.OpenSQLite(path, store.SQLiteOptions{Create: true, Fresh: true})
	if err != nil {
		t.Fatalf("with Fresh: %v", err)
	}
	l.Close()
}

func TestTruncatedFileRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	l := openSQLite(t, path)
	items := storetest.Items(100, 0)
	if _, err := l.Plan(t.Context(), storetest.Meta(items, "s.csv"), items); err != nil {
		t.Fatal(err)
	}
	l.Close()
	data, _ := os.ReadFile(path)
	for _, n := range []int{10, len(data) / 2} {
		bad := filepath.Join(dir, "bad.db")
		os.WriteFile(bad, data[:n], 0o600)
		if l, err := store.OpenSQLite(bad, store.SQLiteOptions{Create: true}); err == nil {
			// SQLite may open a file cut at a page boundary; it must not look empty.
			var c int
			l.Refunds(t.Context(), store.Query{}, func(store.Record) error { c++; return nil })
			l.Close()
			if c == 0 {
				t.Fatalf("truncated to %d bytes: opened as an empty ledger", n)
			}
		} else if !errors.Is(err, store.ErrNotLedger) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
		os.Remove(bad)
	}
}

func TestMissingWithoutCreate(t *testing.T) {
	_, err := store.OpenSQLite(filepath.Join(t.TempDir(), "nope.db"), store.SQLiteOptions{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%v", err)
	}
}

func TestFileModeAndOneFileAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ledger.db")
	l := openSQLite(t, path)
	items := storetest.Items(10, 0)
	if _, err := l.Plan(t.Context(), storetest.Meta(items, "s.csv"), items); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	// The WAL is folded back on close: ledger.db alone holds everything.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("ledger.db-wal left with %d bytes after close", fi.Size())
	}
	if _, err := exec.LookPath("sqlite3"); err == nil {
		out, err := exec.Command("sqlite3", path, "select count(*) from refunds").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "10" {
			t.Fatalf("sqlite3 shell: %s %v", out, err)
		}
	}
}
