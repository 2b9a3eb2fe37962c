package adapters

import (
	"fmt"
	"slices"
	"time"

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

// The fields of a refund sheet (DESIGN.md, Input sheet), as descriptors name
// them in Columns and Limits.
const (
	FieldProvider        = "provider"
	FieldAccount         = "account"
	FieldOrderNo         = "order_no"
	FieldProviderOrderID = "provider_order_id"
	FieldRefundNo        = "refund_no"
	FieldRefundAmount    = "refund_amount"
	FieldTotalAmount     = "total_amount"
	FieldCurrency        = "currency"
	FieldAction          = "action"
	FieldOperator        = "operator"
	FieldReason          = "reason"
	FieldPaymentMethod   = "payment_method"
	FieldNotifyURL       = "notify_url"
)

// Fields lists the sheet fields in the order of a sheet's columns.
var Fields = []string{
	FieldProvider, FieldAccount, FieldOrderNo, FieldProviderOrderID, FieldRefundNo, FieldRefundAmount,
	FieldTotalAmount, FieldCurrency, FieldAction, FieldOperator, FieldReason, FieldPaymentMethod, FieldNotifyURL,
}

// Credential kinds: what an account's configuration must hold. The config
// asks a shared-secret kind for one secret (secret_env or secret_file) and a
// key-pair kind for two PEM files.
const (
	CredentialTerminalKey = "md5-terminal-key" // Upay: MD5 over body + terminal key
	CredentialStoreKey    = "hmac-store-key"   // QuickPay: HMAC-SHA256 under the store key
	CredentialAPIKey      = "api-key"          // Nomad: a key sent in a header
	CredentialRSAKeyPair  = "rsa-keypair"      // PayEase: merchant private key + platform public key
)

// FieldLimit is one provider's rule for one sheet field.
type FieldLimit struct {
	Field    string // the sheet field: "account", "order_no", "refund_no", "operator", ...
	MaxLen   int    // in characters; 0: no limit
	Required bool
	Pattern  string // a regular expression the value must match in full; "" for none
	Help     string // how the rule reads in an error message

	// Name is the provider's own name for the field ("terminal_sn"), used
	// in messages and docs; "" means the sheet field's name.
	Name string
	// Or names another sheet field that may stand in for this one when
	// Required: Upay needs client_sn or sn.
	Or string
	// Values, when set, are the only values allowed, matched without
	// regard to case and rewritten as listed ("WeChatPay" → "wechatpay").
	Values []string
	// MaxAmount bounds an amount field, in minor units; 0: no limit. The
	// refund amount's bound is Descriptor.MaxAmount.
	MaxAmount int64
	// FromConfig: a blank cell takes the value the account's configuration
	// gives for the same field (PayEase's notify_url). Validation without a
	// configuration reports a blank as a warning, not an error.
	FromConfig bool
	// Check is a rule that cannot be written as data (PayEase's
	// orderRequestId names the row's own merchant). It runs on a non-blank
	// value once the row's fields are read and returns "" or what is wrong.
	Check func(value string, r Refund) string
}

// Label is the field as the provider names it, for messages.
func (l FieldLimit) Label() string {
	if l.Name != "" {
		return l.Name
	}
	return l.Field
}

// Connection is what a provider client needs from one configured account.
// Secret is set for shared-secret credential kinds, the two PEMs for
// key-pair kinds.
type Connection struct {
	BaseURL       string
	Account       string
	Secret        string
	PrivateKeyPEM []byte
	PublicKeyPEM  []byte
	NotifyURL     string
	Timeout       time.Duration
}

// String leaves the credentials out, so that a Connection can be logged.
func (c Connection) String() string {
	return fmt.Sprintf("adapters.Connection{BaseURL:%q Account:%q Secret:[REDACTED] PrivateKeyPEM:[REDACTED] NotifyURL:%q Timeout:%s}",
		c.BaseURL, c.Account, c.NotifyURL, c.Timeout)
}

// GoString is String: %#v must not reach the credentials either.
func (c Connection) GoString() string { return c.String() }

// Format prints String under every verb.
func (c Connection) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

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
	Credential string           // one of the Credential* kinds
	// RefundNoScope is where a refund number is unique: it decides the
	// refund's identity in the ledger and the report.
	RefundNoScope Scope
	// Async: the provider settles refunds later (pending), by notify or query.
	Async bool

	// StatementColumns maps a reconciliation field ("provider_refund_id",
	// "status", "time", "refund_no", ...) to the names the provider's own
	// answers and exports give it, beyond Columns.
	StatementColumns map[string][]string
	// New builds a client for one configured account.
	New func(Connection) (Provider, error)
}

// Limit returns the descriptor's rule for a sheet field.
func (d Descriptor) Limit(field string) (FieldLimit, bool) {
	for _, l := range d.Limits {
		if l.Field == field {
			return l, true
		}
	}
	return FieldLimit{}, false
}

// Accepts reports whether the provider takes refunds in c.
func (d Descriptor) Accepts(c money.Currency) bool {
	return len(d.Currencies) == 0 || slices.Contains(d.Currencies, c)
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
