package store_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// TestReadableWithSQLiteShell: the documented schema is plain tables the
// sqlite3 shell reads, including writes still in the WAL.
func TestReadableWithSQLiteShell(t *testing.T) {
	shell, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("no sqlite3 shell on PATH")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	its := items(5)
	if err := s.Init(ctx, meta(its), its); err != nil {
		t.Fatal(err)
	}
	s.MarkSubmitting(ctx, its[0].Key(), time.Now())
	s.Finish(ctx, its[0].Key(), store.Succeeded, adapters.Outcome{ProviderRefundID: "PR0"}, "")
	s.MarkSubmitting(ctx, its[1].Key(), time.Now())
	if _, err := s.Counts(ctx); err != nil { // waits for the queued Finish
		t.Fatal(err)
	}
	out, err := exec.Command(shell, path, "select state, count(*), sum(amount) from items group by state order by state; select batch_id, items from meta;").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	want := "planned|3|309\nsubmitting|1|101\nsucceeded|1|100\n" + meta(its).BatchID + "|5\n"
	if string(out) != want {
		t.Errorf("sqlite3 says\n%s\nwant\n%s", out, want)
	}
	out, _ = exec.Command(shell, path, "select provider_refund_id, attempts from items where refund_no='R00000'").CombinedOutput()
	if strings.TrimSpace(string(out)) != "PR0|1" {
		t.Errorf("item row: %q", out)
	}
}
