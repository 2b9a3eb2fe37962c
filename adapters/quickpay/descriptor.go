package quickpay

import "github.com/bulkrefund/bulkrefund/adapters"

// Descriptor describes QuickPay to the rest of the toolkit. refund_no is
// unique per merchant (seed 002).
var Descriptor = adapters.Descriptor{
	Name: adapters.QuickPay, Title: "QuickPay",
	Credential: "hmac-store-key", RefundNoScope: adapters.ScopeAccount,
}
