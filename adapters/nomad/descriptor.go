package nomad

import (
	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// Descriptor describes the Samarkand Nomad broker to the rest of the
// toolkit. Line numbers are those of shared/seeds/003_81132158f44a7331.txt.
var Descriptor = adapters.Descriptor{
	Name: adapters.Nomad, Title: "Samarkand Nomad", Aliases: []string{"samarkand", "Samarkand Nomad"},
	Columns: map[string][]string{
		adapters.FieldAccount:         {"merchant"},                        // 003:9
		adapters.FieldOrderNo:         {"orderRef"},                        // 003:23
		adapters.FieldProviderOrderID: {"transactionId", "transaction_id"}, // 003:21, 161
		adapters.FieldRefundNo:        {"refundOrderRef"},                  // 003:27
		adapters.FieldRefundAmount:    {"refundAmount"},                    // 003:35
		adapters.FieldTotalAmount:     {"totalAmount"},                     // 003:39
		adapters.FieldPaymentMethod:   {"paymentMethod"},                   // 003:17, 161
		adapters.FieldNotifyURL:       {"notifyUrl"},                       // 003:47, 161
		adapters.FieldReason:          {"reason"},                          // 003:31
	},
	Limits: []adapters.FieldLimit{
		{Field: adapters.FieldAccount, Name: "merchant", Required: true},                                                     // 003:9 Required
		{Field: adapters.FieldOrderNo, Name: "orderRef", Required: true},                                                     // 003:23 Required
		{Field: adapters.FieldRefundNo, Name: "refundOrderRef", Required: true},                                              // 003:27 Required
		{Field: adapters.FieldTotalAmount, Name: "totalAmount", Required: true},                                              // 003:39 Required
		{Field: adapters.FieldPaymentMethod, Name: "paymentMethod", Required: true, Values: []string{"wechatpay", "alipay"}}, // 003:17-19
	},
	Currencies: []money.Currency{money.CNY}, // 003:43-45 "available options: CNY"
	Credential: adapters.CredentialAPIKey,   // app-api-key header, 003:159
	// refundOrderRef is the "Merchant refund order no" (003:27-29): the
	// merchant's own number, unique per merchant (the account).
	RefundNoScope: adapters.ScopeAccount,
	Async:         true, // PROCESSING and ABNORMAL settle later (003:101)
	StatementColumns: map[string][]string{
		"provider_refund_id": {"refundId"},    // 003:67
		"status":             {"status"},      // 003:99
		"time":               {"successTime"}, // 003:95
	},
	New: func(c adapters.Connection) (adapters.Provider, error) {
		return New(Options{BaseURL: c.BaseURL, Merchant: c.Account, APIKey: c.Secret, Timeout: c.Timeout})
	},
}
