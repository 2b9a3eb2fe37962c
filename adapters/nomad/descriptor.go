package nomad

import "github.com/bulkrefund/bulkrefund/adapters"

// Descriptor describes the Samarkand Nomad broker to the rest of the
// toolkit. refundOrderRef is the merchant's own reference, unique per
// merchant (seed 003).
var Descriptor = adapters.Descriptor{
	Name: adapters.Nomad, Title: "Samarkand Nomad", Aliases: []string{"samarkand"},
	Credential: "api-key", RefundNoScope: adapters.ScopeAccount, Async: true,
}
