package main

import (
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
)

// TestPlanTable: rows and amounts per provider and currency, a total per
// currency and none across currencies, right-aligned, thousands grouped.
func TestPlanTable(t *testing.T) {
	item := func(p string, amount int64, c money.Currency) batch.Item {
		return batch.Item{Refund: adapters.Refund{Provider: p, Account: "A1", Amount: amount, Currency: c}}
	}
	var items []batch.Item
	for range 1200 {
		items = append(items, item(adapters.Upay, 123456, money.CNY))
	}
	items = append(items,
		item(adapters.PayEase, 5000, "USD"),
		item(adapters.PayEase, 99, money.CNY),
		item(adapters.QuickPay, 100000000, money.CNY),
		item(adapters.PayEase, 250, "JPY"),
	)
	var b strings.Builder
	writePlanTable(&b, app.Totals(items), app.CurrencyTotals(items))
	want := `
  provider  account  currency   rows        amount
  upay      A1       CNY       1,200  1,481,472.00
  quickpay  A1       CNY           1  1,000,000.00
  payease   A1       CNY           1          0.99
  payease   A1       JPY           1           250
  payease   A1       USD           1         50.00
  ------------------------------------------------
  total              CNY       1,202  2,481,472.99
  total              JPY           1           250
  total              USD           1         50.00
`[1:]
	if b.String() != want {
		t.Errorf("plan table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// The confirmation takes the word yes, in any case, and nothing shorter.
func TestConfirmed(t *testing.T) {
	for in, want := range map[string]bool{
		"yes\n": true, "YES\n": true, " Yes \r\n": true, "yes": true,
		"y\n": false, "Y\n": false, "\n": false, "": false, "yes please\n": false, "no\n": false, "ye\n": false,
	} {
		if got := confirmed(strings.NewReader(in)); got != want {
			t.Errorf("confirmed(%q) = %v, want %v", in, got, want)
		}
	}
}
