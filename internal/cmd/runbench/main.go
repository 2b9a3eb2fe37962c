// Command runbench measures `bulkrefund run` as a user runs it: a separate
// `bulkrefund sandbox` process with latency, a generated sheet, and the run
// process with its durable SQLite state, reporting throughput and the run
// process's peak RSS. The in-process comparison with a bare client loop and
// the in-memory store is BenchmarkRun20k in batch/runner.
//
//	go build -o /tmp/bulkrefund ./cmd/bulkrefund
//	go run ./internal/cmd/runbench -bin /tmp/bulkrefund -n 20000 -latency 20ms -parallel 64
package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/money"
)

func main() {
	bin := flag.String("bin", "bulkrefund", "the bulkrefund binary")
	n := flag.Int("n", 20000, "refunds")
	latency := flag.Duration("latency", 20*time.Millisecond, "sandbox latency per request")
	parallel := flag.Int("parallel", 64, "run --parallel")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.Parse()
	if err := run(*bin, *n, *latency, *parallel, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "runbench:", err)
		os.Exit(1)
	}
}

func run(bin string, n int, latency time.Duration, parallel int, keep bool) error {
	dir, err := os.MkdirTemp("", "runbench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	ordersPath, sheetPath, err := writeFixture(dir, n)
	if err != nil {
		return err
	}

	sb := exec.Command(bin, "sandbox", "--orders", ordersPath, "--latency", latency.String(), "--write-config", dir)
	out, err := sb.StdoutPipe()
	if err != nil {
		return err
	}
	sb.Stderr = os.Stderr
	if err := sb.Start(); err != nil {
		return err
	}
	defer func() { sb.Process.Signal(os.Interrupt); sb.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "sandbox listening on ") {
		return fmt.Errorf("sandbox: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", sheetPath, "--config", filepath.Join(dir, "providers.json"), "--yes",
		"--parallel", fmt.Sprint(parallel), "--state", filepath.Join(dir, "state.db"), "--results", filepath.Join(dir, "results.csv"))
	cmd.Env = append(os.Environ(), "BULKREFUND_PROGRESS_EVERY=1h")
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return fmt.Errorf("run: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`finished: (\d+)/(\d+) done .*?, (\d+) refunds/s`).FindStringSubmatch(stderr.String())
	if m == nil {
		return fmt.Errorf("no finished line:\n%s", stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	fmt.Printf("refunds %s, latency %v, parallel %d\n", m[2], latency, parallel)
	fmt.Printf("sending phase: %s refunds/s (runner's own count)\n", m[3])
	fmt.Printf("whole command (validate, state init, send, results file): %v wall, %.0f refunds/s\n", wall.Round(time.Millisecond), float64(n)/wall.Seconds())
	fmt.Printf("run process peak RSS: %.1f MiB; CPU user %v sys %v\n", float64(ru.Maxrss)/1024,
		time.Duration(ru.Utime.Nano()).Round(time.Millisecond), time.Duration(ru.Stime.Nano()).Round(time.Millisecond))
	return nil
}

// writeFixture writes n orders (no PayEase: its RSA makes a two-core
// benchmark measure RSA) and a sheet refunding each in full.
func writeFixture(dir string, n int) (string, string, error) {
	var orders []sandbox.Order
	for _, o := range sandbox.GenerateOrders(n*3/2, 42, time.Now()) {
		if o.Provider != adapters.PayEase && len(orders) < n {
			orders = append(orders, o)
		}
	}
	ordersPath := filepath.Join(dir, "orders.csv")
	f, err := os.Create(ordersPath)
	if err != nil {
		return "", "", err
	}
	if err := sandbox.WriteOrders(f, orders); err != nil {
		return "", "", err
	}
	f.Close()
	sheetPath := filepath.Join(dir, "refunds.csv")
	f, err = os.Create(sheetPath)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write([]string{"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount", "total_amount", "currency", "payment_method", "operator"})
	for i, o := range orders {
		amt := money.Format(o.Total, o.Currency)
		w.Write([]string{o.Provider, o.Account, o.OrderNo, o.ProviderOrderID, fmt.Sprintf("B%07d", i), amt, amt, string(o.Currency), o.PaymentMethod, "bench"})
	}
	w.Flush()
	return ordersPath, sheetPath, w.Error()
}
