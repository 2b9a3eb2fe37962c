package workertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
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
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/pgtest"
	"github.com/bulkrefund/bulkrefund/money"
)

// bin is the bulkrefund binary built for this test run.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulkrefund-workertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The commands under test never see the provider config or the ledger
	// of the machine running the tests.
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	os.Unsetenv("BULKREFUND_CONFIG")
	os.Unsetenv("BULKREFUND_LEDGER")
	bin = filepath.Join(dir, "bulkrefund")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "github.com/bulkrefund/bulkrefund/cmd/bulkrefund")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building bulkrefund: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one bulkrefund process; its output is kept for failure messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "BULKREFUND_PROGRESS_EVERY=500ms")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			out := p.out.String()
			if len(out) > 6000 {
				out = "…" + out[len(out)-6000:]
			}
			t.Logf("%s output:\n%s", p.name, out)
		}
	})
	return p
}

// wait returns the exit code, or fails the test after timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		t.Fatalf("%s did not end within %v", p.name, timeout)
		return -1
	}
}

func (p *proc) signal(s syscall.Signal) { p.cmd.Process.Signal(s) }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// sandboxProc is a `bulkrefund sandbox` process.
type sandboxProc struct {
	URL    string
	Config string // providers.json written by --write-config
}

func startSandbox(t *testing.T, orders string, flags ...string) *sandboxProc {
	t.Helper()
	cfgDir := t.TempDir()
	cmd := exec.Command(bin, append([]string{"sandbox", "--addr", "127.0.0.1:0", "--orders", orders, "--write-config", cfgDir}, flags...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		io.Copy(io.Discard, stdout)
	}()
	const prefix = "sandbox listening on "
	select {
	case line := <-first:
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("sandbox first line %q; stderr:\n%s", line, stderr.String())
		}
		return &sandboxProc{URL: strings.TrimPrefix(line, prefix), Config: filepath.Join(cfgDir, "providers.json")}
	case <-time.After(30 * time.Second):
		t.Fatalf("sandbox did not start; stderr:\n%s", stderr.String())
	}
	return nil
}

// limitConfig rewrites the sandbox's client config so that every account
// is limited to rate requests a second with the given burst.
func (s *sandboxProc) limitConfig(t *testing.T, rate float64, burst int) string {
	t.Helper()
	raw, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	d := c["defaults"].(map[string]any)
	d["rate"], d["burst"] = rate, burst
	b, _ := json.MarshalIndent(c, "", "  ")
	p := filepath.Join(filepath.Dir(s.Config), "limited.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *sandboxProc) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type ledgerEntry struct {
	Provider         string `json:"provider"`
	Account          string `json:"account"`
	OrderNo          string `json:"order_no"`
	RefundNo         string `json:"refund_no"`
	ProviderRefundID string `json:"provider_refund_id"`
	AmountMinor      int64  `json:"amount_minor"`
	Status           string `json:"status"`
	Requests         int    `json:"requests"`
	Applied          int    `json:"applied"`
}

type accountStats struct {
	Provider     string `json:"provider"`
	Account      string `json:"account"`
	Requests     int64  `json:"requests"`
	RateLimited  int64  `json:"rate_limited"`
	MaxPerSecond int    `json:"max_per_second"`
}

type sheetRow struct {
	Row                                  int
	Provider, Account, OrderNo, RefundNo string
	Amount                               int64
}

func (r sheetRow) key() string {
	return r.Provider + "/" + r.Account + "/" + r.OrderNo + "/" + r.RefundNo
}

// fixture writes an orders file and a refund sheet of n refunds, one per
// order that keep accepts, some partial. PayEase rows are capped at
// maxPayEase (RSA makes them slow under -race).
func fixture(t *testing.T, n int, seed int64, maxPayEase int, keep func(sandbox.Order) bool) (ordersPath, sheetPath string, rows []sheetRow) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(seed), 9))
	var kept []sandbox.Order
	payease := 0
	for _, o := range sandbox.GenerateOrders(10*n, seed, time.Now()) {
		if len(kept) == n || (keep != nil && !keep(o)) {
			continue
		}
		if o.Provider == adapters.PayEase {
			if payease >= maxPayEase {
				continue
			}
			payease++
		}
		kept = append(kept, o)
	}
	if len(kept) < n {
		t.Fatalf("fixture: %d orders, want %d", len(kept), n)
	}
	var ob bytes.Buffer
	if err := sandbox.WriteOrders(&ob, kept); err != nil {
		t.Fatal(err)
	}
	ordersPath = filepath.Join(dir, "orders.csv")
	os.WriteFile(ordersPath, ob.Bytes(), 0o644)
	var sb bytes.Buffer
	w := csv.NewWriter(&sb)
	w.Write([]string{"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount", "total_amount", "currency", "action", "operator", "payment_method", "notify_url"})
	for i, o := range kept {
		amount := o.Total
		if o.Total > 1 && rng.IntN(2) == 0 {
			amount = 1 + rng.Int64N(o.Total-1)
		}
		rn := fmt.Sprintf("WK%d-%06d", seed, i)
		notify := ""
		if o.Provider == adapters.PayEase {
			notify = "http://127.0.0.1:9/notify" // nothing listens: PayEase's notify is best effort
		}
		rows = append(rows, sheetRow{Row: i + 2, Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo, RefundNo: rn, Amount: amount})
		w.Write([]string{o.Provider, o.Account, o.OrderNo, o.ProviderOrderID, rn, money.Format(amount, o.Currency),
			money.Format(o.Total, o.Currency), string(o.Currency), "refund", "ops", o.PaymentMethod, notify})
	}
	w.Flush()
	sheetPath = filepath.Join(dir, "refunds.csv")
	os.WriteFile(sheetPath, sb.Bytes(), 0o644)
	return ordersPath, sheetPath, rows
}

// ledgerStates reads every refund of the ledger by key.
func ledgerStates(t *testing.T, url string) map[string]store.Record {
	t.Helper()
	l, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out := map[string]store.Record{}
	if err := l.Refunds(context.Background(), store.Query{}, func(r store.Record) error {
		out[r.Provider+"/"+r.Account+"/"+r.OrderNo+"/"+r.RefundNo] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// agreement checks what the crash test promises: every refund of the
// sheet is at the provider exactly once and applied exactly once,
// succeeded in the ledger with the provider's refund id; the provider
// holds nothing else. With once, every refund was also requested exactly
// once (where no fault licenses a re-send).
func agreement(t *testing.T, sb *sandboxProc, url string, rows []sheetRow, once bool) (requests int) {
	t.Helper()
	var entries []ledgerEntry
	sb.get(t, "/_sandbox/ledger", &entries)
	at := map[string][]ledgerEntry{}
	for _, e := range entries {
		k := e.Provider + "/" + e.Account + "/" + e.OrderNo + "/" + e.RefundNo
		at[k] = append(at[k], e)
	}
	states := ledgerStates(t, url)
	bad := 0
	fail := func(format string, a ...any) {
		if bad++; bad <= 20 {
			t.Errorf(format, a...)
		}
	}
	sheet := map[string]bool{}
	for _, r := range rows {
		k := r.key()
		sheet[k] = true
		es, rec := at[k], states[k]
		if len(es) != 1 {
			fail("row %d %s: %d refunds at the provider", r.Row, k, len(es))
			continue
		}
		e := es[0]
		requests += e.Requests
		if once && e.Requests != 1 {
			fail("row %d %s: requested %d times", r.Row, k, e.Requests)
		}
		if e.Applied != 1 || e.AmountMinor != r.Amount {
			fail("row %d %s: applied %d times, amount %d (sheet %d)", r.Row, k, e.Applied, e.AmountMinor, r.Amount)
		}
		if rec.State != store.Succeeded || rec.ProviderRefundID != e.ProviderRefundID || e.Status != "succeeded" {
			fail("row %d %s: ledger %s %q (%s), provider %s %q", r.Row, k, rec.State, rec.ProviderRefundID, rec.LastError, e.Status, e.ProviderRefundID)
		}
	}
	for k := range at {
		if !sheet[k] {
			fail("the provider holds %s, which the sheet does not", k)
		}
	}
	return requests
}
