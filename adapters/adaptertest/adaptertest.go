package adaptertest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
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
	// ExhaustedKind is the Kind of the refusal of a refund on an order with
	// nothing left: KindAlreadyDone where the provider's own code means
	// "already refunded" (Upay UPAY_REFUND_INVALID_ORDER_STATE), KindFinal
	// where it only says "more than is left" (the zero value).
	ExhaustedKind adapters.Kind
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
	"lag", "nonidem", "echo", "lenient", "lenient2", "silent",
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
		{"RepeatWithAnotherAmountIsAlreadyDone", testConflict, true},
		{"ConcurrentResubmitsRefundOnce", testConcurrent, true},
		{"LookupAfterLostResponse", testLostResponse, true},
		{"LookupNeverSentIsNotFound", testNeverSent, true},
		{"BadCredentialsAreBlocked", testBadCredentials, true},
		{"UnknownAccountIsBlocked", testUnknownAccount, true},
		{"RateLimitIsRetryableWithRetryAfter", testRateLimit, true},
		{"ServerErrorIsUnknownAndNotApplied", test5xx, true},
		{"TimeoutIsUnknown", testTimeout, !testing.Short()},
		{"SilentProviderIsUnknownRefusingIsRetryable", testSilent, true},
		{"PendingSettlesViaLookup", testPending, true},
		{"ResendAfterLostAnswerAndLaggingLookupIsRefused", testLaggingLookup, true},
		{"NonIdempotentProviderPaysAResendTwice", testNonIdempotent, true},
		{"AnswersNameWhatTheProviderHolds", testEcho, true},
		{"RepeatAnsweredNoopIsAlreadyDone", testUpayNoop, h.Provider == adapters.Upay},
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

// send is Refund under the refusal contract: an error is an *adapters.Error,
// and a refusal never comes back as a failed outcome without an error.
// Every Refund call of the suite goes through it.
func send(t *testing.T, c adapters.Provider, r adapters.Refund) (adapters.Outcome, error) {
	t.Helper()
	out, err := c.Refund(ctx(t), r)
	checkContract(t, "Refund", out, err)
	if err == nil && out.Status == adapters.StatusFailed {
		t.Fatalf("Refund(%s) returned a failed outcome with no error: %+v; a refusal must be an *adapters.Error", r.RefundNo, out)
	}
	return out, err
}

// lookup is Lookup under the same contract (a failed outcome is allowed:
// the provider holds the refund as failed).
func lookup(t *testing.T, c adapters.Provider, r adapters.Refund) (adapters.Outcome, error) {
	t.Helper()
	out, err := c.Lookup(ctx(t), r)
	checkContract(t, "Lookup", out, err)
	return out, err
}

func checkContract(t *testing.T, call string, out adapters.Outcome, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var pe *adapters.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s returned an error that is no *adapters.Error: %T %v", call, err, err)
	}
	if out.Status != "" {
		t.Fatalf("%s returned an outcome (%+v) with its error %v", call, out, err)
	}
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

// counted asserts what the provider saw of r's number: refund calls it
// processed and refunds it accepted.
func (s *suite) counted(t *testing.T, r adapters.Refund, requests, applied int) {
	t.Helper()
	for _, n := range s.sb.Numbers() {
		if n.Provider == r.Provider && n.Account == r.Account && n.RefundNo == r.RefundNo && n.Type == r.Action &&
			(n.OrderNo == r.OrderNo || r.Action == adapters.ActionRevoke) {
			if n.Requests != requests || n.Applied != applied {
				t.Fatalf("provider saw number %q: %d calls, %d applied; want %d calls, %d applied", r.RefundNo, n.Requests, n.Applied, requests, applied)
			}
			return
		}
	}
	if requests != 0 || applied != 0 {
		t.Fatalf("provider never saw number %q; want %d calls, %d applied", r.RefundNo, requests, applied)
	}
}

// submit sends r and reads its outcome to the end: a pending answer is
// followed by lookups until it is final.
func (s *suite) submit(t *testing.T, r adapters.Refund) adapters.Outcome {
	t.Helper()
	out, err := send(t, s.client, r)
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
		if out, err = lookup(t, s.client, r); err != nil {
			t.Fatalf("Lookup(%s) while pending: %v", r.RefundNo, err)
		}
	}
	return out
}

// refused asserts the refusal contract for one refusal: an *adapters.Error
// of the wanted kind carrying the provider's code (the wanted one when
// given), and no outcome.
func refused(t *testing.T, what string, out adapters.Outcome, err error, kind adapters.Kind, code string) {
	t.Helper()
	var pe *adapters.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: outcome %+v, error %v; want an *adapters.Error of kind %v", what, out, err, kind)
	}
	if pe.Kind != kind {
		t.Fatalf("%s: error of kind %v, want %v: %v", what, pe.Kind, kind, err)
	}
	if pe.Code == "" && pe.HTTPStatus == 0 {
		t.Fatalf("%s: refusal carries no provider code: %v", what, err)
	}
	if code != "" && pe.Code != code {
		t.Fatalf("%s: code %q, want %q", what, pe.Code, code)
	}
}

func testSuccess(t *testing.T, s *suite) {
	r := s.refund("success", 300)
	out, err := send(t, s.client, r)
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
	again, err := lookup(t, s.client, r)
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
	out, err := send(t, s.client, r)
	refused(t, "refund of a fully refunded order", out, err, s.h.ExhaustedKind, s.h.ExhaustedCode)
	s.notApplied(t, r)
	s.counted(t, r, 1, 0)
}

func testOverRefund(t *testing.T, s *suite) {
	r := s.refund("over", total+1)
	out, err := send(t, s.client, r)
	refused(t, "over-refund", out, err, adapters.KindFinal, s.h.OverRefundCode)
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
		out, err := send(t, s.client, r)
		if err != nil {
			t.Fatalf("re-submit %d: %v", i+1, err)
		}
		if out = s.settle(t, r, out); out.Status != first.Status {
			t.Fatalf("re-submit %d: %+v, first was %+v", i+1, out, first)
		}
	}
	s.appliedOnce(t, r, adapters.StatusSucceeded)
	s.counted(t, r, 4, 1)
}

// A number used before for another amount: money moved under it, so the
// refusal is "already done" (for the runner to look up and compare), never
// a failure someone might pay by hand.
func testConflict(t *testing.T, s *suite) {
	r := s.refund("conflict", 300)
	s.submit(t, r)
	other := r
	other.Amount = 200
	out, err := send(t, s.client, other)
	refused(t, "same refund number, another amount", out, err, adapters.KindAlreadyDone, s.h.ConflictCode)
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
	s.counted(t, r, 16, 1)
}

func testLostResponse(t *testing.T, s *suite) {
	r := s.refund("lost", 300)
	s.sb.SetFaults(sandbox.Faults{LostResponseRate: 1})
	_, err := send(t, s.client, r)
	if err == nil {
		t.Fatal("Refund returned no error though its answer was lost")
	}
	if k := adapters.KindOf(err); k != adapters.KindUnknown {
		t.Fatalf("lost answer classified %v, want unknown: %v", k, err)
	}
	s.sb.SetFaults(sandbox.Faults{})
	out, err := lookup(t, s.client, r)
	if err != nil {
		t.Fatalf("Lookup after the lost answer: %v", err)
	}
	if out = s.settle(t, r, out); out.Status != adapters.StatusSucceeded {
		t.Fatalf("Lookup after the lost answer: %+v", out)
	}
	// The runner may re-send with the same number: still one refund.
	if out, err := send(t, s.client, r); err != nil || (out.Status != adapters.StatusSucceeded && out.Status != adapters.StatusPending) {
		t.Fatalf("re-send after lookup: %+v, %v", out, err)
	}
	s.appliedOnce(t, r, adapters.StatusSucceeded)
	s.counted(t, r, 2, 1)
}

func testNeverSent(t *testing.T, s *suite) {
	r := s.refund("never", 100)
	out, err := lookup(t, s.client, r)
	if !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("Lookup of a never-sent refund: %+v, %v; want ErrNotFound", out, err)
	}
}

// blockedBoth asserts that Refund and Lookup through c are refused as
// blocked, and that nothing was applied.
func (s *suite) blockedBoth(t *testing.T, c adapters.Provider, r adapters.Refund) {
	t.Helper()
	for _, call := range []struct {
		name string
		f    func(*testing.T, adapters.Provider, adapters.Refund) (adapters.Outcome, error)
	}{{"Refund", send}, {"Lookup", lookup}} {
		out, err := call.f(t, c, r)
		if errors.Is(err, adapters.ErrNotFound) {
			t.Fatalf("%s refused for credentials reads as 'not found' (which would license a re-send): %v", call.name, err)
		}
		refused(t, call.name+" refused for credentials", out, err, adapters.KindBlocked, "")
	}
	s.notApplied(t, r)
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
	s.blockedBoth(t, c, s.refund("badcreds", 100))
}

// An account id the provider does not know (unknown terminal, store or
// merchant) is configuration, not a judgement of the refund.
func testUnknownAccount(t *testing.T, s *suite) {
	acc := s.acc
	acc.ID = "9" + acc.ID
	c, err := s.h.New(s.sb.URL(), acc, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := s.refund("badcreds", 100)
	r.Account = acc.ID
	s.blockedBoth(t, c, r)
}

func testRateLimit(t *testing.T, s *suite) {
	before := s.limited()
	s.sb.SetFaults(sandbox.Faults{RateLimit: 0.5, Burst: 1})
	var limited adapters.Refund
	var lerr error
	for i := 0; i < 5 && lerr == nil; i++ {
		r := s.refund("ratelimit", 10)
		if _, err := send(t, s.client, r); err != nil {
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
	if got := s.limited(); got != before+1 {
		t.Fatalf("sandbox counted %d answers 429, want %d", got, before+1)
	}
	s.sb.SetFaults(sandbox.Faults{})
	s.notApplied(t, limited)
	// Retrying with the same number, as the runner does, refunds it once.
	if out := s.submit(t, limited); out.Status != adapters.StatusSucceeded {
		t.Fatalf("retry after 429: %+v", out)
	}
	s.appliedOnce(t, limited, adapters.StatusSucceeded)
}

// limited is how many 429s the sandbox answered the suite's account.
func (s *suite) limited() int64 {
	for _, a := range s.sb.Stats() {
		if a.Provider == s.h.Provider && a.Account == s.h.Account {
			return a.RateLimited
		}
	}
	return -1
}

func test5xx(t *testing.T, s *suite) {
	r := s.refund("5xx", 200)
	s.sb.SetFaults(sandbox.Faults{ErrorRate: 1})
	_, err := send(t, s.client, r)
	if err == nil {
		t.Fatal("no error on a 5xx")
	}
	// Our classification: a 5xx after the provider received the request
	// may have been applied, so the runner looks it up before re-sending.
	if k := adapters.KindOf(err); k != adapters.KindUnknown {
		t.Fatalf("5xx classified %v, want unknown: %v", k, err)
	}
	if _, err := lookup(t, s.client, r); err == nil || adapters.KindOf(err) != adapters.KindRetryable {
		t.Fatalf("Lookup during a 5xx outage: %v; want retryable (a lookup is read-only)", err)
	}
	s.sb.SetFaults(sandbox.Faults{})
	if _, err := lookup(t, s.client, r); !errors.Is(err, adapters.ErrNotFound) {
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
	_, err = send(t, c, r)
	if err == nil || adapters.KindOf(err) != adapters.KindUnknown || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v (kind %v); want unknown, wrapping context.DeadlineExceeded", err, adapters.KindOf(err))
	}
	s.sb.SetFaults(sandbox.Faults{})
	s.notApplied(t, r)
}

// A provider that accepts the connection and never says a word holds a
// call only until its timeout, and the refund is of unknown outcome (the
// request went out); a lookup is read-only, so retryable. A provider that
// refuses connections was never reached: retryable.
func testSilent(t *testing.T, s *suite) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	silent, err := s.h.New("http://"+l.Addr().String(), s.acc, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r := s.refund("silent", 100)
	start := time.Now()
	_, err = send(t, silent, r)
	if adapters.KindOf(err) != adapters.KindUnknown || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refund to a silent provider: %v (kind %v); want unknown after the timeout", err, adapters.KindOf(err))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Refund to a silent provider took %v with a 300ms timeout", d)
	}
	if _, err = lookup(t, silent, r); adapters.KindOf(err) != adapters.KindRetryable {
		t.Fatalf("Lookup at a silent provider: %v (kind %v); want retryable", err, adapters.KindOf(err))
	}

	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := gone.Addr().String()
	gone.Close()
	refusing, err := s.h.New("http://"+addr, s.acc, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = send(t, refusing, r); adapters.KindOf(err) != adapters.KindRetryable {
		t.Fatalf("Refund to a port that refuses connections: %v (kind %v); want retryable", err, adapters.KindOf(err))
	}
}

func testPending(t *testing.T, s *suite) {
	for _, tc := range []struct {
		order string
		fail  float64
		want  adapters.Status
	}{{"pending", 0, adapters.StatusSucceeded}, {"pendingfail", 1, adapters.StatusFailed}} {
		s.sb.SetFaults(sandbox.Faults{PendingRate: 1, SettleAfter: 400 * time.Millisecond, SettleFailRate: tc.fail})
		r := s.refund(tc.order, 300)
		out, err := send(t, s.client, r)
		if err != nil || out.Status != adapters.StatusPending {
			t.Fatalf("refund while the provider is slow: %+v, %v; want pending", out, err)
		}
		if out, err = lookup(t, s.client, r); err != nil || out.Status != adapters.StatusPending {
			t.Fatalf("immediate lookup: %+v, %v; want pending", out, err)
		}
		// A re-send while pending answers the current state and moves nothing.
		if again, err := send(t, s.client, r); err != nil || again.Status != adapters.StatusPending {
			t.Fatalf("re-send while pending: %+v, %v; want pending", again, err)
		}
		s.appliedOnce(t, r, adapters.StatusPending)
		// The pending amount is reserved: the rest of the order plus one is refused.
		over := s.refund(tc.order, total-r.Amount+1)
		out2, err := send(t, s.client, over)
		refused(t, "refund above what a pending refund leaves", out2, err, adapters.KindFinal, s.h.OverRefundCode)
		s.notApplied(t, over)
		if out = s.settle(t, r, out); out.Status != tc.want {
			t.Fatalf("settled as %+v, want %s", out, tc.want)
		}
		s.appliedOnce(t, r, tc.want)
		if tc.want == adapters.StatusFailed {
			// The provider holds it as failed: a re-send is answered with
			// that failure, which reaches the caller as a final error —
			// or, where a refund answer only ever says "accepted"
			// (PayEase), as pending, for the lookup to say failed.
			out, err := send(t, s.client, r)
			if s.h.AcceptedIsPending && err == nil && out.Status == adapters.StatusPending {
				if out, err = lookup(t, s.client, r); err != nil || out.Status != adapters.StatusFailed {
					t.Fatalf("lookup after re-sending a failed refund: %+v, %v; want failed", out, err)
				}
			} else {
				refused(t, "re-send of a refund that settled as failed", out, err, adapters.KindFinal, "")
			}
		}
	}
}

// The shape the runner must keep unknown: the answer to a refund is lost,
// the provider's query does not show the refund yet, and a provider that
// does not honour the number refuses the re-send because the order has
// nothing left. The refusal comes back as an error (already done where the
// provider's code says so), never as a failed outcome; money moved once.
func testLaggingLookup(t *testing.T, s *suite) {
	r := s.refund("lag", total)
	s.sb.SetFaults(sandbox.Faults{LostResponseRate: 1, NonIdempotent: true, LookupLagRate: 1})
	if _, err := send(t, s.client, r); adapters.KindOf(err) != adapters.KindUnknown {
		t.Fatalf("lost answer: %v (kind %v); want unknown", err, adapters.KindOf(err))
	}
	s.sb.SetFaults(sandbox.Faults{NonIdempotent: true, LookupLagRate: 1})
	if out, err := lookup(t, s.client, r); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("lagging lookup: %+v, %v; want ErrNotFound", out, err)
	}
	out, err := send(t, s.client, r)
	refused(t, "re-send after a lost answer and a lagging lookup", out, err, s.h.ExhaustedKind, s.h.ExhaustedCode)
	s.appliedOnce(t, r, adapters.StatusSucceeded)
	s.counted(t, r, 2, 1)
}

// The sandbox can catch a client that re-sends without looking up first:
// a provider that ignores the number pays twice, and the ledger says so.
func testNonIdempotent(t *testing.T, s *suite) {
	r := s.refund("nonidem", 300)
	s.sb.SetFaults(sandbox.Faults{NonIdempotent: true})
	for i := 0; i < 2; i++ {
		if out := s.submit(t, r); out.Status != adapters.StatusSucceeded {
			t.Fatalf("send %d: %+v", i+1, out)
		}
	}
	if l := s.ledger(r); len(l) != 2 || l[0].Applied != 2 {
		t.Fatalf("ledger after a re-send to a non-idempotent provider: %+v; want two refunds, applied 2", l)
	}
	s.counted(t, r, 2, 2)
}

// Outcomes name what the provider's answer names: the refund number, the
// order, the amount and the currency where the wire carries them, never
// copied from the request. An answer about another amount or order is
// passed through unchanged, for the runner to catch.
func testEcho(t *testing.T, s *suite) {
	check := func(what string, out adapters.Outcome, refundNo, orderNo string, amount int64) {
		t.Helper()
		if out.RefundNo != refundNo || out.OrderNo != orderNo || (out.Amount != 0 && out.Amount != amount) ||
			(out.Currency != "" && out.Currency != money.CNY) {
			t.Fatalf("%s: outcome names refund %q, order %q, amount %d %q; want %q, %q, %d (or not reported), CNY (or none)",
				what, out.RefundNo, out.OrderNo, out.Amount, out.Currency, refundNo, orderNo, amount)
		}
	}
	r := s.refund("echo", 300)
	out, err := send(t, s.client, r)
	if err != nil {
		t.Fatal(err)
	}
	check("refund answer", out, r.RefundNo, r.OrderNo, r.Amount)
	out = s.settle(t, r, out)
	got, err := lookup(t, s.client, r)
	if err != nil {
		t.Fatal(err)
	}
	check("lookup answer", got, r.RefundNo, r.OrderNo, r.Amount)

	// A provider idempotent on the number alone answers a repeat naming
	// another amount with the refund it holds: the outcome says 300.
	s.sb.SetFaults(sandbox.Faults{LenientRepeat: true})
	again := r
	again.Amount = 200
	out, err = send(t, s.client, again)
	if err != nil {
		t.Fatalf("lenient repeat: %v", err)
	}
	if out.Amount != 0 && out.Amount != 300 {
		t.Fatalf("repeat answer names amount %d; want the amount the provider holds (300), passed through", out.Amount)
	}
	check("repeat naming another amount", out, r.RefundNo, r.OrderNo, 300)
	if s.h.Provider != adapters.Upay { // Upay numbers are per order: no other order can reuse one
		other := s.refund("lenient", 300)
		other.RefundNo = r.RefundNo
		out, err = send(t, s.client, other)
		if err != nil {
			t.Fatalf("lenient repeat on another order: %v", err)
		}
		check("repeat naming another order", out, r.RefundNo, r.OrderNo, 300)
	}
	s.sb.SetFaults(sandbox.Faults{})
	s.appliedOnce(t, r, adapters.StatusSucceeded)

	if s.h.Provider == adapters.Upay {
		// Upay's query shows only the order's latest transaction: after a
		// second refund, a lookup of the first names the second.
		second := s.refund("echo", 100)
		s.submit(t, second)
		got, err := lookup(t, s.client, r)
		if err != nil || got.Status != adapters.StatusUnknown {
			t.Fatalf("lookup of a refund hidden by a later one: %+v, %v; want unknown", got, err)
		}
		check("lookup naming the latest refund", got, second.RefundNo, r.OrderNo, second.Amount)
	}
}

// Upay may answer a repeated refund_request_no with FAIL +
// UPAY_REFUND_ORDER_NOOP instead of the original outcome (PROVIDERS.md).
func testUpayNoop(t *testing.T, s *suite) {
	r := s.refund("repeat", 100)
	s.submit(t, r)
	s.sb.SetFaults(sandbox.Faults{UpayRepeatNoop: true})
	out, err := send(t, s.client, r)
	refused(t, "repeat answered NOOP", out, err, adapters.KindAlreadyDone, "UPAY_REFUND_ORDER_NOOP")
	s.appliedOnce(t, r, adapters.StatusSucceeded)
}

func testRevoke(t *testing.T, s *suite) {
	revoke := func(name string) adapters.Refund {
		r := s.refund(name, total)
		r.Action, r.RefundNo = adapters.ActionRevoke, ""
		return r
	}
	// Same day, untouched: a revoke succeeds, for the full amount, once.
	r := revoke("revoke")
	if _, err := lookup(t, s.client, r); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("Lookup of a revoke never sent: %v; want ErrNotFound", err)
	}
	out, err := send(t, s.client, r)
	if err != nil || out.Status != adapters.StatusSucceeded {
		t.Fatalf("same-day revoke: %+v, %v", out, err)
	}
	if out.Amount != 0 && out.Amount != total {
		t.Fatalf("revoke outcome amount %d, want the order total %d", out.Amount, total)
	}
	if out, err := lookup(t, s.client, r); err != nil || out.Status != adapters.StatusSucceeded {
		t.Fatalf("Lookup of the revoke: %+v, %v", out, err)
	}
	s.appliedOnce(t, r, adapters.StatusSucceeded)
	// A repeated revoke is already done (UPAY_CANCEL_ORDER_NOOP).
	out, err = send(t, s.client, r)
	refused(t, "repeated revoke", out, err, adapters.KindAlreadyDone, "UPAY_CANCEL_ORDER_NOOP")
	s.appliedOnce(t, r, adapters.StatusSucceeded)

	// Not after a refund.
	ra := s.refund("revokeafter", 100)
	s.submit(t, ra)
	rv := revoke("revokeafter")
	out, err = send(t, s.client, rv)
	refused(t, "revoke after a refund", out, err, adapters.KindFinal, "")
	s.notApplied(t, rv)

	// Only on the day of payment.
	ry := revoke("revokeyesterday")
	out, err = send(t, s.client, ry)
	refused(t, "revoke of yesterday's payment", out, err, adapters.KindFinal, "")
	s.notApplied(t, ry)

	// No refund after a revoke: the money is back already.
	s.submit(t, revoke("refundafterrevoke"))
	rr := s.refund("refundafterrevoke", 100)
	out, err = send(t, s.client, rr)
	refused(t, "refund of a revoked order", out, err, adapters.KindAlreadyDone, "")
	s.notApplied(t, rr)
	if _, err := lookup(t, s.client, rr); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("Lookup of a refund on a revoked order: %v; want ErrNotFound", err)
	}
}

func testRefundWindow(t *testing.T, s *suite) {
	r := s.refund("old", 100)
	out, err := send(t, s.client, r)
	refused(t, "refund four months after payment", out, err, adapters.KindFinal, "")
	s.notApplied(t, r)
}
