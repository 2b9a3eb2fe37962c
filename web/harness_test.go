package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/pgtest"
	"github.com/bulkrefund/bulkrefund/web"
)

const (
	sampleXLSX   = "../samples/refunds.xlsx"
	sampleCSV    = "../samples/refunds.csv"
	sampleOrders = "../samples/orders.csv"
	password     = "correct horse battery"
)

// env is one server over loopback, with its ledger, the in-process sandbox
// as every provider, and four users: alice (maker), bob (checker), carol
// (auditor), dan (admin).
type env struct {
	t       *testing.T
	URL     string
	Ledger  *store.SQL
	Sandbox *sandbox.Sandbox
	Config  *config.Config
	DataDir string
	Server  *web.Server
	Log     *strings.Builder
}

type envOptions struct {
	controls string // the config's "controls" section, JSON
	poll     time.Duration
	noNotify bool // the sandbox sends no notification (PayEase refunds stay pending)
	postgres bool // the ledger on PostgreSQL (pgtest) instead of SQLite
	// notifyDelay holds each notification back this long (so that it
	// arrives after the run has ended).
	notifyDelay time.Duration
	faults      sandbox.Faults
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var l *store.SQL
	if o.postgres {
		l = pgtest.Open(t)
		if err := addUsers(ctx, l); err != nil {
			t.Fatal(err)
		}
	} else {
		// Each test starts from a copy of a ledger that holds the users
		// already: hashing their passwords (memory-hard on purpose) once
		// per test binary, not once per test.
		tmpl, err := os.ReadFile(usersLedger)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ledger.db"), tmpl, 0o600); err != nil {
			t.Fatal(err)
		}
		if l, err = app.OpenLedger(ctx, filepath.Join(dir, "ledger.db"), false); err != nil {
			t.Fatal(err)
		}
	}
	orders, err := sandbox.LoadOrders(sampleOrders, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	// The sample's rows name a notifyUrl off this machine, which the
	// sandbox never calls; its NotifyURL takes every notification instead,
	// and this relay hands each to the server's endpoint of its provider
	// (PayEase's carry an encryptKey header), as two notifyUrls would.
	sbc := sandbox.Config{Orders: orders, Faults: o.faults}
	if !o.noNotify {
		relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(o.notifyDelay)
			target := base + "/notify/nomad"
			if r.Header.Get("encryptKey") != "" {
				target = base + "/notify/payease"
			}
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, target, r.Body)
			req.Header = r.Header.Clone()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer res.Body.Close()
			w.WriteHeader(res.StatusCode)
			io.Copy(w, res.Body)
		}))
		t.Cleanup(relay.Close)
		sbc.NotifyURL = relay.URL
	}
	sb, err := sandbox.Start(sbc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.ForSandbox(sb.URL(), sb.Accounts())
	for i := range cfg.Accounts {
		// A rate of its own lets the report's live lookups go faster than
		// their gentle default for accounts without one.
		cfg.Accounts[i].Rate, cfg.Accounts[i].Burst = 500, 50
	}
	ctl, err := app.ParseControls([]byte(o.controls), "test config")
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	e := &env{t: t, URL: base, Ledger: l, Sandbox: sb, Config: cfg, DataDir: filepath.Join(dir, "data"), Log: logs}
	e.Server, err = web.New(ctx, web.Options{Ledger: l, Providers: cfg, Controls: ctl, DataDir: e.DataDir,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil)),
		Run:    runner.Options{Parallel: 8, Poll: o.poll, PollInterval: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	hs := web.NewHTTPServer("", e.Server.Handler())
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		e.Server.Close()
		sb.Close()
		l.Close()
	})
	return e
}

// usersLedger is a ledger file holding the test users, made by TestMain.
var usersLedger string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulkrefund-web-test-")
	if err != nil {
		panic(err)
	}
	usersLedger = filepath.Join(dir, "users.db")
	if err := makeUsersLedger(usersLedger); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := pgtest.Main(m) // runs the tests, with a throw-away PostgreSQL database
	os.RemoveAll(dir)
	os.Exit(code)
}

func makeUsersLedger(path string) error {
	ctx := context.Background()
	l, err := app.OpenLedger(ctx, path, false)
	if err != nil {
		return err
	}
	if err := addUsers(ctx, l); err != nil {
		l.Close()
		return err
	}
	return l.Close()
}

func addUsers(ctx context.Context, l *store.SQL) error {
	for _, u := range [][2]string{{"alice", web.RoleMaker}, {"bob", web.RoleChecker}, {"carol", web.RoleAuditor}, {"dan", web.RoleAdmin}, {"erin", web.RoleChecker}} {
		if err := web.AddUser(ctx, l, u[0], u[1], password, "test"); err != nil {
			return err
		}
	}
	return nil
}

// lockedWriter lets the server's logger be read by the test.
type lockedWriter struct {
	w *strings.Builder
}

var logMu sync.Mutex

func (l *lockedWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return l.w.Write(p)
}

func (e *env) logs() string {
	logMu.Lock()
	defer logMu.Unlock()
	return e.Log.String()
}

// client is a browser-like HTTP client of one signed-in user.
type client struct {
	t    *testing.T
	e    *env
	hc   *http.Client
	csrf string
}

func (e *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, e: e, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// as signs a user in and keeps their CSRF token.
func (e *env) as(name string) *client {
	e.t.Helper()
	c := e.anon()
	res := c.login(name, password)
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign-in of %s: %d %s", name, res.StatusCode, readAll(res))
	}
	page := c.get("/")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page.body)
	if m == nil {
		e.t.Fatalf("no CSRF token on the home page of %s", name)
	}
	c.csrf = m[1]
	return c
}

func (c *client) login(name, pw string) *http.Response {
	c.t.Helper()
	p := c.get("/login")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		c.t.Fatalf("no login token: %s", p.body)
	}
	res, err := c.hc.PostForm(c.e.URL+"/login", url.Values{"csrf": {m[1]}, "name": {name}, "password": {pw}, "next": {"/"}})
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

type page struct {
	status int
	body   string
	header http.Header
	loc    string
}

func readAll(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return string(b)
}

func (c *client) do(req *http.Request) page {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return page{status: res.StatusCode, body: readAll(res), header: res.Header, loc: res.Header.Get("Location")}
}

func (c *client) get(path string) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.URL+path, nil)
	return c.do(req)
}

// post sends a form with the user's CSRF token (unless form says "csrf").
func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, set := form["csrf"]; !set {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, c.e.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// upload sends a file as the upload form does: the CSRF token first, then
// the file under the name given.
func (c *client) upload(name string, content io.Reader) page {
	c.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("csrf", c.csrf)
		fw, err := mw.CreateFormFile("sheet", name)
		if err == nil {
			_, err = io.Copy(fw, content)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest(http.MethodPost, c.e.URL+"/upload", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

func (c *client) uploadFile(path string) page {
	c.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	return c.upload(filepath.Base(path), f)
}

var batchLink = regexp.MustCompile(`/batches/([0-9a-f]{64})`)

// submitSheet uploads a sheet and submits it as c; it returns the batch id.
func (c *client) submitSheet(path string) string {
	c.t.Helper()
	up := c.uploadFile(path)
	if up.status != http.StatusSeeOther || !strings.HasPrefix(up.loc, "/uploads/") {
		c.t.Fatalf("upload: %d %s", up.status, up.body)
	}
	sub := c.post(up.loc+"/submit", nil)
	m := batchLink.FindStringSubmatch(sub.loc)
	if sub.status != http.StatusSeeOther || m == nil {
		c.t.Fatalf("submit: %d %s %s", sub.status, sub.loc, sub.body)
	}
	return m[1]
}

// progress reads the batch's progress JSON.
func (c *client) progress(id string) map[string]any {
	c.t.Helper()
	p := c.get("/batches/" + id + "/progress")
	var m map[string]any
	if err := json.Unmarshal([]byte(p.body), &m); err != nil {
		c.t.Fatalf("progress: %d %s", p.status, p.body)
	}
	return m
}

// waitRun waits until the run of id has ended.
func (c *client) waitRun(id string, within time.Duration) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := c.progress(id)
		if p["running"] == false && p["done"].(float64) > 0 {
			return p
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run of %.16s not done in %v: %v", id, within, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// auditActions lists "actor action" of every audit entry of a batch.
func (e *env) auditActions(batchID string) []string {
	var out []string
	e.Ledger.AuditTrail(context.Background(), batchID, func(a store.Audit) error {
		out = append(out, a.Actor+" "+a.Action)
		return nil
	})
	return out
}

// editedSample writes the sample CSV with one cell changed.
func editedSample(t *testing.T, row int, column, value string) string {
	t.Helper()
	return editedCSV(t, sampleCSV, row, column, value)
}

// editedCSV writes a copy of the CSV at src with one cell changed (row as
// the spreadsheet numbers it, the header being row 1).
func editedCSV(t *testing.T, src string, row int, column, value string) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range recs[0] {
		if h == column {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("no column %s", column)
	}
	recs[row-1][col] = value
	out := filepath.Join(t.TempDir(), fmt.Sprintf("edited-%d.csv", row))
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cw := csv.NewWriter(w)
	cw.WriteAll(recs)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}
