package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

type sbxProc struct {
	cmd    *exec.Cmd
	url    string // as printed on the first line
	local  string // the same port on 127.0.0.1, to reach a sandbox listening on all interfaces
	stdout *bufio.Reader
	stderr *syncBuffer
}

// syncBuffer is a bytes.Buffer the process's stderr copier and the test can
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func sbxStart(t *testing.T, args ...string) *sbxProc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"sandbox"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &sbxProc{cmd: cmd, stdout: bufio.NewReader(out), stderr: stderr}
	line, err := p.stdout.ReadString('\n')
	if err != nil {
		cmd.Wait()
		t.Fatalf("no first line: %v; stderr: %s", err, stderr.String())
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "sandbox listening on ")
	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if !ok || !strings.HasPrefix(url, "http://") || err != nil {
		t.Fatalf("first line %q", line)
	}
	p.url, p.local = url, "http://127.0.0.1:"+port
	return p
}

// get fetches an admin endpoint with an optional bearer token.
func (p *sbxProc) get(t *testing.T, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.local+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// stop sends sig and returns the exit code and the rest of stdout.
func (p *sbxProc) stop(t *testing.T, sig os.Signal) (int, string) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(p.stdout)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("sandbox did not exit after the signal")
	}
	return p.cmd.ProcessState.ExitCode(), string(rest)
}

func TestSandboxCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "cfg")
	stmt := filepath.Join(dir, "statement.csv")
	ordersOut := filepath.Join(dir, "orders.csv")
	p := sbxStart(t, "--generate", "40", "--seed", "3", "--statement", stmt, "--write-config", cfgDir, "--write-orders", ordersOut)

	// The generated orders, written out, load back; pick a QuickPay one.
	orders, err := sandbox.LoadOrders(ordersOut, time.Now())
	if err != nil || len(orders) != 40 {
		t.Fatalf("orders: %d, %v", len(orders), err)
	}
	var qp sandbox.Order
	for _, o := range orders {
		if o.Provider == adapters.QuickPay {
			qp = o
			break
		}
	}
	if qp.OrderNo == "" {
		t.Fatal("no QuickPay order generated")
	}
	// Credentials from --write-config, used by hand: the key file signs a
	// hand-built QuickPay refund.
	key, err := os.ReadFile(filepath.Join(cfgDir, "quickpay_"+qp.Account+".key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(cfgDir, "quickpay_"+qp.Account+".key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	body := `{"store_no":"` + qp.Account + `","operator":"op","refund_amount":1,"order_no":"` + qp.OrderNo + `","refund_no":"CLI-1"}`
	m := hmac.New(sha256.New, bytes.TrimSpace(key))
	m.Write([]byte(body))
	req, _ := http.NewRequest("POST", p.url+"/QuickPay/Refund", strings.NewReader(body))
	req.Header.Set("X-QuickPay-Sign", hex.EncodeToString(m.Sum(nil)))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans map[string]any
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if ans["code"] != "SUCCESS" {
		t.Fatalf("refund through the process: %v", ans)
	}

	code, rest := p.stop(t, syscall.SIGTERM)
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; stdout %s", code, rest)
	}
	f, err := os.Open(stmt)
	if err != nil {
		t.Fatalf("no statement after SIGTERM: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][4] != "CLI-1" || rows[1][7] != "0.01" || rows[1][9] != "succeeded" {
		t.Fatalf("statement %v %v", rows, err)
	}
}

// The config --write-config writes is the format adapters/config loads, and
// the real adapters built from it refund through the sandbox process.
func TestSandboxCommandConfigForAdapters(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	p := sbxStart(t, "--orders", "../../adapters/sandbox/testdata/orders.csv", "--write-config", dir)
	cfg, err := config.Load(filepath.Join(dir, sandbox.ClientConfigFile))
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	provs, err := cfg.Providers()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, r := range []adapters.Refund{
		{Provider: adapters.Upay, Account: "100000330000000001", OrderNo: "ORDER-1", RefundNo: "A1", Amount: 100, Total: 1000, Currency: "CNY", Action: adapters.ActionRefund, Operator: "op"},
		{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "QP-1", RefundNo: "A1", Amount: 100, Total: 10000, Currency: "CNY", Action: adapters.ActionRefund, Operator: "op"},
		{Provider: adapters.Nomad, Account: "wechat.sh_smk", OrderNo: "NM-2", RefundNo: "A1", Amount: 100, Total: 2500, Currency: "CNY", Action: adapters.ActionRefund, PaymentMethod: "alipay"},
		{Provider: adapters.PayEase, Account: "890000593", OrderNo: "20261120-890000593-1001", RefundNo: "A1", Amount: 100, Total: 1200, Currency: "CNY", Action: adapters.ActionRefund},
	} {
		pv := provs[config.Key(r.Provider, r.Account)]
		if pv == nil {
			t.Fatalf("no provider %s/%s in %v", r.Provider, r.Account, provs)
		}
		out, err := pv.Refund(ctx, r)
		if err != nil || (out.Status != adapters.StatusSucceeded && out.Status != adapters.StatusPending) {
			t.Errorf("%s refund: %+v, %v", r.Provider, out, err)
		}
	}
	if code, _ := p.stop(t, os.Interrupt); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
}

func TestSandboxCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--orders", "x.csv", "--generate", "3"},
		{"--orders", "/nonexistent/orders.csv"},
		{"--error-rate", "1.5", "--generate", "3"},
		{"--generate", "3", "extra"},
		{"--generate", "3", "--lookup-lag-rate", "2"},
		{"--generate", "3", "--admin-token", "a", "--no-admin"},
		{"--generate", "3", "--admin-token", "a", "--admin-token-file", "f"},
		{"--generate", "3", "--admin-token-file", "/nonexistent/token"},
		{"--generate", "3", "--notify-url", "https://example.com/cb"},
		// Off loopback, the admin endpoints need a token or must be off.
		{"--generate", "3", "--addr", "0.0.0.0:0"},
	} {
		var out, errb bytes.Buffer
		if code := dispatch(env{strings.NewReader(""), &out, &errb}, append([]string{"sandbox"}, args...)); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %s)", args, code, exitUsage, errb.String())
		}
		if errb.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

// Off loopback the sandbox needs an admin token (or no admin endpoints), and
// says it is reachable from the network; on loopback the admin endpoints
// stay open.
func TestSandboxCommandOnNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	var out, errb bytes.Buffer
	if code := dispatch(env{strings.NewReader(""), &out, &errb}, []string{"sandbox", "--generate", "3", "--addr", "0.0.0.0:0"}); code != exitUsage ||
		!strings.Contains(errb.String(), "--admin-token") || !strings.Contains(errb.String(), "--no-admin") {
		t.Fatalf("all interfaces, no token: exit %d, stderr %q", code, errb.String())
	}

	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		open map[string]int // token → status of GET /_sandbox/ledger
		warn string
	}{
		{"token", []string{"--addr", "0.0.0.0:0", "--admin-token", "s3cret"}, map[string]int{"": 401, "wrong": 401, "s3cret": 200}, "Authorization: Bearer"},
		{"token file", []string{"--addr", "0.0.0.0:0", "--admin-token-file", tokenFile}, map[string]int{"": 401, "s3cret": 200}, "Authorization: Bearer"},
		{"no admin", []string{"--addr", "0.0.0.0:0", "--no-admin"}, map[string]int{"": 404, "s3cret": 404}, "admin endpoints are off"},
		{"loopback", []string{"--addr", "127.0.0.1:0"}, map[string]int{"": 200}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := sbxStart(t, append([]string{"--orders", "../../adapters/sandbox/testdata/orders.csv"}, tc.args...)...)
			if strings.HasPrefix(p.url, "http://127.0.0.1:") == (tc.warn != "") {
				t.Fatalf("listening on %s", p.url)
			}
			for token, want := range tc.open {
				if st, b := p.get(t, "/_sandbox/ledger", token); st != want {
					t.Errorf("GET /_sandbox/ledger with token %q: HTTP %d %s, want %d", token, st, b, want)
				}
			}
			// Provider endpoints answer either way (here: 401 from Nomad for no key).
			if st, _ := p.get(t, "/refund/wechat.sh_smk?refundOrderRef=x", ""); st != 401 {
				t.Errorf("provider endpoint: HTTP %d", st)
			}
			if code, _ := p.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit %d", code)
			}
			got := p.stderr.String()
			if tc.warn == "" && strings.Contains(got, "warning") {
				t.Errorf("warning on loopback: %s", got)
			}
			if tc.warn != "" && (!strings.Contains(got, "warning: listening on") || !strings.Contains(got, tc.warn)) {
				t.Errorf("stderr %q, want the network warning naming %q", got, tc.warn)
			}
		})
	}
}

// The counting flags, end to end through the process: a provider that moves
// money again for a repeated number, a lookup that lags, and a rate limit
// whose 429s and peak rate the stats endpoint reports.
func TestSandboxCommandTellsTheTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	p := sbxStart(t, "--orders", "../../adapters/sandbox/testdata/orders.csv", "--write-config", dir,
		"--non-idempotent", "--lookup-lag-rate", "1", "--lookup-lag", "1h", "--rate-limit", "1", "--burst", "3")
	key, err := os.ReadFile(filepath.Join(dir, "quickpay_SH001.key"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, body string) (int, map[string]any) {
		m := hmac.New(sha256.New, bytes.TrimSpace(key))
		m.Write([]byte(body))
		req, _ := http.NewRequest("POST", p.local+path, strings.NewReader(body))
		req.Header.Set("X-QuickPay-Sign", hex.EncodeToString(m.Sum(nil)))
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans map[string]any
		json.NewDecoder(resp.Body).Decode(&ans)
		return resp.StatusCode, ans
	}
	refund := `{"store_no":"SH001","operator":"op","refund_amount":2500,"order_no":"QP-1","refund_no":"T1"}`
	for i := 0; i < 2; i++ {
		if st, ans := post("/QuickPay/Refund", refund); st != 200 || ans["code"] != "SUCCESS" {
			t.Fatalf("refund %d: %d %v", i+1, st, ans)
		}
	}
	if _, ans := post("/QuickPay/RefundQuery", `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"T1"}`); ans["code"] != "REFUND_NOT_EXIST" {
		t.Fatalf("lagging query: %v", ans)
	}
	limited := 0
	for i := 0; i < 4; i++ {
		if st, _ := post("/QuickPay/RefundQuery", `{"store_no":"SH001","order_no":"QP-1","refund_order_no":"T1"}`); st == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no 429 at --rate-limit 1 --burst 3 after 7 requests")
	}

	var ledger []struct {
		RefundNo string `json:"refund_no"`
		Requests int    `json:"requests"`
		Applied  int    `json:"applied"`
	}
	_, b := p.get(t, "/_sandbox/ledger", "")
	json.Unmarshal(b, &ledger)
	if len(ledger) != 2 || ledger[0].RefundNo != "T1" || ledger[0].Requests != 2 || ledger[0].Applied != 2 || ledger[1].Applied != 2 {
		t.Fatalf("ledger %s; want two refunds numbered T1, requests 2, applied 2", b)
	}
	var stats []struct {
		Provider     string `json:"provider"`
		Account      string `json:"account"`
		Requests     int    `json:"requests"`
		RateLimited  int    `json:"rate_limited"`
		MaxPerSecond int    `json:"max_per_second"`
	}
	_, b = p.get(t, "/_sandbox/stats", "")
	json.Unmarshal(b, &stats)
	for _, a := range stats {
		if a.Provider == "quickpay" && a.Account == "SH001" && (a.Requests != 7 || a.RateLimited != limited || a.MaxPerSecond < 3) {
			t.Fatalf("stats %s; want 7 requests, %d answered 429", b, limited)
		}
	}
	if _, b := p.get(t, "/_sandbox/faults", ""); !strings.Contains(string(b), `"non_idempotent": true`) || !strings.Contains(string(b), `"lookup_lag": "1h0m0s"`) {
		t.Fatalf("faults %s", b)
	}
}
