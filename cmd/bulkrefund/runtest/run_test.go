package runtest

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// TestCrash kills the runner with SIGKILL at three random moments of a
// 5,000-row batch against a sandbox process that adds latency and loses
// responses of applied refunds, restarting it each time. At the end the
// provider holds every refund exactly once, and the state, the results file
// and the provider agree on every row.
func TestCrash(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 1000
	}
	orders, sheet, rows := fixture(t, n, 11, 40)
	sb := startSandbox(t, orders, "--latency", "2ms", "--jitter", "3ms", "--lost-rate", "0.03", "--seed", "11", "--non-idempotent")
	home := t.TempDir()
	statePath := filepath.Join(home, "crash.db")
	results := filepath.Join(home, "results.csv")
	args := []string{sheet, "--config", sb.Config, "--yes", "--ledger", statePath, "--results", results,
		"--parallel", "48", "--call-timeout", "5s", "--poll", "20s"}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills, inFlight := 0, 0
	for i := 0; i < 3; i++ {
		// Kill somewhere in the i-th quarter of what is left to do.
		at := len(rows)*i/4 + 1 + rng.IntN(len(rows)/4)
		p := startRun(t, home, args...)
		if !p.waitProgress(at, 60*time.Second) {
			code := p.wait(t, 60*time.Second)
			t.Logf("run %d ended (exit %d) before reaching %d done", i+1, code, at)
			continue
		}
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait(t, 10*time.Second)
		kills++
		submitting := 0
		for _, r := range readState(t, statePath) {
			if r.State == store.Submitting {
				submitting++
			}
		}
		inFlight += submitting
		t.Logf("run %d: SIGKILL after %d of %d done; %d left submitting", i+1, at, len(rows), submitting)
	}
	if kills < 3 {
		t.Errorf("only %d of 3 kills landed mid-run", kills)
	}
	if inFlight == 0 {
		t.Errorf("no kill caught a refund in flight (submitting): the test did not test the crash path")
	}
	p := startRun(t, home, args...)
	code := p.wait(t, 120*time.Second)
	out := p.stdout.String()
	if code != 0 {
		t.Errorf("final run exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, p.stderr.String())
	}
	if !strings.Contains(out, "The ledger already holds") {
		t.Errorf("final run did not resume:\n%s", out)
	}
	checkAgreement(t, sb, rows, statePath, results, store.Succeeded)
}

// TestInterrupt sends SIGINT mid-run: the runner stops starting refunds,
// finishes the ones in flight, exits 130 and says how to resume; the next
// run (same command, default state location) completes the batch.
func TestInterrupt(t *testing.T) {
	orders, sheet, rows := fixture(t, 1500, 12, 20)
	sb := startSandbox(t, orders, "--latency", "5ms")
	home := t.TempDir()
	results := filepath.Join(home, "results.csv")
	args := []string{sheet, "--config", sb.Config, "--yes", "--results", results, "--parallel", "16", "--poll", "20s"}

	p := startRun(t, home, args...)
	if !p.waitProgress(len(rows)/3, 60*time.Second) {
		t.Fatalf("run never reached a third:\n%s", p.stderr.String())
	}
	p.cmd.Process.Signal(os.Interrupt)
	code := p.wait(t, 30*time.Second)
	if code != 130 {
		t.Fatalf("exit %d after SIGINT, want 130\nstderr:\n%s", code, p.stderr.String())
	}
	if e := p.stderr.String(); !strings.Contains(e, "Run the same command again to resume") {
		t.Errorf("no resume hint:\n%s", e)
	}
	statePath := filepath.Join(home, "bulkrefund", "ledger.db")
	st := readState(t, statePath)
	var planned, submitting int
	for _, r := range st {
		switch r.State {
		case store.Planned:
			planned++
		case store.Submitting:
			submitting++
		}
	}
	if planned == 0 {
		t.Errorf("nothing left planned after an interrupt at a third: the runner did not stop starting")
	}
	if submitting != 0 {
		t.Errorf("%d rows left submitting after a graceful stop", submitting)
	}
	if _, err := os.Stat(results); err != nil {
		t.Errorf("no results file after an interrupt: %v", err)
	}

	p = startRun(t, home, args...)
	if code := p.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("resumed run exit %d\nstdout:\n%s\nstderr:\n%s", code, p.stdout.String(), p.stderr.String())
	}
	checkAgreement(t, sb, rows, statePath, results, store.Succeeded)
}

// TestChaos: 5% 5xx, 2% lost responses and bursts of 429 (a rate limit far
// below what the runner asks for). Every row ends final, or unknown after its
// attempts with the reason; never two refunds for one refund number.
func TestChaos(t *testing.T) {
	orders, sheet, rows := fixture(t, 2000, 13, 20)
	sb := startSandbox(t, orders, "--latency", "1ms", "--error-rate", "0.05", "--lost-rate", "0.02",
		"--rate-limit", "400", "--burst", "40", "--seed", "13")
	home := t.TempDir()
	statePath := filepath.Join(home, "chaos.db")
	results := filepath.Join(home, "results.csv")
	p := startRun(t, home, sheet, "--config", sb.Config, "--yes", "--ledger", statePath, "--results", results,
		"--parallel", "64", "--max-attempts", "6", "--poll", "20s", "--log-format", "json")
	code := p.wait(t, 180*time.Second)
	if code != 0 && code != 1 {
		t.Fatalf("exit %d\nstderr:\n%s", code, p.stderr.String())
	}
	checkAgreement(t, sb, rows, statePath, results, "")
	st := readState(t, statePath)
	counts := map[store.State]int{}
	for _, r := range st {
		counts[r.State]++
	}
	t.Logf("chaos end states: %v", counts)
	if counts[store.Succeeded] < len(rows)*9/10 {
		t.Errorf("only %d of %d succeeded under chaos", counts[store.Succeeded], len(rows))
	}
	if !strings.Contains(p.stderr.String(), `"msg":"run finished"`) {
		t.Errorf("no JSON progress record:\n%.2000s", p.stderr.String())
	}
}

// TestSecondSignalExitsAtOnce: with slow providers the first SIGINT waits
// for the calls in flight; a second one exits at once, with 130. The state
// is still safe: the next run looks up what was in flight and completes the
// batch with every refund applied exactly once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	orders, sheet, rows := fixture(t, 300, 14, 0)
	sb := startSandbox(t, orders, "--latency", "1500ms", "--seed", "14")
	home := t.TempDir()
	statePath := filepath.Join(home, "s.db")
	results := filepath.Join(home, "results.csv")
	args := []string{sheet, "--config", sb.Config, "--yes", "--ledger", statePath, "--results", results, "--parallel", "32"}
	p := startRun(t, home, args...)
	if !p.waitProgress(1, 30*time.Second) {
		t.Fatalf("no progress:\n%s", p.stderr.String())
	}
	time.Sleep(200 * time.Millisecond) // the next calls are in flight
	p.cmd.Process.Signal(os.Interrupt)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.cmd.Process.Signal(os.Interrupt)
	code := p.wait(t, 10*time.Second)
	if code != 130 {
		t.Fatalf("exit %d after two signals, want 130\n%s", code, p.stderr.String())
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second signal took %v to exit", d)
	}
	if e := p.stderr.String(); !strings.Contains(e, "exiting now") {
		t.Errorf("no exit message:\n%s", e)
	}
	submitting := 0
	for _, r := range readState(t, statePath) {
		if r.State == store.Submitting {
			submitting++
		}
	}
	t.Logf("%d rows left submitting by the second signal", submitting)

	sb.setFaults(t, map[string]any{"latency": "1ms"})
	p = startRun(t, home, args...)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("next run exit %d\n%s\n%s", code, p.stdout.String(), p.stderr.String())
	}
	checkAgreement(t, sb, rows, statePath, results, store.Succeeded)
}

// TestTwoRunsAtOnce starts two `run` processes on one sheet and one ledger
// at the same moment: exactly one sends, the other refuses with a clear
// message (the batch is being run), and no refund is applied twice.
func TestTwoRunsAtOnce(t *testing.T) {
	orders, sheet, rows := fixture(t, 600, 14, 10)
	sb := startSandbox(t, orders, "--latency", "3ms")
	home := t.TempDir()
	ledger := filepath.Join(home, "ledger.db")
	args := []string{sheet, "--config", sb.Config, "--yes", "--ledger", ledger, "--parallel", "16", "--poll", "20s"}
	a, b := startRun(t, home, args...), startRun(t, home, args...)
	ca, cb := a.wait(t, 120*time.Second), b.wait(t, 120*time.Second)
	sent := 0
	for _, p := range []*runProc{a, b} {
		out := p.stdout.String()
		if strings.Contains(out, "Summary:") && !strings.Contains(out, "(0 provider calls this run)") {
			sent++
		}
	}
	refused := 0
	for _, p := range []*runProc{a, b} {
		if strings.Contains(p.stderr.String(), "is being run by process") {
			refused++
		}
	}
	// Either the second refused while the first ran, or it came after the
	// first had finished and found every refund done: never two senders.
	if sent != 1 || (refused != 1 && !(ca == 0 && cb == 0)) {
		t.Errorf("exits %d and %d; %d sent, %d refused\nA:\n%s\n%s\nB:\n%s\n%s", ca, cb, sent, refused,
			a.stdout.String(), a.stderr.String(), b.stdout.String(), b.stderr.String())
	}
	for _, e := range sb.ledger(t) {
		if e.Applied > 1 {
			t.Errorf("%s %s refund %s applied %d times", e.Provider, e.Account, e.RefundNo, e.Applied)
		}
	}
	st := readState(t, ledger)
	if len(st) != len(rows) {
		t.Errorf("ledger holds %d refunds for %d rows", len(st), len(rows))
	}
}

// TestWrongKeyBlocksThenResumes: a wrong QuickPay store key and a wrong
// Nomad API key make those accounts' rows blocked (not failed) and the
// accounts paused; the other accounts finish. Once the keys are fixed, the
// same command sends the blocked rows, and every refund is applied once.
func TestWrongKeyBlocksThenResumes(t *testing.T) {
	orders, sheet, rows := fixture(t, 400, 15, 10)
	sb := startSandbox(t, orders, "--latency", "1ms")
	home := t.TempDir()
	cfgDir := filepath.Dir(sb.Config)
	good := map[string][]byte{}
	for _, name := range []string{"quickpay_SH001.key", "nomad_wechat.sh_smk.key"} {
		p := filepath.Join(cfgDir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		good[p] = b
		if err := os.WriteFile(p, []byte("not-the-key-0123456789abcdef0123"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ledger := filepath.Join(home, "ledger.db")
	args := []string{sheet, "--config", sb.Config, "--yes", "--ledger", ledger, "--parallel", "8", "--poll", "20s"}
	p := startRun(t, home, args...)
	if code := p.wait(t, 120*time.Second); code != 1 {
		t.Fatalf("run with wrong keys: exit %d, want 1\n%s\n%s", code, p.stdout.String(), p.stderr.String())
	}
	out := p.stdout.String()
	if !strings.Contains(out, "paused quickpay account SH001") || !strings.Contains(out, "paused nomad account wechat.sh_smk") {
		t.Errorf("the accounts with wrong keys were not reported paused:\n%s", out)
	}
	blocked := 0
	for _, r := range readState(t, ledger) {
		switch {
		case (r.Provider == "quickpay" && r.Account == "SH001") || r.Provider == "nomad":
			if r.State == store.Failed {
				t.Errorf("%s %s: failed (%s), want blocked or planned", r.Provider, r.RefundNo, r.LastError)
			}
			if r.State == store.Blocked {
				blocked++
			}
		case r.State != store.Succeeded:
			t.Errorf("%s %s %s: %s (%s)", r.Provider, r.Account, r.RefundNo, r.State, r.LastError)
		}
	}
	if blocked == 0 {
		t.Error("no row blocked")
	}
	for p, b := range good {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	results := filepath.Join(home, "results.csv")
	p = startRun(t, home, append(args, "--results", results)...)
	if code := p.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("run after the fix: exit %d\n%s\n%s", code, p.stdout.String(), p.stderr.String())
	}
	checkAgreement(t, sb, rows, ledger, results, store.Succeeded)
}

// TestDiskFullSummary: the ledger's disk fills mid-run (a file-size limit
// on the process, as a full disk answers: writes fail with EFBIG/ENOSPC).
// Sending stops, and the summary still says what is done, what is not, and
// how to resume; after the space is back, the same command finishes the
// batch and nothing is applied twice.
func TestDiskFullSummary(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash for ulimit")
	}
	orders, sheet, rows := fixture(t, 3000, 16, 20)
	sb := startSandbox(t, orders, "--latency", "1ms")
	home := t.TempDir()
	ledger := filepath.Join(home, "ledger.db")
	args := []string{sheet, "--config", sb.Config, "--yes", "--ledger", ledger, "--parallel", "16", "--poll", "20s"}
	// ulimit -f counts 1024-byte blocks: room to plan the batch, not to run it.
	cmd := exec.Command("bash", append([]string{"-c", `ulimit -f 2600; exec "$@"`, "bash", bin, "run"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+home)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err == nil || code != 1 {
		t.Fatalf("run on a full disk: exit %d (%v), want 1\n%s\n%s", code, err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"the summary is this run's own count", "Summary: 3000 rows:", " not done ", "Not done: ", "run the same command again"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s\n%s", want, out, stderr.String())
		}
	}
	if strings.Contains(out, "Summary: 0 rows") || strings.Contains(stderr.String(), "goroutine ") {
		t.Errorf("summary:\n%s\n%s", out, stderr.String())
	}
	results := filepath.Join(home, "results.csv")
	p := startRun(t, home, append(args, "--results", results)...)
	if code := p.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("run after space is back: exit %d\n%s\n%s", code, p.stdout.String(), p.stderr.String())
	}
	checkAgreement(t, sb, rows, ledger, results, store.Succeeded)
}
