package adaptertest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/money"
)

// Harness describes the adapter under test.
type Harness struct {
	Provider string // adapters.Upay, ...
	Account  string // the provider account the sandbox's orders belong to
	// New builds the client under test for a sandbox account's credentials.
	New func(baseURL string, acc sandbox.Account, timeout time.Duration) (adapters.Provider, error)
	// OrderNo makes the i-th order number; "CT<provider initial><i>" when nil.
	OrderNo func(i int) string
	// Revoke: the provider has Upay's revoke (same day, full amount, before
	// any refund) and its 3-month refund window.
	Revoke bool
	// AcceptedIsPending: a successful refund answer only means "accepted"
	// (PayEase); the outcome is read by Lookup.
	AcceptedIsPending bool
	// MayPend: the provider's answer to a plain refund may be pending even
	// without faults. Every provider can leave a refund pending under
	// Faults.PendingRate, so the pending case runs for all regardless.
	MayPend bool
	// Codes the sandbox answers with, asserted when set.
	ExhaustedCode, OverRefundCode, ConflictCode string
}

// suite is one sandbox and the orders the subtests use, one fresh order
// each, so that subtests never see each other's refunds.
type suite struct {
	h      Harness
	sb     *sandbox.Sandbox
	acc    sandbox.Account
	client adapters.Provider
	orders map[string]sandbox.Order // by name
	n      int
	mu     sync.Mutex
}

const total = 1000 // every order's total, fen

// orderNames are the orders the suite creates; "old" is paid four months
// ago, "yesterday" the day before.
var orderNames = []string{
	"success", "partial", "over", "repeat", "conflict", "concurrent", "lost", "never",
	"badcreds", "ratelimit", "5xx", "timeout", "pending", "pendingfail",
	"revoke", "revokeafter", "revokeyesterday", "refundafterrevoke", "old",
}

// Run runs the conformance suite for h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	s := start(t, h)
	tests := []struct {
		name string
		f    func(*testing.T, *suite)
		when bool
	}{
		{"Success", testSuccess, true},
		{"PartialRefundsDownToZero", testPartial, true},
		{"OverRefundIsFinal", testOverRefund, true},
		{"ResubmitRefundsOnce", testResubmit, true},
		{"RepeatWithAnotherAmountIsRejected", testConflict, true},
		{"ConcurrentResubmitsRefundOnce", testConcurrent, true},
		{"LookupAfterLostResponse", testLostResponse, true},
		{"LookupNeverSentIsNotFound", testNeverSent, true},
		{"BadCredentialsAreFinal", testBadCredentials, true},
		{"RateLimitIsRetryableWithRetryAfter", testRateLimit, true},
		{"ServerErrorIsUnknownAndNotApplied", test5xx, true},
		{"TimeoutIsUnknown", testTimeout, !testing.Short()},
		{"PendingSettlesViaLookup", testPending, true},
		{"RevokeRules", testRevoke, h.Revoke},
		{"RefundWindow", testRefundWindow, h.Revoke},
	}
	for _, tc := range tests {
		if !tc.when {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s.sb.SetFaults(sandbox.Faults{})
			defer s.sb.SetFaults(sandbox.Faults{})
			tc.f(t, s)
		})
	}
}

func start(t *testing.T, h Harness) *suite {
	t.Helper()
	if h.OrderNo == nil {
		h.OrderNo = func(i int) string { return fmt.Sprintf("CT%c%d", h.Provider[0], i) }
	}
	// A clock at noon Beijing time today that runs at real speed: same-day
	// rules cannot flake at midnight, and settle timers stay real.
	cst := time.FixedZone("CST", 8*3600)
	y, m, d := time.Now().In(cst).Date()
	base, began := time.Date(y, m, d, 12, 0, 0, 0, cst), time.Now()
	now := func() time.Time { return base.Add(time.Since(began)) }

	s := &suite{h: h, orders: map[string]sandbox.Order{}}
	var orders []sandbox.Order
	for i, name := range orderNames {
		paid := base.Add(-time.Hour)
		switch name {
		case "old":
			paid = base.AddDate(0, -4, 0)
		case "revokeyesterday":
			paid = base.AddDate(0, 0, -1)
		}
		o := sandbox.Order{Provider: h.Provider, Account: h.Account, OrderNo: h.OrderNo(i + 1),
			Total: total, Currency: money.CNY, PaidAt: paid, PaymentMethod: "wechatpay"}
		orders = append(orders, o)
	}
	sb, err := sandbox.Start(sandbox.Config{Orders: orders, Now: now, TimeoutCap: 3 * time.Second})
	if err != nil {
		t.Fatalf("starting the sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	s.sb = sb
	for _, st := range sb.Orders() {
		for i, name := range orderNames {
			if st.OrderNo == orders[i].OrderNo {
				s.orders[name] = st.Order
			}
		}
	}
	if len(s.orders) != len(orderNames) {
		t.Fatalf("sandbox holds %d of the suite's %d orders", len(s.orders), len(orderNames))
	}
	for _, a := range sb.Accounts() {
		if a.Provider == h.Provider && a.ID == h.Account {
			s.acc = a
		}
	}
	if s.acc.ID == "" {
		t.Fatalf("sandbox has no %s account %s", h.Provider, h.Account)
	}
	if s.client, err = h.New(sb.URL(), s.acc, 10*time.Second); err != nil {
		t.Fatalf("building the client: %v", err)
	}
	return s
}

// refund is a refund of order name with a suite-unique refund number.
func (s *suite) refund(name string, amount int64) adapters.Refund {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	o := s.orders[name]
	return adapters.Refund{
		Provider: s.h.Provider, Account: s.h.Account, OrderNo: o.OrderNo, ProviderOrderID: o.ProviderOrderID,
		RefundNo: fmt.Sprintf("R%s%d", name[:2], n), Amount: amount, Total: o.Total, Currency: money.CNY,
		Action: adapters.ActionRefund, Operator: "conformance", Reason: "conformance test",
		PaymentMethod: o.PaymentMethod,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// ledger returns the provider-side refunds of r's order with r's number
// (for a revoke: the order's revokes).
func (s *suite) ledger(r adapters.Refund) []sandbox.LedgerRefund {
	var out []sandbox.LedgerRefund
	for _, l := range s.sb.Ledger() {
		if l.Provider != r.Provider || l.Account != r.Account || l.OrderNo != r.OrderNo {
			continue
		}
		if (r.Action == adapters.ActionRevoke && l.Type == adapters.ActionRevoke) ||
			(r.Action != adapters.ActionRevoke && l.RefundNo == r.RefundNo) {
			out = append(out, l)
		}
	}
	return out
}

// appliedOnce asserts the provider holds r exactly once, applied once, with
// r's amount and the wanted status.
func (s *suite) appliedOnce(t *testing.T, r adapters.Refund, want adapters.Status) {
	t.Helper()
	l := s.ledger(r)
	if len(l) != 1 {
		t.Fatalf("provider holds %d refunds numbered %q, want 1: %+v", len(l), r.RefundNo, l)
	}
	if l[0].Applied != 1 || l[0].Amount != r.Amount || l[0].Status != want {
		t.Fatalf("provider's refund %q: applied %d, amount %d, status %s; want applied 1, amount %d, %s",
			r.RefundNo, l[0].Applied, l[0].Amount, l[0].Status, r.Amount, want)
	}
}

func (s *suite) notApplied(t *testing.T, r adapters.Refund) {
	t.Helper()
	if l := s.ledger(r); len(l) != 0 {
		t.Fatalf("provider holds refund %q, want none: %+v", r.RefundNo, l)
	}
}

// submit sends r and reads its outcome to the end: a pending answer is
// followed by lookups until it is final.
func (s *suite) submit(t *testing.T, r adapters.Refund) adapters.Outcome {
	t.Helper()
	out, err := s.client.Refund(ctx(t), r)
	if err != nil {
		t.Fatalf("Refund(%s, %d): %v", r.RefundNo, r.Amount, err)
	}
	return s.settle(t, r, out)
}

func (s *suite) settle(t *testing.T, r adapters.Refund, out adapters.Outcome) adapters.Outcome {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for out.Status == adapters.StatusPending {
		if time.Now().After(deadline) {
			t.Fatalf("refund %s still pending after 10s: %+v", r.RefundNo, out)
		}
		time.Sleep(50 * time.Millisecond)
		var err error
		if out, err = s.client.Lookup(ctx(t), r); err != nil {
			t.Fatalf("Lookup(%s) while pending: %v", r.RefundNo, err)
		}
	}
	return out
}

// refused asserts the provider refused: a failed outcome or a final error,
// with the wanted code when given.
func refused(t *testing.T, what string, out adapters.Outcome, err error, code string) {
	t.Helper()
	got := out.Code
	switch {
	case err != nil:
		if k := adapters.KindOf(err); k != adapters.KindFinal {
			t.Fatalf("%s: error of kind %v, want a final refusal: %v", what, k, err)
		}
		var pe *adapters.Error
		if errors.As(err, &pe) {
			got = pe.Code
		}
	case out.Status != adapters.StatusFailed:
		t.Fatalf("%s: outcome %s, want failed: %+v", what, out.Status, out)
	}
	if got == "" {
		t.Fatalf("%s: refusal carries no provider code (%+v, %v)", what, out, err)
	}
	if code != "" && got != code {
		t.Fatalf("%s: code %q, want %q", what, got, code)
	}
}

func testSuccess(t *testing.T, s *suite) {
	r := s.refund("success", 300)
	out, err := s.client.Refund(ctx(t), r)
	if err != nil {
		t.Fatal(err)
	}
	if s.h.AcceptedIsPending {
		if out.Status != adapters.StatusPending {
			t.Fatalf("accepted refund should be pending, got %+v", out)
		}
	} else if out.Status != adapters.StatusSucceeded && !(s.h.MayPend && out.Status == adapters.StatusPending) {
		t.Fatalf("outcome %+v, want succeeded", out)
	}
	out = s.settle(t, r, out)
	if out.Status != adapters.StatusSucceeded {
		t.Fatalf("outcome %+v, want succeeded", out)
	}
	if out.Amount != 0 && out.Amount != r.Amount {
		t.Errorf("provider reports amount %d, sent %d", out.Amount, r.Amount)
	}
	s.appliedOnce(t, r, adapters.StatusSucceeded)
	l := s.ledger(r)[0]
	if out.ProviderRefundID != "" && out.ProviderRefundID != l.ProviderRefundID {
		t.Errorf("provider refund id %q, ledger says %q", out.ProviderRefundID, l.ProviderRefundID)
	}
	// Looking it up again gives the same answer.
	again, err := s.client.Lookup(ctx(t), r)
	if err != nil || again.Status != adapters.StatusSucceeded {
		t.Fatalf("Lookup after success: %+v, %v", again, err)
	}
}

func testPartial(t *testing.T, s *suite) {
	for _, amt := range []int64{400, 350, 250} {
		r := s.refund("partial", amt)
		if out := s.submit(t, r); out.Status != adapters.StatusSucceeded {
			t.Fatalf("partial refund of %d: %+v", amt, out)
		}
		s.appliedOnce(t, r, adapters.StatusSucceeded)
	}
	r := s.refund("partial", 1)
	out, err := s.client.Refund(ctx(t), r)
	refused(t, "refund of a fully refunded order", out, err, s.h.ExhaustedCode)
	s.notApplied(t, r)
}

func testOverRefund(t *testing.T, s *suite) {
	r := s.refund("over", total+1)
	out, err := s.client.Refund(ctx(t), r)
	refused(t, "over-refund", out, err, s.h.OverRefundCode)
	s.notApplied(t, r)
	// The order is untouched: a refund of the full total still goes through.
	if out := s.submit(t, s.refund("over", total)); out.Status != adapters.StatusSucceeded {
		t.Fatalf("full refund after a refused over-refund: %+v", out)
	}
}

func testResubmit(t *testing.T, s *suite) {
	r := s.refund("repeat", 300)
	first := s.submit(t, r)
	for i := 0; i < 3; i++ {
		out, err := s.client.Refund(ctx(t), r)
		if err != nil {
			t.Fatalf("re-submit %d: %v", i+1, err)
		}
		if out = s.settle(t, r, out); out.Status != first.Status {
			t.Fatalf("re-submit %d: %+v, first was %+v", i+1, out, first)
		}
	}
	s.appliedOnce(t, r, adapters.StatusSucceeded)
}

func testConflict(t *testing.T, s *suite) {
	r := s.refund("conflict", 300)
	s.submit(t, r)
	other := r
	other.Amount = 200
	out, err := s.client.Refund(ctx(t), other)
	refused(t, "same refund number, another amount", out, err, s.h.ConflictCode)
	s.appliedOnce(t, r, adapters.StatusSucceeded)
}

func testConcurrent(t *testing.T, s *suite) {
	r := s.refund("concurrent", 500)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s.client.Refund(ctx(t), r)
			if err == nil && out.Status != adapters.StatusSucceeded && out.Status != adapters.StatusPending {
				err = fmt.Errorf("outcome %+v", out)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	s.settle(t, r, adapters.Outcome{Status: adapters.StatusPending})
	s.appliedOnce(t, r, adapters.StatusSucceeded)
}

func testLostResponse(t *testing.T, s *suite) {
	r := s.refund("lost", 300)
	s.sb.SetFaults(sandbox.Faults{LostResponseRate: 1})
	_, err := s.client.Refund(ctx(t), r)
	if err == nil {
		t.Fatal("Refund returned no error though its answer was lost")
	}
	if k := adapters.KindOf(err); k != adapters.KindUnknown {
		t.Fatalf("lost answer classified %v, want unknown: %v", k, err)
	}
	s.sb.SetFaults(sandbox.Faults{})
	out, err := s.client.Lookup(ctx(t), r)
	if err != nil {
		t.Fatalf("Lookup after the lost answer: %v", err)
	}
	if out = s.settle(t, r, out); out.Status != adapters.StatusSucceeded {
		t.Fatalf("Lookup after the lost answer: %+v", out)
	}
	// The runner may re-send with the same number: still one refund.
	if out, err := s.client.Refund(ctx(t), r); err != nil || (out.Status != adapters.StatusSucceeded && out.Status != adapters.StatusPending) {
		t.Fatalf("re-send after lookup: %+v, %v", out, err)
	}
	s.appliedOnce(t, r, adapters.StatusSucceeded)
}

func testNeverSent(t *testing.T, s *suite) {
	r := s.refund("never", 100)
	out, err := s.client.Lookup(ctx(t), r)
	if !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("Lookup of a never-sent refund: %+v, %v; want ErrNotFound", out, err)
	}
}

func testBadCredentials(t *testing.T, s *suite) {
	bad := s.acc
	bad.Secret = "not-the-key-" + bad.Secret
	if s.h.Provider == adapters.PayEase {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		bad.MerchantPrivateKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	c, err := s.h.New(s.sb.URL(), bad, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := s.refund("badcreds", 100)
	for _, call := range []struct {
		name string
		f    func(context.Context, adapters.Refund) (adapters.Outcome, error)
	}{{"Refund", c.Refund}, {"Lookup", c.Lookup}} {
		out, err := call.f(ctx(t), r)
		if err == nil || adapters.KindOf(err) != adapters.KindFinal || errors.Is(err, adapters.ErrNotFound) {
			t.Fatalf("%s with bad credentials: %+v, %v (kind %v); want a final error", call.name, out, err, adapters.KindOf(err))
		}
	}
	s.notApplied(t, r)
}

func testRateLimit(t *testing.T, s *suite) {
	s.sb.SetFaults(sandbox.Faults{RateLimit: 0.5, Burst: 1})
	var limited adapters.Refund
	var lerr error
	for i := 0; i < 5 && lerr == nil; i++ {
		r := s.refund("ratelimit", 10)
		if _, err := s.client.Refund(ctx(t), r); err != nil {
			limited, lerr = r, err
		}
	}
	if lerr == nil {
		t.Fatal("no refund was rate limited at 0.5/s")
	}
	if k := adapters.KindOf(lerr); k != adapters.KindRetryable {
		t.Fatalf("429 classified %v, want retryable: %v", k, lerr)
	}
	if ra := adapters.RetryAfterOf(lerr); ra < time.Second {
		t.Fatalf("Retry-After %v, want the sandbox's (>= 1s): %v", ra, lerr)
	}
	s.sb.SetFaults(sandbox.Faults{})
	s.notApplied(t, limited)
	// Retrying with the same number, as the runner does, refunds it once.
	if out := s.submit(t, limited); out.Status != adapters.StatusSucceeded {
		t.Fatalf("retry after 429: %+v", out)
	}
	s.appliedOnce(t, limited, adapters.StatusSucceeded)
}

func test5xx(t *testing.T, s *suite) {
	r := s.refund("5xx", 200)
	s.sb.SetFaults(sandbox.Faults{ErrorRate: 1})
	_, err := s.client.Refund(ctx(t), r)
	if err == nil {
		t.Fatal("no error on a 5xx")
	}
	// Our classification: a 5xx after the provider received the request
	// may have been applied, so the runner looks it up before re-sending.
	if k := adapters.KindOf(err); k != adapters.KindUnknown {
		t.Fatalf("5xx classified %v, want unknown: %v", k, err)
	}
	if _, err := s.client.Lookup(ctx(t), r); err == nil || adapters.KindOf(err) != adapters.KindRetryable {
		t.Fatalf("Lookup during a 5xx outage: %v; want retryable (a lookup is read-only)", err)
	}
	s.sb.SetFaults(sandbox.Faults{})
	if _, err := s.client.Lookup(ctx(t), r); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("Lookup after the outage: %v; want ErrNotFound (the sandbox applied nothing)", err)
	}
	if out := s.submit(t, r); out.Status != adapters.StatusSucceeded {
		t.Fatalf("re-send after the outage: %+v", out)
	}
	s.appliedOnce(t, r, adapters.StatusSucceeded)
}

func testTimeout(t *testing.T, s *suite) {
	c, err := s.h.New(s.sb.URL(), s.acc, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r := s.refund("timeout", 100)
	s.sb.SetFaults(sandbox.Faults{TimeoutRate: 1})
	_, err = c.Refund(ctx(t), r)
	if err == nil || adapters.KindOf(err) != adapters.KindUnknown || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v (kind %v); want unknown, wrapping context.DeadlineExceeded", err, adapters.KindOf(err))
	}
	s.sb.SetFaults(sandbox.Faults{})
	s.notApplied(t, r)
}

func testPending(t *testing.T, s *suite) {
	for _, tc := range []struct {
		order string
		fail  float64
		want  adapters.Status
	}{{"pending", 0, adapters.StatusSucceeded}, {"pendingfail", 1, adapters.StatusFailed}} {
		s.sb.SetFaults(sandbox.Faults{PendingRate: 1, SettleAfter: 400 * time.Millisecond, SettleFailRate: tc.fail})
		r := s.refund(tc.order, 300)
		out, err := s.client.Refund(ctx(t), r)
		if err != nil || out.Status != adapters.StatusPending {
			t.Fatalf("refund while the provider is slow: %+v, %v; want pending", out, err)
		}
		if out, err = s.client.Lookup(ctx(t), r); err != nil || out.Status != adapters.StatusPending {
			t.Fatalf("immediate lookup: %+v, %v; want pending", out, err)
		}
		// A re-send while pending answers the current state and moves nothing.
		if again, err := s.client.Refund(ctx(t), r); err != nil || again.Status != adapters.StatusPending {
			t.Fatalf("re-send while pending: %+v, %v; want pending", again, err)
		}
		s.appliedOnce(t, r, adapters.StatusPending)
		// The pending amount is reserved: the rest of the order plus one is refused.
		over := s.refund(tc.order, total-r.Amount+1)
		out2, err := s.client.Refund(ctx(t), over)
		refused(t, "refund above what a pending refund leaves", out2, err, s.h.OverRefundCode)
		s.notApplied(t, over)
		if out = s.settle(t, r, out); out.Status != tc.want {
			t.Fatalf("settled as %+v, want %s", out, tc.want)
		}
		s.appliedOnce(t, r, tc.want)
	}
}

func testRevoke(t *testing.T, s *suite) {
	revoke := func(name string) adapters.Refund {
		r := s.refund(name, total)
		r.Action, r.RefundNo = adapters.ActionRevoke, ""
		return r
	}
	// Same day, untouched: a revoke succeeds, for the full amount, once.
	r := revoke("revoke")
	if _, err := s.client.Lookup(ctx(t), r); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("Lookup of a revoke never sent: %v; want ErrNotFound", err)
	}
	out, err := s.client.Refund(ctx(t), r)
	if err != nil || out.Status != adapters.StatusSucceeded {
		t.Fatalf("same-day revoke: %+v, %v", out, err)
	}
	if out, err := s.client.Lookup(ctx(t), r); err != nil || out.Status != adapters.StatusSucceeded {
		t.Fatalf("Lookup of the revoke: %+v, %v", out, err)
	}
	s.appliedOnce(t, r, adapters.StatusSucceeded)

	// Not after a refund.
	ra := s.refund("revokeafter", 100)
	s.submit(t, ra)
	rv := revoke("revokeafter")
	out, err = s.client.Refund(ctx(t), rv)
	refused(t, "revoke after a refund", out, err, "")
	s.notApplied(t, rv)

	// Only on the day of payment.
	ry := revoke("revokeyesterday")
	out, err = s.client.Refund(ctx(t), ry)
	refused(t, "revoke of yesterday's payment", out, err, "")
	s.notApplied(t, ry)

	// No refund after a revoke.
	s.submit(t, revoke("refundafterrevoke"))
	rr := s.refund("refundafterrevoke", 100)
	out, err = s.client.Refund(ctx(t), rr)
	refused(t, "refund of a revoked order", out, err, "")
	s.notApplied(t, rr)
	if _, err := s.client.Lookup(ctx(t), rr); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("Lookup of a refund on a revoked order: %v; want ErrNotFound", err)
	}
}

func testRefundWindow(t *testing.T, s *suite) {
	r := s.refund("old", 100)
	out, err := s.client.Refund(ctx(t), r)
	refused(t, "refund four months after payment", out, err, "")
	s.notApplied(t, r)
}
