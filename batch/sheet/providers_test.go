package sheet

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

func writeSheet(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "refunds.csv")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A blank PayEase notify_url: a warning without a config, the account's
// configured URL with one, an error when the config has none for the
// account.
func TestDefaults(t *testing.T) {
	path := writeSheet(t,
		"provider,account,order_no,refund_no,refund_amount,notify_url",
		"payease,890000593,20261120-890000593-1,D1,1.00,",
		"payease,890000593,20261120-890000593-2,D2,1.00,https://sheet.example/n",
		"payease,890000594,20261120-890000594-3,D3,1.00,",
		"upay,100000330000000001,U1,D4,1.00,",
		"payease,890000593,20261120-890000593-5,D5,1.00,",
	)
	// upay row 5 lacks its operator: invalid, and so not counted below.
	res, err := validate(t, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.sum.Valid != 4 || res.sum.Invalid != 1 {
		t.Fatalf("without a config: %+v", res.sum)
	}
	want := "notify_url is blank on 3 payease rows (rows 2, 4, 6): payease requires notifyUrl, which a run takes from the account's notify_url in the provider config; validate with that config to check it"
	if !slices.Equal(res.sum.Warnings, []string{want}) {
		t.Errorf("warnings %q", res.sum.Warnings)
	}
	if res.items[2].NotifyURL != "" {
		t.Errorf("without a config the cell stays blank: %q", res.items[2].NotifyURL)
	}

	var asked []string
	cfg := func(provider, account string) map[string]string {
		asked = append(asked, provider+"/"+account)
		if provider == adapters.PayEase && account == "890000593" {
			return map[string]string{adapters.FieldNotifyURL: "https://config.example/n"}
		}
		return nil
	}
	res, err = validate(t, path, Options{Defaults: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.sum.Warnings) != 0 {
		t.Errorf("with a config: warnings %q", res.sum.Warnings)
	}
	if got := res.items[2].NotifyURL; got != "https://config.example/n" {
		t.Errorf("row 2 notify_url %q, want the config's", got)
	}
	if got := res.items[3].NotifyURL; got != "https://sheet.example/n" {
		t.Errorf("row 3 notify_url %q: a written cell wins", got)
	}
	errs := res.invalid[4]
	if len(errs) != 1 || !errors.Is(errs[0], ErrRequired) || !strings.Contains(errs[0].Error(), "the provider config gives no notify_url for payease account 890000594") {
		t.Errorf("row 4: %v", errs)
	}
	if !slices.Equal(asked, []string{"payease/890000593", "payease/890000594", "payease/890000593"}) {
		t.Errorf("Defaults asked for %q: only for rows with a blank", asked)
	}

	// The configured value is checked like a written one.
	long := func(string, string) map[string]string {
		return map[string]string{adapters.FieldNotifyURL: "https://config.example/" + strings.Repeat("n", 200)}
	}
	res, err = validate(t, path, Options{Defaults: long})
	if err != nil {
		t.Fatal(err)
	}
	if errs := res.invalid[2]; len(errs) != 1 || !errors.Is(errs[0], ErrTooLong) {
		t.Errorf("a 223-character configured notify_url: %v", errs)
	}
}

// The rules engine applies every kind of descriptor rule, for any provider
// the registry could hold: a fifth one needs no code here.
func TestDescriptorRules(t *testing.T) {
	fifth := adapters.Descriptor{
		Name: "fifth", Aliases: []string{"Fifth Pay"},
		Limits: []adapters.FieldLimit{
			{Field: adapters.FieldAccount, Name: "shop_code", Required: true, Pattern: `[A-Z]{2}[0-9]{3}`, Help: "two letters and three digits"},
			{Field: adapters.FieldOrderNo, Name: "order", Required: true, Or: adapters.FieldProviderOrderID},
			{Field: adapters.FieldProviderOrderID, Name: "txn"},
			{Field: adapters.FieldPaymentMethod, Name: "channel", Values: []string{"card", "wallet"}},
			{Field: adapters.FieldTotalAmount, Name: "total", Required: true, MaxAmount: 100_00},
			{Field: adapters.FieldReason, Check: func(v string, r adapters.Refund) string {
				if strings.Contains(v, r.RefundNo) {
					return "it repeats the refund number"
				}
				return ""
			}},
		},
		MaxAmount:  50_00,
		Currencies: []money.Currency{"USD"},
	}
	table, err := newProviderTable([]adapters.Descriptor{fifth})
	if err != nil {
		t.Fatal(err)
	}
	path := writeSheet(t,
		"provider,account,order_no,provider_order_id,refund_no,refund_amount,total_amount,currency,payment_method,reason,action",
		"fifth,AB123,O1,,F1,10.00,20.00,USD,CARD,,",       // 2 ok, channel rewritten
		"Fifth Pay,AB123,,T2,F2,10.00,20.00,USD,wallet,,", // 3 ok: txn stands in for order
		"fifth,ab123,O3,,F3,10.00,20.00,USD,,,",           // 4 pattern
		"fifth,AB123,,,F4,10.00,20.00,USD,,,",             // 5 order or txn
		"fifth,AB123,O5,,F5,10.00,20.00,USD,cash,,",       // 6 values
		"fifth,AB123,O6,,F6,60.00,200.00,USD,,,",          // 7 refund and total over their bounds
		"fifth,AB123,O7,,F7,10.00,,USD,,,",                // 8 total required
		"fifth,AB123,O8,,F8,10.00,20.00,CNY,,,",           // 9 currency
		"fifth,AB123,O9,,F9,10.00,20.00,USD,,see F9,",     // 10 check
		"fifth,AB123,O10,,F10,20.00,20.00,USD,,,revoke",   // 11 no revoke
		"upay,100000330000000001,O11,,F11,1.00,,CNY,,,",   // 12 not in this registry
	)
	res, err := validate(t, path, Options{providers: table})
	if err != nil {
		t.Fatal(err)
	}
	if it := res.items[2]; it.Provider != "fifth" || it.PaymentMethod != "card" {
		t.Errorf("row 2: %+v, %v", it.Refund, res.invalid[2])
	}
	if _, ok := res.items[3]; !ok {
		t.Errorf("row 3: %v", res.invalid[3])
	}
	for row, want := range map[int][]string{
		4:  {"bad format: shop_code must be two letters and three digits"},
		5:  {"required: order is empty (give it or txn)"},
		6:  {"bad format: fifth channel is card or wallet"},
		7:  {"out of range: fifth allows at most 50.00", "out of range: fifth allows at most 100.00"},
		8:  {"required: total_amount is empty"},
		9:  {"currency not supported by provider: fifth refunds are in USD only"},
		10: {"bad format: reason must be well formed: it repeats the refund number"},
		11: {"the provider has no revoke: fifth has no revoke; use a refund"},
		12: {`unknown provider: "upay" is not fifth`},
	} {
		errs := res.invalid[row]
		if len(errs) != len(want) {
			t.Errorf("row %d: %v, want %q", row, errs, want)
			continue
		}
		for i, e := range errs {
			if !strings.HasSuffix(e.Error(), want[i]) {
				t.Errorf("row %d: %q, want it to end %q", row, e, want[i])
			}
		}
	}
}

// A descriptor rule validation cannot apply stops the program at start.
func TestProviderTableRefuses(t *testing.T) {
	for _, l := range []adapters.FieldLimit{
		{Field: "shop"},
		{Field: adapters.FieldCurrency, Required: true},
		{Field: adapters.FieldRefundAmount, MaxLen: 3},
		{Field: adapters.FieldOperator, MaxAmount: 3},
		{Field: adapters.FieldOrderNo, Or: adapters.FieldTotalAmount},
		{Field: adapters.FieldOrderNo, Pattern: "("},
	} {
		if _, err := newProviderTable([]adapters.Descriptor{{Name: "x", Limits: []adapters.FieldLimit{l}}}); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

func TestFieldNamesAreTheDescriptorsFields(t *testing.T) {
	if !slices.Equal(fieldNames[:], adapters.Fields) {
		t.Fatalf("sheet fields %q, descriptors' %q", fieldNames, adapters.Fields)
	}
}

// Header aliases come from the descriptors: a sheet exported with one
// provider's own names is read.
func TestProviderHeaders(t *testing.T) {
	for _, header := range [][]string{
		{"terminal_sn", "client_sn", "sn", "refund_request_no", "refund_amount", "operator"},
		{"store_no", "order_no", "refund_no", "refund_amount", "amount", "refund_desc", "操作员"},
		{"merchant", "orderRef", "transactionId", "refundOrderRef", "refundAmount", "totalAmount", "paymentMethod", "notifyUrl"},
		{"merchantId", "orderRequestId", "requestId", "refundAmount", "notifyUrl", "remark"},
		{"终端号", "订单号", "退款单号", "退款金额"},
		{"门店编码", "原单单据号", "退款单据号", "退款金额", "订单交易金额"},
	} {
		c, found, unknown, err := matchHeader(append([]string{"provider"}, header...))
		if err != nil || len(unknown) > 0 || found != len(header)+1 || len(c.missing()) > 0 {
			t.Errorf("%q: found %d, unknown %q, missing %q, %v", header, found, unknown, c.missing(), err)
		}
	}
}
