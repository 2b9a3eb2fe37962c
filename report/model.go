package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// State is where our side last left a refund (a run's checkpoint state).
type State uint8

const (
	// StatePlanned: validated and checkpointed, never sent.
	StatePlanned State = iota
	// StateSubmitting: written before the request left; the answer was never
	// recorded, so the provider may or may not have it.
	StateSubmitting
	// StateUnknown: sent, and the answer was lost or unreadable.
	StateUnknown
	// StatePending: the provider accepted it and settles it later.
	StatePending
	// StateSucceeded: the provider said the money went back.
	StateSucceeded
	// StateFailed: the provider refused it.
	StateFailed
	// StateBlocked: the provider refused our credentials or configuration;
	// nothing about the refund itself was judged.
	StateBlocked
)

var stateNames = [...]string{"planned", "submitting", "unknown", "pending", "succeeded", "failed", "blocked"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// ParseState reads a state as the runner's store and results file write it.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if n == s {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want one of planned, submitting, unknown, pending, succeeded, failed, blocked)", ErrBadValue, s)
}

// sent reports whether a request for the refund may have reached the provider.
func (s State) sent() bool { return s != StatePlanned }

// final reports whether our outcome can no longer change.
func (s State) final() bool { return s == StateSucceeded || s == StateFailed }

// Status is the provider's view of a refund.
type Status uint8

const (
	// StatusSucceeded: the provider refunded the money.
	StatusSucceeded Status = iota
	// StatusFailed: the provider refused or closed the refund; no money moved.
	StatusFailed
	// StatusPending: accepted, not settled yet.
	StatusPending
	// StatusUnknown: a live lookup could not tell (the lookup itself failed).
	// Statements never carry it.
	StatusUnknown
)

var statusNames = [...]string{"succeeded", "failed", "pending", "unknown"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", s)
}

func statusFrom(s adapters.Status) Status {
	switch s {
	case adapters.StatusSucceeded:
		return StatusSucceeded
	case adapters.StatusFailed:
		return StatusFailed
	case adapters.StatusPending:
		return StatusPending
	}
	return StatusUnknown
}

func (s Status) final() bool { return s == StatusSucceeded || s == StatusFailed }

// OurRecord is one refund as our side recorded it, field by field: what a
// caller fills in to hand records to Reconcile (NewOurs packs it).
type OurRecord struct {
	Provider        string
	Account         string
	OrderNo         string
	ProviderOrderID string
	RefundNo        string
	Action          adapters.Action
	Amount          int64 // minor units
	Total           int64 // the order total the sheet gave; 0 if none
	Currency        money.Currency
	State           State
	// PaymentMethod is what a Nomad lookup must name (wechatpay, alipay).
	PaymentMethod string

	ProviderRefundID string
	ProviderCode     string
	ProviderMessage  string
	Error            string // our last error text, if any
	Attempts         int32
	FirstAttempt     time.Time // zero if never sent
	LastAttempt      time.Time

	// Where the record came from: the input's index in Result.Sources and
	// the row (spreadsheet row of the refund sheet for a store item, the line
	// of a results file).
	Source int32
	Row    int32
}

// Text fields of an Ours, in the order they are packed.
const (
	oProvider = iota
	oAccount
	oOrderNo
	oProviderOrderID
	oRefundNo
	oAction
	oCurrency
	oPaymentMethod
	oProviderRefundID
	oProviderCode
	oProviderMessage
	oError
	oFields
)

// Ours is one refund as our side recorded it: an item of a run's store or a
// row of a results file. Amount is what we asked to refund.
//
// Its text fields are packed into one string with their end offsets (one
// allocation and one pointer per record instead of twelve string headers):
// a million records then take a third of the memory and cost the garbage
// collector almost nothing to scan. The accessors read them back.
type Ours struct {
	text     string
	end      [oFields]uint32
	Amount   int64 // minor units
	Total    int64 // the order total the sheet gave; 0 if none
	first    int64 // unix nanoseconds; 0 if never sent
	last     int64
	Source   int32
	Row      int32
	Attempts int32
	State    State
}

// NewOurs packs r.
func NewOurs(r OurRecord) Ours {
	o := Ours{Amount: r.Amount, Total: r.Total, first: unixNano(r.FirstAttempt), last: unixNano(r.LastAttempt),
		Source: r.Source, Row: r.Row, Attempts: r.Attempts, State: r.State}
	o.text = pack(o.end[:], r.Provider, r.Account, r.OrderNo, r.ProviderOrderID, r.RefundNo, string(r.Action),
		string(r.Currency), r.PaymentMethod, r.ProviderRefundID, r.ProviderCode, r.ProviderMessage, r.Error)
	return o
}

// Record unpacks o.
func (o *Ours) Record() OurRecord {
	return OurRecord{
		Provider: o.Provider(), Account: o.Account(), OrderNo: o.OrderNo(), ProviderOrderID: o.ProviderOrderID(),
		RefundNo: o.RefundNo(), Action: o.Action(), Amount: o.Amount, Total: o.Total, Currency: o.Currency(),
		State: o.State, PaymentMethod: o.PaymentMethod(), ProviderRefundID: o.ProviderRefundID(),
		ProviderCode: o.ProviderCode(), ProviderMessage: o.ProviderMessage(), Error: o.Error(),
		Attempts: o.Attempts, FirstAttempt: o.FirstAttempt(), LastAttempt: o.LastAttempt(), Source: o.Source, Row: o.Row,
	}
}

func (o *Ours) field(i int) string {
	start := uint32(0)
	if i > 0 {
		start = o.end[i-1]
	}
	return o.text[start:o.end[i]]
}

func (o *Ours) Provider() string         { return o.field(oProvider) }
func (o *Ours) Account() string          { return o.field(oAccount) }
func (o *Ours) OrderNo() string          { return o.field(oOrderNo) }
func (o *Ours) ProviderOrderID() string  { return o.field(oProviderOrderID) }
func (o *Ours) RefundNo() string         { return o.field(oRefundNo) }
func (o *Ours) Action() adapters.Action  { return adapters.Action(o.field(oAction)) }
func (o *Ours) Currency() money.Currency { return money.Currency(o.field(oCurrency)) }
func (o *Ours) PaymentMethod() string    { return o.field(oPaymentMethod) }
func (o *Ours) ProviderRefundID() string { return o.field(oProviderRefundID) }
func (o *Ours) ProviderCode() string     { return o.field(oProviderCode) }
func (o *Ours) ProviderMessage() string  { return o.field(oProviderMessage) }
func (o *Ours) Error() string            { return o.field(oError) }
func (o *Ours) FirstAttempt() time.Time  { return fromUnixNano(o.first) }
func (o *Ours) LastAttempt() time.Time   { return fromUnixNano(o.last) }

// TheirRecord is one refund as the provider records it, field by field
// (NewTheirs packs it).
type TheirRecord struct {
	Provider         string
	Account          string
	OrderNo          string
	ProviderOrderID  string
	RefundNo         string // empty for a Upay revoke
	ProviderRefundID string
	Action           adapters.Action // refund or revoke
	Amount           int64
	Currency         money.Currency
	Status           Status
	Time             time.Time // when the provider completed or accepted it; zero if unknown

	// Code and Message carry a live lookup's raw answer (or its error).
	Code, Message string

	// AmountUnknown: the record does not say this refund's amount (a
	// lookup answer without one, or one that shows another refund of the
	// order). Amount is then 0 and is never compared.
	AmountUnknown bool
	// OrderReported: the answer also gave the order's refunded total at
	// the provider (Upay's query: total_amount − net_amount), in
	// OrderRefunded. The refunds of the order the answer cannot show one
	// by one are confirmed against it.
	OrderReported bool
	OrderRefunded int64
	// Lookup: the record is a live lookup's answer about one of our refund
	// numbers, not a line of the provider's own records.
	Lookup bool

	Source int32
	Row    int32 // line in the statement file as a spreadsheet numbers it
}

const (
	tProvider = iota
	tAccount
	tOrderNo
	tProviderOrderID
	tRefundNo
	tProviderRefundID
	tAction
	tCurrency
	tCode
	tMessage
	tFields
)

// Theirs is one refund as the provider records it: a statement line or the
// answer of a live lookup. Packed like Ours.
type Theirs struct {
	text          string
	end           [tFields]uint32
	Amount        int64
	time          int64 // unix nanoseconds; 0 if unknown
	orderRefunded int64 // see TheirRecord.OrderRefunded
	Source        int32
	Row           int32 // line in the statement file as a spreadsheet numbers it
	Status        Status
	flags         uint8
}

const (
	tAmountUnknown = 1 << iota
	tOrderReported
	tLookup
)

// NewTheirs packs r.
func NewTheirs(r TheirRecord) Theirs {
	t := Theirs{Amount: r.Amount, time: unixNano(r.Time), Source: r.Source, Row: r.Row, Status: r.Status}
	if r.AmountUnknown {
		t.flags |= tAmountUnknown
		t.Amount = 0
	}
	if r.OrderReported {
		t.flags |= tOrderReported
		t.orderRefunded = r.OrderRefunded
	}
	if r.Lookup {
		t.flags |= tLookup
	}
	t.text = pack(t.end[:], r.Provider, r.Account, r.OrderNo, r.ProviderOrderID, r.RefundNo, r.ProviderRefundID,
		string(r.Action), string(r.Currency), r.Code, r.Message)
	return t
}

// AmountKnown reports whether the record says the refund's amount.
func (t *Theirs) AmountKnown() bool { return t.flags&tAmountUnknown == 0 }

// OrderRefunded is the order's refunded total the answer gave, if it gave one.
func (t *Theirs) OrderRefunded() (int64, bool) { return t.orderRefunded, t.flags&tOrderReported != 0 }

// Record unpacks t.
func (t *Theirs) Record() TheirRecord {
	return TheirRecord{
		Provider: t.Provider(), Account: t.Account(), OrderNo: t.OrderNo(), ProviderOrderID: t.ProviderOrderID(),
		RefundNo: t.RefundNo(), ProviderRefundID: t.ProviderRefundID(), Action: t.Action(), Amount: t.Amount,
		Currency: t.Currency(), Status: t.Status, Time: t.Time(), Code: t.Code(), Message: t.Message(),
		AmountUnknown: !t.AmountKnown(), OrderReported: t.flags&tOrderReported != 0, OrderRefunded: t.orderRefunded,
		Lookup: t.flags&tLookup != 0,
		Source: t.Source, Row: t.Row,
	}
}

func (t *Theirs) field(i int) string {
	start := uint32(0)
	if i > 0 {
		start = t.end[i-1]
	}
	return t.text[start:t.end[i]]
}

func (t *Theirs) Provider() string         { return t.field(tProvider) }
func (t *Theirs) Account() string          { return t.field(tAccount) }
func (t *Theirs) OrderNo() string          { return t.field(tOrderNo) }
func (t *Theirs) ProviderOrderID() string  { return t.field(tProviderOrderID) }
func (t *Theirs) RefundNo() string         { return t.field(tRefundNo) }
func (t *Theirs) ProviderRefundID() string { return t.field(tProviderRefundID) }
func (t *Theirs) Action() adapters.Action  { return adapters.Action(t.field(tAction)) }
func (t *Theirs) Currency() money.Currency { return money.Currency(t.field(tCurrency)) }
func (t *Theirs) Code() string             { return t.field(tCode) }
func (t *Theirs) Message() string          { return t.field(tMessage) }
func (t *Theirs) Time() time.Time          { return fromUnixNano(t.time) }

// pack joins fields into one string and records where each ends.
func pack(end []uint32, fields ...string) string {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	var b strings.Builder
	b.Grow(n)
	for i, f := range fields {
		b.WriteString(f)
		end[i] = uint32(b.Len())
	}
	return b.String()
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano gives times back in UTC: the report writes every time as UTC.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Order is one line of the orders ledger: the order's total as charged.
type Order struct {
	Provider        string
	Account         string
	OrderNo         string
	ProviderOrderID string
	Total           int64
	Currency        money.Currency
	PaidAt          time.Time
	PaymentMethod   string
}

// Category is the one verdict each refund row of the report gets.
type Category uint8

// The categories of DESIGN.md, in the order the report lists them.
const (
	Matched Category = iota
	AmountMismatch
	StatusMismatch
	MissingAtProvider
	UnexpectedAtProvider
	Duplicate
	Pending
	Failed
	numCategories
)

var categoryNames = [...]string{
	"MATCHED", "AMOUNT_MISMATCH", "STATUS_MISMATCH", "MISSING_AT_PROVIDER",
	"UNEXPECTED_AT_PROVIDER", "DUPLICATE", "PENDING", "FAILED",
}

func (c Category) String() string {
	if c < numCategories {
		return categoryNames[c]
	}
	return fmt.Sprintf("Category(%d)", c)
}

// ParseCategory reads a category as String writes it.
func ParseCategory(s string) (Category, error) {
	for i, n := range categoryNames {
		if n == s {
			return Category(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q is not a category", ErrBadValue, s)
}

// Categories lists every category in report order.
func Categories() []Category {
	cs := make([]Category, numCategories)
	for i := range cs {
		cs[i] = Category(i)
	}
	return cs
}

// Exception reports whether rows of c need a person: everything but
// MATCHED and FAILED (a failure both sides agree on is listed, not chased).
func (c Category) Exception() bool { return c != Matched && c != Failed }
