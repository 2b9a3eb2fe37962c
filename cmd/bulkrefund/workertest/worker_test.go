package workertest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/pgtest"
)

// db opens the test's ledger database for the test's own queries.
func db(t *testing.T, url string) *sql.DB {
	t.Helper()
	l, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.DB()
}

func count(t *testing.T, d *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func workerArgs(url, config string, extra ...string) []string {
	return append([]string{"worker", "--ledger", url, "--config", config, "--idle", "200ms"}, extra...)
}

// TestCrash: three workers share one batch against a provider that is not
// idempotent (a repeated refund number moves money again) and loses
// responses of refunds it applied. One worker is killed with SIGKILL at a
// random moment, another later; the survivor finishes the batch. Every
// refund is applied exactly once, and the ledger agrees with the provider
// on every row.
func TestCrash(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 1000
	}
	url := pgtest.URL(t)
	orders, sheet, rows := fixture(t, n, 21, 60, nil)
	sb := startSandbox(t, orders, "--non-idempotent", "--lost-rate", "0.03", "--latency", "2ms", "--jitter", "8ms", "--seed", "21")
	d := db(t, url)

	// --poll: PayEase refunds are pending first; the workers poll them.
	run := start(t, "run --via-workers", "run", sheet, "--ledger", url, "--via-workers", "--yes", "--config", sb.Config, "--poll", "2m")
	// A short lease so that the killed workers' refunds come back within
	// the test; calls are short (2-10 ms) against a 2s timeout.
	wargs := workerArgs(url, sb.Config, "--parallel", "16", "--call-timeout", "5s", "--lease", "12s")
	workers := []*proc{start(t, "worker 1", wargs...), start(t, "worker 2", wargs...), start(t, "worker 3", wargs...)}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	final := func() int {
		return count(t, d, `SELECT count(*) FROM refunds WHERE state IN ('succeeded','failed')`)
	}
	left := 0
	for i, at := range []int{n/10 + rng.IntN(n/4), n/2 + rng.IntN(n/4)} {
		deadline := time.Now().Add(2 * time.Minute)
		for final() < at {
			if time.Now().After(deadline) || run.exited() {
				t.Fatalf("kill %d: fewer than %d refunds settled (run ended: %v)", i+1, at, run.exited())
			}
			time.Sleep(10 * time.Millisecond)
		}
		w := workers[i]
		w.signal(syscall.SIGKILL)
		w.wait(t, 10*time.Second)
		owner := fmt.Sprintf("worker@%%/%d/%%", w.cmd.Process.Pid)
		inFlight := count(t, d, `SELECT count(*) FROM refunds WHERE owner LIKE $1 AND state IN ('submitting','unknown')`, owner)
		held := count(t, d, `SELECT count(*) FROM refunds WHERE owner LIKE $1 AND state NOT IN ('succeeded','failed')`, owner)
		left += inFlight
		t.Logf("SIGKILL worker %d at %d of %d settled: it held %d unsettled refunds, %d of them in doubt (submitting or unknown)", i+1, at, n, held, inFlight)
	}
	if left == 0 {
		t.Errorf("neither kill caught a refund in doubt: the crash path was not tested")
	}
	if code := run.wait(t, 5*time.Minute); code != 0 {
		t.Errorf("run --via-workers exit %d, want 0", code)
	}
	survivor := workers[2]
	survivorOwner := fmt.Sprintf("worker@%%/%d/%%", survivor.cmd.Process.Pid)
	survivor.signal(syscall.SIGTERM)
	if code := survivor.wait(t, 30*time.Second); code != 0 {
		t.Errorf("surviving worker exit %d after SIGTERM, want 0", code)
	}
	if out := run.out.String(); !strings.Contains(out, fmt.Sprintf("succeeded %d", len(rows))) {
		t.Errorf("run --via-workers summary:\n%s", out)
	}
	// The faults here never license a re-send (no 503, no timeout, no
	// lookup lag): a lost response or a dead worker's refund is looked up.
	requests := agreement(t, sb, url, rows, true)
	lookedUp := count(t, d, `SELECT count(*) FROM refunds WHERE attempts > 1`)
	t.Logf("%d rows, %d refund requests at the provider, %d refunds marked for sending more than once (marks a killed worker made and never sent: looked up, not found, then sent)", len(rows), requests, lookedUp)
	if n := count(t, d, `SELECT count(*) FROM refunds WHERE owner LIKE $1 AND state NOT IN ('succeeded','failed')`, survivorOwner); n != 0 {
		t.Errorf("%d unsettled refunds still held by the survivor after its drain", n)
	}
}

// TestSharedRateLimit: three workers on accounts limited to 20 requests a
// second send at most 20 a second between them, as the sandbox measures
// it, and never see a 429.
func TestSharedRateLimit(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 100
	}
	url := pgtest.URL(t)
	// One account: all three workers contend for its budget.
	orders, sheet, rows := fixture(t, n, 22, 0, func(o sandbox.Order) bool { return o.Provider == adapters.QuickPay })
	account := rows[0].Account
	var one []sheetRow
	for _, r := range rows {
		if r.Account == account {
			one = append(one, r)
		}
	}
	sb := startSandbox(t, orders, "--rate-limit", "20", "--latency", "5ms", "--seed", "22")
	cfg := sb.limitConfig(t, 20, 1)
	run := start(t, "run --via-workers", "run", sheet, "--ledger", url, "--via-workers", "--yes")
	wargs := workerArgs(url, cfg, "--parallel", "8")
	workers := []*proc{start(t, "worker 1", wargs...), start(t, "worker 2", wargs...), start(t, "worker 3", wargs...)}
	start := time.Now()
	if code := run.wait(t, 3*time.Minute); code != 0 {
		t.Errorf("run --via-workers exit %d", code)
	}
	elapsed := time.Since(start)
	for _, w := range workers {
		w.signal(syscall.SIGTERM)
		if code := w.wait(t, 30*time.Second); code != 0 {
			t.Errorf("%s exit %d", w.name, code)
		}
		if !strings.Contains(w.out.String(), "round done") {
			t.Errorf("%s took no refund: the limit was not shared between workers", w.name)
		}
	}
	var stats []accountStats
	sb.get(t, "/_sandbox/stats", &stats)
	for _, s := range stats {
		if s.Requests == 0 {
			continue
		}
		t.Logf("%s/%s: %d requests, %d answered 429, at most %d in one second; %d rows of the account in %v (%.1f/s)",
			s.Provider, s.Account, s.Requests, s.RateLimited, s.MaxPerSecond, len(one), elapsed.Round(time.Millisecond), float64(len(one))/elapsed.Seconds())
		if s.RateLimited != 0 {
			t.Errorf("%s/%s: %d requests answered 429", s.Provider, s.Account, s.RateLimited)
		}
		if s.MaxPerSecond > 20 {
			t.Errorf("%s/%s: %d requests within one second, limit 20", s.Provider, s.Account, s.MaxPerSecond)
		}
	}
	agreement(t, sb, url, rows, true)
}

// TestCommandsOnPostgres: run (sending itself), status and reconcile work
// on a PostgreSQL ledger named by --ledger or by BULKREFUND_LEDGER, as on
// the SQLite file.
func TestCommandsOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	orders, sheet, rows := fixture(t, 60, 23, 5, nil)
	sb := startSandbox(t, orders, "--latency", "2ms")
	run := start(t, "run", "run", sheet, "--ledger", url, "--config", sb.Config, "--yes", "--poll", "1m")
	if code := run.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("run on PostgreSQL: exit %d", code)
	}
	agreement(t, sb, url, rows, false)
	st := start(t, "status", "status", "--ledger", url)
	if code := st.wait(t, 30*time.Second); code != 0 || !strings.Contains(st.out.String(), fmt.Sprintf("succeeded %d", len(rows))) {
		t.Errorf("status: exit %d\n%s", code, st.out.String())
	}
	rec := start(t, "reconcile", "reconcile", "--ledger", url, "--lookup", "--config", sb.Config, "-o", t.TempDir()+"/report.xlsx")
	if code := rec.wait(t, time.Minute); code != 0 && code != 1 {
		t.Errorf("reconcile: exit %d", code)
	}
	if out := rec.out.String(); !strings.Contains(out, fmt.Sprintf("reconciled %d refunds", len(rows))) {
		t.Errorf("reconcile output:\n%s", out)
	}
	// BULKREFUND_LEDGER names the ledger when --ledger does not; the
	// password of a URL never shows.
	cmd := exec.Command(bin, "status")
	withPassword := strings.Replace(url, "postgres@", "postgres:s3cret-ignored-by-trust@", 1)
	cmd.Env = append(os.Environ(), "BULKREFUND_LEDGER="+withPassword)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 batch") || strings.Contains(string(out), "s3cret") {
		t.Errorf("status with BULKREFUND_LEDGER: %v\n%s", err, out)
	}
}
