package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

func items(n int) []batch.Item {
	out := make([]batch.Item, n)
	for i := range out {
		p := adapters.Providers[i%4]
		out[i] = batch.Item{Row: i + 2, Refund: adapters.Refund{
			Provider: p, Account: "acct-" + p, OrderNo: fmt.Sprintf("O%05d", i), RefundNo: fmt.Sprintf("R%05d", i),
			Amount: int64(100 + i), Total: 10000, Currency: money.CNY, Action: adapters.ActionRefund,
		}}
	}
	return out
}

func meta(its []batch.Item) store.Meta {
	return store.Meta{BatchID: batch.Identity(its), SourcePath: "refunds.csv", Operator: "alice", Created: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)}
}

type opener func(t *testing.T) (store.Store, func() store.Store)

var impls = map[string]opener{
	"memory": func(t *testing.T) (store.Store, func() store.Store) {
		m := store.NewMemory()
		return m, func() store.Store { return m }
	},
	"sqlite": func(t *testing.T) (store.Store, func() store.Store) {
		path := filepath.Join(t.TempDir(), "state", "b.db")
		s, err := store.OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, func() store.Store {
			s.Close()
			s2, err := store.OpenSQLiteExisting(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s2.Close() })
			return s2
		}
	},
}

func all(t *testing.T, s store.Store) []store.Record {
	t.Helper()
	var out []store.Record
	if err := s.Each(context.Background(), func(r store.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			s, reopen := open(t)
			its := items(8)
			if _, err := s.Meta(ctx); !errors.Is(err, store.ErrNoBatch) {
				t.Fatalf("Meta on empty store: %v, want ErrNoBatch", err)
			}
			if err := s.Init(ctx, meta(its), its); err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
			if err := s.MarkSubmitting(ctx, its[1].Key(), t0); err != nil {
				t.Fatal(err)
			}
			if err := s.Finish(ctx, its[1].Key(), store.Unknown, adapters.Outcome{}, "timeout"); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkSubmitting(ctx, its[1].Key(), t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			ptime := time.Date(2026, 11, 21, 9, 0, 2, 0, time.UTC)
			if err := s.Finish(ctx, its[1].Key(), store.Succeeded, adapters.Outcome{Status: adapters.StatusSucceeded,
				ProviderRefundID: "PR1", Code: "REFUND_SUCCESS", Message: "ok", Amount: 101, Time: ptime}, ""); err != nil {
				t.Fatal(err)
			}
			// A later lookup with empty fields keeps what the provider said before.
			if err := s.Finish(ctx, its[1].Key(), store.Succeeded, adapters.Outcome{}, ""); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkSubmitting(ctx, its[2].Key(), t0); err != nil {
				t.Fatal(err)
			}

			s = reopen()
			recs := all(t, s)
			if len(recs) != 8 {
				t.Fatalf("%d records, want 8", len(recs))
			}
			for i, r := range recs {
				if r.Row != its[i].Row || r.Refund != its[i].Refund {
					t.Errorf("record %d = %+v, want item %+v", i, r.Item, its[i])
				}
			}
			got := recs[1]
			want := store.Record{Item: its[1], State: store.Succeeded, Attempts: 2, FirstAttempt: t0, LastAttempt: t0.Add(time.Second),
				ProviderRefundID: "PR1", ProviderCode: "REFUND_SUCCESS", ProviderMessage: "ok", ProviderAmount: 101, ProviderTime: ptime}
			if got != want {
				t.Errorf("record 1 = %+v\nwant %+v", got, want)
			}
			if recs[2].State != store.Submitting || recs[2].Attempts != 1 {
				t.Errorf("record 2 = %+v, want submitting after 1 attempt", recs[2])
			}
			if recs[0].State != store.Planned || recs[0].Attempts != 0 || !recs[0].FirstAttempt.IsZero() {
				t.Errorf("record 0 = %+v, want untouched planned", recs[0])
			}

			m, err := s.Meta(ctx)
			if err != nil || m.BatchID != batch.Identity(its) || m.Items != 8 || !m.Created.Equal(meta(its).Created) || m.Operator != "alice" {
				t.Errorf("Meta = %+v, %v", m, err)
			}
			// Same batch again resumes; a different one is refused, naming both.
			if err := s.Init(ctx, meta(its), its); err != nil {
				t.Errorf("re-Init same batch: %v", err)
			}
			other := items(9)
			err = s.Init(ctx, meta(other), other)
			var me *store.MismatchError
			if !errors.Is(err, store.ErrBatchMismatch) || !errors.As(err, &me) {
				t.Errorf("Init other batch: %v, want ErrBatchMismatch", err)
			}
			if len(all(t, s)) != 8 {
				t.Errorf("refused Init changed the store")
			}

			counts, err := s.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			var sum int64
			for _, c := range counts {
				n += c.Items
				sum += c.Amount
				if c.Provider == adapters.QuickPay && c.State == store.Succeeded && (c.Items != 1 || c.Amount != 101) {
					t.Errorf("quickpay succeeded count %+v, want 1 item 101", c)
				}
			}
			if n != 8 || sum != 100*8+28 {
				t.Errorf("counts add to %d items %d, want 8 items %d", n, sum, 828)
			}
		})
	}
}

// TestUnknownKey: a write naming no item fails, at once or (for a queued
// Finish) at the next call, and poisons nothing silently.
func TestUnknownKey(t *testing.T) {
	ctx := context.Background()
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			s, _ := open(t)
			its := items(2)
			if err := s.Init(ctx, meta(its), its); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkSubmitting(ctx, "nope\x00a\x00b\x00c", time.Now()); !errors.Is(err, store.ErrUnknownKey) {
				t.Errorf("MarkSubmitting unknown key: %v", err)
			}
			err := s.Finish(ctx, "nope\x00a\x00b\x00c", store.Failed, adapters.Outcome{}, "")
			if err == nil {
				_, err = s.Counts(ctx)
			}
			if !errors.Is(err, store.ErrUnknownKey) {
				t.Errorf("Finish unknown key: %v", err)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	ctx := context.Background()
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			s, _ := open(t)
			its := items(4)
			if err := s.Init(ctx, meta(its), its); err != nil {
				t.Fatal(err)
			}
			s.MarkSubmitting(ctx, its[0].Key(), time.Now())
			s.Finish(ctx, its[0].Key(), store.Succeeded, adapters.Outcome{}, "")
			s.MarkSubmitting(ctx, its[3].Key(), time.Now())

			// Changing a sent item is refused and changes nothing.
			bad := append([]batch.Item(nil), its...)
			bad[0].Amount++
			if err := s.Merge(ctx, meta(bad), bad); !errors.Is(err, store.ErrItemChanged) {
				t.Fatalf("Merge changed sent item: %v, want ErrItemChanged", err)
			}
			// Drop planned item 1 and sent item 3, change planned item 2, add one.
			next := []batch.Item{its[2], its[0], items(5)[4]}
			next[0].Amount = 999
			if err := s.Merge(ctx, meta(next), next); err != nil {
				t.Fatal(err)
			}
			recs := all(t, s)
			var got []string
			for _, r := range recs {
				got = append(got, fmt.Sprintf("%s:%s:%d", r.RefundNo, r.State, r.Amount))
			}
			want := fmt.Sprint([]string{"R00002:planned:999", "R00000:succeeded:100", "R00004:planned:104", "R00003:submitting:103"})
			if fmt.Sprint(got) != want {
				t.Errorf("after merge %v, want %v", got, want)
			}
			m, _ := s.Meta(ctx)
			if m.BatchID != batch.Identity(next) || m.Items != 4 {
				t.Errorf("meta after merge %+v", m)
			}
		})
	}
}

func TestDuplicateKey(t *testing.T) {
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			s, _ := open(t)
			its := items(3)
			its[2].OrderNo, its[2].RefundNo, its[2].Provider, its[2].Account = its[0].OrderNo, its[0].RefundNo, its[0].Provider, its[0].Account
			if err := s.Init(context.Background(), meta(its), its); !errors.Is(err, store.ErrDuplicateKey) {
				t.Errorf("Init with duplicate: %v", err)
			}
		})
	}
}

func TestSQLiteFileModeAndWAL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	old := setUmask(0)
	s, err := store.OpenSQLite(path)
	setUmask(old)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	its := items(3)
	if err := s.Init(context.Background(), meta(its), its); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSubmitting(context.Background(), its[0].Key(), time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// TestSQLiteConcurrentWrites checks that group commit answers every writer
// with its own result and loses none.
func TestSQLiteConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	its := items(400)
	if err := s.Init(ctx, meta(its), its); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(its))
	for _, it := range its {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.MarkSubmitting(ctx, it.Key(), time.Now()); err != nil {
				errs <- err
				return
			}
			if err := s.Finish(ctx, it.Key(), store.Succeeded, adapters.Outcome{ProviderRefundID: "P" + it.RefundNo}, ""); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s.Close()
	s2, err := store.OpenSQLiteExisting(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, r := range all(t, s2) {
		if r.State != store.Succeeded || r.Attempts != 1 || r.ProviderRefundID != "P"+r.RefundNo {
			t.Fatalf("record %+v not committed", r)
		}
	}
}

func TestOpenExistingMissing(t *testing.T) {
	_, err := store.OpenSQLiteExisting(filepath.Join(t.TempDir(), "none.db"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenSQLiteExisting(missing) = %v, want ErrNotExist", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/lib/x")
	if got := store.DefaultPath("0123456789abcdef0123"); got != "/var/lib/x/bulkrefund/0123456789abcdef.db" {
		t.Errorf("DefaultPath = %q", got)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := store.DefaultPath("ab"); got != "/home/u/.local/state/bulkrefund/ab.db" {
		t.Errorf("DefaultPath = %q", got)
	}
}

func TestRelease(t *testing.T) {
	ctx := context.Background()
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			s, _ := open(t)
			its := items(3)
			if err := s.Init(ctx, meta(its), its); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			s.MarkSubmitting(ctx, its[0].Key(), now)
			s.MarkSubmitting(ctx, its[1].Key(), now)
			s.Finish(ctx, its[1].Key(), store.Succeeded, adapters.Outcome{}, "")
			if err := s.Release(ctx, its[0].Key()); err != nil {
				t.Fatal(err)
			}
			if err := s.Release(ctx, its[1].Key()); err != nil { // not submitting: untouched
				t.Fatal(err)
			}
			recs := all(t, s)
			if r := recs[0]; r.State != store.Planned || r.Attempts != 0 || !r.FirstAttempt.IsZero() || !r.LastAttempt.IsZero() {
				t.Errorf("released item %+v, want planned with no attempts", r)
			}
			if r := recs[1]; r.State != store.Succeeded || r.Attempts != 1 {
				t.Errorf("succeeded item after Release %+v", r)
			}
		})
	}
}

func TestSQLiteOneWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenSQLite(path); !errors.Is(err, store.ErrInUse) {
		t.Errorf("second writable open: %v, want ErrInUse", err)
	}
	r, err := store.OpenSQLiteExisting(path) // readers (status, reconcile) are welcome
	if err != nil {
		t.Fatalf("reader while a run holds the state: %v", err)
	}
	r.Close()
	s.Close()
	s2, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatalf("open after Close: %v", err)
	}
	s2.Close()
}

// TestEachAcrossChunks: Each reads in chunks; every item comes once, in
// sheet order, and an error from fn stops it.
func TestEachAcrossChunks(t *testing.T) {
	ctx := context.Background()
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			s, _ := open(t)
			its := items(2501)
			if err := s.Init(ctx, meta(its), its); err != nil {
				t.Fatal(err)
			}
			recs := all(t, s)
			if len(recs) != len(its) {
				t.Fatalf("%d records, want %d", len(recs), len(its))
			}
			for i, r := range recs {
				if r.Row != its[i].Row {
					t.Fatalf("record %d is row %d, want %d", i, r.Row, its[i].Row)
				}
			}
			stop := errors.New("enough")
			n := 0
			err := s.Each(ctx, func(store.Record) error {
				if n++; n == 1500 {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) || n != 1500 {
				t.Errorf("Each after fn error: %v after %d", err, n)
			}
		})
	}
}
