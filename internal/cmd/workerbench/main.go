// Command workerbench measures `bulkrefund worker` on a PostgreSQL ledger,
// all in one run, with real processes over loopback:
//
//   - scaling: against a sandbox with -slow latency (200 ms), one worker
//     and then three workers (each --parallel 16) on batches of their own;
//     three should reach 0.85 × three times one.
//   - ledger engines: against a sandbox with -fast latency (20 ms), one
//     `bulkrefund run` on an SQLite ledger, one worker on the PostgreSQL
//     ledger, and one `bulkrefund run` on it (--parallel 16 each), -reps
//     batches each, alternating; the PostgreSQL worker should reach 0.9 ×
//     the SQLite run.
//
// A rate is refunds settled per second from the moment the batch is handed
// over (approved for the workers, or the run's own sending phase) to the
// moment its last refund is final; workers are started, idle, beforehand.
//
//	go build -o /tmp/bulkrefund ./cmd/bulkrefund
//	go run ./internal/cmd/workerbench -bin /tmp/bulkrefund
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

type bench struct {
	bin, dir, ledger string
	parallel         int
}

func main() {
	b := &bench{}
	flag.StringVar(&b.bin, "bin", "bulkrefund", "the bulkrefund binary")
	server := flag.String("server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (a throw-away database is made there)")
	flag.IntVar(&b.parallel, "parallel", 16, "--parallel of each worker and run")
	slow := flag.Duration("slow", 200*time.Millisecond, "sandbox latency for the scaling part")
	fast := flag.Duration("fast", 20*time.Millisecond, "sandbox latency for the engines part")
	one := flag.Int("one", 2000, "refunds for one worker at -slow (three get three times as many)")
	engine := flag.Int("engine", 6000, "refunds per batch at -fast")
	reps := flag.Int("reps", 3, "batches per engine at -fast, alternating")
	only := flag.String("only", "", "scaling or engines: run one part")
	flag.Parse()
	if err := b.run(*server, *slow, *fast, *one, *engine, *reps, *only); err != nil {
		fmt.Fprintln(os.Stderr, "workerbench:", err)
		os.Exit(1)
	}
}

func (b *bench) run(server string, slow, fast time.Duration, one, engine, reps int, only string) error {
	ctx := context.Background()
	var err error
	if b.dir, err = os.MkdirTemp("", "workerbench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	name := "workerbench_" + strings.ToLower(rand.Text()[:8])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	defer admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
	u, _ := url.Parse(server)
	u.Path = "/" + name
	b.ledger = u.String()

	// Orders for every batch, disjoint: each refunds its orders in full.
	total := 4*one + 3*engine*reps
	var orders []sandbox.Order
	for _, o := range sandbox.GenerateOrders(total*3/2, 7, time.Now()) {
		if o.Provider != adapters.PayEase && len(orders) < total { // PayEase is RSA-bound on two cores
			orders = append(orders, o)
		}
	}
	ordersPath := filepath.Join(b.dir, "orders.csv")
	var ob bytes.Buffer
	if err := sandbox.WriteOrders(&ob, orders); err != nil {
		return err
	}
	if err := os.WriteFile(ordersPath, ob.Bytes(), 0o644); err != nil {
		return err
	}
	next := 0
	take := func(n int) []sandbox.Order { o := orders[next : next+n]; next += n; return o }
	fmt.Printf("%d refunds at %v for one worker, three times as many for three; %d batches of %d per engine at %v; --parallel %d\n", one, slow, reps, engine, fast, b.parallel)

	if only == "" || only == "scaling" {
		sb, cfg, stop, err := b.sandbox(ordersPath, slow)
		if err != nil {
			return err
		}
		r1, err := b.workers(ctx, 1, take(one), cfg)
		if err == nil {
			var r3 float64
			if r3, err = b.workers(ctx, 3, take(3*one), cfg); err == nil {
				fmt.Printf("scaling at %v: one worker %.1f /s, three workers %.1f /s = %.2f × three times one (target ≥ 0.85)\n", slow, r1, r3, r3/(3*r1))
			}
		}
		stop()
		_ = sb
		if err != nil {
			return err
		}
	} else {
		take(4 * one)
	}
	if only == "" || only == "engines" {
		_, cfg, stop, err := b.sandbox(ordersPath, fast)
		if err != nil {
			return err
		}
		defer stop()
		// reps batches each, alternating, so that a change in the
		// machine's load falls on all three alike; the rates are the means.
		var sqlite, pgRun, pgWorker float64
		n := float64(reps)
		for i := range reps {
			r, err := b.runCmd(take(engine), cfg, filepath.Join(b.dir, fmt.Sprintf("ledger%d.db", i)), "sqlite", i)
			if err != nil {
				return err
			}
			sqlite += r / n
			if r, err = b.workers(ctx, 1, take(engine), cfg); err != nil {
				return err
			}
			pgWorker += r / n
			if r, err = b.runCmd(take(engine), cfg, b.ledger, "pg", i); err != nil {
				return err
			}
			pgRun += r / n
		}
		fmt.Printf("engines at %v: run on SQLite %.1f /s, run on PostgreSQL %.1f /s, one worker on PostgreSQL %.1f /s = %.2f × SQLite (target ≥ 0.9)\n",
			fast, sqlite, pgRun, pgWorker, pgWorker/sqlite)
	}
	return nil
}

// sandbox starts `bulkrefund sandbox` with latency and returns its client config.
func (b *bench) sandbox(orders string, latency time.Duration) (string, string, func(), error) {
	dir, err := os.MkdirTemp(b.dir, "sandbox-")
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command(b.bin, "sandbox", "--orders", orders, "--latency", latency.String(), "--write-config", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", "", nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "sandbox listening on ") {
		stop()
		return "", "", nil, fmt.Errorf("sandbox: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return strings.TrimSpace(strings.TrimPrefix(line, "sandbox listening on ")), filepath.Join(dir, "providers.json"), stop, nil
}

// sheetFor writes a sheet refunding each order in full and returns it with its items.
func (b *bench) sheetFor(orders []sandbox.Order, tag string) (string, error) {
	path := filepath.Join(b.dir, tag+".csv")
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount", "total_amount", "currency", "action", "operator", "payment_method"})
	for i, o := range orders {
		w.Write([]string{o.Provider, o.Account, o.OrderNo, o.ProviderOrderID, fmt.Sprintf("%s-%06d", tag, i), money.Format(o.Total, o.Currency),
			money.Format(o.Total, o.Currency), string(o.Currency), "refund", "bench", o.PaymentMethod})
	}
	w.Flush()
	return path, os.WriteFile(path, buf.Bytes(), 0o644)
}

// workers starts n idle workers, hands them a batch of orders, and returns
// the rate from the hand-over to the last refund settled.
func (b *bench) workers(ctx context.Context, n int, orders []sandbox.Order, cfg string) (float64, error) {
	tag := fmt.Sprintf("W%d-%d", n, time.Now().UnixNano()%1e6)
	path, err := b.sheetFor(orders, tag)
	if err != nil {
		return 0, err
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(os.Interrupt)
			p.Wait()
		}
	}()
	for range n {
		p := exec.Command(b.bin, "worker", "--ledger", b.ledger, "--config", cfg, "--parallel", strconv.Itoa(b.parallel), "--idle", "50ms", "--quiet")
		p.Stderr = os.Stderr
		if err := p.Start(); err != nil {
			return 0, err
		}
		procs = append(procs, p)
	}
	l, err := store.OpenPostgres(ctx, b.ledger)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	var items []batch.Item
	if _, err := sheet.Validate(path, sheet.Options{}, func(it batch.Item) error { items = append(items, it); return nil }, nil); err != nil {
		return 0, err
	}
	time.Sleep(time.Second) // the workers are up and idle
	m := store.Meta{BatchID: batch.Identity(items), SourcePath: path, SourceSHA256: tag, Operator: "bench", Created: time.Now()}
	if _, err := l.Plan(ctx, m, items); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := l.SetBatchStatus(ctx, m.BatchID, store.BatchApproved, store.Audit{Actor: "bench", Action: "approved"}); err != nil {
		return 0, err
	}
	v, err := l.View(ctx, m.BatchID)
	if err != nil {
		return 0, err
	}
	for {
		counts, err := v.Counts(ctx)
		if err != nil {
			return 0, err
		}
		final := 0
		for _, c := range counts {
			if c.State.Final() {
				final += c.Items
			}
		}
		if final == len(items) {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return 0, fmt.Errorf("%d workers: %d of %d settled after 10 minutes", n, final, len(items))
		}
		time.Sleep(20 * time.Millisecond)
	}
	el := time.Since(start)
	rate := float64(len(items)) / el.Seconds()
	fmt.Printf("  %d worker(s), %d refunds in %v: %.1f /s\n", n, len(items), el.Round(time.Millisecond), rate)
	return rate, nil
}

var finishedRE = regexp.MustCompile(`finished: (\d+)/(\d+) done .*?, (\d+) refunds/s`)

// runCmd runs `bulkrefund run` on ledger and returns its sending rate (the
// runner's own figure: validation and planning excluded).
func (b *bench) runCmd(orders []sandbox.Order, cfg, ledger, tag string, i int) (float64, error) {
	path, err := b.sheetFor(orders, fmt.Sprintf("R%s%d", tag, i))
	if err != nil {
		return 0, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(b.bin, "run", path, "--config", cfg, "--ledger", ledger, "--yes", "--parallel", strconv.Itoa(b.parallel))
	cmd.Env = append(os.Environ(), "BULKREFUND_PROGRESS_EVERY=1h")
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("run on %s: %v\n%s", tag, err, stderr.String())
	}
	m := finishedRE.FindStringSubmatch(stderr.String())
	if m == nil {
		return 0, fmt.Errorf("run on %s: no finished line:\n%s", tag, stderr.String())
	}
	r, _ := strconv.ParseFloat(m[3], 64)
	fmt.Printf("  run on %s, %s refunds: %.0f /s\n", tag, m[2], r)
	return r, nil
}
