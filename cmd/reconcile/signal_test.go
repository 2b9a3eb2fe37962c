package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/internal/clitest"
	"github.com/bulkrefund/bulkrefund/money"
)

// TestSignalInterrupts: the reconcile binary, built here, is stopped by a
// real SIGINT or SIGTERM while its live lookups are in flight against a slow
// sandbox. It must exit 130, say on stderr that it was interrupted, and
// leave nothing at the -o, --csv or --json paths (nor a temporary file
// beside them).
func TestSignalInterrupts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it against the sandbox")
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	bin := clitest.Binary(t)
	dir := t.TempDir()

	now := time.Now()
	var orders []sandbox.Order
	for _, o := range sandbox.GenerateOrders(80, 7, now) {
		// Upay and QuickPay need nothing beyond the results file to be
		// looked up.
		if o.Provider == adapters.Upay || o.Provider == adapters.QuickPay {
			orders = append(orders, o)
		}
	}
	if len(orders) < 20 {
		t.Fatalf("only %d Upay/QuickPay orders generated", len(orders))
	}
	// 200 ms per request, 8 in flight: the lookups take well over a second,
	// so the signal lands while they run.
	sb, err := sandbox.New(sandbox.Config{Orders: orders, Faults: sandbox.Faults{Latency: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	h := sb.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfgPath := writeConfig(t, dir, srv.URL, sb.Accounts())

	results := filepath.Join(dir, "results.csv")
	at := now.UTC().Format(time.RFC3339)
	var rows [][]string
	for i, o := range orders {
		rows = append(rows, []string{fmt.Sprint(i + 2), o.Provider, o.Account, o.OrderNo, o.ProviderOrderID, fmt.Sprintf("SIG%03d", i), "refund",
			money.Format(max(1, o.Total/2), o.Currency), string(o.Currency), "succeeded", "", "", "", "1", at, at, ""})
	}
	writeResults(t, results, rows)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			outDir := t.TempDir()
			xlsx, csvDir, js := filepath.Join(outDir, "report.xlsx"), filepath.Join(outDir, "csv"), filepath.Join(outDir, "report.json")
			cmd := exec.Command(bin, "--results", results, "--lookup", "--config", cfgPath, "-o", xlsx, "--csv", csvDir, "--json", js)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			before := requests.Load()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// A lookup reaching the sandbox means the process is past
			// start-up, with its signal handler installed.
			for deadline := time.Now().Add(5 * time.Second); requests.Load() == before; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("no lookup reached the sandbox; stderr %s", stderr.String())
				}
			}
			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var werr error
			select {
			case werr = <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatal("reconcile did not stop within 5 s of the signal")
			}
			var ee *exec.ExitError
			if !errors.As(werr, &ee) || ee.ExitCode() != exitInterrupted {
				t.Fatalf("wait: %v (exit %d), want exit 130\nstdout %s\nstderr %s", werr, cmd.ProcessState.ExitCode(), stdout.String(), stderr.String())
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v to stop after the signal", took)
			}
			if !strings.Contains(stderr.String(), "reconcile: interrupted") {
				t.Errorf("stderr %q does not say it was interrupted", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("an interrupted run printed a summary: %q", stdout.String())
			}
			ents, err := os.ReadDir(outDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				t.Errorf("left %s behind", e.Name())
			}
		})
	}
}
