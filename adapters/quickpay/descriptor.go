package quickpay

import (
	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// fen10 is "1 to 9999999999" fen (seed 002 lines 19-21).
const fen10 = 9999999999

// Descriptor describes QuickPay to the rest of the toolkit. Line numbers
// are those of shared/seeds/002_78fdc1a4eb64e954.txt.
var Descriptor = adapters.Descriptor{
	Name: adapters.QuickPay, Title: "QuickPay",
	Columns: map[string][]string{
		adapters.FieldAccount:     {"store_no", "门店编码", "门店编号"}, // 002:10-11
		adapters.FieldOrderNo:     {"order_no", "原单单据号"},        // 002:26-27
		adapters.FieldRefundNo:    {"refund_no", "退款单据号"},       // 002:30-31
		adapters.FieldTotalAmount: {"amount", "订单交易金额"},         // 002:18-19
		adapters.FieldReason:      {"refund_desc"},              // 002:34
		adapters.FieldOperator:    {"operator", "操作员"},          // 002:14-15
	},
	Limits: []adapters.FieldLimit{
		{Field: adapters.FieldAccount, Name: "store_no", Required: true, MaxLen: 32},  // 002:10-13 必填, 1–32
		{Field: adapters.FieldOperator, Name: "operator", Required: true, MaxLen: 16}, // 002:14-17 必填, 1–16
		{Field: adapters.FieldOrderNo, Name: "order_no", Required: true},              // 002:26-29 必填
		{Field: adapters.FieldRefundNo, Name: "refund_no", Required: true},            // 002:30-33 必填
		{Field: adapters.FieldTotalAmount, Name: "amount", MaxAmount: fen10},          // 002:18-21
	},
	MaxAmount: fen10, // refund_amount: at most 10 digits of fen (002:22-23)
	// Amounts are fen with no currency field (002:18-25).
	Currencies: []money.Currency{money.CNY},
	Credential: adapters.CredentialStoreKey,
	// refund_no "必须在此商户系统内唯一" (002:31): unique within the
	// merchant's system. The ledger keys it per store (the account), which
	// the recommended 机构号+门店号+退单编号 numbering (same line) makes unique.
	RefundNoScope: adapters.ScopeAccount,
	StatementColumns: map[string][]string{
		adapters.FieldRefundNo:        {"refund_order_no"},         // 002:102
		adapters.FieldProviderOrderID: {"transaction_no"},          // 002:104
		"provider_refund_id":          {"refund_transaction_no"},   // 002:105
		"status":                      {"transaction_status"},      // 002:92
		"time":                        {"refund_transaction_time"}, // 002:107
	},
	New: func(c adapters.Connection) (adapters.Provider, error) {
		return New(Options{BaseURL: c.BaseURL, StoreNo: c.Account, StoreKey: c.Secret, Timeout: c.Timeout})
	},
}
