package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

// The end-to-end test drives Debian's chromium, headless, through the
// pages as finance staff use them, against the server over loopback with
// the in-process sandbox as the providers. scripts/install-chromium.sh
// installs the browser; without it the test skips and says so.

// chromiumPath finds the browser: $BULKREFUND_CHROMIUM, /usr/bin/chromium,
// or chromium on $PATH.
func chromiumPath() string {
	if p := os.Getenv("BULKREFUND_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// screenshots is where the test leaves its screenshots: $BULKREFUND_SCREENSHOTS
// if set (to look at them afterwards), else the test's own directory.
func screenshots(t *testing.T) string {
	if d := os.Getenv("BULKREFUND_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

type browserSession struct {
	t     *testing.T
	ctx   context.Context
	e     *env
	shots string
}

func newBrowser(t *testing.T, e *env) *browserSession {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium not found (/usr/bin/chromium, $BULKREFUND_CHROMIUM or on $PATH): run scripts/install-chromium.sh as root to run the browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1360, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if _, err := chromedp.Run(ctx, chromedp.Location()); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browserSession{t: t, ctx: ctx, e: e, shots: screenshots(t)}
}

// do runs actions with a deadline.
func (b *browserSession) do(what string, within time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browserSession) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// shot saves a full-page screenshot as NAME.png.
func (b *browserSession) shot(name string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; below it chromium writes JPEG
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

func (b *browserSession) signIn(name string) {
	b.t.Helper()
	b.do("sign in as "+name, 30*time.Second,
		chromedp.Navigate(b.e.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=name]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), name),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.who .user`)),
	)
	if got := b.text(".who .user"); got != name {
		b.t.Fatalf("signed in as %q, want %q", got, name)
	}
}

func (b *browserSession) signOut() {
	b.t.Helper()
	b.do("sign out", 20*time.Second,
		chromedp.Click(chromedp.CSS(`.who button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)),
	)
}

func (b *browserSession) location() string {
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// TestBrowserEndToEnd: a maker uploads a bad sheet and sees its errors,
// uploads the sample and submits it; a checker approves it; the maker runs
// it and watches the progress reach 230 without reloading; the report
// downloads and reads back. Every page is screenshot.
func TestBrowserEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser through a whole run")
	}
	e := newEnv(t, envOptions{poll: 30 * time.Second, controls: `{"approval": {"always": true},
		"limits": {"max_refund": {"CNY": "5,000.00"}, "max_batch_total": {"CNY": "200,000.00"}, "max_rows": 10000,
			"accounts": [{"provider": "payease", "account": "890000593", "max_batch_total": {"CNY": "30,000.00"}}]}}`})
	b := newBrowser(t, e)

	b.do("open the sign-in page", 20*time.Second, chromedp.Navigate(e.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)))
	b.shot("01-login")
	b.signIn("alice")
	b.shot("02-home-empty")

	// A bad sheet: every bad row listed, its cells marked, the errors file offered.
	bad := editedCSV(t, editedSample(t, 5, "refund_amount", "12.345"), 9, "currency", "XYZ")
	bad = editedCSV(t, bad, 12, "refund_no", "")
	b.do("upload the bad sheet", 60*time.Second,
		chromedp.Navigate(e.URL+"/upload"),
		chromedp.WaitVisible(chromedp.CSS(`#upload-form`)),
	)
	b.shot("03-upload")
	b.do("send the bad sheet", 60*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS(`input[type=file]`), []string{bad}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.invalid`)),
	)
	b.shot("04-upload-errors")
	alert := b.text(".alert")
	if !strings.Contains(alert, "3 rows have problems") {
		t.Fatalf("bad sheet alert: %q", alert)
	}
	marked, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("td.cell-bad").length`))
	if err != nil || marked != 3 {
		t.Fatalf("marked cells: %d %v", marked, err)
	}
	reasons := b.text("table.invalid")
	for _, want := range []string{"12.345", "XYZ", "more decimals than the currency allows"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("invalid rows table lacks %q", want)
		}
	}
	if n, _ := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href$="/errors.xlsx"]').length`)); n != 1 {
		t.Error("no errors file link")
	}

	// The sample: the plan, then submit.
	sample, _ := filepath.Abs(sampleXLSX)
	b.do("upload the sample", 60*time.Second,
		chromedp.Navigate(e.URL+"/upload"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[type=file]`), []string{sample}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.plan`)),
	)
	b.shot("05-upload-plan")
	plan := b.text("table.plan")
	if !strings.Contains(plan, "230") || !strings.Contains(plan, "payease") {
		t.Fatalf("plan: %q", plan)
	}
	b.do("submit", 30*time.Second,
		chromedp.Click(chromedp.CSS(`form[action$="/submit"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#approval`)),
	)
	batchURL := strings.SplitN(b.location(), "?", 2)[0]
	id := batchURL[strings.LastIndex(batchURL, "/")+1:]
	b.shot("06-batch-submitted")
	if body := b.text("#approval"); !strings.Contains(body, "You submitted this batch") && strings.Contains(body, "Approve") {
		t.Errorf("the maker is offered approval: %q", body)
	}

	// The checker: sees the plan, the submitter, the hash and the rows; approves.
	b.signOut()
	b.signIn("bob")
	b.do("open the batch as the checker", 30*time.Second, chromedp.Navigate(batchURL), chromedp.WaitVisible(chromedp.CSS(`form[action$="/approve"]`)))
	b.shot("07-approve")
	facts := b.text("dl.facts")
	if !strings.Contains(facts, "alice") || !strings.Contains(facts, id) {
		t.Errorf("the checker's page lacks the submitter or the hash: %q", facts)
	}
	if rows := b.text("#rows table"); !strings.Contains(rows, "R20261100001-1") {
		t.Errorf("the checker's page lacks the rows")
	}
	b.do("approve", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS(`form[action$="/approve"] textarea`), "核对无误 — matches FIN-2231"),
		chromedp.Click(chromedp.CSS(`form[action$="/approve"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
	)
	b.shot("08-approved")
	if got := b.text("#approval"); !strings.Contains(got, "Approved by bob") || !strings.Contains(got, "核对无误") {
		t.Fatalf("after approval: %q", got)
	}

	// The maker runs it and watches.
	b.signOut()
	b.signIn("alice")
	b.do("run", 30*time.Second,
		chromedp.Navigate(batchURL),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/run"] button`)),
		chromedp.Click(chromedp.CSS(`form[action$="/run"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#progress`)),
	)
	start := time.Now()
	b.shot("09-watch-started")
	// The page updates itself (server-sent events): no navigation here.
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	done, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('[data-field=done]').textContent.trim() === "230" && document.getElementById("run-state").textContent !== "running"`,
		chromedp.WithPollingInterval(200*time.Millisecond)))
	cancel()
	if err != nil || !done {
		b.shot("failed-watch")
		t.Fatalf("progress did not reach 230: %v (page says %q)", err, b.text("#progress .big"))
	}
	t.Logf("progress reached 230 in %v", time.Since(start))
	// The rows table refreshed in place too: its first row, planned when
	// the page loaded, now shows succeeded.
	ctx, cancel = context.WithTimeout(b.ctx, 20*time.Second)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#rows tbody tr .status').textContent === "succeeded"`,
		chromedp.WithPollingInterval(200*time.Millisecond)))
	cancel()
	if err != nil {
		t.Errorf("the rows table did not refresh in place: %v", err)
	}
	b.shot("10-watch-done")
	if got := b.text("[data-field=succeeded]"); got != "230" {
		t.Errorf("succeeded: %q", got)
	}
	if loc := b.location(); !strings.HasSuffix(strings.SplitN(loc, "?", 2)[0], "/watch") {
		t.Errorf("the watch page navigated away: %s", loc)
	}

	// Search the rows.
	b.do("search a row", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#rows input[name=q]`), "R20261100001-2"),
		chromedp.Submit(chromedp.CSS(`#rows form`)),
		chromedp.WaitVisible(chromedp.CSS(`#rows a[href$="/watch"]`)),
	)
	if rows := b.text("#rows tbody"); !strings.Contains(rows, "R20261100001-2") || strings.Contains(rows, "R20261100001-3") {
		t.Errorf("search result: %q", rows)
	}
	b.shot("11-watch-search")

	// Download the report through the browser and read it back.
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: "allowAndName", DownloadPath: dl, EventsEnabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	finished := make(chan string, 1)
	evctx, evcancel := context.WithCancel(b.ctx)
	defer evcancel()
	go func() {
		for ev, err := range chromedp.BrowserEvents(evctx, browser.DownloadProgress) {
			if err != nil {
				return
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				finished <- filepath.Join(dl, ev.GUID)
				return
			}
		}
	}()
	b.do("download the report", 30*time.Second, chromedp.Click(chromedp.CSS(`#progress a[href$="/report.xlsx"]`)))
	var report string
	select {
	case report = <-finished:
	case <-time.After(2 * time.Minute):
		t.Fatal("the report did not download")
	}
	x, err := excelize.OpenFile(report)
	if err != nil {
		t.Fatalf("the downloaded report: %v", err)
	}
	defer x.Close()
	if sheets := x.GetSheetList(); !slices.Contains(sheets, "Summary") || !slices.Contains(sheets, "All refunds") {
		t.Fatalf("report sheets: %v", sheets)
	}
	all, err := x.GetRows("All refunds")
	if err != nil {
		t.Fatal(err)
	}
	// Every refund is in the report, MATCHED: the providers' records of
	// them agree (a Upay order's refunds confirmed together by its total).
	cats := map[string]int{}
	col := map[string]int{}
	for i, r := range all {
		if len(col) == 0 {
			for j, h := range r { // the header row, wherever the layout puts it
				col[h] = j
			}
			if _, ok := col["category"]; !ok {
				clear(col)
			} else if _, ok := col["provider"]; !ok {
				clear(col)
			}
			continue
		}
		if len(r) <= max(col["category"], col["provider"]) {
			continue
		}
		cat := r[col["category"]]
		cats[cat]++
		if cat != "MATCHED" {
			t.Errorf("report row %d: %q", i, r)
		}
	}
	t.Logf("report categories: %v", cats)
	if cats["MATCHED"] != 230 {
		t.Errorf("report: %v; want the 230 refunds MATCHED", cats)
	}

	// The other pages.
	b.do("audit log", 20*time.Second, chromedp.Navigate(e.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS(`table.audit`)))
	b.shot("12-audit")
	audit := b.text("table.audit")
	for _, want := range []string{"uploaded", "submitted", "approved", "ran", "finished", "核对无误"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
	b.do("batches", 20*time.Second, chromedp.Navigate(e.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`table.list`)))
	b.shot("13-home")
	b.do("batch done", 20*time.Second, chromedp.Navigate(batchURL), chromedp.WaitVisible(chromedp.CSS(`#rows`)))
	b.shot("14-batch-done")

	// A refund done by hand in QuickPay's dashboard, found by the nightly
	// reconciliation two nights ago and last night; an auditor explains it.
	if _, err := e.Sandbox.AddOutOfBand(sandbox.OutOfBand{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "2026110100103", Amount: 1234}); err != nil {
		t.Fatal(err)
	}
	nightly(t, e, []string{id}, time.Now().Add(-48*time.Hour))
	nightly(t, e, []string{id}, time.Now().Add(-24*time.Hour))
	b.signOut()
	b.signIn("carol")
	b.do("reconcile", 20*time.Second, chromedp.Navigate(e.URL+"/reconcile"), chromedp.WaitVisible(chromedp.CSS(`table.exceptions`)))
	b.shot("15-reconcile")
	if got := b.text("table.exceptions tbody"); !strings.Contains(got, "UNEXPECTED_AT_PROVIDER") || !strings.Contains(got, "2 days") {
		t.Errorf("reconcile page: %q", got)
	}
	b.do("explain", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS(`table.exceptions textarea`), "门店在后台手工退款 12.34 — refunded by hand in the dashboard, ticket FIN-2250"),
		chromedp.Click(chromedp.CSS(`table.exceptions form button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
	)
	b.shot("16-reconcile-explained")
	if got := b.text("table.exceptions tbody"); !strings.Contains(got, "carol") || !strings.Contains(got, "FIN-2250") {
		t.Errorf("the explanation is not shown: %q", got)
	}
	b.do("audit log with the explanation", 20*time.Second, chromedp.Navigate(e.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS(`table.audit`)))
	if got := b.text("table.audit tbody tr"); !strings.Contains(got, "explained") || !strings.Contains(got, "carol") {
		t.Errorf("the newest audit entry is not the explanation: %q", got)
	}
	b.shot("17-audit-explained")
}
