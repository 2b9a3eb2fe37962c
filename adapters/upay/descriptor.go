package upay

import (
	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// fen10 is String(10) in fen: 99,999,999.99 yuan (seed 000 line 43).
const fen10 = 9999999999

// Descriptor describes Upay to the rest of the toolkit. Line numbers are
// those of shared/seeds/000_9ebcbffec1a7402c.txt (refund) and
// 001_05be1a28ecf2f630.txt (revoke).
var Descriptor = adapters.Descriptor{
	Name: adapters.Upay, Title: "Upay (Shouqianba)", Aliases: []string{"shouqianba", "收钱吧"},
	Columns: map[string][]string{
		adapters.FieldAccount:         {"terminal_sn", "终端号"}, // 000:11
		adapters.FieldOrderNo:         {"client_sn"},          // 000:23
		adapters.FieldProviderOrderID: {"sn"},                 // 000:17
		adapters.FieldRefundNo:        {"refund_request_no"},  // 000:29
		adapters.FieldRefundAmount:    {"refund_amount"},      // 000:41
		adapters.FieldTotalAmount:     {"total_amount"},       // 000:180 (answer)
		adapters.FieldOperator:        {"operator"},           // 000:35
	},
	Limits: []adapters.FieldLimit{
		{Field: adapters.FieldAccount, Name: "terminal_sn", Required: true, MaxLen: 32}, // 000:11-15 String(32) Y
		// 000:59-62: either sn or client_sn must be present.
		{Field: adapters.FieldOrderNo, Name: "client_sn", Required: true, Or: adapters.FieldProviderOrderID, MaxLen: 32}, // 000:23-27
		{Field: adapters.FieldProviderOrderID, Name: "sn", MaxLen: 16},                                                   // 000:17-20
		{Field: adapters.FieldRefundNo, Name: "refund_request_no", Required: true, MaxLen: 20},                           // 000:29-33
		{Field: adapters.FieldOperator, Name: "operator", Required: true, MaxLen: 32},                                    // 000:35-39
	},
	MaxAmount: fen10,
	// Amounts are fen with no currency field (000:41-45; PROVIDERS.md).
	Currencies: []money.Currency{money.CNY},
	Revoke:     true, // seed 001
	Credential: adapters.CredentialTerminalKey,
	// refund_request_no "used to prevent duplicate refund requests"
	// (000:29-33) names a refund of one order: the refund transaction is
	// client_sn + '-' + refund_request_no (000:144-148).
	RefundNoScope: adapters.ScopeOrder,
	StatementColumns: map[string][]string{
		adapters.FieldProviderOrderID: {"trade_no"},                           // 000:150
		"time":                        {"finish_time", "channel_finish_time"}, // 000:198, 204
		"status":                      {"order_status"},                       // 000:162
	},
	New: func(c adapters.Connection) (adapters.Provider, error) {
		return New(Options{BaseURL: c.BaseURL, TerminalSN: c.Account, TerminalKey: c.Secret, Timeout: c.Timeout})
	},
}
