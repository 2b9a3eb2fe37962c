package config_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/money"
)

// ForSandbox wires every provider to an in-process sandbox with no file.
func TestForSandbox(t *testing.T) {
	now := time.Now()
	day := now.Format("20060102")
	orders := []sandbox.Order{
		{Provider: adapters.Upay, Account: "100000330000000001", OrderNo: "FS-U1", Total: 500, Currency: money.CNY, PaidAt: now, PaymentMethod: "wechatpay"},
		{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "FS-Q1", Total: 500, Currency: money.CNY, PaidAt: now, PaymentMethod: "wechatpay"},
		{Provider: adapters.Nomad, Account: "wechat.sh_smk", OrderNo: "FS-N1", Total: 500, Currency: money.CNY, PaidAt: now, PaymentMethod: "alipay"},
		{Provider: adapters.PayEase, Account: "890000593", OrderNo: day + "-890000593-7", Total: 500, Currency: money.CNY, PaidAt: now},
	}
	sb, err := sandbox.Start(sandbox.Config{Orders: orders})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg := config.ForSandbox(sb.URL(), sb.Accounts())
	ps, err := cfg.Providers()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		p := ps[config.Key(o.Provider, o.Account)]
		if p == nil {
			t.Fatalf("no client for %s", config.Key(o.Provider, o.Account))
		}
		r := adapters.Refund{Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo, RefundNo: "FS1",
			Amount: 200, Total: o.Total, Currency: money.CNY, PaymentMethod: o.PaymentMethod, Operator: "t"}
		out, err := p.Refund(context.Background(), r)
		if err != nil || (out.Status != adapters.StatusSucceeded && out.Status != adapters.StatusPending) {
			t.Fatalf("%s refund through ForSandbox: %+v, %v", o.Provider, out, err)
		}
	}
	if n := len(sb.Ledger()); n != len(orders) {
		t.Fatalf("ledger holds %d refunds, want %d", n, len(orders))
	}
	printed := fmt.Sprintf("%v %+v %#v %d", cfg, cfg.Accounts, cfg, cfg.Accounts)
	for _, a := range sb.Accounts() {
		if a.Secret != "" && strings.Contains(printed, a.Secret) {
			t.Errorf("sandbox secret of %s printed", a.ID)
		}
	}
}
