package adaptertest

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/money"
)

// RawSender sends refund number n of amount 1 for order orderNo the
// shortest way the provider's wire format allows, for a baseline.
type RawSender func(ctx context.Context, hc *http.Client, base string, acc sandbox.Account, orderNo string, n int64) error

// Bench measures Refund against a zero-latency sandbox over loopback, many
// calls in flight, each a new 1-fen refund of one large order. With raw it
// also runs the same refunds through raw, in the same process and run, so
// the adapter's own cost shows as the difference.
func Bench(b *testing.B, h Harness, raw RawSender) {
	if h.OrderNo == nil {
		h.OrderNo = func(i int) string { return fmt.Sprintf("BENCH%c%d", h.Provider[0], i) }
	}
	orderNo := h.OrderNo(1)
	sb, err := sandbox.Start(sandbox.Config{Orders: []sandbox.Order{{
		Provider: h.Provider, Account: h.Account, OrderNo: orderNo, Total: 9_000_000_000,
		Currency: money.CNY, PaidAt: time.Now(), PaymentMethod: "wechatpay",
	}}})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	var acc sandbox.Account
	for _, a := range sb.Accounts() {
		if a.Provider == h.Provider && a.ID == h.Account {
			acc = a
		}
	}
	client, err := h.New(sb.URL(), acc, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	run := func(b *testing.B, send func(ctx context.Context, n int64) error) {
		b.SetParallelism(16) // 16 × GOMAXPROCS calls in flight
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := send(ctx, seq.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "refunds/s")
	}
	b.Run("adapter", func(b *testing.B) {
		run(b, func(ctx context.Context, n int64) error {
			out, err := client.Refund(ctx, adapters.Refund{Provider: h.Provider, Account: h.Account, OrderNo: orderNo,
				RefundNo: fmt.Sprintf("B%d", n), Amount: 1, Total: 9_000_000_000, Currency: money.CNY,
				PaymentMethod: "wechatpay", Operator: "bench"})
			if err == nil && out.Status != adapters.StatusSucceeded && out.Status != adapters.StatusPending {
				err = fmt.Errorf("outcome %+v", out)
			}
			return err
		})
	})
	if raw != nil {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		b.Run("raw", func(b *testing.B) {
			run(b, func(ctx context.Context, n int64) error { return raw(ctx, hc, sb.URL(), acc, orderNo, n) })
		})
	}
}
