package sandbox

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

func TestStatementRoundTrip(t *testing.T) {
	sb, clk := start(t, Faults{})
	upay(t, sb, "refund", term1, `{"terminal_sn":"100000330000000001","client_sn":"ORDER-1","refund_request_no":"1","operator":"op","refund_amount":"250"}`)
	upay(t, sb, "revoke", term2, `{"terminal_sn":"100000330000000002","client_sn":"U-TODAY"}`)
	clk.Advance(time.Minute)
	quickpay(t, sb, "Refund", "SH001", quickpayBody("Q1", 1234))
	// Out of band, through the admin endpoint: amounts are major-unit text.
	st, _, b := do(t, client, mustReq("POST", sb.URL()+"/_sandbox/refunds",
		`{"provider":"nomad","account":"wechat.sh_smk","order_no":"NM-2","amount":"7.50","refund_no":"DASH-1"}`))
	if st != 201 {
		t.Fatalf("out-of-band: HTTP %d %s", st, b)
	}
	if _, err := sb.AddOutOfBand(OutOfBand{Provider: adapters.PayEase, Account: "890000593", OrderNo: "20261120-890000593-1001", Amount: 100}); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := sb.WriteStatement(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "provider,account,order_no,provider_order_id,refund_no,provider_refund_id,type,amount,currency,status,time" {
		t.Fatalf("header %v", rows[0])
	}
	ledger := sb.Ledger()
	if len(rows)-1 != len(ledger) || len(ledger) != 5 {
		t.Fatalf("%d statement rows, %d ledger refunds, want 5", len(rows)-1, len(ledger))
	}
	// Every row reads back to its ledger refund, exactly.
	byID := map[string]LedgerRefund{}
	for _, r := range ledger {
		byID[r.ProviderRefundID] = r
	}
	for _, row := range rows[1:] {
		r, ok := byID[row[5]]
		if !ok {
			t.Fatalf("row %v not in ledger", row)
		}
		cur, _ := money.ParseCurrency(row[8])
		amt, err := ParseAmount(row[7], cur)
		tm, terr := time.Parse(time.RFC3339, row[10])
		if err != nil || terr != nil || row[0] != r.Provider || row[1] != r.Account || row[2] != r.OrderNo || row[3] != r.ProviderOrderID ||
			row[4] != r.RefundNo || row[6] != string(r.Type) || amt != r.Amount || cur != r.Currency || row[9] != string(r.Status) || !tm.Equal(r.Time.Truncate(time.Second)) {
			t.Errorf("row %v does not read back to %+v", row, r)
		}
	}
	want := [][]string{
		{"nomad", "wechat.sh_smk", "NM-2", "DASH-1", "refund", "7.50", "succeeded"},
		{"upay", "100000330000000002", "U-TODAY", "", "revoke", "8.88", "succeeded"},
	}
	for _, w := range want {
		found := false
		for _, row := range rows[1:] {
			if row[0] == w[0] && row[1] == w[1] && row[2] == w[2] && row[4] == w[3] && row[6] == w[4] && row[7] == w[5] && row[9] == w[6] {
				found = true
			}
		}
		if !found {
			t.Errorf("no row %v in\n%s", w, buf.String())
		}
	}
	// Deterministic: the same ledger gives the same bytes, also over HTTP.
	var again bytes.Buffer
	sb.WriteStatement(&again)
	_, _, viaHTTP := do(t, client, mustReq("GET", sb.URL()+"/_sandbox/statement", ""))
	if !bytes.Equal(buf.Bytes(), again.Bytes()) || !bytes.Equal(buf.Bytes(), viaHTTP) {
		t.Fatal("statement not deterministic")
	}
	// The ledger endpoint shows the out-of-band refund and applied counts.
	_, _, lb := do(t, client, mustReq("GET", sb.URL()+"/_sandbox/ledger", ""))
	var lj []ledgerJSON
	if err := json.Unmarshal(lb, &lj); err != nil || len(lj) != 5 {
		t.Fatalf("ledger JSON: %v %s", err, lb)
	}
	oob := 0
	for _, r := range lj {
		if r.OutOfBand {
			oob++
		}
		if r.Applied != 1 {
			t.Errorf("applied %d: %+v", r.Applied, r)
		}
	}
	if oob != 2 {
		t.Fatalf("%d out-of-band refunds in the ledger, want 2", oob)
	}
}

func TestOutOfBandRules(t *testing.T) {
	sb, _ := start(t, Faults{})
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"provider":"quickpay","account":"SH001","order_no":"QP-1","amount":"100.01"}`, 422},
		{`{"provider":"quickpay","account":"SH001","order_no":"QP-1","amount":"1.001"}`, 400},
		{`{"provider":"quickpay","account":"SH001","order_no":"nope","amount":"1"}`, 404},
		{`{"provider":"quickpay","account":"SH001","order_no":"QP-1","amount":"1","colour":"red"}`, 400},
		{`{"provider":"quickpay","account":"SH001","order_no":"QP-1","type":"revoke"}`, 422},
		{`{"provider":"upay","account":"100000330000000002","order_no":"U-TODAY","type":"revoke"}`, 201},
		{`{"provider":"upay","account":"100000330000000002","order_no":"U-TODAY","amount":"1"}`, 422},
		{`{"provider":"quickpay","account":"SH001","order_no":"QP-1","amount":"100.00","refund_no":"A"}`, 201},
	} {
		if st, _, b := do(t, client, mustReq("POST", sb.URL()+"/_sandbox/refunds", c.body)); st != c.status {
			t.Errorf("%s: HTTP %d %s, want %d", c.body, st, b, c.status)
		}
	}
	_, err := sb.AddOutOfBand(OutOfBand{Provider: adapters.QuickPay, Account: "SH002", OrderNo: "QP-2", Amount: 351})
	if !errors.Is(err, ErrOverRefund) {
		t.Fatalf("err %v, want ErrOverRefund", err)
	}
	// A dashboard refund takes money the API can no longer refund.
	m := quickpay(t, sb, "Refund", "SH001", quickpayBody("after", 1))
	if path(m, "code") != "REFUND_AMOUNT_EXCEEDED" {
		t.Fatalf("%v", m)
	}
}

func TestLoadOrders(t *testing.T) {
	orders, err := LoadOrders("testdata/orders.csv", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 10 {
		t.Fatalf("%d orders", len(orders))
	}
	o := orders[0]
	if o.Provider != "upay" || o.OrderNo != "ORDER-1" || o.Total != 1000 || o.Currency != "CNY" || !o.PaidAt.Equal(t0.Add(-2*time.Hour)) || o.PaymentMethod != "wechatpay" {
		t.Fatalf("first order %+v", o)
	}
	tests := []struct {
		file, column, value string
		row                 int
		err                 error
	}{
		{"orders_bad_amount.csv", "total_amount", "10.001", 3, ErrBadAmount},
		{"orders_bad_provider.csv", "provider", "alipay", 2, ErrInvalidOrder},
		{"orders_duplicate.csv", "order_no", "A1", 4, ErrDuplicateOrder},
		{"orders_bad_time.csv", "paid_at", "yesterday", 2, ErrInvalidOrder},
		{"orders_bad_currency.csv", "currency", "CYN", 2, money.ErrUnknownCurrency},
		{"orders_nomad_method.csv", "payment_method", "", 2, ErrInvalidOrder},
		{"orders_payease_id.csv", "order_no", "PE-1002", 3, ErrInvalidOrder},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadOrders("testdata/"+tc.file, t0)
			var oe *OrdersError
			if !errors.As(err, &oe) || !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want an OrdersError wrapping %v", err, tc.err)
			}
			if oe.Row != tc.row || oe.Column != tc.column || oe.Value != tc.value {
				t.Fatalf("place row %d column %q value %q, want %d %q %q (%v)", oe.Row, oe.Column, oe.Value, tc.row, tc.column, tc.value, err)
			}
			if !strings.Contains(err.Error(), "row "+strconv.Itoa(tc.row)) {
				t.Fatalf("message does not name the row: %v", err)
			}
		})
	}
}

// The samples' orders file (written by another part of the project) loads.
func TestLoadSampleOrders(t *testing.T) {
	const p = "../../samples/orders.csv"
	if _, err := os.Stat(p); err != nil {
		t.Skip("samples/orders.csv not in the tree yet")
	}
	orders, err := LoadOrders(p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Orders: orders}); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateWriteReadOrders(t *testing.T) {
	a := GenerateOrders(500, 7, t0)
	b := GenerateOrders(500, 7, t0)
	var wa, wb bytes.Buffer
	WriteOrders(&wa, a)
	WriteOrders(&wb, b)
	if !bytes.Equal(wa.Bytes(), wb.Bytes()) {
		t.Fatal("GenerateOrders is not deterministic")
	}
	back, err := ReadOrders(bytes.NewReader(wa.Bytes()), "generated", t0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	today := 0
	for i := range a {
		x, y := a[i], back[i]
		if !x.PaidAt.Equal(y.PaidAt) || x.Provider != y.Provider || x.Account != y.Account || x.OrderNo != y.OrderNo ||
			x.ProviderOrderID != y.ProviderOrderID || x.Total != y.Total || x.Currency != y.Currency || x.PaymentMethod != y.PaymentMethod {
			t.Fatalf("order %d: %+v != %+v", i, a[i], back[i])
		}
		count[a[i].Provider]++
		if a[i].Provider == adapters.Upay && sameDay(a[i].PaidAt, t0) {
			today++
		}
	}
	for _, p := range adapters.Providers {
		if count[p] < 40 {
			t.Errorf("only %d %s orders of 500", count[p], p)
		}
	}
	if today == 0 {
		t.Error("no Upay order paid today: nothing to revoke")
	}
	if _, err := New(Config{Orders: back}); err != nil {
		t.Fatalf("generated orders rejected: %v", err)
	}
}

// Many clients refunding the same orders at once, with repeats of the same
// numbers: every number moves money once and no order goes below zero.
func TestConcurrentRefunds(t *testing.T) {
	orders := make([]Order, 20)
	for i := range orders {
		orders[i] = Order{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "C" + strconv.Itoa(i), Total: 1000, Currency: money.CNY, PaidAt: t0}
	}
	sb, err := Start(Config{Orders: orders, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	key := acct(t, sb, adapters.QuickPay, "SH001").Secret
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := map[string]int{}
	n := 16
	if testing.Short() {
		n = 4
	}
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for j := 0; j < 140; j++ {
				idx := (j*3 + g*13) % 140 // every goroutine sends all 140 (order, number) pairs, in its own order
				ord := "C" + strconv.Itoa(idx/7)
				no := ord + "-R" + strconv.Itoa(idx%7) // 7 numbers of 150 per order of 1000: the 7th never fits
				body := `{"store_no":"SH001","operator":"op","refund_amount":150,"order_no":"` + ord + `","refund_no":"` + no + `"}`
				_, _, b := do(t, client, quickpayRequest(sb, "Refund", key, body))
				if path(decode(t, b), "code") == "SUCCESS" {
					mu.Lock()
					ok[no]++
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	perOrder := map[string]int64{}
	for _, r := range sb.Ledger() {
		if r.Applied != 1 {
			t.Fatalf("applied %d: %+v", r.Applied, r)
		}
		perOrder[r.OrderNo] += r.Amount
	}
	for _, o := range sb.Orders() {
		if o.Refunded > o.Total || o.Refunded != perOrder[o.OrderNo] {
			t.Fatalf("order %s refunded %d of %d, ledger says %d", o.OrderNo, o.Refunded, o.Total, perOrder[o.OrderNo])
		}
		if o.Refunded != 900 { // 6 refunds of 150 fit in 1000, the 7th does not
			t.Errorf("order %s refunded %d, want 900", o.OrderNo, o.Refunded)
		}
	}
	if len(sb.Ledger()) != 20*6 {
		t.Fatalf("%d refunds, want %d", len(sb.Ledger()), 20*6)
	}
}

// Credentials never print, under any verb.
func TestAccountRedacts(t *testing.T) {
	sb, _ := start(t, Faults{})
	for _, a := range sb.Accounts() {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			s := fmt.Sprintf(verb, a)
			if (a.Secret != "" && strings.Contains(s, a.Secret)) || strings.Contains(s, "PRIVATE KEY") {
				t.Fatalf("%s prints a credential: %s", verb, s)
			}
		}
	}
}
