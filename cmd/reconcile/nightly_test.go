package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

// TestREADMENightly is the README's month end to end as real processes
// against the sandbox holding the sample's orders: `bulkrefund run` sends
// the 230 refunds of samples/refunds.xlsx into a ledger, then the nightly
// cron command reconciles the ledger through live lookups. Upay's query
// shows only an order's latest transaction: the 21 earlier refunds of
// orders with several refunds are confirmed by the order's refunded total,
// so the night is clean — MATCHED 230, exit 0.
//
// Then a refund is made in the provider's dashboard on one of those Upay
// orders: the next night finds the order's total off (the order-level row
// and our refund there, unconfirmed), exit 1. An auditor explains both with
// `reconcile resolve`; the night after is exit 0 again, with both listed as
// explained.
func TestREADMENightly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bulkrefund and runs the sample against the sandbox")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	dir := t.TempDir()
	bulkrefund := filepath.Join(dir, "bulkrefund")
	if out, err := exec.Command(gobin, "build", "-o", bulkrefund, "../bulkrefund").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	samples := filepath.Join("..", "..", "samples")
	orders, err := sandbox.LoadOrders(filepath.Join(samples, "orders.csv"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.Start(sandbox.Config{Orders: orders})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg := writeSandboxConfig(t, dir, sb)
	ledger := filepath.Join(dir, "ledger.db")

	run := exec.Command(bulkrefund, "run", filepath.Join(samples, "refunds.xlsx"), "--config", cfg, "--ledger", ledger,
		"--yes", "--poll", "10s", "--quiet")
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("bulkrefund run: %v\n%s", err, out)
	}

	nightly := func() (int, string, string) {
		return runProcess(t, "--ledger", ledger, "--lookup", "--config", cfg, "--orders", filepath.Join(samples, "orders.csv"),
			"--tz", "Asia/Shanghai", "-o", filepath.Join(dir, "report.xlsx"), "--csv", filepath.Join(dir, "report-csv"),
			"--json", filepath.Join(dir, "report.json"))
	}
	code, stdout, stderr := nightly()
	if code != 0 || !strings.Contains(stdout, "reconciled 230 refunds: MATCHED=230\n") {
		t.Fatalf("nightly: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	all := readCSVFile(t, filepath.Join(dir, "report-csv", "all_refunds.csv"))
	confirmed := 0
	for _, r := range all {
		if strings.Contains(r["reason"], "Confirmed by the order's refunded total") {
			confirmed++
			if r["provider_amount"] != r["our_amount"] || r["provider_status"] != "succeeded" {
				t.Errorf("%s: confirmed row shows provider %s %s, ours %s", r["refund_no"], r["provider_amount"], r["provider_status"], r["our_amount"])
			}
		}
	}
	if confirmed != 21 {
		t.Errorf("%d refunds confirmed by their order's refunded total, want the 21 earlier Upay refunds", confirmed)
	}

	// A dashboard refund on a Upay order with one refund of ours.
	body := `{"provider":"upay","account":"100000330000000001","order_no":"SQB20261100004","refund_no":"DASH-1","amount":"1.00"}`
	resp, err := http.Post(sb.URL()+"/_sandbox/refunds", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("out-of-band refund: %d %s", resp.StatusCode, b)
	}
	code, stdout, stderr = nightly()
	if code != 1 || !strings.Contains(stdout, "reconciled 231 refunds: MATCHED=229 AMOUNT_MISMATCH=2\n") {
		t.Fatalf("after the dashboard refund: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	exc := jsonTable(t, filepath.Join(dir, "report.json"), "exceptions")
	var ids []string
	for _, e := range exc {
		ids = append(ids, e["exception_id"].(string))
	}
	const orderID = "upay/100000330000000001/SQB20261100004/order refunded total"
	if len(ids) != 2 || ids[0] != "upay/100000330000000001/SQB20261100004/R20261100004-1" && ids[1] != "upay/100000330000000001/SQB20261100004/R20261100004-1" {
		t.Fatalf("exceptions %v", ids)
	}
	for _, e := range exc {
		if e["exception_id"] == orderID && !strings.Contains(e["reason"].(string), "1,458.79") && !strings.Contains(e["reason"].(string), "1458.79") {
			t.Errorf("order-level reason lacks the provider's total: %v", e["reason"])
		}
	}

	// Explanations: refused without a note; then by refund number and by id.
	if code, _, stderr := runProcess(t, "resolve", "R20261100004-1", "--by", "ann", "--ledger", ledger); code != 2 || !strings.Contains(stderr, "--note") {
		t.Errorf("resolve without a note: exit %d %s", code, stderr)
	}
	if code, _, stderr := runProcess(t, "resolve", "NOPE-1", "--note", "x", "--by", "ann", "--ledger", ledger); code != 2 || !strings.Contains(stderr, "no open exception") {
		t.Errorf("resolve of nothing: exit %d %s", code, stderr)
	}
	for _, target := range []string{"R20261100004-1", orderID} {
		code, stdout, stderr := runProcess(t, "resolve", target, "--note", "store refund of a damaged item, ticket 912", "--by", "auditor-ann", "--ledger", ledger)
		if code != 0 || !strings.Contains(stdout, "explained ") {
			t.Fatalf("resolve %s: exit %d\n%s%s", target, code, stdout, stderr)
		}
	}
	code, stdout, stderr = nightly()
	if code != 0 || !strings.Contains(stdout, "explained exceptions: 2") {
		t.Fatalf("after the explanations: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	res := jsonTable(t, filepath.Join(dir, "report.json"), "resolved")
	if len(res) != 2 || len(jsonTable(t, filepath.Join(dir, "report.json"), "exceptions")) != 0 {
		t.Fatalf("resolved %v", res)
	}
	for _, r := range res {
		if r["note"] != "store refund of a damaged item, ticket 912" || r["resolved_by"] != "auditor-ann" || r["resolved_at"] == "" {
			t.Errorf("resolved row %v", r)
		}
	}
}

func readCSVFile(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func jsonTable(t *testing.T, path, key string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string][]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", path, err))
	}
	return doc[key]
}
