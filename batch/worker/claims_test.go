package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// refuseAll fails the test if a request reaches it.
type refuseAll struct{ t *testing.T }

func (r refuseAll) Refund(context.Context, adapters.Refund) (adapters.Outcome, error) {
	r.t.Error("a refund request left on a claim about to expire")
	return adapters.Outcome{}, nil
}
func (r refuseAll) Lookup(context.Context, adapters.Refund) (adapters.Outcome, error) {
	return adapters.Outcome{}, adapters.ErrNotFound
}

// A refund whose claim would expire before a call ends is neither marked
// for sending nor sent: another worker may take it over meanwhile, and a
// request of ours still travelling could land after its lookup.
func TestNoSendOnAShortLease(t *testing.T) {
	it := batch.Item{Row: 2, Refund: adapters.Refund{Provider: adapters.QuickPay, Account: "a", OrderNo: "O1", RefundNo: "R1", Amount: 1}}
	c := &claims{minLease: 2 * time.Second, held: map[string]*held{
		it.Key(): {rec: store.Record{Item: it}, validUntil: time.Now().Add(time.Second)},
	}}
	err := c.Apply(t.Context(), it.Key(), 1, store.Planned, store.EvSend, store.Change{At: time.Now()})
	if !errors.Is(err, store.ErrStateChanged) {
		t.Fatalf("send on a claim with 1s left (a call may take 2s): %v", err)
	}
	_, err = guard{Provider: refuseAll{t}, c: c}.Refund(t.Context(), it.Refund)
	if adapters.KindOf(err) != adapters.KindRetryable {
		t.Fatalf("guard: %v", err)
	}
	// An unknown refund (not claimed by this worker) is not sent either.
	other := it
	other.RefundNo = "R2"
	if _, err := (guard{Provider: refuseAll{t}, c: c}).Refund(t.Context(), other.Refund); adapters.KindOf(err) != adapters.KindRetryable {
		t.Fatalf("guard on an unclaimed refund: %v", err)
	}
	if c.mayCall(it.Key()) {
		t.Fatal("mayCall with 1s left of a 2s minimum")
	}
	c.held[it.Key()].validUntil = time.Now().Add(3 * time.Second)
	if !c.mayCall(it.Key()) {
		t.Fatal("mayCall refused with 3s left of a 2s minimum")
	}
}
