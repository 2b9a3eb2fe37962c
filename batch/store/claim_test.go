package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

// engines runs f on a fresh SQLite ledger and a fresh PostgreSQL one (if a
// server is at hand).
func engines(t *testing.T, f func(t *testing.T, o storetest.Opener)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, storetest.Opener{
			New:    func(t *testing.T) *store.SQL { return openSQLite(t, filepath.Join(t.TempDir(), "ledger.db")) },
			Reopen: func(t *testing.T, l *store.SQL) *store.SQL { return openSQLite(t, l.Where()) },
		})
	})
	t.Run("postgres", func(t *testing.T) { f(t, pgOpener()) })
}

// approved plans items as a batch and approves it.
func approved(t *testing.T, l *store.SQL, items []batch.Item) store.Meta {
	t.Helper()
	res, err := l.Plan(t.Context(), storetest.Meta(items, "sheet.csv"), items)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetBatchStatus(t.Context(), res.Meta.BatchID, store.BatchApproved, store.Audit{Actor: "checker", Action: "approved"}); err != nil {
		t.Fatal(err)
	}
	return res.Meta
}

func claim(t *testing.T, l *store.SQL, owner string, n int, lease time.Duration) []store.Record {
	t.Helper()
	recs, err := l.Claim(t.Context(), store.ClaimRequest{Owner: owner, N: n, Lease: lease, Actor: owner})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestClaimOnlyApprovedBatches(t *testing.T) {
	engines(t, func(t *testing.T, o storetest.Opener) {
		l := o.New(t)
		items := storetest.Items(5, 0)
		res, err := l.Plan(t.Context(), storetest.Meta(items, "s.csv"), items)
		if err != nil {
			t.Fatal(err)
		}
		if got := claim(t, l, "w1", 10, time.Minute); len(got) != 0 {
			t.Fatalf("claimed %d refunds of a batch not approved", len(got))
		}
		// A batch a `bulkrefund run` process holds is left to it.
		s, err := l.Run(t.Context(), res.Meta.BatchID)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetBatchStatus(t.Context(), res.Meta.BatchID, store.BatchApproved, store.Audit{Actor: "checker", Action: "approved"}); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, l, "w1", 10, time.Minute); len(got) != 0 {
			t.Fatalf("claimed %d refunds of a batch a run holds", len(got))
		}
		s.Close()
		got := claim(t, l, "w1", 3, time.Minute)
		if len(got) != 3 {
			t.Fatalf("claimed %d of an approved batch, want 3", len(got))
		}
		for i, r := range got {
			if r.RefundNo != items[i].RefundNo || r.Row != items[i].Row || r.Version != 1 || r.State != store.Planned {
				t.Fatalf("claim %d = row %d %s v%d %s", i, r.Row, r.RefundNo, r.Version, r.State)
			}
		}
		m, _ := l.Batch(t.Context(), res.Meta.BatchID)
		if m.Status != store.BatchRunning {
			t.Fatalf("batch status %s after the first claim", m.Status)
		}
		if got := claim(t, l, "w2", 10, time.Minute); len(got) != 2 {
			t.Fatalf("second worker claimed %d, want the 2 left", len(got))
		}
	})
}

func TestClaimAccountsFilter(t *testing.T) {
	engines(t, func(t *testing.T, o storetest.Opener) {
		l := o.New(t)
		items := storetest.Items(8, 0) // providers in turn
		approved(t, l, items)
		recs, err := l.Claim(t.Context(), store.ClaimRequest{Owner: "w", N: 10, Lease: time.Minute,
			Accounts: []store.AccountRef{{Provider: adapters.QuickPay, Account: "acct-" + adapters.QuickPay}, {Provider: adapters.Nomad, Account: "other"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Provider != adapters.QuickPay || recs[1].Provider != adapters.QuickPay {
			t.Fatalf("claims %+v", recs)
		}
	})
}

// Many claimers in several processes at once: every refund is claimed
// exactly once while the leases live.
func TestClaimConcurrentNoRowTwice(t *testing.T) {
	engines(t, func(t *testing.T, o storetest.Opener) {
		l := o.New(t)
		items := storetest.Items(600, 0)
		approved(t, l, items)
		ledgers := []*store.SQL{l, o.Reopen(t, l), o.Reopen(t, l)}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for w := range 9 {
			led := ledgers[w%3]
			owner := fmt.Sprintf("w%d", w)
			wg.Go(func() {
				for range len(items) { // bounded: claims that ignore leases never run dry
					recs, err := led.Claim(context.Background(), store.ClaimRequest{Owner: owner, N: 7, Lease: time.Minute})
					if err != nil {
						t.Error(err)
						return
					}
					if len(recs) == 0 {
						return
					}
					mu.Lock()
					for _, r := range recs {
						if prev, dup := seen[r.Key()]; dup {
							t.Errorf("%s claimed by %s and %s", r.RefundNo, prev, owner)
						}
						seen[r.Key()] = owner
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != len(items) {
			t.Fatalf("%d of %d refunds claimed", len(seen), len(items))
		}
	})
}

// A worker whose lease expired and was taken over cannot write: the
// takeover bumped the version its compare-and-set names.
func TestExpiredClaimTakenOverOldOwnerCannotWrite(t *testing.T) {
	engines(t, func(t *testing.T, o storetest.Opener) {
		a := o.New(t)
		b := o.Reopen(t, a)
		ctx := t.Context()
		approved(t, a, storetest.Items(2, 0))
		ra := claim(t, a, "A", 2, 200*time.Millisecond)
		if len(ra) != 2 {
			t.Fatalf("A claimed %d", len(ra))
		}
		// A marks the first refund submitting and sends; then it stalls.
		k0, k1 := ra[0].Key(), ra[1].Key()
		if err := a.Apply(ctx, k0, ra[0].Version, store.Planned, store.EvSend, store.Change{At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, b, "B", 2, time.Minute); len(got) != 0 {
			t.Fatalf("B took %d refunds under A's live lease", len(got))
		}
		time.Sleep(300 * time.Millisecond)
		rb := claim(t, b, "B", 2, time.Minute)
		if len(rb) != 2 || rb[0].State != store.Submitting || rb[0].Version != ra[0].Version+2 {
			t.Fatalf("B's takeover: %+v", rb)
		}
		// B looks the submitting one up and records the provider's answer.
		if err := b.Apply(ctx, k0, rb[0].Version, store.Submitting, store.EvSucceeded, store.Change{
			Outcome: adapters.Outcome{ProviderRefundID: "P-B", Code: "B"}}); err != nil {
			t.Fatal(err)
		}
		// A wakes up: its outcome and its send of the second refund are refused.
		err := a.Apply(ctx, k0, ra[0].Version+1, store.Submitting, store.EvFailed, store.Change{Outcome: adapters.Outcome{Code: "A"}})
		if err == nil {
			err = syncErr(a) // queued: the miss shows at the next read
		}
		if err == nil && a.LostWrites() == 0 {
			t.Fatal("A's stale outcome was written over B's")
		}
		if err := a.Apply(ctx, k1, ra[1].Version, store.Planned, store.EvSend, store.Change{At: time.Now()}); !errors.Is(err, store.ErrStateChanged) {
			t.Fatalf("A sent a refund B had taken over: %v", err)
		}
		var got store.Record
		b.Refunds(ctx, store.Query{RefundNo: ra[0].RefundNo}, func(r store.Record) error { got = r; return nil })
		if got.State != store.Succeeded || got.ProviderCode != "B" {
			t.Fatalf("refund after A's stale write: %s %s", got.State, got.ProviderCode)
		}
	})
}

func syncErr(l *store.SQL) error {
	_, err := l.Batches(context.Background())
	return err
}

func TestRenewReleaseAndRest(t *testing.T) {
	engines(t, func(t *testing.T, o storetest.Opener) {
		l := o.New(t)
		ctx := t.Context()
		meta := approved(t, l, storetest.Items(3, 0))
		recs := claim(t, l, "A", 3, 300*time.Millisecond)
		all := []string{recs[0].Key(), recs[1].Key(), recs[2].Key()}
		if keys, err := l.RenewClaims(ctx, "A", all, time.Minute); err != nil || len(keys) != 3 || keys[0] != recs[0].Key() {
			t.Fatalf("renewed %q, %v", keys, err)
		}
		if n, err := l.LiveClaims(ctx, meta.BatchID); err != nil || n != 3 {
			t.Fatalf("live claims %d, %v", n, err)
		}
		time.Sleep(400 * time.Millisecond)
		if got := claim(t, l, "B", 3, time.Minute); len(got) != 0 {
			t.Fatalf("B took %d renewed claims", len(got))
		}
		// Settle one, leave one pending, one untouched; release with rests.
		k := func(i int) string { return recs[i].Key() }
		mustApply(t, l, k(0), recs[0].Version, store.Planned, store.EvSend)
		mustApply(t, l, k(0), recs[0].Version+1, store.Submitting, store.EvSucceeded)
		mustApply(t, l, k(1), recs[1].Version, store.Planned, store.EvSend)
		mustApply(t, l, k(1), recs[1].Version+1, store.Submitting, store.EvPending)
		if keys, err := l.RenewClaims(ctx, "A", all, time.Minute); err != nil || len(keys) != 2 {
			t.Fatalf("renewed %d unsettled, %v", len(keys), err)
		}
		if n, err := l.ReleaseClaims(ctx, "A", all, map[store.State]time.Duration{store.Pending: 300 * time.Millisecond}); err != nil || n != 2 {
			t.Fatalf("released %d, %v", n, err)
		}
		got := claim(t, l, "B", 3, time.Minute)
		if len(got) != 1 || got[0].Key() != k(2) {
			t.Fatalf("after release B took %+v, want only the untouched one", got)
		}
		time.Sleep(400 * time.Millisecond)
		got = claim(t, l, "B", 3, time.Minute)
		if len(got) != 1 || got[0].Key() != k(1) || got[0].State != store.Pending {
			t.Fatalf("after the rest B took %+v, want the pending one", got)
		}
		mustApply(t, l, k(1), got[0].Version, store.Pending, store.EvSucceeded)
		mustApply(t, l, k(2), recs[2].Version+1, store.Planned, store.EvSend)
		mustApply(t, l, k(2), recs[2].Version+2, store.Submitting, store.EvFailed)
		done, err := l.CompleteBatches(ctx, "B")
		if err != nil || len(done) != 1 || done[0] != meta.BatchID {
			t.Fatalf("completed %v, %v", done, err)
		}
		m, _ := l.Batch(ctx, meta.BatchID)
		if m.Status != store.BatchDone {
			t.Fatalf("status %s", m.Status)
		}
		var actions []string
		l.AuditTrail(ctx, meta.BatchID, func(a store.Audit) error { actions = append(actions, a.Action); return nil })
		if fmt.Sprint(actions) != "[planned approved running done]" {
			t.Fatalf("audit %v", actions)
		}
	})
}

func mustApply(t *testing.T, l *store.SQL, key string, v int64, from store.State, ev store.Event) {
	t.Helper()
	if err := l.Apply(t.Context(), key, v, from, ev, store.Change{At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := syncErr(l); err != nil {
		t.Fatal(err)
	}
}

func TestWakeBlocked(t *testing.T) {
	engines(t, func(t *testing.T, o storetest.Opener) {
		l := o.New(t)
		items := storetest.Items(2, 1) // quickpay, nomad
		approved(t, l, items)
		recs := claim(t, l, "A", 2, time.Minute)
		for _, r := range recs {
			mustApply(t, l, r.Key(), r.Version, store.Planned, store.EvSend)
			mustApply(t, l, r.Key(), r.Version+1, store.Submitting, store.EvBlocked)
		}
		if _, err := l.ReleaseClaims(t.Context(), "A", []string{recs[0].Key(), recs[1].Key()}, map[store.State]time.Duration{store.Blocked: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if got := claim(t, l, "B", 2, time.Minute); len(got) != 0 {
			t.Fatalf("blocked refunds claimed during their rest: %d", len(got))
		}
		n, err := l.WakeBlocked(t.Context(), []store.AccountRef{{Provider: recs[0].Provider, Account: recs[0].Account}})
		if err != nil || n != 1 {
			t.Fatalf("woke %d, %v", n, err)
		}
		if got := claim(t, l, "B", 2, time.Minute); len(got) != 1 || got[0].Key() != recs[0].Key() || got[0].State != store.Blocked {
			t.Fatalf("after waking: %+v", got)
		}
	})
}

// A run and the workers never both work a batch: a run is refused while
// workers hold some of its refunds, and workers claim nothing from a batch
// a run holds.
func TestRunRefusedWhileWorkersHoldClaims(t *testing.T) {
	engines(t, func(t *testing.T, o storetest.Opener) {
		l := o.New(t)
		meta := approved(t, l, storetest.Items(4, 0))
		recs := claim(t, l, "W", 2, time.Minute)
		if _, err := l.Run(t.Context(), meta.BatchID); !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "workers hold 2 refunds") {
			t.Fatalf("run while workers hold claims: %v", err)
		}
		// The refused run left no lease behind: the workers go on.
		if got := claim(t, l, "W", 2, time.Minute); len(got) != 2 {
			t.Fatalf("workers claimed %d after the refused run", len(got))
		}
		keys := []string{recs[0].Key(), recs[1].Key()}
		for _, r := range claim(t, l, "W", 4, time.Minute) {
			keys = append(keys, r.Key())
		}
		all := []string{}
		l.Refunds(t.Context(), store.Query{}, func(r store.Record) error { all = append(all, r.Key()); return nil })
		if _, err := l.ReleaseClaims(t.Context(), "W", all, nil); err != nil {
			t.Fatal(err)
		}
		s, err := l.Run(t.Context(), meta.BatchID)
		if err != nil {
			t.Fatalf("run once the claims are given back: %v", err)
		}
		defer s.Close()
		if got := claim(t, l, "W2", 4, time.Minute); len(got) != 0 {
			t.Fatalf("workers claimed %d refunds of a batch a run holds", len(got))
		}
	})
}
