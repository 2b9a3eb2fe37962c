package sandbox

import (
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// cst is China Standard Time. China keeps no daylight saving time, so a fixed
// zone is exact and needs no tzdata on the host.
var cst = time.FixedZone("CST", 8*3600)

type orderKey struct{ provider, account, no string }

// refundKey identifies a refund number in its provider's scope: Upay numbers
// are unique per order (client_tsn = client_sn-refund_request_no), the other
// providers' numbers per merchant account (order is empty then).
type refundKey struct{ provider, account, order, no string }

// revokeNo stands in for the refund number of a Upay revoke, which has none.
const revokeNo = "\x00revoke"

type order struct {
	Order
	refunded int64 // succeeded plus pending: what can no longer be refunded
	pending  int64 // the pending part of refunded: reserved, not yet paid out
	revoked  bool
	refunds  []*refund
}

func (o *order) remaining() int64 { return o.Total - o.refunded }

// settled is what has really been paid back: refunds that succeeded.
func (o *order) settled() int64 { return o.refunded - o.pending }

// LedgerRefund is one refund the provider side holds.
type LedgerRefund struct {
	Provider, Account, OrderNo, ProviderOrderID string
	RefundNo                                    string // empty for a Upay revoke
	ProviderRefundID                            string
	Type                                        adapters.Action // refund or revoke
	Amount                                      int64
	Currency                                    money.Currency
	Status                                      adapters.Status // succeeded, failed or pending
	Created                                     time.Time       // when the provider accepted it
	Time                                        time.Time       // when it became final; Created while pending
	// Requests counts the refund calls the provider processed for this
	// refund number (see NumberCount), Applied the refunds it accepted
	// under it, each moving (or, while pending, reserving) money. Both are
	// per refund number, not per entry: with Faults.NonIdempotent one number
	// can have several entries, each showing the same counts. Applied is 1
	// for a refund paid once; more is a double refund on the provider side.
	Requests  int
	Applied   int
	OutOfBand bool // made "by hand in the dashboard" through AddOutOfBand
	Seq       int64
	// Operator and Remark are what the refund call carried (Upay operator,
	// QuickPay operator and refund_desc, Nomad reason, PayEase remark); the
	// provider echoes them in its answers.
	Operator, Remark string

	refundAccount, fundsAccount string // Nomad: echoed in its answers
}

type refund struct {
	LedgerRefund
	ord       *order
	settleAt  time.Time
	settleTo  adapters.Status
	notifyURL string
}

// numberCount is what happened to one refund number (refundKey).
type numberCount struct {
	requests, applied int
	orderNo           string // the order the latest call named
	typ               adapters.Action
}

// rejection is a provider-neutral business refusal; each provider renders it
// with its own codes.
type rejection int

const (
	rejNone          rejection = iota
	rejConflict                // refund number reused with another amount or order
	rejExceeds                 // amount above what is left of the order
	rejFullyRefunded           // nothing left of the order
	rejWindow                  // Upay: paid more than 3 months ago
	rejRevoked                 // Upay: refund of a revoked order
	rejRevokeDay               // Upay: revoke not on the day of payment
	rejRevokeAfter             // Upay: revoke after a refund
	rejRevokeRepeat            // Upay: the order is already revoked
)

func (s *Sandbox) addOrder(o Order) error {
	if !knownProvider(o.Provider) {
		return fmt.Errorf("%w: provider %q", ErrInvalidOrder, o.Provider)
	}
	if o.Account == "" || o.OrderNo == "" {
		return fmt.Errorf("%w: account and order number are required", ErrInvalidOrder)
	}
	if o.Total <= 0 {
		return fmt.Errorf("%w: total %d must be positive", ErrInvalidOrder, o.Total)
	}
	if o.Currency == "" {
		o.Currency = money.CNY
	}
	if _, ok := o.Currency.Scale(); !ok {
		return fmt.Errorf("%w: currency %q", ErrInvalidOrder, o.Currency)
	}
	if col, err := checkIDs(o); err != nil {
		return fmt.Errorf("%s: %w", col, err)
	}
	if o.ProviderOrderID == "" {
		o.ProviderOrderID = providerOrderID(o)
	}
	if o.PaymentMethod == "" {
		o.PaymentMethod = "wechatpay"
	}
	k := orderKey{o.Provider, o.Account, o.OrderNo}
	if s.orders[k] != nil {
		return fmt.Errorf("%w: order number %q", ErrDuplicateOrder, o.OrderNo)
	}
	pk := orderKey{o.Provider, o.Account, o.ProviderOrderID}
	if s.byPOID[pk] != nil {
		return fmt.Errorf("%w: provider order id %q", ErrDuplicateOrder, o.ProviderOrderID)
	}
	ord := &order{Order: o}
	s.orders[k] = ord
	s.byPOID[pk] = ord
	return nil
}

// checkIDs rejects orders no client could refund through the provider's
// wire format, naming the column at fault.
func checkIDs(o Order) (column string, err error) {
	switch o.Provider {
	case adapters.Upay:
		if len(o.OrderNo) > 32 {
			return "order_no", fmt.Errorf("%w: Upay client_sn is at most 32 characters", ErrInvalidOrder)
		}
		if len(o.ProviderOrderID) > 16 {
			return "provider_order_id", fmt.Errorf("%w: Upay sn is at most 16 characters", ErrInvalidOrder)
		}
	case adapters.PayEase:
		m := peOrderRequestID.FindStringSubmatch(o.OrderNo)
		if m == nil || m[2] != o.Account || len(o.OrderNo) > 80 {
			return "order_no", fmt.Errorf("%w: PayEase orderRequestId must be yyyymmdd-%s-flow", ErrInvalidOrder, o.Account)
		}
	}
	return "", nil
}

// providerOrderID derives a stable provider-side id for an order the orders
// file gave none: Upay sn are 16 digits, WeChat transaction ids 28.
func providerOrderID(o Order) string {
	h := fnv.New64a()
	h.Write([]byte(o.Provider + "\x00" + o.Account + "\x00" + o.OrderNo))
	v := h.Sum64()
	switch o.Provider {
	case adapters.Upay:
		return fmt.Sprintf("78%014d", v%1e14)
	case adapters.Nomad:
		return fmt.Sprintf("42000011%020d", v%1e18)
	case adapters.QuickPay:
		return fmt.Sprintf("QP%018d", v%1e18)
	default:
		return fmt.Sprintf("PE%018d", v%1e18)
	}
}

// findOrder looks an order up by the provider's id first, as Upay does when
// both are given, then by the merchant's order number. Callers hold s.mu.
func (s *Sandbox) findOrder(provider, acct, providerOrderID, orderNo string) *order {
	if providerOrderID != "" {
		return s.byPOID[orderKey{provider, acct, providerOrderID}]
	}
	return s.orders[orderKey{provider, acct, orderNo}]
}

// refundReq is one refund or revoke as a provider handler understood it.
type refundReq struct {
	provider, account string
	ord               *order
	refundNo          string // empty for a revoke
	amount            int64  // ignored for a revoke: the full total
	typ               adapters.Action
	mayPend           bool // the provider can answer "in progress" and settle later (every refund, no revoke)
	notifyURL         string
	operator, remark  string
	// Nomad's refundAccount and fundsAccount, echoed in its answers.
	refundAccount, fundsAccount string
}

func (r refundReq) key() refundKey { return keyFor(r.ord, r.refundNo, r.typ) }

// keyFor is the scope a refund number is unique in.
func keyFor(o *order, refundNo string, typ adapters.Action) refundKey {
	switch {
	case typ == adapters.ActionRevoke:
		return refundKey{o.Provider, o.Account, o.OrderNo, revokeNo}
	case o.Provider == adapters.Upay:
		return refundKey{o.Provider, o.Account, o.OrderNo, refundNo}
	default:
		return refundKey{o.Provider, o.Account, "", refundNo}
	}
}

// apply runs the business rules and, when they pass, moves the money. A
// repeat of a known refund number returns the refund held under it (repeat
// true) and moves nothing, unless Faults.NonIdempotent makes it a new refund.
// It returns copies safe to read without the lock: the refund, and the order
// it belongs to (for a repeat, the order of the refund held).
func (s *Sandbox) apply(req refundReq) (rf LedgerRefund, ord order, repeat bool, rej rejection) {
	now := s.now()
	f := s.faults.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	o := req.ord
	k := req.key()
	c := s.countLocked(k)
	c.requests++
	c.orderNo, c.typ = o.OrderNo, req.typ
	if prev := s.refunds[k]; prev != nil {
		s.settleLocked(prev, now)
		switch {
		case req.typ == adapters.ActionRevoke:
			// An order is revoked once; whatever the idempotency, a second
			// revoke has nothing left to move.
			return s.viewLocked(prev), o.snapshot(), true, rejRevokeRepeat
		case f.NonIdempotent:
			// A provider that ignores the number: the rules below decide.
		case f.LenientRepeat:
			return s.viewLocked(prev), prev.ord.snapshot(), true, rejNone
		case prev.ord != o || prev.Amount != req.amount:
			return s.viewLocked(prev), o.snapshot(), true, rejConflict
		default:
			return s.viewLocked(prev), prev.ord.snapshot(), true, rejNone
		}
	}
	amount := req.amount
	if req.typ == adapters.ActionRevoke {
		amount = o.Total
	}
	// A pending refund that is due must give its reservation back (or turn
	// it into a refund) before the rules see what is left of the order.
	for _, r := range o.refunds {
		s.settleLocked(r, now)
	}
	if rej := s.rulesLocked(req, o, amount, now); rej != rejNone {
		return LedgerRefund{}, o.snapshot(), false, rej
	}
	r := s.newRefundLocked(o, req.refundNo, req.typ, amount, now)
	r.notifyURL, r.Operator, r.Remark = req.notifyURL, req.operator, req.remark
	r.refundAccount, r.fundsAccount = req.refundAccount, req.fundsAccount
	if req.typ == adapters.ActionRevoke {
		o.revoked = true
	}
	if req.mayPend && f.PendingRate > 0 && s.draw() < f.PendingRate {
		r.Status = adapters.StatusPending
		o.pending += r.Amount
		r.settleAt = now.Add(f.SettleAfter)
		r.settleTo = adapters.StatusSucceeded
		if f.SettleFailRate > 0 && s.draw() < f.SettleFailRate {
			r.settleTo = adapters.StatusFailed
		}
		s.armSettleLocked(r, f.SettleAfter)
	} else {
		s.notifyLocked(r)
	}
	return s.viewLocked(r), o.snapshot(), false, rejNone
}

// countLocked returns the counters of refund number k, creating them.
func (s *Sandbox) countLocked(k refundKey) *numberCount {
	c := s.counts[k]
	if c == nil {
		c = &numberCount{}
		s.counts[k] = c
	}
	return c
}

// viewLocked is r as the ledger shows it, with its number's counters.
func (s *Sandbox) viewLocked(r *refund) LedgerRefund {
	v := r.LedgerRefund
	if c := s.counts[keyFor(r.ord, r.RefundNo, r.Type)]; c != nil {
		v.Requests, v.Applied = c.requests, c.applied
	}
	return v
}

func (o *order) snapshot() order {
	c := *o
	c.refunds = nil
	return c
}

func (s *Sandbox) rulesLocked(req refundReq, o *order, amount int64, now time.Time) rejection {
	if o.Provider == adapters.Upay {
		if req.typ == adapters.ActionRevoke {
			if o.refunded > 0 {
				return rejRevokeAfter
			}
			if !sameDay(o.PaidAt, now) {
				return rejRevokeDay
			}
			return rejNone
		}
		if o.revoked {
			return rejRevoked
		}
		if now.After(o.PaidAt.In(cst).AddDate(0, 3, 0)) {
			return rejWindow
		}
	}
	if o.remaining() <= 0 {
		return rejFullyRefunded
	}
	if amount > o.remaining() {
		return rejExceeds
	}
	return rejNone
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.In(cst).Date()
	by, bm, bd := b.In(cst).Date()
	return ay == by && am == bm && ad == bd
}

// newRefundLocked records a refund that moved money, succeeded unless the
// caller makes it pending.
func (s *Sandbox) newRefundLocked(o *order, refundNo string, typ adapters.Action, amount int64, now time.Time) *refund {
	s.seq[o.Provider]++
	n := s.seq[o.Provider]
	r := &refund{ord: o}
	r.LedgerRefund = LedgerRefund{
		Provider: o.Provider, Account: o.Account, OrderNo: o.OrderNo, ProviderOrderID: o.ProviderOrderID,
		RefundNo: refundNo, Type: typ, Amount: amount, Currency: o.Currency,
		Status: adapters.StatusSucceeded, Created: now, Time: now,
		Seq: int64(len(s.all) + 1),
	}
	r.ProviderRefundID = providerRefundID(o, refundNo, typ, n)
	o.refunded += amount
	o.refunds = append(o.refunds, r)
	k := keyFor(o, refundNo, typ)
	c := s.countLocked(k)
	c.applied++
	c.orderNo, c.typ = o.OrderNo, typ
	s.refunds[k] = r // the latest refund under the number answers repeats and queries
	s.all = append(s.all, r)
	return r
}

// providerRefundID: for Upay the refund transaction's client_tsn
// (client_sn-refund_request_no, documented); for a revoke client_sn-revoke
// (assumed); for the others a per-provider sequence.
func providerRefundID(o *order, refundNo string, typ adapters.Action, n int64) string {
	switch o.Provider {
	case adapters.Upay:
		if typ == adapters.ActionRevoke {
			return o.OrderNo + "-revoke"
		}
		return o.OrderNo + "-" + refundNo
	case adapters.QuickPay:
		return fmt.Sprintf("QPR%015d", n)
	case adapters.Nomad:
		return fmt.Sprintf("503%017d", n)
	default:
		return fmt.Sprintf("PER%015d", n)
	}
}

// settleLocked finalizes a pending refund whose time has come. A refund that
// settles as failed gives its amount back to the order.
func (s *Sandbox) settleLocked(r *refund, now time.Time) bool {
	if r.Status != adapters.StatusPending || now.Before(r.settleAt) {
		return false
	}
	r.Status = r.settleTo
	r.Time = now
	r.ord.pending -= r.Amount
	if r.Status == adapters.StatusFailed {
		r.ord.refunded -= r.Amount
	}
	s.notifyLocked(r)
	return true
}

func (s *Sandbox) settleAllLocked(now time.Time) {
	for _, r := range s.all {
		if r.Status == adapters.StatusPending {
			s.settleLocked(r, now)
		}
	}
}

// armSettleLocked makes a pending refund settle (and notify) even when
// nobody asks: settling lazily on reads alone would never send a notify. The
// timer runs on real time but decides on the sandbox clock, re-arming while
// the refund is not yet due there (tests drive a fake clock).
func (s *Sandbox) armSettleLocked(r *refund, after time.Duration) {
	select {
	case <-s.closing:
		return
	default:
	}
	var t *time.Timer
	t = time.AfterFunc(after, func() {
		now := s.now()
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.timers, t)
		s.settleLocked(r, now)
		if r.Status == adapters.StatusPending {
			s.armSettleLocked(r, max(r.settleAt.Sub(now), 10*time.Millisecond))
		}
	})
	s.timers[t] = struct{}{}
}

// lookup returns the refund known under k, settled as of now, as a
// provider's refund query sees it: with Faults.LookupLagRate a refund
// applied within Faults.LookupLag is not there yet.
func (s *Sandbox) lookup(k refundKey) (LedgerRefund, order, bool) {
	now := s.now()
	f := s.faults.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.refunds[k]
	if r == nil {
		return LedgerRefund{}, order{}, false
	}
	s.settleLocked(r, now)
	if lagging(f, r, now) && s.draw() < f.LookupLagRate {
		return LedgerRefund{}, order{}, false
	}
	return s.viewLocked(r), r.ord.snapshot(), true
}

// lagging reports whether r is recent enough for the lookup-lag fault.
func lagging(f *Faults, r *refund, now time.Time) bool {
	return f.LookupLagRate > 0 && (f.LookupLag == 0 || now.Sub(r.Created) < f.LookupLag)
}

// orderState returns an order with its latest refund, settled as of now, as
// the Upay order query sees it. With the lookup-lag fault, refunds applied
// within Faults.LookupLag are left out of the view as if they had not
// happened yet (one draw per query decides).
func (s *Sandbox) orderState(o *order) (order, *LedgerRefund) {
	now := s.now()
	f := s.faults.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range o.refunds {
		s.settleLocked(r, now)
	}
	view, visible := o.snapshot(), o.refunds
	if slices.ContainsFunc(o.refunds, func(r *refund) bool { return lagging(f, r, now) }) && s.draw() < f.LookupLagRate {
		visible = nil
		view.refunded, view.pending, view.revoked = 0, 0, false
		for _, r := range o.refunds {
			if lagging(f, r, now) {
				continue
			}
			visible = append(visible, r)
			if r.Status != adapters.StatusFailed {
				view.refunded += r.Amount
			}
			if r.Status == adapters.StatusPending {
				view.pending += r.Amount
			}
			view.revoked = view.revoked || r.Type == adapters.ActionRevoke
		}
	}
	var last *LedgerRefund
	if n := len(visible); n > 0 {
		c := s.viewLocked(visible[n-1])
		last = &c
	}
	return view, last
}

// NumberCount is what the provider saw of one refund number: the refund
// calls it processed for it (Requests: authenticated, well-formed, past the
// injected transport faults, for an order it holds; whether they moved
// money, repeated, or were refused) and the refunds it accepted under it
// (Applied; out-of-band refunds included). A number asked for and always
// refused has Applied 0 and no ledger entry.
type NumberCount struct {
	Provider, Account string
	OrderNo           string // the order the latest call named
	RefundNo          string // empty for a Upay revoke
	Type              adapters.Action
	Requests, Applied int
}

// Numbers returns the counts of every refund number a refund call or an
// out-of-band refund named, sorted by provider, account, order, number.
func (s *Sandbox) Numbers() []NumberCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NumberCount, 0, len(s.counts))
	for k, c := range s.counts {
		no := k.no
		if c.typ == adapters.ActionRevoke {
			no = ""
		}
		out = append(out, NumberCount{Provider: k.provider, Account: k.account, OrderNo: c.orderNo, RefundNo: no,
			Type: c.typ, Requests: c.requests, Applied: c.applied})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.OrderNo != b.OrderNo {
			return a.OrderNo < b.OrderNo
		}
		return a.RefundNo < b.RefundNo
	})
	return out
}

// Ledger returns every refund the provider side holds, in the order they
// were made, pending ones settled as of now.
func (s *Sandbox) Ledger() []LedgerRefund {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleAllLocked(now)
	out := make([]LedgerRefund, len(s.all))
	for i, r := range s.all {
		out[i] = s.viewLocked(r)
	}
	return out
}

// Orders returns the orders with what is left of each, sorted by provider,
// account and order number.
func (s *Sandbox) Orders() []OrderState {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleAllLocked(now)
	out := make([]OrderState, 0, len(s.orders))
	for _, o := range s.orders {
		out = append(out, OrderState{Order: o.Order, Refunded: o.refunded, Revoked: o.revoked})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		return a.OrderNo < b.OrderNo
	})
	return out
}

// OrderState is an order and how much of it is refunded (pending included).
type OrderState struct {
	Order
	Refunded int64
	Revoked  bool
}

// OutOfBand is a refund made outside the API, as if by hand in the
// provider's dashboard. The order is found by OrderNo or ProviderOrderID.
type OutOfBand struct {
	Provider, Account, OrderNo, ProviderOrderID string
	RefundNo                                    string          // generated ("OOB" + sequence) when empty
	Type                                        adapters.Action // refund (default) or revoke (Upay)
	Amount                                      int64           // minor units; ignored for a revoke
	Time                                        time.Time       // now when zero
}

// AddOutOfBand records a dashboard refund. The dashboard keeps the same
// limits as the API (it cannot refund more than is left) but none of the
// API's number rules: the refund appears in the ledger and the statement
// like any other, and no client ever asked for it.
func (s *Sandbox) AddOutOfBand(in OutOfBand) (LedgerRefund, error) {
	if in.Type == "" {
		in.Type = adapters.ActionRefund
	}
	clockNow := s.now()
	now := in.Time
	if now.IsZero() {
		now = clockNow
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.findOrder(in.Provider, in.Account, in.ProviderOrderID, in.OrderNo)
	if o == nil {
		return LedgerRefund{}, fmt.Errorf("sandbox: out-of-band refund: %s/%s order %q: %w", in.Provider, in.Account, in.OrderNo+in.ProviderOrderID, ErrUnknownOrder)
	}
	for _, r := range o.refunds { // due pending refunds first, as apply does
		s.settleLocked(r, clockNow)
	}
	switch in.Type {
	case adapters.ActionRevoke:
		if o.Provider != adapters.Upay {
			return LedgerRefund{}, fmt.Errorf("sandbox: out-of-band revoke: only Upay revokes: %w", ErrInvalidRefund)
		}
		if o.revoked || o.refunded > 0 {
			return LedgerRefund{}, fmt.Errorf("sandbox: out-of-band revoke of %s: order already refunded or revoked: %w", o.OrderNo, ErrInvalidRefund)
		}
		in.Amount, in.RefundNo = o.Total, ""
	case adapters.ActionRefund:
		if in.Amount <= 0 {
			return LedgerRefund{}, fmt.Errorf("sandbox: out-of-band refund: amount %d must be positive: %w", in.Amount, ErrInvalidRefund)
		}
		if o.revoked || in.Amount > o.remaining() {
			return LedgerRefund{}, fmt.Errorf("sandbox: out-of-band refund of %s on %s: %w (left %s)", money.Format(in.Amount, o.Currency), o.OrderNo, ErrOverRefund, money.Format(o.remaining(), o.Currency))
		}
		if in.RefundNo == "" {
			in.RefundNo = fmt.Sprintf("OOB%d", len(s.all)+1)
		}
		if s.refunds[keyFor(o, in.RefundNo, in.Type)] != nil {
			return LedgerRefund{}, fmt.Errorf("sandbox: out-of-band refund: refund number %q already used: %w", in.RefundNo, ErrInvalidRefund)
		}
	default:
		return LedgerRefund{}, fmt.Errorf("sandbox: out-of-band refund: type %q: %w", in.Type, ErrInvalidRefund)
	}
	r := s.newRefundLocked(o, in.RefundNo, in.Type, in.Amount, now)
	r.OutOfBand = true
	if in.Type == adapters.ActionRevoke {
		o.revoked = true
	}
	return s.viewLocked(r), nil
}
