package app_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
)

func item(row int, provider, account string, amount int64, cur money.Currency) batch.Item {
	return batch.Item{Row: row, Refund: adapters.Refund{Provider: provider, Account: account, OrderNo: "O", RefundNo: "R",
		Amount: amount, Currency: cur, Action: adapters.ActionRefund}}
}

const usd, hkd = money.Currency("USD"), money.Currency("HKD")

const controlsJSON = `{
  "limits": {
    "max_refund": {"CNY": "1,000.00", "USD": "100.00"},
    "max_batch_total": {"CNY": "5000.00", "USD": "150.00"},
    "max_rows": 10,
    "accounts": [{"provider": "upay", "account": "T1", "max_refund": {"CNY": "300.00"}, "max_batch_total": {"CNY": "700.00"}, "max_rows": 3}]
  },
  "approval": {"above": {"CNY": "2000.00"}},
  "typed_confirmation": {"above": {"CNY": "1000.00", "USD": "50.00"}}
}`

func TestParseControls(t *testing.T) {
	c, err := app.ParseControls([]byte(controlsJSON), "providers.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxRefund[money.CNY] != 100000 || c.Limits.MaxBatchTotal[usd] != 15000 || c.Limits.MaxRows != 10 ||
		c.Limits.Accounts[app.AccountRef{Provider: "upay", Account: "T1"}].MaxRows != 3 || c.Approval.Above[money.CNY] != 200000 {
		t.Fatalf("parsed: %+v", c)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"limits": {"max_refund": {"CNY": 1000}}}`, `want the amount as text`},
		{`{"limits": {"max_refund": {"CNY": "10.001"}}}`, `controls.limits.max_refund`},
		{`{"limits": {"max_refund": {"XXX": "10"}}}`, `unknown currency`},
		{`{"limits": {"max_rows": -1}}`, `negative`},
		{`{"limits": {"accounts": [{"provider": "upay"}]}}`, `provider and account are required`},
		{`{"approval": {"alwys": true}}`, `unknown field`},
	} {
		_, err := app.ParseControls([]byte(bad.json), "p.json")
		if !errors.Is(err, app.ErrControls) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.json, err, bad.want)
		}
	}
	if c, err := app.ParseControls(nil, "p.json"); err != nil || c.Approval.Enabled() || c.Limits.MaxRows != 0 {
		t.Fatalf("no section: %+v %v", c, err)
	}
}

func TestCheckLimits(t *testing.T) {
	c, err := app.ParseControls([]byte(controlsJSON), "providers.json")
	if err != nil {
		t.Fatal(err)
	}
	within := []batch.Item{item(2, "upay", "T1", 30000, money.CNY), item(3, "quickpay", "S1", 100000, money.CNY), item(4, "nomad", "N", 10000, usd)}
	checks, err := c.CheckLimits(within)
	if err != nil {
		t.Fatalf("within limits: %v", err)
	}
	for _, ch := range checks {
		if !ch.OK {
			t.Errorf("check %+v not OK", ch)
		}
		if ch.Rule == "max_refund" && ch.Account == (app.AccountRef{}) && ch.Currency == money.CNY && ch.Actual != 100000 {
			t.Errorf("max_refund check shows %d, want the largest refund 100000", ch.Actual)
		}
	}
	if len(checks) < 7 {
		t.Errorf("checks: %d, want every limit that applies", len(checks))
	}

	over := []batch.Item{
		item(2, "upay", "T1", 30001, money.CNY),      // over the account's max_refund
		item(3, "quickpay", "S1", 100001, money.CNY), // over the batch max_refund
		item(4, "upay", "T1", 30000, money.CNY),
		item(5, "upay", "T1", 20000, money.CNY), // T1 total 800.01 > 700
		item(6, "nomad", "N", 5000, hkd),        // a currency the limits do not name
	}
	_, err = c.CheckLimits(over)
	var le *app.LimitError
	if !errors.As(err, &le) || !errors.Is(err, app.ErrOverLimit) {
		t.Fatalf("over limits: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"the batch: 1 refunds above the max_refund limit of 1,000.00 CNY (largest 1,000.01 CNY) on rows 3",
		"the batch: max_refund has no HKD limit configured",
		"the batch: max_batch_total has no HKD limit configured",
		"upay/T1: total 800.01 CNY is above the max_batch_total limit of 700.00 CNY",
		"upay/T1: 1 refunds above the max_refund limit of 300.00 CNY (largest 300.01 CNY) on rows 2",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("limit error lacks %q:\n%s", want, msg)
		}
	}
	rows := make([]batch.Item, 11)
	for i := range rows {
		rows[i] = item(i+2, "quickpay", "S1", 1, money.CNY)
	}
	if _, err := c.CheckLimits(rows); err == nil || !strings.Contains(err.Error(), "11 rows, the limit (max_rows) is 10") {
		t.Fatalf("max_rows: %v", err)
	}
}

func TestNeedsApprovalAndTypedConfirmation(t *testing.T) {
	c, err := app.ParseControls([]byte(controlsJSON), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	small := app.CurrencyTotals([]batch.Item{item(2, "upay", "T1", 200000, money.CNY)})
	big := app.CurrencyTotals([]batch.Item{item(2, "upay", "T1", 200001, money.CNY)})
	usd := app.CurrencyTotals([]batch.Item{item(2, "nomad", "N", 1, usd)})
	if need, _ := c.NeedsApproval(small); need {
		t.Error("2,000.00 CNY is not above 2,000.00")
	}
	if need, why := c.NeedsApproval(big); !need || !strings.Contains(why, "above 2,000.00") {
		t.Errorf("2,000.01 CNY: %v %s", need, why)
	}
	if need, why := c.NeedsApproval(usd); !need || !strings.Contains(why, "no threshold") {
		t.Errorf("a currency without a threshold needs approval: %v %s", need, why)
	}
	always := &app.Controls{Approval: app.ApprovalRule{Always: true}}
	if need, _ := always.NeedsApproval(small); !need {
		t.Error("always")
	}
	if tc := c.TypedConfirmation(small); len(tc) != 1 || tc[0].Amount != 200000 {
		t.Errorf("typed confirmation: %+v", tc)
	}
	if tc := c.TypedConfirmation(usd); len(tc) != 0 {
		t.Errorf("0.01 USD is below 50.00: %+v", tc)
	}
	for typed, ok := range map[string]bool{"2000.00": true, "2,000.00": true, " CNY 2000 ": true, "2000.00 CNY": true, "yes": false, "2000.01": false, "200000": false} {
		if app.TypedTotalMatches(typed, small[0]) != ok {
			t.Errorf("typed %q: want %v", typed, ok)
		}
	}
}
