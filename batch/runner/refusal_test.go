package runner_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

// TestRefusalAfterLostResponse, for each provider's real adapter against the
// sandbox: the refund is applied but its response is lost; the lookup lags
// and finds no record; the re-send (same refund number, to a provider that
// is not idempotent) is refused in the provider's own shape because the
// money already went back. The refund must end unknown, never failed, with
// a reason that says to check at the provider; the money moved once.
func TestRefusalAfterLostResponse(t *testing.T) {
	orders := sandbox.GenerateOrders(200, 21, time.Now())
	for _, provider := range []string{adapters.Upay, adapters.QuickPay, adapters.Nomad, adapters.PayEase} {
		t.Run(provider, func(t *testing.T) {
			var o sandbox.Order
			for _, c := range orders {
				if c.Provider == provider {
					o = c
					break
				}
			}
			sb, err := sandbox.Start(sandbox.Config{Orders: orders, Faults: sandbox.Faults{
				LostResponseRate: 1, LookupLagRate: 1, NonIdempotent: true, Seed: 3}})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			clients, err := config.ForSandbox(sb.URL(), sb.Accounts()).Providers()
			if err != nil {
				t.Fatal(err)
			}
			it := batch.Item{Row: 2, Refund: adapters.Refund{Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo,
				ProviderOrderID: o.ProviderOrderID, RefundNo: "LOST-1", Amount: o.Total, Total: o.Total, Currency: o.Currency,
				Action: adapters.ActionRefund, Operator: "op", PaymentMethod: o.PaymentMethod, NotifyURL: config.SandboxNotifyURL}}
			_, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), store.Meta{}, []batch.Item{it})
			r := &runner.Runner{Store: st, Route: func(p, a string) (runner.Target, bool) {
				c, ok := clients[config.Key(p, a)]
				return runner.Target{Provider: &loseFirst{Provider: c, sb: sb}}, ok
			}, Options: runner.Options{Parallel: 1, MaxAttempts: 4, CallTimeout: 5 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}}
			if _, err := r.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			var rec store.Record
			st.Each(context.Background(), func(r store.Record) error { rec = r; return nil })
			if rec.State != store.Unknown || !strings.Contains(rec.LastError, "check it at the provider") {
				t.Errorf("state %s, reason %q (code %s %s): want unknown, check at the provider", rec.State, rec.LastError, rec.ProviderCode, rec.ProviderMessage)
			}
			applied := 0
			for _, n := range sb.Numbers() {
				if n.RefundNo == it.RefundNo {
					applied += n.Applied
				}
			}
			if applied != 1 {
				t.Errorf("money moved %d times for the refund", applied)
			}
			if rec.Attempts < 2 {
				t.Errorf("%d attempts: the test did not reach the re-send", rec.Attempts)
			}
			t.Logf("%s: %s (%s %s)", provider, rec.State, rec.ProviderCode, fmt.Sprint(rec.ProviderMessage))
		})
	}
}

// loseFirst is the real adapter; after its first refund call the sandbox
// stops losing responses (the lookup keeps lagging), so that the re-send's
// refusal reaches the runner.
type loseFirst struct {
	adapters.Provider
	sb    *sandbox.Sandbox
	calls int
}

func (l *loseFirst) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	o, err := l.Provider.Refund(ctx, r)
	if l.calls++; l.calls == 1 {
		f := l.sb.Faults()
		f.LostResponseRate = 0
		l.sb.SetFaults(f)
	}
	return o, err
}
