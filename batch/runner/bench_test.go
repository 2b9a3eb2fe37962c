package runner_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// benchBatch is n refunds, one per generated order, without PayEase: its RSA
// signing on both sides makes it CPU-bound, which would measure RSA on two
// cores rather than the runner (docs/bench-runner.md).
func benchBatch(n int) ([]sandbox.Order, []batch.Item) {
	var orders []sandbox.Order
	var items []batch.Item
	for _, o := range sandbox.GenerateOrders(n*3/2, 42, time.Now()) {
		if o.Provider == adapters.PayEase || len(items) == n {
			continue
		}
		orders = append(orders, o)
		items = append(items, batch.Item{Row: len(items) + 2, Refund: adapters.Refund{
			Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo, ProviderOrderID: o.ProviderOrderID,
			RefundNo: fmt.Sprintf("B%07d", len(items)), Amount: o.Total, Total: o.Total, Currency: o.Currency,
			Action: adapters.ActionRefund, Operator: "bench", PaymentMethod: o.PaymentMethod}})
	}
	return orders, items
}

// startBenchSandbox serves orders with latency on loopback and returns the
// routes to it.
func startBenchSandbox(b *testing.B, orders []sandbox.Order, latency time.Duration) (*sandbox.Sandbox, func(p, a string) (runner.Target, bool)) {
	b.Helper()
	sb, err := sandbox.Start(sandbox.Config{Orders: orders, Faults: sandbox.Faults{Latency: latency}})
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.ForSandbox(sb.URL(), sb.Accounts())
	clients, err := cfg.Providers()
	if err != nil {
		b.Fatal(err)
	}
	return sb, func(p, a string) (runner.Target, bool) {
		c, ok := clients[config.Key(p, a)]
		return runner.Target{Provider: c}, ok
	}
}

// BenchmarkRun20k is the benchmark: 20,000 refunds against the
// sandbox with 20 ms latency at parallelism 64, by a bare client loop (the
// ceiling), the runner with the in-memory store, and the runner with the
// durable SQLite store. Run with -benchtime=1x; -short runs 2,000.
func BenchmarkRun20k(b *testing.B) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	const parallel = 64
	const latency = 20 * time.Millisecond
	orders, items := benchBatch(n)

	report := func(b *testing.B, elapsed time.Duration) {
		b.ReportMetric(float64(len(items)*b.N)/elapsed.Seconds(), "refunds/s")
		b.ReportMetric(0, "ns/op")
	}

	b.Run("bare-client-loop", func(b *testing.B) {
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			sb, route := startBenchSandbox(b, orders, latency)
			work := make(chan batch.Item)
			var wg sync.WaitGroup
			var mu sync.Mutex
			fails := 0
			b.StartTimer()
			start := time.Now()
			for w := 0; w < parallel; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for it := range work {
						t, _ := route(it.Provider, it.Account)
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						o, err := t.Provider.Refund(ctx, it.Refund)
						cancel()
						if err != nil || o.Status != adapters.StatusSucceeded {
							mu.Lock()
							fails++
							mu.Unlock()
						}
					}
				}()
			}
			for _, it := range items {
				work <- it
			}
			close(work)
			wg.Wait()
			elapsed += time.Since(start)
			b.StopTimer()
			sb.Close()
			if fails > 0 {
				b.Fatalf("%d refunds did not succeed", fails)
			}
		}
		report(b, elapsed)
	})

	b.Run("runner-sqlite-ledger", func(b *testing.B) {
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			sb, route := startBenchSandbox(b, orders, latency)
			l, err := store.OpenSQLite(filepath.Join(b.TempDir(), "ledger.db"), store.SQLiteOptions{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			res, err := l.Plan(context.Background(), store.Meta{BatchID: batch.Identity(items), Items: len(items)}, items)
			if err != nil {
				b.Fatal(err)
			}
			st, err := l.Run(context.Background(), res.Meta.BatchID)
			if err != nil {
				b.Fatal(err)
			}
			r := &runner.Runner{Store: st, Route: route, Options: runner.Options{Parallel: parallel}}
			b.StartTimer()
			start := time.Now()
			sum, err := r.Run(context.Background())
			elapsed += time.Since(start)
			b.StopTimer()
			st.Close()
			l.Close()
			sb.Close()
			if err != nil || sum.States[store.Succeeded] != len(items) {
				b.Fatalf("run: %v %v", sum.States, err)
			}
		}
		report(b, elapsed)
	})
}
