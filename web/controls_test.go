package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// The sample's largest refund is 1,000.00 CNY or less; its CNY total is
// far above 100.00.
const approvalAlways = `{"approval": {"always": true}}`

func TestSignInRequired(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.anon()
	for _, path := range []string{"/", "/upload", "/audit", "/reconcile"} {
		if p := c.get(path); p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/login") {
			t.Errorf("GET %s signed out: %d → %q", path, p.status, p.loc)
		}
	}
	if p := c.post("/upload", nil); p.status != http.StatusUnauthorized {
		t.Errorf("POST signed out: %d", p.status)
	}
	if res := c.login("alice", "wrong password!"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", res.StatusCode)
	}
	if res := c.login("nobody", password); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown user: %d", res.StatusCode)
	}
}

func TestSecurityHeadersAndCookies(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.anon()
	res := c.login("alice", password)
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "bulkrefund-session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", session)
	}
	for _, path := range []string{"/login", "/static/app.css"} {
		p := c.get(path)
		h := p.header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	// No page carries an inline script or an inline event handler (the
	// CSP would block them; none may be needed).
	alice := e.as("alice")
	for _, path := range []string{"/", "/upload", "/audit", "/reconcile"} {
		body := alice.get(path).body
		if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, "style=") {
			t.Errorf("%s has inline script or style", path)
		}
	}
}

// TestCSRFTokenRequired: a state-changing request without the session's
// CSRF token, or with another's, is refused and changes nothing.
func TestCSRFTokenRequired(t *testing.T) {
	e := newEnv(t, envOptions{controls: approvalAlways})
	alice, bob := e.as("alice"), e.as("bob")
	id := alice.submitSheet(sampleXLSX)
	for name, form := range map[string]url.Values{
		"missing":       {"csrf": {""}, "comment": {"ok"}},
		"another's":     {"csrf": {alice.csrf}, "comment": {"ok"}},
		"made up":       {"csrf": {"AAAA"}, "comment": {"ok"}},
		"absent at all": nil,
	} {
		var p page
		if form == nil {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/batches/"+id+"/approve", strings.NewReader("comment=ok"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			p = bob.do(req)
		} else {
			p = bob.post("/batches/"+id+"/approve", form)
		}
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "CSRF") {
			t.Errorf("%s token: %d %s", name, p.status, p.body)
		}
	}
	// An upload without the token is refused before the file is read.
	saved := alice.csrf
	alice.csrf = "nope"
	if p := alice.uploadFile(sampleCSV); p.status != http.StatusForbidden {
		t.Errorf("upload without token: %d", p.status)
	}
	alice.csrf = saved
	// A cross-site request is refused even with a token.
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/batches/"+id+"/approve", strings.NewReader(url.Values{"csrf": {bob.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := bob.do(req); p.status != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", p.status)
	}
	if acts := e.auditActions(id); slices.Contains(acts, "bob approved") {
		t.Fatalf("an approval got through: %v", acts)
	}
	// With the token it goes through.
	if p := bob.post("/batches/"+id+"/approve", url.Values{"comment": {"ok"}}); p.status != http.StatusSeeOther {
		t.Fatalf("approve with token: %d %s", p.status, p.body)
	}
}

// TestRolesEnforced: each action refuses the roles that may not do it, on
// the server, whatever a page shows.
func TestRolesEnforced(t *testing.T) {
	e := newEnv(t, envOptions{controls: approvalAlways})
	alice, bob, carol := e.as("alice"), e.as("bob"), e.as("carol")
	id := alice.submitSheet(sampleXLSX)
	for _, tc := range []struct {
		who  *client
		name string
		path string
	}{
		{alice, "maker approves", "/batches/" + id + "/approve"},
		{alice, "maker rejects", "/batches/" + id + "/reject"},
		{carol, "auditor approves", "/batches/" + id + "/approve"},
		{carol, "auditor runs", "/batches/" + id + "/run"},
		{bob, "checker runs", "/batches/" + id + "/run"},
		{carol, "auditor submits", "/uploads/0123456789abcdef0123456789abcdef/submit"},
		{bob, "checker uploads", "/upload"},
	} {
		p := tc.who.post(tc.path, url.Values{"comment": {"x"}})
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "may not do this") {
			t.Errorf("%s: %d %.200s", tc.name, p.status, p.body)
		}
	}
	if p := carol.post("/reconcile/explain", url.Values{"note": {"x"}}); p.status == http.StatusForbidden {
		t.Errorf("the auditor may explain: %d", p.status)
	}
	// Approved, the batch still cannot be run by the auditor.
	if p := bob.post("/batches/"+id+"/approve", nil); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", p.status, p.body)
	}
	if p := carol.post("/batches/"+id+"/run", nil); p.status != http.StatusForbidden {
		t.Errorf("auditor runs an approved batch: %d", p.status)
	}
	if acts := e.auditActions(id); slices.Contains(acts, "carol ran") {
		t.Fatalf("the auditor ran it: %v", acts)
	}
	// The pages do not offer what the role may not do.
	if body := carol.get("/batches/" + id).body; strings.Contains(body, "/run\"") || strings.Contains(body, ">Approve<") {
		t.Errorf("the auditor's batch page offers run or approve")
	}
}

// TestSelfApprovalRefused: the maker of a batch cannot approve it, even as
// an admin who holds the checker role.
func TestSelfApprovalRefused(t *testing.T) {
	e := newEnv(t, envOptions{controls: approvalAlways})
	dan, bob := e.as("dan"), e.as("bob")
	id := dan.submitSheet(sampleXLSX)
	body := dan.get("/batches/" + id).body
	if strings.Contains(body, ">Approve<") || !strings.Contains(body, "You submitted this batch") {
		t.Errorf("the maker's page offers approval")
	}
	p := dan.post("/batches/"+id+"/approve", url.Values{"comment": {"mine"}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "cannot approve") {
		t.Fatalf("self-approval: %d %s", p.status, p.body)
	}
	if p := dan.post("/batches/"+id+"/run", nil); p.status != http.StatusForbidden || !strings.Contains(p.body, "needs a second person") {
		t.Fatalf("running unapproved: %d %s", p.status, p.body)
	}
	if p := bob.post("/batches/"+id+"/approve", url.Values{"comment": {"checked"}}); p.status != http.StatusSeeOther {
		t.Fatalf("approval by another: %d %s", p.status, p.body)
	}
	acts := e.auditActions(id)
	if !slices.Contains(acts, "dan submitted") || !slices.Contains(acts, "bob approved") || slices.Contains(acts, "dan approved") {
		t.Fatalf("audit: %v", acts)
	}
}

// TestOverLimitRefused: a sheet over a limit is shown with the rows and
// totals that break it, and can be neither submitted nor run.
func TestOverLimitRefused(t *testing.T) {
	e := newEnv(t, envOptions{controls: `{"limits": {"max_refund": {"CNY": "500.00"}, "max_batch_total": {"CNY": "10000.00"},
		"accounts": [{"provider": "quickpay", "account": "SH001", "max_rows": 5}]}}`})
	alice := e.as("alice")
	up := alice.uploadFile(sampleXLSX)
	view := alice.get(up.loc)
	for _, want := range []string{"Over the limits", "above the max_refund limit of 500.00 CNY", "is above the max_batch_total limit of 10,000.00 CNY",
		"quickpay/SH001: ", "the limit (max_rows) is 5", "broken"} {
		if !strings.Contains(view.body, want) {
			t.Errorf("upload page lacks %q", want)
		}
	}
	if strings.Contains(view.body, "Submit for approval") {
		t.Error("an over-limit sheet is offered for submission")
	}
	if p := alice.post(up.loc+"/submit", nil); p.status != http.StatusConflict {
		t.Errorf("submitting over the limits: %d", p.status)
	}
	if bs, _ := e.Ledger.Batches(context.Background()); len(bs) != 0 {
		t.Fatalf("an over-limit batch was recorded: %v", bs)
	}
	if got := len(e.Sandbox.Ledger()); got != 0 {
		t.Fatalf("%d refunds reached the provider", got)
	}
}

// TestApprovalVoidedByChange: an approval holds for the rows approved; the
// same sheet with one amount changed is another batch, which has none.
func TestApprovalVoidedByChange(t *testing.T) {
	e := newEnv(t, envOptions{controls: approvalAlways})
	alice, bob := e.as("alice"), e.as("bob")
	id := alice.submitSheet(sampleCSV)
	if p := bob.post("/batches/"+id+"/approve", nil); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d", p.status)
	}
	// Row 3's reason: 商品缺货 → 客户要求. (Another amount under the same
	// refund number is refused by the ledger outright, approval or not.)
	edited := editedSample(t, 3, "reason", "客户要求")
	id2 := alice.submitSheet(edited)
	if id2 == id {
		t.Fatal("the edited sheet kept the approved batch's id")
	}
	p := alice.post("/batches/"+id2+"/run", nil)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "needs a second person") {
		t.Fatalf("running the changed sheet: %d %s", p.status, p.body)
	}
	if body := alice.get("/batches/" + id2).body; strings.Contains(body, "Run this batch now") {
		t.Error("the changed batch is offered to run")
	}
	if got := len(e.Sandbox.Ledger()); got != 0 {
		t.Fatalf("%d refunds reached the provider", got)
	}
	// A checker rejects the changed one; it can never run, not even by
	// an admin, and the approved one still runs.
	if p := bob.post("/batches/"+id2+"/reject", url.Values{"comment": {"row 3 amount differs from the ticket"}}); p.status != http.StatusSeeOther {
		t.Fatalf("reject: %d %s", p.status, p.body)
	}
	if p := e.as("dan").post("/batches/"+id2+"/run", nil); p.status != http.StatusForbidden || !strings.Contains(p.body, "rejected") {
		t.Fatalf("running a rejected batch: %d %s", p.status, p.body)
	}
	if p := bob.post("/batches/"+id2+"/approve", nil); p.status != http.StatusConflict {
		t.Fatalf("approving after rejection: %d %s", p.status, p.body)
	}
	if p := alice.post("/batches/"+id+"/run", nil); p.status != http.StatusSeeOther {
		t.Fatalf("running the approved batch: %d %s", p.status, p.body)
	}
	alice.waitRun(id, 60*time.Second)
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.anon()
	codes := []int{}
	for range 5 {
		codes = append(codes, c.login("bob", "not the password").StatusCode)
	}
	res := c.login("bob", password)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("after %v, the right password: %d; want 429 with Retry-After", codes, res.StatusCode)
	}
	// Another user from the same address is still let in.
	if res := e.anon().login("alice", password); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another user: %d", res.StatusCode)
	}
	if !strings.Contains(e.logs(), "sign-in rate limited") {
		t.Error("rate limiting not logged")
	}
}

// TestUploadStaysInDataDir: whatever the file is called, it is stored under
// the data directory with a generated name; a link planted there cannot
// lead a write out of it; a file that is neither CSV nor XLSX is refused.
func TestUploadStaysInDataDir(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.as("alice")
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.MkdirAll(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	// A symlink inside the data directory pointing out of it.
	if err := os.Symlink(outside, filepath.Join(e.DataDir, "uploads", "escape")); err != nil {
		t.Fatal(err)
	}
	sample, _ := os.ReadFile(sampleCSV)
	for _, name := range []string{"../../../../" + filepath.Base(outside) + "/evil.csv", "/etc/passwd", "escape/x.csv", "..\\..\\win.csv", "退款.csv"} {
		p := alice.upload(name, bytes.NewReader(sample))
		if p.status != http.StatusSeeOther {
			t.Fatalf("upload %q: %d %s", name, p.status, p.body)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("files written outside the data directory: %v", ents)
	}
	ents, _ := os.ReadDir(filepath.Join(e.DataDir, "uploads"))
	for _, en := range ents {
		if en.Name() == "escape" {
			continue
		}
		if !validStoredName(en.Name()) {
			t.Errorf("stored name %q is not generated", en.Name())
		}
	}
	// Content decides the type, not the name.
	for name, content := range map[string][]byte{
		"sheet.csv":  {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0},
		"sheet.xlsx": []byte("<html><script>alert(1)</script></html>"),
		"old.xlsx":   append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 100)...),
	} {
		p := alice.upload(name, bytes.NewReader(content))
		if p.status != http.StatusUnsupportedMediaType {
			t.Errorf("%s (%q…): %d %.200s", name, content[:4], p.status, p.body)
		}
	}
	// Over the size limit: refused, and nothing kept.
	big := bytes.Repeat([]byte("a,b,c\n"), (64<<20)/6+10)
	if p := alice.upload("big.csv", bytes.NewReader(big)); p.status != http.StatusRequestEntityTooLarge {
		t.Errorf("over the size limit: %d", p.status)
	}
	after, _ := os.ReadDir(filepath.Join(e.DataDir, "uploads"))
	for _, en := range after {
		if strings.HasSuffix(en.Name(), ".part") {
			t.Errorf("a refused upload left %s", en.Name())
		}
	}
}

func validStoredName(n string) bool {
	id, rest, ok := strings.Cut(n, ".")
	if !ok || len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return false
	}
	return rest == "csv" || rest == "xlsx" || rest == "errors.xlsx" || rest == "invalid.jsonl"
}

// TestBadSheetShowsEveryError: every invalid row is listed with the cells
// at fault marked and the reason in words, and the errors file opens.
func TestBadSheetShowsEveryError(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.as("alice")
	bad := editedSample(t, 5, "refund_amount", "12.345")
	bad2 := editedCSV(t, bad, 9, "currency", "XYZ")
	up := alice.uploadFile(bad2)
	view := alice.get(up.loc)
	for _, want := range []string{"2 rows have problems", `class="cell-bad" title="`, "12.345", "XYZ", "more decimals than the currency allows",
		"errors.xlsx"} {
		if !strings.Contains(view.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(view.body, "Submit for approval") {
		t.Error("an invalid sheet is offered for submission")
	}
	dl := alice.get(up.loc + "/errors.xlsx")
	if dl.status != http.StatusOK || !strings.Contains(dl.header.Get("Content-Disposition"), "errors.xlsx") {
		t.Fatalf("errors file: %d %v", dl.status, dl.header)
	}
	x, err := excelize.OpenReader(strings.NewReader(dl.body))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := x.GetRows("Errors")
	if len(rows) != 3 || rows[1][len(rows[1])-2] != "5" || !strings.Contains(rows[1][len(rows[1])-1], "decimals") {
		t.Fatalf("errors file rows: %q", rows)
	}
}

// TestChineseRendersAndSecretsNeverShown: Chinese text from the sheet is on
// the pages as UTF-8, and no credential of any account is on any page.
func TestChineseRendersAndSecretsNeverShown(t *testing.T) {
	e := newEnv(t, envOptions{})
	dan := e.as("dan")
	id := dan.submitSheet(sampleXLSX)
	bob := e.as("bob")
	bob.post("/batches/"+id+"/approve", nil)
	pages := []string{"/", "/batches/" + id, "/batches/" + id + "/watch", "/audit", "/upload", "/reconcile", "/batches/" + id + "?q=" + url.QueryEscape("R20261100001-1")}
	var all strings.Builder
	for _, p := range pages {
		pg := dan.get(p)
		if pg.status != http.StatusOK {
			t.Errorf("%s: %d", p, pg.status)
		}
		if ct := pg.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
		all.WriteString(pg.body)
	}
	body := all.String()
	if !strings.Contains(body, "refunds.xlsx") || !strings.Contains(body, "R20261100001-1") {
		t.Errorf("pages lack the batch")
	}
	for _, a := range e.Sandbox.Accounts() {
		for _, secret := range []string{a.Secret, string(a.MerchantPrivateKeyPEM)} {
			if secret != "" && strings.Contains(body, strings.TrimSpace(secret)) {
				t.Errorf("a credential of %s is on a page", a.ID)
			}
		}
	}
	for _, s := range []string{"PRIVATE KEY", "argon2id", "$argon2"} {
		if strings.Contains(body, s) {
			t.Errorf("%q on a page", s)
		}
	}
	// The first row's Chinese operator name shows on the rows of the
	// results download is checked by the e2e test; here the sheet's Chinese
	// headers reach the invalid-rows table intact.
	bad := filepath.Join(t.TempDir(), "坏.csv")
	os.WriteFile(bad, []byte("渠道,商户号,订单号,退款单号,退款金额\nupay,100000330000000001,SQB20261100001,R1,一百\n"), 0o600)
	up := dan.uploadFile(bad)
	view := dan.get(up.loc).body
	for _, want := range []string{"<th>退款金额</th>", ">一百<", "坏.csv"} {
		if !strings.Contains(view, want) {
			t.Errorf("Chinese text %q not on the page", want)
		}
	}
}

// settledOK asserts the run's rows: every refund succeeded at the sandbox
// and in the ledger.
func settledOK(t *testing.T, e *env, id string) {
	t.Helper()
	v, err := e.Ledger.View(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	by := map[store.State]int{}
	v.Each(context.Background(), func(r store.Record) error { by[r.State]++; return nil })
	if by[store.Succeeded] != 230 {
		t.Fatalf("states: %v", by)
	}
	applied := 0
	for _, r := range e.Sandbox.Ledger() {
		if r.Status == adapters.StatusSucceeded {
			applied++
		}
	}
	if applied != 230 {
		t.Fatalf("sandbox holds %d succeeded refunds", applied)
	}
}
