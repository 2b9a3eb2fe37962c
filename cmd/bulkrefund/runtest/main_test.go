package runtest

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
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// bin is the bulkrefund binary built for this test run.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulkrefund-runtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bin = filepath.Join(dir, "bulkrefund")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "github.com/bulkrefund/bulkrefund/cmd/bulkrefund")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building bulkrefund: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sandboxProc is a `bulkrefund sandbox` process.
type sandboxProc struct {
	URL    string
	Config string // providers.json written by --write-config
	cmd    *exec.Cmd
}

// startSandbox starts `bulkrefund sandbox` on loopback with orders and fault
// flags, and waits for its first line.
func startSandbox(t *testing.T, orders string, flags ...string) *sandboxProc {
	t.Helper()
	cfgDir := t.TempDir()
	args := append([]string{"sandbox", "--addr", "127.0.0.1:0", "--orders", orders, "--write-config", cfgDir}, flags...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
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
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		const prefix = "sandbox listening on "
		if !ok || !strings.HasPrefix(line, prefix) {
			t.Fatalf("sandbox first line %q; stderr:\n%s", line, stderr.String())
		}
		return &sandboxProc{URL: strings.TrimPrefix(line, prefix), Config: filepath.Join(cfgDir, "providers.json"), cmd: cmd}
	case <-time.After(30 * time.Second):
		t.Fatalf("sandbox did not start; stderr:\n%s", stderr.String())
	}
	return nil
}

type ledgerEntry struct {
	Provider         string `json:"provider"`
	Account          string `json:"account"`
	OrderNo          string `json:"order_no"`
	RefundNo         string `json:"refund_no"`
	ProviderRefundID string `json:"provider_refund_id"`
	Type             string `json:"type"`
	AmountMinor      int64  `json:"amount_minor"`
	Currency         string `json:"currency"`
	Status           string `json:"status"`
	Applied          int    `json:"applied"`
}

func (s *sandboxProc) ledger(t *testing.T) []ledgerEntry {
	t.Helper()
	resp, err := http.Get(s.URL + "/_sandbox/ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l []ledgerEntry
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

func (s *sandboxProc) setFaults(t *testing.T, f map[string]any) {
	t.Helper()
	b, _ := json.Marshal(f)
	resp, err := http.Post(s.URL+"/_sandbox/faults", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setting faults: %s", resp.Status)
	}
}

// fixture writes an orders file and a refund sheet with about n refunds over
// those orders: most orders get one refund, some two partial ones. PayEase
// rows are capped (RSA makes them slow under -race).
func fixture(t *testing.T, n int, seed int64, maxPayEase int) (ordersPath, sheetPath string, rows []sheetRow) {
	t.Helper()
	dir := t.TempDir()
	orders := sandbox.GenerateOrders(n, seed, time.Now())
	var kept []sandbox.Order
	payease := 0
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	for _, o := range orders {
		if o.Provider == adapters.PayEase {
			if payease >= maxPayEase {
				continue
			}
			payease++
		}
		kept = append(kept, o)
	}
	ordersPath = filepath.Join(dir, "orders.csv")
	var ob bytes.Buffer
	if err := sandbox.WriteOrders(&ob, kept); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ordersPath, ob.Bytes(), 0o644)

	var sb bytes.Buffer
	w := csv.NewWriter(&sb)
	w.Write([]string{"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount", "total_amount", "currency", "action", "operator", "reason", "payment_method", "notify_url"})
	row := 1
	for i, o := range kept {
		if len(rows) >= n {
			break
		}
		amounts := []int64{o.Total}
		if o.Total >= 200 && rng.IntN(4) == 0 {
			half := o.Total / 2
			amounts = []int64{half, o.Total/2 - 1}
		} else if rng.IntN(2) == 0 && o.Total > 1 {
			amounts = []int64{1 + rng.Int64N(o.Total-1)}
		}
		notify := ""
		if o.Provider == adapters.PayEase {
			notify = "http://127.0.0.1:9/notify" // nothing listens: PayEase's notify is best effort
		}
		for j, a := range amounts {
			row++
			rn := fmt.Sprintf("T%d-%06d-%d", seed%100, i, j+1)
			rows = append(rows, sheetRow{Row: row, Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo, RefundNo: rn, Amount: a, Currency: o.Currency})
			w.Write([]string{o.Provider, o.Account, o.OrderNo, o.ProviderOrderID, rn, money.Format(a, o.Currency), money.Format(o.Total, o.Currency),
				string(o.Currency), "refund", "ops", "test", o.PaymentMethod, notify})
		}
	}
	w.Flush()
	sheetPath = filepath.Join(dir, "refunds.csv")
	os.WriteFile(sheetPath, sb.Bytes(), 0o644)
	return ordersPath, sheetPath, rows
}

type sheetRow struct {
	Row                                  int
	Provider, Account, OrderNo, RefundNo string
	Amount                               int64
	Currency                             money.Currency
}

func (r sheetRow) key() string { return r.Provider + "/" + r.Account + "/" + r.RefundNo }

// runProc is one `bulkrefund run` process.
type runProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	progress       chan int // "done" counts from progress lines
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

var progressRE = regexp.MustCompile(`^progress: (\d+)/(\d+) done`)

// startRun starts `bulkrefund run` with progress lines every 20ms on a pipe.
func startRun(t *testing.T, stateHome string, args ...string) *runProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+stateHome, "BULKREFUND_PROGRESS_EVERY=20ms")
	p := &runProc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, progress: make(chan int, 1024)}
	cmd.Stdout = p.stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if m := progressRE.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				select {
				case p.progress <- n:
				default:
				}
			}
		}
		close(p.progress)
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); pw.Close() }()
	return p
}

// wait returns the exit code.
func (p *runProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-p.progress:
			if !ok {
				if p.cmd.ProcessState == nil {
					time.Sleep(10 * time.Millisecond)
					if p.cmd.ProcessState == nil {
						continue
					}
				}
				return p.cmd.ProcessState.ExitCode()
			}
		case <-deadline:
			p.cmd.Process.Kill()
			t.Fatalf("run did not finish in %v; stdout:\n%s\nstderr:\n%s", timeout, p.stdout.String(), p.stderr.String())
		}
	}
}

// waitProgress blocks until the run reports at least n items done, or ends.
func (p *runProc) waitProgress(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		select {
		case d, ok := <-p.progress:
			if !ok {
				return false
			}
			if d >= n {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// readState reads every refund of the ledger at path.
func readState(t *testing.T, path string) map[string]store.Record {
	t.Helper()
	l, err := store.OpenSQLite(path, store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out := map[string]store.Record{}
	if err := l.Refunds(context.Background(), store.Query{}, func(r store.Record) error {
		out[r.Provider+"/"+r.Account+"/"+r.RefundNo] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func readResults(t *testing.T, path string) map[string]map[string]string {
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
	recs[0][0] = strings.TrimPrefix(recs[0][0], "\uFEFF")
	out := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		out[m["provider"]+"/"+m["account"]+"/"+m["refund_no"]] = m
	}
	return out
}

// checkAgreement asserts the crash/chaos invariants: every refund number is
// at the provider at most once and applied at most once; nothing is at the
// provider that the sheet does not hold; the state and the results file
// agree with each other and with the provider on every row.
func checkAgreement(t *testing.T, sb *sandboxProc, rows []sheetRow, statePath, resultsPath string, wantAll store.State) {
	t.Helper()
	ledger := sb.ledger(t)
	byKey := map[string][]ledgerEntry{}
	for _, l := range ledger {
		k := l.Provider + "/" + l.Account + "/" + l.RefundNo
		byKey[k] = append(byKey[k], l)
	}
	state := readState(t, statePath)
	res := readResults(t, resultsPath)
	sheet := map[string]bool{}
	bad := 0
	fail := func(format string, a ...any) {
		bad++
		if bad <= 20 {
			t.Errorf(format, a...)
		}
	}
	for _, r := range rows {
		k := r.key()
		sheet[k] = true
		ls := byKey[k]
		st, ok := state[k]
		if !ok {
			fail("row %d %s: not in the state", r.Row, k)
			continue
		}
		if len(ls) > 1 {
			fail("row %d %s: %d refunds at the provider for one refund number", r.Row, k, len(ls))
		}
		for _, l := range ls {
			if l.Applied != 1 {
				fail("row %d %s: applied %d times at the provider", r.Row, k, l.Applied)
			}
			if l.AmountMinor != r.Amount {
				fail("row %d %s: provider amount %d, sheet %d", r.Row, k, l.AmountMinor, r.Amount)
			}
		}
		if wantAll != "" && st.State != wantAll {
			fail("row %d %s: state %s (%s), want %s", r.Row, k, st.State, st.LastError, wantAll)
		}
		switch st.State {
		case store.Succeeded, store.Pending:
			if len(ls) != 1 {
				fail("row %d %s: state %s but %d refunds at the provider", r.Row, k, st.State, len(ls))
			} else if st.ProviderRefundID != ls[0].ProviderRefundID &&
				!(st.ProviderRefundID == "" && strings.Contains(st.LastError, "confirmed by the order's refunded total")) {
				fail("row %d %s: state has provider refund id %q, provider %q", r.Row, k, st.ProviderRefundID, ls[0].ProviderRefundID)
			}
			if st.State == store.Succeeded && len(ls) == 1 && ls[0].Status != "succeeded" {
				fail("row %d %s: succeeded in state, %s at the provider", r.Row, k, ls[0].Status)
			}
		case store.Failed:
			if len(ls) == 1 && ls[0].Status == "succeeded" {
				fail("row %d %s: failed in state, succeeded at the provider", r.Row, k)
			}
		case store.Unknown:
			if !strings.Contains(st.LastError, "gave up after") && !strings.Contains(st.LastError, "check it at the provider") {
				fail("row %d %s: unknown without the give-up reason: %q", r.Row, k, st.LastError)
			}
		default:
			fail("row %d %s: state %s at the end", r.Row, k, st.State)
		}
		rr, ok := res[k]
		if !ok {
			fail("row %d %s: missing from the results file", r.Row, k)
			continue
		}
		if rr["state"] != string(st.State) || rr["provider_refund_id"] != st.ProviderRefundID || rr["row"] != strconv.Itoa(r.Row) ||
			rr["amount"] != money.Format(r.Amount, r.Currency) || rr["attempts"] != strconv.Itoa(st.Attempts) {
			fail("row %d %s: results file %v disagrees with state %+v", r.Row, k, rr, st)
		}
	}
	for k := range byKey {
		if !sheet[k] {
			fail("provider holds refund %s that the sheet does not", k)
		}
	}
	if len(res) != len(rows) || len(state) != len(rows) {
		fail("results file %d rows, state %d, sheet %d", len(res), len(state), len(rows))
	}
}
