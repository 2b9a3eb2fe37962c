package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

// TestLookupProcess is the cron path end to end: a run's SQLite state made
// by the real runner against the sandbox, then `reconcile --ledger
// --lookup --config` as a separate process, looking every refund up over
// loopback through the adapters with credentials from files. One refund is
// then made out of band: lookups only ask about ours, so the report stays
// clean (exit 0) — and a refund recorded wrongly in the state (failed, though
// the provider paid it) makes it exit 1 with a STATUS_MISMATCH.
func TestLookupProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a batch against the sandbox")
	}
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	orders := sandbox.GenerateOrders(12, 3, now)
	sb, err := sandbox.Start(sandbox.Config{Orders: orders})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfgPath, clients := sandboxClients(t, dir, sb)
	var items []batch.Item
	for i, o := range orders {
		it := batch.Item{Row: i + 2, Refund: adapters.Refund{Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo,
			ProviderOrderID: o.ProviderOrderID, RefundNo: fmt.Sprintf("LK%03d", i), Amount: max(1, o.Total/3), Total: o.Total,
			Currency: o.Currency, Action: adapters.ActionRefund, Operator: "cron", Reason: "test", PaymentMethod: o.PaymentMethod}}
		if o.Provider == adapters.PayEase {
			it.NotifyURL = config.SandboxNotifyURL
		}
		items = append(items, it)
	}
	statePath := filepath.Join(dir, "ledger.db")
	l, st := storetest.NewBatch(t, statePath, store.Meta{Operator: "night-op", Created: now}, items)
	r := &runner.Runner{Store: st, Route: func(p, a string) (runner.Target, bool) {
		c, ok := clients[config.Key(p, a)]
		return runner.Target{Provider: c}, ok
	}, Options: runner.Options{Parallel: 4, Poll: 10 * time.Second, PollInterval: 20 * time.Millisecond}}
	if sum, err := r.Run(ctx); err != nil || sum.States[store.Succeeded] != len(items) {
		t.Fatalf("run: %v %v", sum.States, err)
	}
	st.Close()
	l.Close()
	if _, err := sb.AddOutOfBand(sandbox.OutOfBand{Provider: orders[0].Provider, Account: orders[0].Account, OrderNo: orders[0].OrderNo, Amount: 1}); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "report.json")
	code, stdout, stderr := runProcess(t, "--ledger", statePath, "--lookup", "--config", cfgPath, "--json", out)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("reconciled %d refunds: MATCHED=%d\n", len(items), len(items))) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `"value":"night-op"`) || !strings.Contains(string(b), `"role":"lookup"`) {
		t.Errorf("provenance lacks the state's operator or the lookup source")
	}

	// Record one refund as failed although the provider paid it.
	// (The state machine never moves a succeeded refund: this is a damaged
	// ledger, written past it.)
	l, err = store.OpenSQLite(statePath, store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB().Exec(`UPDATE refunds SET state='failed', provider_code='WRONG', last_error='recorded wrongly' WHERE rkey=?`, items[1].Key()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, stdout, stderr = runProcess(t, "--ledger", statePath, "--lookup", "--config", cfgPath, "--json", out)
	if code != 1 || !strings.Contains(stdout, "STATUS_MISMATCH=1") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// sandboxClients writes the sandbox's provider config into dir and returns
// it with the adapters it configures, keyed by config.Key.
func sandboxClients(t *testing.T, dir string, sb *sandbox.Sandbox) (string, map[string]adapters.Provider) {
	t.Helper()
	cfgPath := writeSandboxConfig(t, dir, sb)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := cfg.Providers()
	if err != nil {
		t.Fatal(err)
	}
	return cfgPath, clients
}

// writeResults writes a results file as a run writes it, with these rows.
func writeResults(t *testing.T, path string, rows [][]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"row", "provider", "account", "order_no", "provider_order_id", "refund_no", "action", "amount", "currency", "state", "provider_refund_id", "provider_code", "provider_message", "attempts", "first_attempt", "last_attempt", "error"})
	w.WriteAll(rows)
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		t.Fatal(err)
	}
}

// writeSandboxConfig writes a provider config for the sandbox, credentials
// in files beside it, as an operator would.
func writeSandboxConfig(t *testing.T, dir string, sb *sandbox.Sandbox) string {
	t.Helper()
	return writeConfig(t, dir, sb.URL(), sb.Accounts())
}

// writeConfig writes the provider config for accounts served at baseURL.
func writeConfig(t *testing.T, dir, baseURL string, accounts []sandbox.Account) string {
	t.Helper()
	var accts []map[string]string
	for i, a := range accounts {
		c := map[string]string{"provider": a.Provider, "account": a.ID, "base_url": baseURL}
		write := func(suffix string, b []byte) string {
			name := fmt.Sprintf("%d-%s", i, suffix)
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
			return name
		}
		if a.Provider == adapters.PayEase {
			c["private_key_file"] = write("merchant.pem", a.MerchantPrivateKeyPEM)
			c["platform_public_key_file"] = write("platform.pem", a.PlatformPublicKeyPEM)
			c["notify_url"] = config.SandboxNotifyURL
		} else {
			c["secret_file"] = write("secret", []byte(a.Secret))
		}
		accts = append(accts, c)
	}
	b, _ := json.Marshal(map[string]any{"accounts": accts})
	path := filepath.Join(dir, "providers.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
