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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

type sbxProc struct {
	cmd    *exec.Cmd
	url    string
	stdout *bufio.Reader
}

func sbxStart(t *testing.T, args ...string) *sbxProc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"sandbox"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &sbxProc{cmd: cmd, stdout: bufio.NewReader(out)}
	line, err := p.stdout.ReadString('\n')
	if err != nil {
		cmd.Wait()
		t.Fatalf("no first line: %v; stderr: %s", err, stderr.String())
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "sandbox listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q", line)
	}
	p.url = url
	return p
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
