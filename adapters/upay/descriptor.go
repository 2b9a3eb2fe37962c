package upay

import "github.com/bulkrefund/bulkrefund/adapters"

// Descriptor describes Upay to the rest of the toolkit. Its refund numbers
// (refund_request_no) are unique per order: seed 000.
var Descriptor = adapters.Descriptor{
	Name: adapters.Upay, Title: "Upay (Shouqianba)", Aliases: []string{"shouqianba", "收钱吧"},
	Revoke: true, Credential: "md5-terminal-key", RefundNoScope: adapters.ScopeOrder,
}
