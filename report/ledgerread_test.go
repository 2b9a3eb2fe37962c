package report

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

// TestReadBatchDirect: the direct read of a batch gives exactly the
// records the store's own view gives, in every state, with rows and times,
// for a batch of odd length.
func TestReadBatchDirect(t *testing.T) {
	ctx := context.Background()
	var items []batch.Item
	for i := range 7 {
		items = append(items, batch.Item{Row: i + 3, Refund: adapters.Refund{Provider: "quickpay", Account: "S", OrderNo: fmt.Sprintf("O%d", i),
			ProviderOrderID: fmt.Sprintf("T%d", i), RefundNo: fmt.Sprintf("R%d", i), Amount: int64(100 + i), Total: 1000, Currency: "CNY",
			Action: adapters.ActionRefund, PaymentMethod: "alipay"}})
	}
	l, st := storetest.NewBatch(t, filepath.Join(t.TempDir(), "ledger.db"), store.Meta{Created: time.Now()}, items)
	at := time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC)
	for i, s := range []store.State{store.Succeeded, store.Failed, store.Pending, store.Unknown, store.Blocked, store.Submitting} {
		storetest.Leave(t, st, items[i], s, adapters.Outcome{Status: adapters.Status(s), Code: "C" + string(s), Message: "m=" + string(s),
			ProviderRefundID: "P" + items[i].RefundNo, Amount: items[i].Amount, Time: at}, "why "+string(s))
	}
	st.Close()
	id := batch.Identity(items)
	m, err := l.Batch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := readBatchDirect(ctx, l, m, "direct", 3)
	if err != nil || !ok {
		t.Fatalf("direct read: ok %v, %v", ok, err)
	}
	want, _, err := readView(ctx, l, id, "view", 3)
	if err != nil {
		t.Fatal(err)
	}
	if m.BatchID != id || len(got) != len(items) || len(want) != len(items) {
		t.Fatalf("batch %s: %d direct, %d through the view", m.BatchID, len(got), len(want))
	}
	for i := range got {
		g, w := got[i].Record(), want[i].Record()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("refund %d:\ndirect %+v\nview   %+v", i, g, w)
		}
	}
	if got[0].FirstAttempt().IsZero() || got[0].State != StateSucceeded || got[4].State != StateBlocked || got[6].State != StatePlanned {
		t.Errorf("states or times lost: %+v", got[0].Record())
	}
}

func TestLedgerTime(t *testing.T) {
	for s, want := range map[string]time.Time{
		"":                               {},
		"2026-11-20T10:00:00.123456789Z": time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC),
		"2026-11-20T10:00:00Z":           time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		"2026-13-20T10:00:00.000000000Z": {},
		"garbage":                        {},
	} {
		if got := ledgerTime(s); !got.Equal(want) {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}
