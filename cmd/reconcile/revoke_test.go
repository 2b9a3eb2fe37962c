package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/money"
)

// TestLookupRevokeProcess: Upay revokes reconciled by live lookups. A revoke
// has no refund number on the wire; the adapter's Lookup reads the order's
// status (CANCELED = revoked). Three Upay orders, our results file saying
// each was revoked:
//
//   - RV-OK really was revoked through the adapter: MATCHED;
//   - RV-NOT is paid and untouched at the provider: the provider has no
//     revoke, so MISSING_AT_PROVIDER (rule 4) — money we think went back
//     did not;
//   - RV-REF was partially refunded instead (that refund, ours too, is
//     MATCHED): a refunded order cannot have been revoked, so the revoke
//     is MISSING_AT_PROVIDER, and the refund under the same order is not
//     mistaken for it.
func TestLookupRevokeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs against the sandbox")
	}
	ctx := context.Background()
	dir := t.TempDir()
	// A fixed sandbox clock at noon in Shanghai: a revoke is allowed only
	// on the payment's calendar day there, whatever time the test runs.
	cst, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := time.Now().In(cst).Date()
	now := time.Date(y, m, d, 12, 0, 0, 0, cst)
	const term = "100000330000000001"
	var orders []sandbox.Order
	for _, no := range []string{"RV-OK", "RV-NOT", "RV-REF"} {
		orders = append(orders, sandbox.Order{Provider: adapters.Upay, Account: term, OrderNo: no, Total: 2500,
			Currency: money.CNY, PaidAt: now.Add(-time.Hour), PaymentMethod: "wechatpay"})
	}
	sb, err := sandbox.Start(sandbox.Config{Orders: orders, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfgPath, clients := sandboxClients(t, dir, sb)
	upay := clients[config.Key(adapters.Upay, term)]
	pid := map[string]string{}
	for _, o := range sb.Orders() {
		pid[o.OrderNo] = o.ProviderOrderID
	}
	send := func(orderNo, refundNo string, action adapters.Action, amount int64) {
		t.Helper()
		oc, err := upay.Refund(ctx, adapters.Refund{Provider: adapters.Upay, Account: term, OrderNo: orderNo,
			ProviderOrderID: pid[orderNo], RefundNo: refundNo, Action: action, Amount: amount, Total: 2500,
			Currency: money.CNY, Operator: "test", PaymentMethod: "wechatpay"})
		if err != nil || oc.Status != adapters.StatusSucceeded {
			t.Fatalf("%s %s: %+v %v", action, orderNo, oc, err)
		}
	}
	send("RV-OK", "", adapters.ActionRevoke, 2500)
	send("RV-REF", "RF-1", adapters.ActionRefund, 1000)

	results := filepath.Join(dir, "results.csv")
	f, err := os.Create(results)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	at := now.UTC().Format(time.RFC3339)
	rows := [][]string{
		{"row", "provider", "account", "order_no", "provider_order_id", "refund_no", "action", "amount", "currency", "state", "provider_refund_id", "provider_code", "provider_message", "attempts", "first_attempt", "last_attempt", "error"},
		{"2", "upay", term, "RV-OK", pid["RV-OK"], "", "revoke", "25.00", "CNY", "succeeded", "", "CANCEL_SUCCESS", "", "1", at, at, ""},
		{"3", "upay", term, "RV-NOT", pid["RV-NOT"], "", "revoke", "25.00", "CNY", "succeeded", "", "CANCEL_SUCCESS", "", "1", at, at, ""},
		{"4", "upay", term, "RV-REF", pid["RV-REF"], "", "revoke", "25.00", "CNY", "succeeded", "", "CANCEL_SUCCESS", "", "1", at, at, ""},
		{"5", "upay", term, "RV-REF", pid["RV-REF"], "RF-1", "refund", "10.00", "CNY", "succeeded", "", "REFUND_SUCCESS", "", "1", at, at, ""},
	}
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	f.Close()

	out := filepath.Join(dir, "report.json")
	code, stdout, stderr := runProcess(t, "--results", results, "--lookup", "--config", cfgPath, "--tz", "UTC", "--json", out)
	if code != 1 || !strings.Contains(stdout, "reconciled 4 refunds: MATCHED=2 MISSING_AT_PROVIDER=2\n") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	var doc map[string][]map[string]any
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	type row struct{ order, action, cat, status, provAmount string }
	var got []row
	for _, r := range doc["all_refunds"] {
		s := func(k string) string { v, _ := r[k].(string); return v }
		got = append(got, row{s("order_no"), s("action"), s("category"), s("provider_status"), s("provider_amount")})
	}
	want := []row{
		{"RV-NOT", "revoke", "MISSING_AT_PROVIDER", "", ""},
		{"RV-OK", "revoke", "MATCHED", "succeeded", "25.00"},
		{"RV-REF", "refund", "MATCHED", "succeeded", "10.00"},
		{"RV-REF", "revoke", "MISSING_AT_PROVIDER", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if r := doc["all_refunds"][0]; !strings.Contains(r["reason"].(string), "does not show the order as revoked") ||
		!strings.Contains(r["what_to_do"].(string), "refund the order instead") {
		t.Errorf("a missing revoke explained as %q / %q", r["reason"], r["what_to_do"])
	}
}
