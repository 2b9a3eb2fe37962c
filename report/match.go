package report

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/money"
)

// Options tune a reconciliation.
type Options struct {
	// AmountTolerance is the largest difference, in minor units, between our
	// amount and the provider's that still counts as agreement. Default 0.
	AmountTolerance int64
	// From and To limit the report to rows whose time (see Row.Time) lies in
	// [From, To). Zero means unbounded. PENDING rows are kept whatever their
	// time: they are still open, and the nightly run is there to chase them.
	From, To time.Time
	// Location is the time zone of the Day column and of per-day totals;
	// nil means UTC.
	Location *time.Location
}

// why says which rule put a row in its category; it selects the reason text.
type why uint8

const (
	whyMatched why = iota
	whyAmount
	whyCurrency
	whyWeSucceededTheyFailed
	whyWeFailedTheySucceeded
	whyOpenTheyFinal   // we recorded unknown/submitting, provider is final
	whyNotSentTheyHave // we never sent it, provider has it
	whyMissing         // we sent it, provider has no record
	whyUnexpected      // provider has it, we never had it
	whyUnexpectedNoNum // provider record without a refund number
	whyDupProvider     // an extra provider record for one refund number
	whyDupOurs         // our side lists the refund number again, differently
	whyOverTotal       // refunds of the order exceed its total
	whyPendingOurs     // we recorded pending
	whyPendingTheirs   // provider reports pending
	whyNotSent         // planned, never sent, provider has nothing
	whyLookupFailed    // the live lookup could not tell
	whyFailedBoth      // both sides say failed
	whyFailedNoRecord  // we recorded a rejection; provider lists nothing
	whyBlocked         // the provider refused our credentials; nothing judged
	whyCannotTell      // the provider answered without showing this refund
	whyUnconfirmed     // the provider's answer gives no amount to compare
	whyOrderUnconfirmed
	whyOrderTotal  // an order-level row: the provider's refunded total differs
	whyAmountAgain // the provider lists one refund id with two amounts
)

// Notes add a fact to a row's reason without changing its rule.
const (
	noteByPRID      uint8 = 1 << iota // paired by the provider refund id, refund numbers spelled differently
	noteConfirmed                     // confirmed by the order's refunded total
	noteNoMoneyMove                   // the order's refunded total is explained without this refund
)

// Row is one line of the report: one refund (or one extra provider record)
// with its verdict. A row points at our record, the provider's, or both;
// an extra record of a DUPLICATE points at one side only so that no amount
// is counted twice.
type Row struct {
	O *Ours
	T *Theirs
	// alt is another record the provider keeps under the same provider
	// refund id with another amount: counted once (T), flagged with both.
	alt  *Theirs
	x, y int64 // context for the reason text (see reason)

	// Sort keys cached by Reconcile: the rank of the row's provider and
	// account among all pairs, and its order identity. Sorting a million
	// rows then mostly compares an integer and one string, instead of
	// chasing both records for every field.
	ord string
	pa  uint32
	age int32 // 1 + the index of the row's entry in Result.Ages; 0: none

	Category Category
	why      why
	note     uint8
}

// match keys: provider + account (+ the order, where the provider makes
// refund numbers unique per order) + refund number; a revoke, which has no
// refund number on the wire, is keyed by its order.
const (
	kindRefund  = 0
	kindRevoke  = 1
	kindNoNum   = 2 // provider record that carries no refund number: never matches
	kindNoRefNo = 3 // our refund without a refund number: never matches
)

type mkey struct {
	p, a string
	kind uint8
	ord  string
	ref  string
}

// scope is one provider's refund-number scope, from the registry.
type scope struct {
	name  string
	order bool
}

// scopes lists the registry's providers: a handful, so a scan beats a map
// in the matcher's hot path (every key of a million records asks).
var scopes = func() []scope {
	var s []scope
	for _, d := range registry.All() {
		s = append(s, scope{d.Name, d.RefundNoScope == adapters.ScopeOrder})
	}
	return s
}()

// orderScoped reports whether p makes refund numbers unique per order. An
// unknown provider is keyed per order, the narrower scope, as the registry
// does, so that nothing is merged by mistake.
func orderScoped(p string) bool {
	for i := range scopes {
		if scopes[i].name == p {
			return scopes[i].order
		}
	}
	return true
}

// idents gives each record its order identity: the merchant's order number,
// or for a record that names only the provider's order id (a Upay refund by
// sn), the order number another record or the orders ledger gives for that
// id, else the id itself marked "sn:".
type idents struct {
	alias map[[3]string]string // provider, account, provider order id → order number
}

func newIdents(ours []Ours, theirs []Theirs, orders []Order) *idents {
	x := &idents{}
	need := false
	for i := range ours {
		if ours[i].OrderNo() == "" && ours[i].ProviderOrderID() != "" {
			need = true
			break
		}
	}
	for i := 0; !need && i < len(theirs); i++ {
		need = theirs[i].OrderNo() == "" && theirs[i].ProviderOrderID() != ""
	}
	if !need {
		return x
	}
	x.alias = map[[3]string]string{}
	add := func(p, a, no, poid string) {
		if no != "" && poid != "" {
			x.alias[[3]string{p, a, poid}] = no
		}
	}
	for _, o := range orders {
		add(o.Provider, o.Account, o.OrderNo, o.ProviderOrderID)
	}
	for i := range theirs {
		add(theirs[i].Provider(), theirs[i].Account(), theirs[i].OrderNo(), theirs[i].ProviderOrderID())
	}
	for i := range ours {
		add(ours[i].Provider(), ours[i].Account(), ours[i].OrderNo(), ours[i].ProviderOrderID())
	}
	return x
}

func (x *idents) order(p, a, orderNo, poid string) string {
	if orderNo != "" || poid == "" {
		return orderNo
	}
	if x != nil && x.alias != nil {
		if no, ok := x.alias[[3]string{p, a, poid}]; ok {
			return no
		}
	}
	return "sn:" + poid
}

func (x *idents) oursKey(o *Ours) mkey {
	p, a := o.Provider(), o.Account()
	ord := x.order(p, a, o.OrderNo(), o.ProviderOrderID())
	switch {
	case o.Action() == adapters.ActionRevoke:
		return mkey{p, a, kindRevoke, ord, ""}
	case o.RefundNo() == "":
		return mkey{p, a, kindNoRefNo, ord, ""}
	case !orderScoped(p):
		ord = ""
	}
	return mkey{p, a, kindRefund, ord, o.RefundNo()}
}

func (x *idents) theirsKey(t *Theirs) mkey {
	p, a := t.Provider(), t.Account()
	ord := x.order(p, a, t.OrderNo(), t.ProviderOrderID())
	switch {
	case t.Action() == adapters.ActionRevoke:
		return mkey{p, a, kindRevoke, ord, ""}
	case t.RefundNo() == "":
		return mkey{p, a, kindNoNum, ord, t.ProviderRefundID()}
	case !orderScoped(p):
		ord = ""
	}
	return mkey{p, a, kindRefund, ord, t.RefundNo()}
}

// rowOrder is the order identity of a row: our record's, else the provider's.
func (x *idents) rowOrder(r *Row) string {
	if r.O != nil {
		return x.order(r.O.Provider(), r.O.Account(), r.O.OrderNo(), r.O.ProviderOrderID())
	}
	return x.order(r.T.Provider(), r.T.Account(), r.T.OrderNo(), r.T.ProviderOrderID())
}

// hashed is a record's index with the hash of its match key.
type hashed struct {
	h uint64
	i int32
}

// keyHash is FNV-1a over the key's parts, with separators so that no two
// keys' parts run together alike. It has no seed: the same inputs always
// give the same order.
func keyHash(k mkey) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, s := range [4]string{k.p, k.a, k.ord, k.ref} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
		h = (h ^ 0xff) * prime
	}
	return (h ^ uint64(k.kind)) * prime
}

func cmpKey(x, y mkey) int {
	if c := strings.Compare(x.p, y.p); c != 0 {
		return c
	}
	if c := strings.Compare(x.a, y.a); c != 0 {
		return c
	}
	if c := cmp.Compare(x.kind, y.kind); c != 0 {
		return c
	}
	if c := strings.Compare(x.ord, y.ord); c != 0 {
		return c
	}
	return strings.Compare(x.ref, y.ref)
}

// matchable reports whether two records with equal keys can be one refund.
func matchable(k mkey) bool { return k.kind == kindRefund || k.kind == kindRevoke }

// ourRank orders our states by how much they know: a final state beats a
// pending one beats a doubtful one beats never sent.
func ourRank(s State) int {
	switch s {
	case StateSucceeded, StateFailed:
		return 4
	case StatePending:
		return 3
	case StateUnknown, StateBlocked:
		return 2
	case StateSubmitting:
		return 1
	}
	return 0
}

func theirRank(s Status) int {
	switch s {
	case StatusSucceeded, StatusFailed:
		return 2
	case StatusPending:
		return 1
	}
	return 0
}

func cmpSource(s1, r1, s2, r2 int32) int {
	if c := cmp.Compare(s1, s2); c != 0 {
		return c
	}
	return cmp.Compare(r1, r2)
}

// match pairs the two sides and gives every record exactly one row. The
// rows come out in match-key order; Reconcile sorts them for the report.
func match(x *idents, ours []Ours, theirs []Theirs, tol int64) []Row {
	// Both sides are sorted by a hash of the match key first: the order is
	// only used to walk the two sides together (the report is sorted
	// afterwards), and comparing integers is much cheaper than comparing
	// provider, account and refund number strings a million times over.
	oi := make([]hashed, len(ours))
	for i := range oi {
		oi[i] = hashed{keyHash(x.oursKey(&ours[i])), int32(i)}
	}
	// The two sides sort at the same time, one per core.
	var wg sync.WaitGroup
	wg.Go(func() { sortOurs(x, ours, oi) })
	ti := make([]hashed, len(theirs))
	for i := range ti {
		ti[i] = hashed{keyHash(x.theirsKey(&theirs[i])), int32(i)}
	}
	sortTheirs(x, theirs, ti)
	wg.Wait()

	rows := make([]Row, 0, max(len(ours), len(theirs))+len(theirs)/64)
	var og []*Ours
	var tg []*Theirs
	i, j := 0, 0
	for i < len(oi) || j < len(ti) {
		var k mkey
		var h uint64
		switch {
		case i >= len(oi):
			k, h = x.theirsKey(&theirs[ti[j].i]), ti[j].h
		case j >= len(ti):
			k, h = x.oursKey(&ours[oi[i].i]), oi[i].h
		default:
			ko, kt := x.oursKey(&ours[oi[i].i]), x.theirsKey(&theirs[ti[j].i])
			k, h = ko, oi[i].h
			if c := cmp.Compare(ti[j].h, oi[i].h); c < 0 || c == 0 && cmpKey(kt, ko) < 0 {
				k, h = kt, ti[j].h
			}
		}
		og, tg = og[:0], tg[:0]
		for i < len(oi) && oi[i].h == h && cmpKey(x.oursKey(&ours[oi[i].i]), k) == 0 {
			og = append(og, &ours[oi[i].i])
			i++
		}
		for j < len(ti) && ti[j].h == h && cmpKey(x.theirsKey(&theirs[ti[j].i]), k) == 0 {
			tg = append(tg, &theirs[ti[j].i])
			j++
		}
		if !matchable(k) {
			// Records that carry no key of their own stand alone.
			for _, o := range og {
				rows = append(rows, decide(o, nil, tol))
			}
			for _, t := range tg {
				rows = append(rows, decide(nil, t, tol))
			}
			continue
		}
		rows = matchGroup(rows, og, tg, tol)
	}
	return rows
}

func sortOurs(x *idents, ours []Ours, oi []hashed) {
	slices.SortFunc(oi, func(a, b hashed) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		if c := cmpKey(x.oursKey(&ours[a.i]), x.oursKey(&ours[b.i])); c != 0 {
			return c
		}
		return cmpSource(ours[a.i].Source, ours[a.i].Row, ours[b.i].Source, ours[b.i].Row)
	})
}

func sortTheirs(x *idents, theirs []Theirs, ti []hashed) {
	slices.SortFunc(ti, func(a, b hashed) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		if c := cmpKey(x.theirsKey(&theirs[a.i]), x.theirsKey(&theirs[b.i])); c != 0 {
			return c
		}
		return cmpSource(theirs[a.i].Source, theirs[a.i].Row, theirs[b.i].Source, theirs[b.i].Row)
	})
}

// matchGroup decides one match key: zero or more of our records against
// zero or more provider records.
func matchGroup(rows []Row, og []*Ours, tg []*Theirs, tol int64) []Row {
	// Our side: the same refund listed by several inputs (a store and the
	// results file of the same run, or two runs) is one refund; keep the
	// record that knows most. A different amount or currency under the same
	// number is not the same refund: it is a DUPLICATE of its own.
	var o *Ours
	if len(og) > 0 {
		o = og[0]
		for _, c := range og[1:] {
			if c.Amount != o.Amount || c.Currency() != o.Currency() {
				continue
			}
			if r, ro := ourRank(c.State), ourRank(o.State); r > ro || r == ro && c.LastAttempt().After(o.LastAttempt()) {
				o = c
			}
		}
	}

	// Provider side: several statements may list the same provider refund
	// (yesterday's as pending, today's as succeeded). Records with the same
	// provider refund id are one refund, counted once; keep the one that
	// knows most, then the latest. One whose amount changed is kept as alt
	// and flagged.
	tg, alts := dedupeTheirs(foldLookups(tg))
	var t, alt *Theirs
	if len(tg) > 0 {
		t, alt = tg[0], alts[0]
		for k, c := range tg[1:] {
			if betterPrimary(c, t, o) {
				t, alt = c, alts[k+1]
			}
		}
	}

	r := decide(o, t, tol)
	r.alt = alt
	rows = append(rows, flagAlt(r))
	for _, c := range og {
		if c != o && (c.Amount != o.Amount || c.Currency() != o.Currency()) {
			rows = append(rows, Row{O: c, Category: Duplicate, why: whyDupOurs, y: int64(len(og))})
		}
	}
	for k, c := range tg {
		if c != t {
			rows = append(rows, flagAlt(Row{T: c, alt: alts[k], Category: Duplicate, why: whyDupProvider, y: int64(len(tg))}))
		}
	}
	return rows
}

// foldLookups keeps a live lookup's answer from counting as a refund of
// its own: it is about our refund number, another view of the refund the
// provider's own records (a statement) list. Where the group has such
// records, the answer replaces the one it is about only when it knows more
// (a final status where the statement says pending) and gives an amount;
// otherwise it is left out.
func foldLookups(tg []*Theirs) []*Theirs {
	if len(tg) < 2 {
		return tg
	}
	looks := 0
	for _, t := range tg {
		if t.flags&tLookup != 0 {
			looks++
		}
	}
	if looks == 0 || looks == len(tg) {
		return tg
	}
	own := make([]*Theirs, 0, len(tg)-looks)
	for _, t := range tg {
		if t.flags&tLookup == 0 {
			own = append(own, t)
		}
	}
	for _, l := range tg {
		if l.flags&tLookup == 0 || !l.AmountKnown() {
			continue
		}
		for k, o := range own {
			if (l.ProviderRefundID() == o.ProviderRefundID() || len(own) == 1) && theirRank(l.Status) > theirRank(o.Status) {
				own[k] = l
				break
			}
		}
	}
	return own
}

// dedupeTheirs folds the records of one provider refund id into one, the
// most final and then latest winning. alts[k] is a record of out[k]'s id
// with another amount or currency, if there is one: the provider changed
// the refund's amount, which is counted once and flagged.
func dedupeTheirs(tg []*Theirs) (out, alts []*Theirs) {
	if len(tg) < 2 {
		return tg, make([]*Theirs, len(tg))
	}
	var groups [][]*Theirs
next:
	for _, c := range tg {
		if c.ProviderRefundID() != "" {
			for k, g := range groups {
				if g[0].ProviderRefundID() == c.ProviderRefundID() {
					groups[k] = append(g, c)
					continue next
				}
			}
		}
		groups = append(groups, []*Theirs{c})
	}
	out, alts = make([]*Theirs, len(groups)), make([]*Theirs, len(groups))
	for k, g := range groups {
		best := g[0]
		for _, c := range g[1:] {
			if r, rb := theirRank(c.Status), theirRank(best.Status); r > rb || r == rb && c.Time().After(best.Time()) {
				best = c
			}
		}
		out[k] = best
		for _, c := range g {
			if c != best && differentAmount(c, best) {
				alts[k] = c
				break
			}
		}
	}
	return out, alts
}

func differentAmount(a, b *Theirs) bool {
	return a.AmountKnown() && b.AmountKnown() && (a.Amount != b.Amount || a.Currency() != b.Currency())
}

// flagAlt turns a row whose provider record changed its amount into an
// exception: MATCHED or a plain amount mismatch becomes AMOUNT_MISMATCH
// with both of the provider's amounts; any other verdict stays, and its
// reason names the other amount.
func flagAlt(r Row) Row {
	if r.alt != nil && (r.Category == Matched || r.why == whyAmount) {
		r.Category, r.why = AmountMismatch, whyAmountAgain
	}
	return r
}

// betterPrimary reports whether c should pair with our record o rather
// than the current choice t: a succeeded record of our amount first, then
// any succeeded, then pending, then failed; ties go to the earlier record.
func betterPrimary(c, t *Theirs, o *Ours) bool {
	score := func(x *Theirs) int {
		s := 0
		switch x.Status {
		case StatusSucceeded:
			s = 30
		case StatusPending, StatusUnknown:
			s = 20
		case StatusFailed:
			s = 10
		}
		if o != nil && x.Amount == o.Amount && x.Currency() == o.Currency() {
			s++
		}
		return s
	}
	if sc, st := score(c), score(t); sc != st {
		return sc > st
	}
	if !c.Time().Equal(t.Time()) {
		return c.Time().Before(t.Time())
	}
	return cmpSource(c.Source, c.Row, t.Source, t.Row) < 0
}

// lookupError reports whether a provider record stands for a lookup that
// failed (a timeout, a 503), rather than for an answer.
func lookupError(t *Theirs) bool { return strings.HasPrefix(t.Code(), "LOOKUP_") }

// decide is the decision table for one refund, applied in this order:
//
//	ours  provider                          → category
//	 –    any                               → UNEXPECTED_AT_PROVIDER
//	planned  –                              → PENDING (never sent)
//	failed   –                              → FAILED (rejected, nothing moved)
//	blocked  –                              → PENDING (credentials refused)
//	sent/succeeded –                        → MISSING_AT_PROVIDER
//	failed   failed                         → FAILED
//	currency differs                        → AMOUNT_MISMATCH
//	neither failed, |Δamount| > tolerance   → AMOUNT_MISMATCH
//	any      unknown (lookup could not tell) → PENDING
//	succeeded failed / failed succeeded     → STATUS_MISMATCH
//	planned/submitting/unknown/blocked final → STATUS_MISMATCH
//	pending on either side                  → PENDING
//	succeeded succeeded, amount not given   → AMOUNT_MISMATCH (unconfirmed)
//	succeeded succeeded                     → MATCHED
//
// "sent" is submitting, unknown or pending. Amounts are compared only when
// the provider's record gives one. A MATCHED row may still become DUPLICATE
// when its order's refunds exceed the order total (overTotal); an
// unconfirmed one may be confirmed by the order's refunded total
// (confirmOrders).
func decide(o *Ours, t *Theirs, tol int64) Row {
	r := Row{O: o, T: t}
	set := func(c Category, w why) Row { r.Category, r.why = c, w; return r }
	switch {
	case o == nil:
		if t.Action() != adapters.ActionRevoke && t.RefundNo() == "" {
			return set(UnexpectedAtProvider, whyUnexpectedNoNum)
		}
		return set(UnexpectedAtProvider, whyUnexpected)
	case t == nil:
		switch o.State {
		case StatePlanned:
			return set(Pending, whyNotSent)
		case StateFailed:
			return set(Failed, whyFailedNoRecord)
		case StateBlocked:
			return set(Pending, whyBlocked)
		}
		return set(MissingAtProvider, whyMissing)
	case o.State == StateFailed && t.Status == StatusFailed:
		return set(Failed, whyFailedBoth)
	case t.Status != StatusUnknown && t.AmountKnown() && o.Currency() != t.Currency():
		return set(AmountMismatch, whyCurrency)
	case t.Status != StatusUnknown && t.AmountKnown() && o.State != StateFailed && t.Status != StatusFailed && absDiff(o.Amount, t.Amount) > tol:
		r.x = t.Amount - o.Amount
		return set(AmountMismatch, whyAmount)
	case t.Status == StatusUnknown && lookupError(t):
		return set(Pending, whyLookupFailed)
	case t.Status == StatusUnknown:
		return set(Pending, whyCannotTell)
	case o.State == StateSucceeded && t.Status == StatusFailed:
		return set(StatusMismatch, whyWeSucceededTheyFailed)
	case o.State == StateFailed && t.Status == StatusSucceeded:
		return set(StatusMismatch, whyWeFailedTheySucceeded)
	case o.State == StatePlanned && t.Status.final():
		return set(StatusMismatch, whyNotSentTheyHave)
	case (o.State == StateSubmitting || o.State == StateUnknown || o.State == StateBlocked) && t.Status.final():
		return set(StatusMismatch, whyOpenTheyFinal)
	case t.Status == StatusPending:
		return set(Pending, whyPendingTheirs)
	case !o.State.final():
		return set(Pending, whyPendingOurs)
	case !t.AmountKnown():
		return set(AmountMismatch, whyUnconfirmed)
	}
	// Both succeeded: the only case left, since failed/failed and the two
	// crossed outcomes are handled above.
	return set(Matched, whyMatched)
}

// pairByProviderRefundID pairs a refund of ours the provider seems not to
// have with the provider record that carries our provider refund id: the
// provider spelled the refund number differently (another case, no leading
// zeros), but the provider's own id says it is one refund. A record of a
// refund already paired that appears again under another spelling is the
// same refund too: counted once, and flagged if its amount differs.
func pairByProviderRefundID(x *idents, rows []Row, tol int64) []Row {
	// Keyed by the id alone (one string to hash for each of a million
	// rows); provider and account are checked on a hit.
	cand := map[string]int{}
	for i := range rows {
		r := &rows[i]
		if r.O == nil && r.Category == UnexpectedAtProvider && r.T.ProviderRefundID() != "" && r.T.Action() != adapters.ActionRevoke {
			cand[r.T.ProviderRefundID()] = i
		}
	}
	if len(cand) == 0 {
		return rows
	}
	dropped := map[int]bool{}
	for i := range rows {
		r := &rows[i]
		if r.O == nil || r.why == whyDupOurs || r.O.Action() == adapters.ActionRevoke {
			continue
		}
		id := r.O.ProviderRefundID()
		if r.T != nil && r.T.ProviderRefundID() != "" {
			id = r.T.ProviderRefundID()
		}
		if id == "" {
			continue
		}
		j, ok := cand[id]
		if !ok || dropped[j] {
			continue
		}
		t := rows[j].T
		if t.Provider() != r.O.Provider() || t.Account() != r.O.Account() {
			continue
		}
		if orderScoped(t.Provider()) {
			if a, b := x.rowOrder(r), x.order(t.Provider(), t.Account(), t.OrderNo(), t.ProviderOrderID()); a != "" && b != "" && a != b {
				continue
			}
		}
		switch {
		case r.T == nil:
			nr := decide(r.O, t, tol)
			nr.note |= noteByPRID
			*r = nr
		case differentAmount(t, r.T) && r.alt == nil:
			r.alt = t
			*r = flagAlt(*r)
		}
		dropped[j] = true
	}
	if len(dropped) == 0 {
		return rows
	}
	keep := rows[:0]
	for i := range rows {
		if !dropped[i] {
			keep = append(keep, rows[i])
		}
	}
	return keep
}

// confirmOrders applies the provider's order-level answers (Upay's query
// gives an order's refunded total, and the latest transaction only). For
// each order with such an answer, every provider amount the answers show
// one by one is subtracted from the order's refunded total; what remains
// must be exactly the sum of our succeeded refunds the answers could not
// show. Then those refunds are MATCHED, "confirmed by the order's refunded
// total". Otherwise they stay unconfirmed (AMOUNT_MISMATCH) and the
// remainder becomes a row of its own for the order, with both figures:
// the money the provider refunded on the order that no refund shown
// accounts for. Either way the provider's refunded amounts of the order
// add up to its refunded total.
func confirmOrders(x *idents, rows []Row) []Row {
	type check struct {
		refunded        int64
		cur             money.Currency
		rep             *Theirs
		known, ours     int64
		confirmable     int64
		idx, nothingIdx []int
	}
	checks := map[string]*check{}
	providers := map[string]bool{}
	orderKey := func(r *Row) string {
		return r.Provider() + "\x00" + r.Account() + "\x00" + x.rowOrder(r)
	}
	for i := range rows {
		r := &rows[i]
		if r.T == nil {
			continue
		}
		v, ok := r.T.OrderRefunded()
		if !ok {
			continue
		}
		k := orderKey(r)
		c := checks[k]
		if c == nil {
			c = &check{refunded: v, cur: r.T.Currency(), rep: r.T}
			checks[k] = c
			providers[r.Provider()] = true
		}
		// Answers of one night about one order agree unless a refund
		// settled between two of them; the larger total is the later one.
		if v > c.refunded {
			c.refunded, c.rep = v, r.T
		}
	}
	if len(checks) == 0 {
		return rows
	}
	for i := range rows {
		r := &rows[i]
		if !providers[r.Provider()] {
			continue
		}
		c := checks[orderKey(r)]
		if c == nil || r.Currency() != c.cur {
			continue
		}
		if r.T != nil && r.T.Status == StatusSucceeded && r.T.AmountKnown() && r.T.Currency() == c.cur {
			c.known += r.T.Amount
		}
		if r.O == nil || r.O.Currency() != c.cur {
			continue
		}
		succeeded := r.O.State == StateSucceeded
		if succeeded {
			c.ours += r.O.Amount
		}
		if r.T == nil || r.T.AmountKnown() || r.why == whyDupOurs {
			continue
		}
		switch {
		case succeeded && (r.T.Status == StatusSucceeded || r.T.Status == StatusUnknown):
			c.confirmable += r.O.Amount
			c.idx = append(c.idx, i)
		case !succeeded:
			c.nothingIdx = append(c.nothingIdx, i)
		}
	}
	keys := make([]string, 0, len(checks))
	for k := range checks {
		keys = append(keys, k)
	}
	slices.Sort(keys) // order rows come out the same on every run
	for _, k := range keys {
		c := checks[k]
		rest := c.refunded - c.known
		if rest == c.confirmable {
			for _, i := range c.idx {
				r := &rows[i]
				r.Category, r.why, r.x, r.y = Matched, whyMatched, c.refunded, c.ours
				r.note |= noteConfirmed
			}
			for _, i := range c.nothingIdx {
				rows[i].note |= noteNoMoneyMove
				rows[i].x = c.refunded
			}
			continue
		}
		for _, i := range c.idx {
			r := &rows[i]
			r.Category, r.why, r.x, r.y = AmountMismatch, whyOrderUnconfirmed, c.refunded, c.ours
		}
		rep := c.rep.Record()
		t := NewTheirs(TheirRecord{Provider: rep.Provider, Account: rep.Account, OrderNo: rep.OrderNo, ProviderOrderID: rep.ProviderOrderID,
			Action: adapters.ActionRefund, Amount: rest, Currency: c.cur, Status: StatusSucceeded, Time: rep.Time,
			Code: "ORDER_REFUNDED_TOTAL", Message: "refunded on the order per the provider, not accounted for by any refund it shows",
			Source: rep.Source})
		rows = append(rows, Row{T: &t, Category: AmountMismatch, why: whyOrderTotal, x: c.refunded, y: c.ours})
	}
	return rows
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// Row accessors: the report's columns, each from whichever side has it
// (ours first: it is what the operator searches for).

func (r *Row) Provider() string {
	if r.O != nil {
		return r.O.Provider()
	}
	return r.T.Provider()
}

func (r *Row) Account() string {
	if r.O != nil {
		return r.O.Account()
	}
	return r.T.Account()
}

func (r *Row) OrderNo() string {
	if r.O != nil && r.O.OrderNo() != "" {
		return r.O.OrderNo()
	}
	if r.T != nil {
		return r.T.OrderNo()
	}
	return ""
}

func (r *Row) ProviderOrderID() string {
	if r.O != nil && r.O.ProviderOrderID() != "" {
		return r.O.ProviderOrderID()
	}
	if r.T != nil {
		return r.T.ProviderOrderID()
	}
	return ""
}

func (r *Row) RefundNo() string {
	if r.O != nil {
		return r.O.RefundNo()
	}
	return r.T.RefundNo()
}

func (r *Row) Action() adapters.Action {
	if r.O != nil {
		return r.O.Action()
	}
	return r.T.Action()
}

// Currency is the row's currency: ours when we have the refund, else the
// provider's. A currency mismatch row is counted under each side's own
// currency in the totals.
func (r *Row) Currency() money.Currency {
	if r.O != nil {
		return r.O.Currency()
	}
	return r.T.Currency()
}

// OurAmount is what we asked to refund (0 when we have no record).
func (r *Row) OurAmount() int64 {
	if r.O == nil {
		return 0
	}
	return r.O.Amount
}

// OurRefunded is what we recorded as refunded: the amount if succeeded.
func (r *Row) OurRefunded() int64 {
	if r.O == nil || r.O.State != StateSucceeded {
		return 0
	}
	return r.O.Amount
}

// ProviderAmount is the amount on the provider's record, and whether
// there is one: no record, or a record that does not say the amount, has
// none. A refund confirmed by its order's refunded total has ours.
func (r *Row) ProviderAmount() (int64, bool) {
	switch {
	case r.note&noteConfirmed != 0:
		return r.O.Amount, true
	case r.T == nil || !r.T.AmountKnown():
		return 0, false
	}
	return r.T.Amount, true
}

// ProviderCurrency is the currency of the provider's amount.
func (r *Row) ProviderCurrency() money.Currency {
	if r.T == nil {
		return r.Currency()
	}
	return r.T.Currency()
}

// ProviderRefunded is what the provider says it refunded: its amount if succeeded.
func (r *Row) ProviderRefunded() int64 {
	if r.ProviderStatus() != StatusSucceeded {
		return 0
	}
	v, _ := r.ProviderAmount()
	return v
}

// ProviderStatus is the provider's status of the refund; a refund
// confirmed by its order's refunded total has succeeded. Meaningless
// without a provider record.
func (r *Row) ProviderStatus() Status {
	if r.note&noteConfirmed != 0 {
		return StatusSucceeded
	}
	if r.T == nil {
		return StatusUnknown
	}
	return r.T.Status
}

// ProviderRefundID is the provider's id, from its record or else from ours.
func (r *Row) ProviderRefundID() string {
	if r.T != nil && r.T.ProviderRefundID() != "" {
		return r.T.ProviderRefundID()
	}
	if r.O != nil {
		return r.O.ProviderRefundID()
	}
	return ""
}

// ProviderCode and ProviderMessage are the provider's raw answer as our
// run recorded it, or as a live lookup returned it.
func (r *Row) ProviderCode() string {
	if r.O != nil && r.O.ProviderCode() != "" {
		return r.O.ProviderCode()
	}
	if r.T != nil {
		return r.T.Code()
	}
	return ""
}

func (r *Row) ProviderMessage() string {
	if r.O != nil && r.O.ProviderMessage() != "" {
		return r.O.ProviderMessage()
	}
	// A confirmed refund's lookup said it could not show the refund; the
	// reason says how it was confirmed instead.
	if r.T != nil && r.note&noteConfirmed == 0 {
		return r.T.Message()
	}
	return ""
}

// Time is the row's time, the one --from/--to and the Day column use: the
// provider's record time when it has one, else our first attempt; zero for
// a refund never sent and never seen at the provider.
func (r *Row) Time() time.Time {
	if r.T != nil && !r.T.Time().IsZero() {
		return r.T.Time()
	}
	if r.O != nil {
		return r.O.FirstAttempt()
	}
	return time.Time{}
}

// cmpRows orders the report: provider, account, order, currency, refund
// number, then our record before extra provider records.
func cmpRows(a, b *Row) int {
	if c := cmp.Compare(a.pa, b.pa); c != 0 {
		return c
	}
	if c := strings.Compare(a.ord, b.ord); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Currency()), string(b.Currency())); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Action()), string(b.Action())); c != 0 {
		return c
	}
	if c := strings.Compare(a.RefundNo(), b.RefundNo()); c != 0 {
		return c
	}
	// Within one refund number: the primary row (ours present) first.
	if ao, bo := a.O != nil, b.O != nil; ao != bo {
		if ao {
			return -1
		}
		return 1
	}
	if a.O != nil && b.O != nil && a.O != b.O {
		return cmpSource(a.O.Source, a.O.Row, b.O.Source, b.O.Row)
	}
	if a.T != nil && b.T != nil && a.T != b.T {
		if c := a.T.Time().Compare(b.T.Time()); c != 0 {
			return c
		}
		if c := strings.Compare(a.T.ProviderRefundID(), b.T.ProviderRefundID()); c != 0 {
			return c
		}
		return cmpSource(a.T.Source, a.T.Row, b.T.Source, b.T.Row)
	}
	if (a.T == nil) != (b.T == nil) {
		if a.T != nil {
			return -1
		}
		return 1
	}
	return 0
}

// setSortKeys fills the cached sort keys of every row (see Row.pa).
func setSortKeys(x *idents, rows []Row) {
	type pair struct{ p, a string }
	// An installation has a handful of provider accounts: a short list
	// searched from the last hit costs less than hashing two strings for
	// each of a million rows. Past a few dozen, a map.
	var pairs []pair
	idx := make([]uint32, len(rows))
	var byPair map[pair]uint32
	last := -1
	for i := range rows {
		k := pair{rows[i].Provider(), rows[i].Account()}
		if last >= 0 && pairs[last] == k {
			idx[i] = uint32(last)
			continue
		}
		found := -1
		if byPair != nil {
			if j, ok := byPair[k]; ok {
				found = int(j)
			}
		} else {
			for j := range pairs {
				if pairs[j] == k {
					found = j
					break
				}
			}
		}
		if found < 0 {
			found = len(pairs)
			pairs = append(pairs, k)
			if byPair == nil && len(pairs) > 32 {
				byPair = make(map[pair]uint32, len(pairs))
				for j, p := range pairs {
					byPair[p] = uint32(j)
				}
			} else if byPair != nil {
				byPair[k] = uint32(found)
			}
		}
		idx[i], last = uint32(found), found
	}
	order := make([]int, len(pairs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return cmp.Or(strings.Compare(pairs[i].p, pairs[j].p), strings.Compare(pairs[i].a, pairs[j].a))
	})
	rank := make([]uint32, len(pairs))
	for r, i := range order {
		rank[i] = uint32(r)
	}
	for i := range rows {
		r := &rows[i]
		r.pa, r.ord = rank[idx[i]], x.rowOrder(r)
	}
}

// sameOrderRows reports whether two sorted rows belong to one order:
// provider, account and order identity.
func sameOrderRows(a, b *Row) bool {
	return a.pa == b.pa && a.ord == b.ord
}
