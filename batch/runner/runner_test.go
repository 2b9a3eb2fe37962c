package runner_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
	"path/filepath"
)

// fake is an in-memory provider for the runner's unit tests (the
// integration tests in cmd/bulkrefund use the real sandbox over loopback).
// script[refundNo] lists what each Refund call does in turn.
type fake struct {
	mu      sync.Mutex
	applied map[string]int // refund number → times the money moved
	calls   map[string]int
	lookups map[string]int
	script  map[string][]string
	delay   time.Duration
	// inconclusive refunds are looked up as "unknown", as Upay's order query
	// answers for any refund but the order's latest.
	inconclusive map[string]bool
	// orderNet, when set, is what an inconclusive lookup reports as the
	// order's amount left (order total 1000), as Upay's net_amount does.
	orderNet map[string]int64
	// blind refunds are looked up as "no record" even when applied: a
	// provider whose query lags behind its refunds.
	blind map[string]bool
}

func newFake() *fake {
	return &fake{applied: map[string]int{}, calls: map[string]int{}, lookups: map[string]int{}, script: map[string][]string{}, inconclusive: map[string]bool{}, orderNet: map[string]int64{}, blind: map[string]bool{}}
}

func (f *fake) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return adapters.Outcome{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.calls[r.RefundNo]
	f.calls[r.RefundNo]++
	step := "ok"
	if s := f.script[r.RefundNo]; n < len(s) {
		step = s[n]
	}
	switch step {
	case "retryable":
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "refund", Kind: adapters.KindRetryable, HTTPStatus: 503}
	case "429":
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "refund", Kind: adapters.KindRetryable, HTTPStatus: 429, RetryAfter: 30 * time.Millisecond}
	case "lost": // applied, answer lost
		if f.applied[r.RefundNo] == 0 {
			f.applied[r.RefundNo]++
		}
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "refund", Kind: adapters.KindUnknown, Err: errors.New("connection reset")}
	case "timeout-unapplied":
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "refund", Kind: adapters.KindUnknown, Err: errors.New("timeout")}
	case "already-done":
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "refund", Kind: adapters.KindAlreadyDone, Code: "UPAY_REFUND_ORDER_NOOP"}
	case "blocked":
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "refund", Kind: adapters.KindBlocked, HTTPStatus: 401, Code: "ILLEGAL_SIGN"}
	case "other-amount":
		f.applied[r.RefundNo]++
		return adapters.Outcome{Status: adapters.StatusSucceeded, Code: "SUCCESS", ProviderRefundID: "P" + r.RefundNo, Amount: r.Amount + 1}, nil
	case "reject":
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "refund", Kind: adapters.KindFinal, Code: "REFUNDABLE_AMOUNT_NOT_ENOUGH", Message: "not enough"}
	case "pending":
		if f.applied[r.RefundNo] == 0 {
			f.applied[r.RefundNo]++
		}
		return adapters.Outcome{Status: adapters.StatusPending, Code: "PROCESSING"}, nil
	}
	if f.applied[r.RefundNo] == 0 { // idempotent on the refund number
		f.applied[r.RefundNo]++
	}
	return adapters.Outcome{Status: adapters.StatusSucceeded, Code: "SUCCESS", ProviderRefundID: "P" + r.RefundNo, Amount: r.Amount}, nil
}

func (f *fake) Lookup(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups[r.RefundNo]++
	if f.inconclusive[r.RefundNo] {
		o := adapters.Outcome{Status: adapters.StatusUnknown, Code: "PARTIAL_REFUNDED", NetAmount: -1}
		if net, ok := f.orderNet[r.RefundNo]; ok {
			o.OrderTotal, o.NetAmount = 1000, net
		}
		return o, nil
	}
	if f.applied[r.RefundNo] == 0 || f.blind[r.RefundNo] {
		return adapters.Outcome{}, &adapters.Error{Provider: r.Provider, Op: "lookup", Kind: adapters.KindFinal, Err: adapters.ErrNotFound}
	}
	if s := f.script[r.RefundNo]; len(s) > 0 && s[len(s)-1] == "pending" && f.lookups[r.RefundNo] < 2 {
		return adapters.Outcome{Status: adapters.StatusPending}, nil
	}
	return adapters.Outcome{Status: adapters.StatusSucceeded, Code: "SUCCESS", ProviderRefundID: "P" + r.RefundNo, Amount: r.Amount}, nil
}

func mkItems(n int) []batch.Item {
	out := make([]batch.Item, n)
	for i := range out {
		out[i] = batch.Item{Row: i + 2, Refund: adapters.Refund{Provider: adapters.Upay, Account: "T1",
			OrderNo: fmt.Sprintf("O%d", i), RefundNo: fmt.Sprintf("R%d", i), Amount: 100, Total: 1000, Currency: money.CNY, Action: adapters.ActionRefund}}
	}
	return out
}

func setup(t *testing.T, its []batch.Item, f *fake) (*runner.Runner, store.Store) {
	t.Helper()
	l, err := store.OpenSQLite(filepath.Join(t.TempDir(), "ledger.db"), store.SQLiteOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	res, err := l.Plan(context.Background(), store.Meta{BatchID: batch.Identity(its), Items: len(its)}, its)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Run(context.Background(), res.Meta.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &runner.Runner{
		Store: st,
		Route: func(p, a string) (runner.Target, bool) { return runner.Target{Provider: f}, a == "T1" },
		Options: runner.Options{Parallel: 4, MaxAttempts: 6, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
			CallTimeout: time.Second},
	}
	return r, st
}

// leave puts a refund where an earlier run left it.
func leave(t *testing.T, st store.Store, it batch.Item, s store.State) {
	t.Helper()
	ctx := context.Background()
	if err := st.Apply(ctx, it.Key(), 0, store.Planned, store.EvSend, store.Change{At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if s == store.Submitting {
		return
	}
	ev := map[store.State]store.Event{store.Succeeded: store.EvSucceeded, store.Unknown: store.EvUnknown,
		store.Pending: store.EvPending, store.Blocked: store.EvBlocked, store.Failed: store.EvFailed}[s]
	if err := st.Apply(ctx, it.Key(), 1, store.Submitting, ev, store.Change{}); err != nil {
		t.Fatal(err)
	}
}

func records(t *testing.T, st store.Store) map[string]store.Record {
	out := map[string]store.Record{}
	st.Each(context.Background(), func(r store.Record) error { out[r.RefundNo] = r; return nil })
	return out
}

func ptr(v int64) *int64 { return &v }

func TestSettle(t *testing.T) {
	tests := []struct {
		name         string
		script       []string
		prior        store.State // state left by an earlier run; "" = planned
		priorApply   bool        // the earlier run's request reached the provider
		inconclusive bool
		orderNet     *int64
		blind        bool // lookups answer "unknown"
		want         store.State
		sends        int // Refund calls in this run
		lookups      int
		errLike      string
	}{
		{name: "ok", want: store.Succeeded, sends: 1},
		{name: "retryable then ok", script: []string{"retryable", "retryable"}, want: store.Succeeded, sends: 3},
		{name: "429 honours Retry-After", script: []string{"429"}, want: store.Succeeded, sends: 2},
		{name: "lost response is looked up, not re-sent", script: []string{"lost"}, want: store.Succeeded, sends: 1, lookups: 1},
		{name: "timeout unapplied: lookup not found, re-send", script: []string{"timeout-unapplied"}, want: store.Succeeded, sends: 2, lookups: 1},
		{name: "reject is final", script: []string{"reject"}, want: store.Failed, sends: 1},
		{name: "pending", script: []string{"pending"}, want: store.Pending, sends: 1},
		{name: "gives up unknown with reason", script: []string{"retryable", "retryable", "retryable", "retryable", "retryable", "retryable", "retryable"},
			want: store.Unknown, sends: 6, errLike: "gave up after 6 attempts"},
		{name: "resume submitting that reached provider: lookup only", prior: store.Submitting, priorApply: true, want: store.Succeeded, lookups: 1},
		{name: "resume submitting that never left: lookup, then send", prior: store.Submitting, want: store.Succeeded, sends: 1, lookups: 1},
		{name: "resume unknown: lookup only", prior: store.Unknown, priorApply: true, want: store.Succeeded, lookups: 1},
		{name: "resume succeeded: nothing", prior: store.Succeeded, priorApply: true, want: store.Succeeded},
		{name: "inconclusive lookup after lost response: unknown, not re-sent on a guess", script: []string{"lost"}, inconclusive: true,
			want: store.Unknown, sends: 1, lookups: 1},
		{name: "resume submitting, inconclusive lookup and no order total: unknown, never sent on a guess", prior: store.Submitting, inconclusive: true,
			want: store.Unknown, sends: 0, lookups: 1, errLike: "never sent again on a guess"},
		{name: "resume submitting never sent, order total shows nothing refunded: re-send", prior: store.Submitting, inconclusive: true, orderNet: ptr(1000),
			want: store.Succeeded, sends: 1, lookups: 1},
		{name: "resume submitting that reached provider, order total shows it: succeeded without a send", prior: store.Submitting, priorApply: true,
			inconclusive: true, orderNet: ptr(900), want: store.Succeeded, sends: 0, lookups: 1},
		{name: "order total that adds up to neither: unknown with both figures, looked at again once at the end", prior: store.Submitting, inconclusive: true, orderNet: ptr(950),
			want: store.Unknown, sends: 0, lookups: 2, errLike: "0.50 refunded"},
		{name: "lost response, lagging lookup, refused re-send: unknown, not failed", script: []string{"lost", "reject"}, blind: true,
			want: store.Unknown, sends: 2, lookups: 1, errLike: "check it at the provider"},
		{name: "lost response, lagging lookup, already-done refusal: unknown", script: []string{"lost", "already-done"}, blind: true,
			want: store.Unknown, sends: 2, lookups: 1, errLike: "already done"},
		{name: "refused re-send after a timeout is still unknown (not-found does not prove the first attempt)", script: []string{"timeout-unapplied", "reject"},
			want: store.Unknown, sends: 2, lookups: 1, errLike: "check it at the provider"},
		{name: "first send refused is failed", script: []string{"reject"}, want: store.Failed, sends: 1},
		{name: "credentials refused: blocked, resumable", script: []string{"blocked"}, want: store.Blocked, sends: 1, errLike: "Fix the account"},
		{name: "resume blocked after the fix: sent", prior: store.Blocked, want: store.Succeeded, sends: 1},
		{name: "answer with another amount: unknown, never succeeded", script: []string{"other-amount"}, want: store.Unknown, sends: 1, errLike: "does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			its := mkItems(1)
			f.script["R0"] = tc.script
			r, st := setup(t, its, f)
			if tc.prior != "" {
				leave(t, st, its[0], tc.prior)
			}
			if tc.orderNet != nil {
				f.orderNet["R0"] = *tc.orderNet
			}
			f.blind["R0"] = tc.blind
			if tc.priorApply {
				f.applied["R0"] = 1
			}
			f.inconclusive["R0"] = tc.inconclusive
			if _, err := r.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec := records(t, st)["R0"]
			if rec.State != tc.want {
				t.Errorf("state %s, want %s (error %q)", rec.State, tc.want, rec.LastError)
			}
			if f.calls["R0"] != tc.sends || f.lookups["R0"] != tc.lookups {
				t.Errorf("sends %d lookups %d, want %d and %d", f.calls["R0"], f.lookups["R0"], tc.sends, tc.lookups)
			}
			if f.applied["R0"] > 1 {
				t.Errorf("refund applied %d times", f.applied["R0"])
			}
			if tc.errLike != "" && !strings.Contains(rec.LastError, tc.errLike) {
				t.Errorf("last error %q, want it to mention %q", rec.LastError, tc.errLike)
			}
			if tc.want == store.Succeeded && tc.sends+tc.lookups > 0 && !tc.inconclusive && rec.ProviderRefundID != "PR0" {
				t.Errorf("provider refund id %q", rec.ProviderRefundID)
			}
			if tc.want == store.Failed && rec.ProviderCode != "REFUNDABLE_AMOUNT_NOT_ENOUGH" {
				t.Errorf("provider code %q", rec.ProviderCode)
			}
		})
	}
}

func TestPollSettlesPending(t *testing.T) {
	f := newFake()
	its := mkItems(3)
	f.script["R1"] = []string{"pending"}
	r, st := setup(t, its, f)
	r.Options.Poll = 2 * time.Second
	r.Options.PollInterval = 10 * time.Millisecond
	c := &runner.Counter{}
	r.Progress = c
	sum, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.States[store.Succeeded] != 3 {
		t.Errorf("states %v, want 3 succeeded", sum.States)
	}
	if s := c.Snapshot(); s.Done() != 3 || s.Succeeded != 3 || s.Pending != 0 {
		t.Errorf("counter %+v", s)
	}
	_ = st
}

func TestInterruptStopsStartingAndResumes(t *testing.T) {
	f := newFake()
	f.delay = 20 * time.Millisecond
	its := mkItems(200)
	r, st := setup(t, its, f)
	ctx, cancel := context.WithCancel(context.Background())
	// Stop once some refunds are done (not after a fixed time: under the
	// race detector the ledger's first writes alone can take longer).
	go func() {
		for {
			f.mu.Lock()
			n := len(f.applied)
			f.mu.Unlock()
			if n >= 10 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	sum, err := r.Run(ctx)
	if !errors.Is(err, runner.ErrInterrupted) {
		t.Fatalf("Run after cancel: %v, want ErrInterrupted", err)
	}
	if sum.States[store.Planned] == 0 || sum.States[store.Succeeded] == 0 {
		t.Fatalf("states after interrupt %v: want some done, some planned", sum.States)
	}
	// In-flight calls finished and were recorded: nothing left submitting.
	if sum.States[store.Submitting] != 0 {
		t.Errorf("%d items left submitting after a graceful stop", sum.States[store.Submitting])
	}
	sum, err = r.Run(context.Background())
	if err != nil || sum.States[store.Succeeded] != 200 {
		t.Fatalf("resume: %v %v", sum.States, err)
	}
	for k, n := range f.applied {
		if n != 1 {
			t.Errorf("%s applied %d times", k, n)
		}
	}
	for k, n := range f.calls {
		if n != 1 {
			t.Errorf("%s sent %d times, want once (no doubt anywhere)", k, n)
		}
	}
	_ = st
}

func TestNoRouteFailsBeforeSending(t *testing.T) {
	f := newFake()
	its := mkItems(3)
	its[2].Account = "T9"
	r, _ := setup(t, its, f)
	if _, err := r.Run(context.Background()); !errors.Is(err, runner.ErrNoRoute) {
		t.Fatalf("err %v, want ErrNoRoute", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("sent %d refunds before failing", len(f.calls))
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n < 12; n++ {
		for i := 0; i < 50; i++ {
			d := runner.Backoff(n, 100*time.Millisecond, time.Second, 0)
			ceil := min(time.Second, 100*time.Millisecond<<(n-1))
			if d < 0 || d >= ceil {
				t.Fatalf("Backoff(%d) = %v, want in [0,%v)", n, d, ceil)
			}
		}
	}
	if d := runner.Backoff(1, time.Millisecond, time.Millisecond, 2*time.Second); d != 2*time.Second {
		t.Errorf("Retry-After not honoured: %v", d)
	}
}

// timed records when each Refund call arrived.
type timed struct {
	*fake
	mu    sync.Mutex
	times []time.Time
}

func (f *timed) Refund(ctx context.Context, r adapters.Refund) (adapters.Outcome, error) {
	f.mu.Lock()
	f.times = append(f.times, time.Now())
	f.mu.Unlock()
	return f.fake.Refund(ctx, r)
}

func TestRetryAfterHonoured(t *testing.T) {
	f := &timed{fake: newFake()}
	f.script["R0"] = []string{"429", "429"}
	its := mkItems(1)
	r, _ := setup(t, its, f.fake)
	r.Route = func(p, a string) (runner.Target, bool) { return runner.Target{Provider: f}, true }
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.times) != 3 {
		t.Fatalf("%d calls, want 3", len(f.times))
	}
	for i := 1; i < 3; i++ {
		if gap := f.times[i].Sub(f.times[i-1]); gap < 30*time.Millisecond {
			t.Errorf("call %d came %v after a 429 with Retry-After 30ms", i+1, gap)
		}
	}
}

func TestAccountRateLimit(t *testing.T) {
	f := &timed{fake: newFake()}
	its := mkItems(11)
	r, _ := setup(t, its, f.fake)
	lim := rate.NewLimiter(100, 1) // 100/s, no burst: 11 calls span ≥ 100ms
	r.Route = func(p, a string) (runner.Target, bool) { return runner.Target{Provider: f, Limiter: lim}, true }
	r.Options.Parallel = 8
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.times) != 11 {
		t.Fatalf("%d calls", len(f.times))
	}
	first, last := f.times[0], f.times[0]
	for _, tm := range f.times {
		if tm.Before(first) {
			first = tm
		}
		if tm.After(last) {
			last = tm
		}
	}
	if span := last.Sub(first); span < 95*time.Millisecond {
		t.Errorf("11 calls at 100/s took %v, want ≥ 100ms", span)
	}
}
