package config_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/money"
)

// A sheet row with a blank PayEase notify_url, validated with the
// config's Defaults as run --config does, reaches PayEase (the sandbox)
// with the account's notify_url: the sandbox notifies that very URL.
func TestConfigNotifyURLReachesProvider(t *testing.T) {
	notified := make(chan string, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case notified <- r.Header.Get("merchantId"):
		default:
		}
		w.Write([]byte("SUCCESS"))
	}))
	defer hook.Close()

	order := time.Now().Format("20060102") + "-890000593-8"
	sb, err := sandbox.Start(sandbox.Config{Orders: []sandbox.Order{
		{Provider: adapters.PayEase, Account: "890000593", OrderNo: order, Total: 500, Currency: money.CNY, PaidAt: time.Now()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg := config.ForSandbox(sb.URL(), sb.Accounts())
	for i := range cfg.Accounts {
		if cfg.Accounts[i].Provider == adapters.PayEase {
			cfg.Accounts[i].NotifyURL = hook.URL + "/payease"
		}
	}

	path := filepath.Join(t.TempDir(), "refunds.csv")
	os.WriteFile(path, []byte("provider,account,order_no,refund_no,refund_amount,notify_url\npayease,890000593,"+order+",CN1,2.00,\n"), 0o600)
	var items []batch.Item
	sum, err := sheet.Validate(path, sheet.Options{Defaults: cfg.Defaults},
		func(it batch.Item) error { items = append(items, it); return nil }, nil)
	if err != nil || sum.Valid != 1 || len(sum.Warnings) != 0 {
		t.Fatalf("validate: %+v, %v", sum, err)
	}
	if items[0].NotifyURL != hook.URL+"/payease" {
		t.Fatalf("item notify_url %q, want the config's", items[0].NotifyURL)
	}

	clients, err := cfg.Providers()
	if err != nil {
		t.Fatal(err)
	}
	out, err := clients[config.Key(adapters.PayEase, "890000593")].Refund(context.Background(), items[0].Refund)
	if err != nil || out.Status == adapters.StatusFailed {
		t.Fatalf("refund: %+v, %v", out, err)
	}
	select {
	case m := <-notified:
		if m != "890000593" {
			t.Errorf("notify for merchant %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox never called the config's notify_url")
	}
}
