package worker_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/pgtest"
	"github.com/bulkrefund/bulkrefund/batch/worker"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture starts a sandbox over loopback with n orders of Upay, QuickPay
// and Nomad (PayEase's RSA is slow under -race) and returns one full
// refund per order as sheet items.
func fixture(t *testing.T, n int, f sandbox.Faults) (*sandbox.Sandbox, *config.Config, []batch.Item) {
	t.Helper()
	var orders []sandbox.Order
	for _, o := range sandbox.GenerateOrders(n*2, 5, time.Now()) {
		if o.Provider != adapters.PayEase && len(orders) < n {
			orders = append(orders, o)
		}
	}
	sb, err := sandbox.Start(sandbox.Config{Orders: orders, Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	items := make([]batch.Item, len(orders))
	for i, o := range orders {
		items[i] = batch.Item{Row: i + 2, Refund: adapters.Refund{Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo,
			ProviderOrderID: o.ProviderOrderID, RefundNo: fmt.Sprintf("W-%05d", i), Amount: o.Total, Total: o.Total,
			Currency: o.Currency, Action: adapters.ActionRefund, Operator: "ops", PaymentMethod: o.PaymentMethod}}
	}
	return sb, config.ForSandbox(sb.URL(), sb.Accounts()), items
}

// approve plans items in l as one batch and approves it.
func approve(t *testing.T, l *store.SQL, items []batch.Item) string {
	t.Helper()
	m := store.Meta{BatchID: batch.Identity(items), SourcePath: "sheet.csv", SourceSHA256: "00", Operator: "maker", Created: time.Now()}
	res, err := l.Plan(t.Context(), m, items)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetBatchStatus(t.Context(), res.Meta.BatchID, store.BatchApproved, store.Audit{Actor: "checker", Action: "approved"}); err != nil {
		t.Fatal(err)
	}
	return res.Meta.BatchID
}

// counting passes every call through to the real client, counting the
// refund requests per refund number.
type counting struct {
	adapters.Provider
	mu    *sync.Mutex
	sends map[string]int
}

func (c counting) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	c.mu.Lock()
	c.sends[r.RefundNo]++
	c.mu.Unlock()
	return c.Provider.Refund(ctx, r)
}

type harness struct {
	t     *testing.T
	url   string
	cfg   *config.Config
	mu    sync.Mutex
	sends map[string]int
}

// start runs a worker with its own ledger connection (a process of its
// own, as far as the ledger can tell) until the returned stop is called.
func (h *harness) start(name string, o runner.Options, lease time.Duration) (stop func() (worker.Stats, error)) {
	t := h.t
	l := pgtest.Reopen(t, h.url)
	route, accounts, err := worker.Routes(t.Context(), h.cfg, l)
	if err != nil {
		t.Fatal(err)
	}
	counted := func(p, a string) (runner.Target, bool) {
		tg, ok := route(p, a)
		tg.Provider = counting{tg.Provider, &h.mu, h.sends}
		return tg, ok
	}
	ctx, cancel := context.WithCancel(context.Background())
	var st worker.Stats
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, runErr = worker.Run(ctx, l, worker.Config{Route: counted, Accounts: accounts, Options: o, Lease: lease,
			Owner: name, Idle: 100 * time.Millisecond, Chunk: 4, // small chunks: every worker gets some of a short batch
			Rest: map[store.State]time.Duration{store.Pending: 200 * time.Millisecond, store.Unknown: 500 * time.Millisecond}})
	}()
	return func() (worker.Stats, error) {
		cancel()
		<-done
		return st, runErr
	}
}

func waitDone(t *testing.T, l *store.SQL, batchID string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, err := l.Batch(t.Context(), batchID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status == store.BatchDone {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	v, _ := l.View(t.Context(), batchID)
	counts, _ := v.Counts(t.Context())
	t.Fatalf("batch not done after %v: %+v", timeout, counts)
}

// agree checks every refund against the sandbox: succeeded in the ledger,
// applied exactly once at the provider, with the provider's refund id.
func agree(t *testing.T, l *store.SQL, sb *sandbox.Sandbox, items []batch.Item) {
	t.Helper()
	prov := map[string]sandbox.LedgerRefund{}
	for _, r := range sb.Ledger() {
		prov[r.Provider+"/"+r.Account+"/"+r.RefundNo] = r
	}
	bad := 0
	for _, it := range items {
		var rec store.Record
		l.Refunds(t.Context(), store.Query{RefundNo: it.RefundNo}, func(r store.Record) error { rec = r; return nil })
		p, ok := prov[it.Provider+"/"+it.Account+"/"+it.RefundNo]
		if !ok || p.Applied != 1 || rec.State != store.Succeeded || rec.ProviderRefundID != p.ProviderRefundID {
			bad++
			if bad < 10 {
				t.Errorf("row %d %s: ledger %s %q; provider %v applied %d %q", it.Row, it.RefundNo, rec.State, rec.ProviderRefundID, ok, p.Applied, p.ProviderRefundID)
			}
		}
	}
	if len(prov) != len(items) {
		t.Errorf("the provider holds %d refunds for %d rows", len(prov), len(items))
	}
}

func TestThreeWorkersShareABatch(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 150
	}
	sb, cfg, items := fixture(t, n, sandbox.Faults{Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, LostResponseRate: 0.05, Seed: 3})
	url := pgtest.URL(t)
	h := &harness{t: t, url: url, cfg: cfg, sends: map[string]int{}}
	l := pgtest.Reopen(t, url)
	id := approve(t, l, items)
	o := runner.Options{Parallel: 8, CallTimeout: 2 * time.Second}
	stops := []func() (worker.Stats, error){h.start("w1", o, 0), h.start("w2", o, 0), h.start("w3", o, 0)}
	waitDone(t, l, id, 90*time.Second)
	for i, stop := range stops {
		st, err := stop()
		if err != nil {
			t.Fatalf("worker %d: %v", i+1, err)
		}
		t.Logf("worker %d: %+v", i+1, st)
		if st.Claimed == 0 {
			t.Errorf("worker %d claimed nothing: the batch was not shared", i+1)
		}
	}
	agree(t, l, sb, items)
	// Lost responses are looked up, never re-sent: one request per refund.
	for _, it := range items {
		if n := h.sends[it.RefundNo]; n != 1 {
			t.Errorf("%s sent %d times", it.RefundNo, n)
		}
	}
	var trail []string
	l.AuditTrail(t.Context(), id, func(a store.Audit) error { trail = append(trail, a.Action); return nil })
	if fmt.Sprint(trail) != "[planned approved running done]" {
		t.Errorf("audit %v", trail)
	}
}

// A worker that dies mid-call leaves refunds submitting with a claim that
// expires. The next worker looks each up before anything is sent: a
// refund the provider applied is recorded from the lookup and never sent
// again.
func TestDeadWorkersClaimsAreLookedUpFirst(t *testing.T) {
	sb, cfg, items := fixture(t, 40, sandbox.Faults{})
	url := pgtest.URL(t)
	h := &harness{t: t, url: url, cfg: cfg, sends: map[string]int{}}
	l := pgtest.Reopen(t, url)
	id := approve(t, l, items)

	// The dead worker: claimed 20, marked them submitting, sent the first
	// 10 (the provider applied them), and died before writing anything else.
	dead := pgtest.Reopen(t, url)
	route, _, err := worker.Routes(t.Context(), cfg, dead)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := dead.Claim(t.Context(), store.ClaimRequest{Owner: "dead", N: 20, Lease: time.Second})
	if err != nil || len(recs) != 20 {
		t.Fatalf("claimed %d: %v", len(recs), err)
	}
	for i, r := range recs {
		if err := dead.Apply(t.Context(), r.Key(), r.Version, store.Planned, store.EvSend, store.Change{At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if i < 10 {
			tg, _ := route(r.Provider, r.Account)
			if _, err := tg.Provider.Refund(t.Context(), r.Refund); err != nil {
				t.Fatal(err)
			}
		}
	}
	dead.Close()

	stop := h.start("next", runner.Options{Parallel: 4, CallTimeout: 300 * time.Millisecond}, 0)
	waitDone(t, l, id, 60*time.Second)
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	agree(t, l, sb, items)
	for i, r := range recs {
		if got := h.sends[r.RefundNo]; (i < 10 && got != 0) || (i >= 10 && got != 1) {
			t.Errorf("%s (sent by the dead worker: %v) sent %d times by the next one", r.RefundNo, i < 10, got)
		}
	}
}

// SIGTERM: no new claims; the calls in flight finish; every claim is given
// back; nothing is left submitting; Run returns nil well within the bound.
func TestDrain(t *testing.T) {
	_, cfg, items := fixture(t, 200, sandbox.Faults{Latency: 300 * time.Millisecond})
	url := pgtest.URL(t)
	h := &harness{t: t, url: url, cfg: cfg, sends: map[string]int{}}
	l := pgtest.Reopen(t, url)
	id := approve(t, l, items)
	stop := h.start("w", runner.Options{Parallel: 8, CallTimeout: 2 * time.Second}, 0)
	time.Sleep(time.Second)
	start := time.Now()
	st, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("drain took %v (calls take 300ms, bound 2s)", d)
	}
	if n, err := l.LiveClaims(t.Context(), id); err != nil || n != 0 {
		t.Errorf("%d claims left after the drain (%v)", n, err)
	}
	states := map[store.State]int{}
	l.Refunds(t.Context(), store.Query{BatchIDs: []string{id}}, func(r store.Record) error { states[r.State]++; return nil })
	if states[store.Submitting] != 0 || states[store.Succeeded] == 0 || states[store.Planned] == 0 {
		t.Errorf("after the drain: %v (claimed %d)", states, st.Claimed)
	}
	var sent atomic.Int64
	for _, n := range h.sends {
		sent.Add(int64(n))
	}
	if int(sent.Load()) != states[store.Succeeded] {
		t.Errorf("%d requests sent, %d succeeded", sent.Load(), states[store.Succeeded])
	}
}

// A batch submitted for a checker's approval is not approved by a
// hand-over: the workers take it only once a checker approves it.
func TestHandOverLeavesSubmittedForApproval(t *testing.T) {
	l := pgtest.Open(t)
	items := []batch.Item{{Row: 2, Refund: adapters.Refund{Provider: adapters.QuickPay, Account: "a", OrderNo: "O1", RefundNo: "R1",
		Amount: 100, Total: 100, Currency: "CNY", Action: adapters.ActionRefund, Operator: "op"}}}
	m := store.Meta{BatchID: batch.Identity(items), SourcePath: "s.csv", SourceSHA256: "00", Operator: "maker", Created: time.Now(), Status: store.BatchSubmitted}
	if _, err := l.Plan(t.Context(), m, items); err != nil {
		t.Fatal(err)
	}
	if before, err := worker.HandOver(t.Context(), l, m.BatchID, "maker"); err != nil || before != store.BatchSubmitted {
		t.Fatalf("hand-over: %s %v", before, err)
	}
	if got, _ := l.Batch(t.Context(), m.BatchID); got.Status != store.BatchSubmitted {
		t.Fatalf("status after the hand-over: %s", got.Status)
	}
	if recs, err := l.Claim(t.Context(), store.ClaimRequest{Owner: "w", N: 5, Lease: time.Minute}); err != nil || len(recs) != 0 {
		t.Fatalf("claimed %d of a batch waiting for approval (%v)", len(recs), err)
	}
	planned := m
	planned.Status = ""
	items[0].RefundNo = "R2"
	planned.BatchID = batch.Identity(items)
	if _, err := l.Plan(t.Context(), planned, items); err != nil {
		t.Fatal(err)
	}
	if before, err := worker.HandOver(t.Context(), l, planned.BatchID, "op"); err != nil || before != store.BatchPlanned {
		t.Fatalf("hand-over of a planned batch: %s %v", before, err)
	}
	if recs, _ := l.Claim(t.Context(), store.ClaimRequest{Owner: "w", N: 5, Lease: time.Minute}); len(recs) != 1 || recs[0].RefundNo != "R2" {
		t.Fatalf("claims after handing over the planned batch: %+v", recs)
	}
}
