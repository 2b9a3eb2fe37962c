package ratelimit_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/batch/ratelimit"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// maxInWindow is the most times within any window of length w.
func maxInWindow(times []time.Time, w time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// Three processes (three ledger connections), four callers each, one
// account at 20/s: together they are granted 20 calls a second.
func TestSharedAcrossProcesses(t *testing.T) {
	u := pgtest.URL(t)
	var lims []ratelimit.Limiter
	for range 3 {
		l := pgtest.Reopen(t, u)
		lim, err := ratelimit.For(t.Context(), l, "quickpay/acct-1", 20, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := lim.(*ratelimit.Shared); !ok {
			t.Fatalf("limiter on PostgreSQL is %T", lim)
		}
		lims = append(lims, lim)
	}
	// Another account's budget is its own.
	other, err := ratelimit.For(t.Context(), pgtest.Reopen(t, u), "quickpay/acct-2", 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var mu sync.Mutex
	var granted, grantedOther []time.Time
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			for lims[i%3].Wait(ctx) == nil {
				mu.Lock()
				granted = append(granted, time.Now())
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for other.Wait(ctx) == nil {
			mu.Lock()
			grantedOther = append(grantedOther, time.Now())
			mu.Unlock()
		}
	})
	wg.Wait()
	n, peak := len(granted), maxInWindow(granted, time.Second)
	t.Logf("%d calls in 3s, at most %d in any second; other account %d", n, peak, len(grantedOther))
	// 20/s less the Jitter headroom (10%): about 55 in 3s.
	if n < 50 || n > 58 {
		t.Errorf("%d calls granted in 3s at 20/s", n)
	}
	if peak > 20 {
		t.Errorf("%d calls in one second at 20/s, burst 1", peak)
	}
	if len(grantedOther) < 50 {
		t.Errorf("the other account got %d calls: budgets are not per account", len(grantedOther))
	}
}

func TestBurst(t *testing.T) {
	l := pgtest.Reopen(t, pgtest.URL(t))
	lim, err := ratelimit.For(t.Context(), l, "nomad/a", 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 5 {
		if err := lim.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 80*time.Millisecond {
		t.Fatalf("a burst of 5 took %v", d)
	}
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("the 6th call beyond the burst came after %v", d)
	}
	// Cancelled while waiting: returns at once with the context's error.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	for range 3 {
		if err := lim.Wait(ctx); err != nil {
			if ctx.Err() == nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("waits past the deadline did not fail")
}

func TestSQLiteIsLocal(t *testing.T) {
	l, err := store.OpenSQLite(filepath.Join(t.TempDir(), "l.db"), store.SQLiteOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lim, err := ratelimit.For(t.Context(), l, "k", 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rl, ok := lim.(*rate.Limiter); !ok || rl.Burst() != 5 {
		t.Fatalf("SQLite limiter %T", lim)
	}
	if lim, _ := ratelimit.For(t.Context(), l, "k", 0, 0); lim != nil {
		t.Fatal("rate 0 must be unlimited (nil)")
	}
}
