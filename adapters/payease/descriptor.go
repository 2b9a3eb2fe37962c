package payease

import (
	"strings"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// Descriptor describes PayEase to the rest of the toolkit. Line numbers are
// those of shared/seeds/004_a5ee27adc3ca3742.txt.
var Descriptor = adapters.Descriptor{
	Name: adapters.PayEase, Title: "PayEase (5upay)", Aliases: []string{"5upay", "首信易"},
	Columns: map[string][]string{
		adapters.FieldAccount:   {"merchantId", "merchant_id"}, // 004:5
		adapters.FieldOrderNo:   {"orderRequestId"},            // 004:6
		adapters.FieldRefundNo:  {"requestId"},                 // 004:7
		adapters.FieldNotifyURL: {"notifyUrl"},                 // 004:9
		adapters.FieldReason:    {"remark"},                    // 004:10
		// PayEase's "amount" (004:8) is the refund amount, but in a sheet
		// "amount" is the order total (QuickPay's name): not listed.
	},
	Limits: []adapters.FieldLimit{
		{Field: adapters.FieldAccount, Name: "merchantId", Required: true, MaxLen: 9}, // 004:5 varchar(9) M
		{Field: adapters.FieldOrderNo, Name: "orderRequestId", Required: true, MaxLen: 80, // 004:6 varchar(80) M
			Help: "yyyymmdd-merchantId-flow", Check: checkOrderRequestID},
		{Field: adapters.FieldRefundNo, Name: "requestId", Required: true, MaxLen: 50}, // 004:7 varchar(50) M
		// 004:9 varchar(200) M; the account's configured notify_url fills a
		// blank cell (docs/config.md).
		{Field: adapters.FieldNotifyURL, Name: "notifyUrl", Required: true, MaxLen: 200, FromConfig: true},
		{Field: adapters.FieldReason, Name: "remark", MaxLen: 300}, // 004:10 varchar(300) O
	},
	// 004:23 lists the currencies of PayEase's answers.
	Currencies: []money.Currency{"CNY", "USD", "EUR", "GBP", "JPY", "KRW", "RUB", "CHF", "HKD", "SGD", "MOP", "CAD", "NZD", "TWD"},
	Credential: adapters.CredentialRSAKeyPair,
	// requestId: "the merchant can customize the refund request number and
	// cannot repeat it" (004:7): unique per merchant (the account).
	RefundNoScope: adapters.ScopeAccount,
	Async:         true, // the result comes by notify or query (004:9, 27-36)
	StatementColumns: map[string][]string{
		"provider_refund_id": {"refundId"},           // 004:21, 33
		"status":             {"refundStatus"},       // 004:35
		"time":               {"refundCompleteTime"}, // 004:40
	},
	New: func(c adapters.Connection) (adapters.Provider, error) {
		return New(Options{BaseURL: c.BaseURL, MerchantID: c.Account, MerchantPrivateKeyPEM: c.PrivateKeyPEM,
			PlatformPublicKeyPEM: c.PublicKeyPEM, NotifyURL: c.NotifyURL, Timeout: c.Timeout})
	},
}

// checkOrderRequestID checks orderRequestId's date(yyyymmdd)-merchant
// id-merchant flow number, where the flow is digits and '-' (004:6). It
// returns "" when s is well formed or the row has no merchantId (an error
// of its own).
func checkOrderRequestID(s string, r adapters.Refund) string {
	if r.Account == "" {
		return ""
	}
	i := strings.IndexByte(s, '-')
	j := -1
	if i >= 0 {
		j = strings.IndexByte(s[i+1:], '-')
	}
	if j < 0 {
		return "it has fewer than three '-'-separated parts"
	}
	d, merchant, flow := s[:i], s[i+1:i+1+j], s[i+2+j:]
	if len(d) != 8 || strings.Trim(d, "0123456789") != "" {
		return "it does not start with an 8-digit date"
	}
	mm, dd := (d[4]-'0')*10+d[5]-'0', (d[6]-'0')*10+d[7]-'0'
	if mm < 1 || mm > 12 || dd < 1 || dd > 31 {
		return "its date " + d + " is not a valid yyyymmdd"
	}
	if merchant != r.Account {
		return "its merchant part " + merchant + " is not the row's merchantId " + r.Account
	}
	if flow == "" || strings.Trim(flow, "0123456789-") != "" || !strings.ContainsAny(flow, "0123456789") {
		return "its flow number " + flow + " must be digits (and '-')"
	}
	return ""
}
