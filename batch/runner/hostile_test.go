package runner_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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

// silent accepts connections and never answers: a provider that hangs.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestHostileProvidersDoNotHoldTheRun: in one run, an account whose provider
// answers every call with Retry-After: 86400, one whose provider never
// answers, and a healthy one. The healthy account's rows finish in about the
// time they take alone; the other two are paused for the run with their
// reasons, their rows left resumable (never failed).
func TestHostileProvidersDoNotHoldTheRun(t *testing.T) {
	orders := sandbox.GenerateOrders(400, 7, time.Now())
	var healthy, slowOrders []sandbox.Order
	for _, o := range orders {
		if o.Provider == adapters.QuickPay && o.Account == "SH001" && len(healthy) < 40 {
			healthy = append(healthy, o)
		}
		if (o.Provider == adapters.QuickPay && o.Account == "SH002") || o.Provider == adapters.Nomad {
			slowOrders = append(slowOrders, o)
		}
	}
	sb, err := sandbox.Start(sandbox.Config{Orders: orders, Faults: sandbox.Faults{Latency: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	// SH002's provider asks to come back tomorrow; the Nomad merchant's never answers.
	tomorrow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "86400")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"code":"RATE_LIMITED","msg":"come back tomorrow"}`)
	}))
	defer tomorrow.Close()
	hang := silent(t)
	cfg := config.ForSandbox(sb.URL(), sb.Accounts())
	for i := range cfg.Accounts {
		switch a := &cfg.Accounts[i]; {
		case a.Provider == adapters.QuickPay && a.ID == "SH002":
			a.BaseURL = tomorrow.URL
		case a.Provider == adapters.Nomad:
			a.BaseURL = hang
		}
	}
	clients, err := cfg.Providers()
	if err != nil {
		t.Fatal(err)
	}
	route := func(p, a string) (runner.Target, bool) {
		c, ok := clients[config.Key(p, a)]
		return runner.Target{Provider: c}, ok
	}
	prefix := "A"
	item := func(i int, o sandbox.Order) batch.Item {
		return batch.Item{Row: i + 2, Refund: adapters.Refund{Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo,
			ProviderOrderID: o.ProviderOrderID, RefundNo: fmt.Sprintf("%s%04d", prefix, i), Amount: 100, Total: o.Total, Currency: o.Currency,
			Action: adapters.ActionRefund, Operator: "op", PaymentMethod: o.PaymentMethod}}
	}
	opts := runner.Options{Parallel: 8, CallTimeout: time.Second, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		MaxRetryAfter: 5 * time.Second}
	run := func(items []batch.Item) (runner.Summary, time.Duration, store.Store) {
		_, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), store.Meta{}, items)
		r := &runner.Runner{Store: st, Route: route, Options: opts}
		start := time.Now()
		sum, err := r.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return sum, time.Since(start), st
	}

	var alone []batch.Item
	for i, o := range healthy {
		alone = append(alone, item(i, o))
	}
	sumAlone, tAlone, _ := run(alone)
	if sumAlone.States[store.Succeeded] != len(alone) {
		t.Fatalf("healthy account alone: %v", sumAlone.States)
	}

	// Mixed: the hostile accounts' rows come first in the sheet.
	prefix = "M"
	var mixed []batch.Item
	for _, o := range slowOrders[:min(20, len(slowOrders))] {
		mixed = append(mixed, item(len(mixed), o))
	}
	for _, o := range healthy {
		mixed = append(mixed, item(len(mixed), o))
	}
	sum, tMixed, st := run(mixed)
	t.Logf("healthy account alone %v; with the hostile ones %v; states %v; paused %+v", tAlone, tMixed, sum.States, sum.Paused)
	if tMixed > tAlone+3*opts.CallTimeout {
		t.Errorf("the healthy account's rows took %v with hostile accounts beside them, %v alone", tMixed, tAlone)
	}
	if sum.States[store.Succeeded] != len(healthy) || sum.States[store.Failed] != 0 {
		t.Errorf("states %v: want the %d healthy rows succeeded and none failed", sum.States, len(healthy))
	}
	reasons := map[string]string{}
	for _, p := range sum.Paused {
		reasons[p.Provider+"/"+p.Account] = p.Reason
	}
	if r := reasons["quickpay/SH002"]; !strings.Contains(r, "Retry-After") {
		t.Errorf("SH002 not paused for its Retry-After: %q", r)
	}
	if r := reasons["nomad/wechat.sh_smk"]; !strings.Contains(r, "no answer") {
		t.Errorf("the silent Nomad account not paused: %q", r)
	}
	st.Each(context.Background(), func(r store.Record) error {
		if r.Account != "SH001" && r.State != store.Planned && r.State != store.Unknown {
			t.Errorf("row %d %s/%s: %s, want left resumable (planned or unknown)", r.Row, r.Provider, r.Account, r.State)
		}
		return nil
	})
}
