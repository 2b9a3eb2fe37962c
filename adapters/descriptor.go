package adapters

import (
	"github.com/bulkrefund/bulkrefund/money"
)

// Scope is where a provider's documents make a refund number unique.
type Scope int

const (
	// ScopeAccount: unique per provider account (merchant, store).
	ScopeAccount Scope = iota
	// ScopeOrder: unique per order of an account (Upay's refund_request_no).
	ScopeOrder
)

func (s Scope) String() string {
	if s == ScopeOrder {
		return "order"
	}
	return "account"
}

// FieldLimit is one provider's rule for one sheet field.
type FieldLimit struct {
	Field    string // the sheet field: "account", "order_no", "refund_no", "operator", ...
	MaxLen   int    // in characters; 0: no limit
	Required bool
	Pattern  string // a regular expression the value must match in full; "" for none
	Help     string // how the rule reads in an error message
}

// Descriptor is everything the rest of the toolkit knows about a provider
// without calling it: validation, config, the ledger's refund identity, the
// report's reader and match key, the sandbox and the docs read it. Each
// provider package exports one; adapters/registry lists them.
type Descriptor struct {
	Name    string   // as written in sheets and configs: "upay"
	Title   string   // for people: "Upay (Shouqianba)"
	Aliases []string // other spellings accepted in the provider column
	// Columns maps a sheet field ("account", "order_no", ...) to the
	// provider's own names for it, accepted as header aliases in refund
	// sheets and statements.
	Columns map[string][]string
	Limits  []FieldLimit
	// MaxAmount is the largest refund in minor units; 0: no limit.
	MaxAmount  int64
	Currencies []money.Currency // accepted currencies; empty: any known to money
	Revoke     bool             // supports ActionRevoke
	Credential string           // "md5-terminal-key", "hmac-store-key", "api-key", "rsa-keypair"
	// RefundNoScope is where a refund number is unique: it decides the
	// refund's identity in the ledger and the report.
	RefundNoScope Scope
	// Async: the provider settles refunds later (pending), by notify or query.
	Async bool
}

// Key is a refund's identity: the provider, the account, the refund
// number, and the order where the provider scopes refund numbers per order.
// Two refunds with one key are one refund to the provider.
func (d Descriptor) Key(account, orderNo, refundNo string) string {
	if d.RefundNoScope == ScopeOrder {
		return d.Name + KeySep + account + KeySep + orderNo + KeySep + refundNo
	}
	return d.Name + KeySep + account + KeySep + KeySep + refundNo
}

// KeySep separates the parts of a key: the unit separator, a control
// character that validation refuses in every id (and that, unlike NUL,
// every SQL engine stores in text).
const KeySep = "\x1f"
