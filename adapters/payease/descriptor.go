package payease

import "github.com/bulkrefund/bulkrefund/adapters"

// Descriptor describes PayEase to the rest of the toolkit. requestId is
// unique per merchant (seed 004).
var Descriptor = adapters.Descriptor{
	Name: adapters.PayEase, Title: "PayEase (5upay)", Aliases: []string{"5upay", "首信易"},
	Credential: "rsa-keypair", RefundNoScope: adapters.ScopeAccount, Async: true,
}
