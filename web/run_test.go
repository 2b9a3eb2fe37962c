package web_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// TestRunInServer: the sample (230 refunds, four providers) submitted by a
// maker, approved by a checker, run in the server; every refund succeeds,
// PayEase's through its notifications; results and the report download
// and read back; the audit trail tells who did what.
func TestRunInServer(t *testing.T) {
	e := newEnv(t, envOptions{controls: approvalAlways, notifyDelay: 2 * time.Second})
	alice, bob := e.as("alice"), e.as("bob")
	id := alice.submitSheet(sampleXLSX)
	if p := bob.post("/batches/"+id+"/approve", url.Values{"comment": {"matches FIN-2231"}}); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", p.status, p.body)
	}
	started := time.Now()
	if p := alice.post("/batches/"+id+"/run", nil); p.status != http.StatusSeeOther || !strings.HasSuffix(p.loc, "/watch?done=started") {
		t.Fatalf("run: %d %s %s", p.status, p.loc, p.body)
	}
	// A second start while it runs goes to the same run.
	if p := alice.post("/batches/"+id+"/run", nil); p.status != http.StatusSeeOther {
		t.Fatalf("second run: %d", p.status)
	}
	// The event stream reports progress until the run ends.
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/batches/"+id+"/events", nil)
	res, err := alice.hc.Do(req)
	if err != nil || res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", res, err)
	}
	events, ended := 0, false
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "event: progress") {
			events++
		}
		if strings.HasPrefix(line, "event: end") {
			ended = true
			break
		}
	}
	res.Body.Close()
	if !ended || events == 0 {
		t.Fatalf("event stream: %d progress events, ended %v", events, ended)
	}
	p := alice.waitRun(id, 2*time.Minute)
	t.Logf("run ended %v after start", time.Since(started))
	if p["done"].(float64) != 230 || p["pending"].(float64) != 47 || p["status"] != store.BatchRunning {
		t.Fatalf("progress at the run's end: %v; want PayEase's 47 pending", p)
	}
	// PayEase accepts a refund and settles it later; with no polling, its
	// notifications settle them.
	waitSucceeded(t, alice, id, 230)
	if n := strings.Count(e.logs(), `notification settled a refund" provider=payease`); n == 0 {
		t.Errorf("no PayEase refund was settled by its notification")
	} else {
		t.Logf("%d PayEase refunds settled by their notification", n)
	}
	settledOK(t, e, id)

	dl := alice.get("/batches/" + id + "/results.xlsx")
	if dl.status != http.StatusOK {
		t.Fatalf("results: %d %s", dl.status, dl.body)
	}
	x, err := excelize.OpenReader(strings.NewReader(dl.body))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows(x.GetSheetName(0))
	if err != nil || len(rows) != 231 {
		t.Fatalf("results rows: %d %v", len(rows), err)
	}

	started = time.Now()
	rep := e.as("carol").get("/batches/" + id + "/report.xlsx")
	t.Logf("report took %v", time.Since(started))
	if rep.status != http.StatusOK {
		t.Fatalf("report: %d %s", rep.status, rep.body)
	}
	rx, err := excelize.OpenReader(strings.NewReader(rep.body))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rx.GetSheetList(), "Summary") {
		t.Fatalf("report sheets: %v", rx.GetSheetList())
	}
	waitStatus(t, e, id, store.BatchDone)
	acts := e.auditActions(id)
	for _, want := range []string{"alice uploaded", "alice submitted", "bob approved", "alice ran", "carol report"} {
		if !slices.Contains(acts, want) {
			t.Errorf("audit lacks %q: %v", want, acts)
		}
	}
	// The run ended with PayEase's refunds pending (their notifications
	// came later): the server marked the batch finished once they settled
	// the last of them.
	if !slices.Contains(acts, "bulkrefund finished") || slices.Contains(acts, "alice finished") {
		t.Errorf("audit: %v; want the batch finished by the notifications", acts)
	}
	audit := e.as("carol").get("/audit?batch=" + id)
	for _, want := range []string{"matches FIN-2231", "bob", "approved", "ran"} {
		if !strings.Contains(audit.body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	// Done: a batch whose every refund is final does not run again.
	if p := alice.post("/batches/"+id+"/run", nil); p.status != http.StatusConflict {
		t.Errorf("running a finished batch: %d", p.status)
	}
}

// waitStatus waits until the batch has status st.
func waitStatus(t *testing.T, e *env, id, st string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := e.Ledger.Batch(context.Background(), id)
		if err == nil && m.Status == st {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch status %q, want %q (%v)", m.Status, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSucceeded waits until want refunds of the batch succeeded.
func waitSucceeded(t *testing.T, c *client, id string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := c.progress(id)
		if int(p["succeeded"].(float64)) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v succeeded of %d wanted: %v", p["succeeded"], want, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTypedTotalOnTheWeb: above the typed-confirmation threshold the run
// form asks for each currency's total; a wrong one sends nothing.
func TestTypedTotalOnTheWeb(t *testing.T) {
	e := newEnv(t, envOptions{controls: `{"typed_confirmation": {"above": {"CNY": "1000.00"}}}`})
	alice := e.as("alice")
	id := alice.submitSheet(sampleXLSX)
	page := alice.get("/batches/" + id).body
	if !strings.Contains(page, `name="total_CNY"`) {
		t.Fatal("the run form does not ask for the CNY total")
	}
	if p := alice.post("/batches/"+id+"/run", url.Values{"total_CNY": {"1.00"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Nothing was sent") {
		t.Fatalf("wrong total: %d %s", p.status, p.body)
	}
	if n := len(e.Sandbox.Ledger()); n != 0 {
		t.Fatalf("%d refunds sent after a wrong total", n)
	}
	total := totalOf(t, page, "CNY")
	if p := alice.post("/batches/"+id+"/run", url.Values{"total_CNY": {total}}); p.status != http.StatusSeeOther {
		t.Fatalf("right total %s: %d %s", total, p.status, p.body)
	}
	alice.waitRun(id, 2*time.Minute)
}

// totalOf finds a currency's total in the plan's footer.
func totalOf(t *testing.T, page, cur string) string {
	t.Helper()
	i := strings.Index(page, "<th colspan=\"2\">Total</th><th>"+cur+"</th>")
	if i < 0 {
		t.Fatalf("no %s total on the page", cur)
	}
	cells := strings.Split(page[i:], "<th class=\"n\">")
	return strings.TrimSuffix(strings.SplitN(cells[2], "<", 2)[0], " ")
}
