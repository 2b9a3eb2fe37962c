package report

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
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
)

// Row is one line of the report: one refund (or one extra provider record)
// with its verdict. A row points at our record, the provider's, or both;
// an extra record of a DUPLICATE points at one side only so that no amount
// is counted twice.
type Row struct {
	O        *Ours
	T        *Theirs
	Category Category
	why      why
	x, y     int64 // context for the reason text (see reason)

	// Sort keys cached by Reconcile: the rank of the row's provider and
	// account among all pairs, and its order number. Sorting a million rows
	// then mostly compares an integer and one string, instead of chasing
	// both records for every field.
	pa  uint32
	ord string
}

// match keys: provider + account + refund number, or for a revoke (which
// has no refund number on the wire) provider + account + order number.
const (
	kindRefund  = 0
	kindRevoke  = 1
	kindNoNum   = 2 // provider record that carries no refund number: never matches
	kindNoRefNo = 3 // our refund without a refund number: never matches
)

type mkey struct {
	p, a string
	kind uint8
	ref  string
}

func oursKey(o *Ours) mkey {
	if o.Action() == adapters.ActionRevoke {
		return mkey{o.Provider(), o.Account(), kindRevoke, o.OrderNo()}
	}
	if o.RefundNo() == "" {
		return mkey{o.Provider(), o.Account(), kindNoRefNo, o.OrderNo()}
	}
	return mkey{o.Provider(), o.Account(), kindRefund, o.RefundNo()}
}

func theirsKey(t *Theirs) mkey {
	if t.Action() == adapters.ActionRevoke {
		return mkey{t.Provider(), t.Account(), kindRevoke, t.OrderNo()}
	}
	if t.RefundNo() == "" {
		return mkey{t.Provider(), t.Account(), kindNoNum, t.ProviderRefundID()}
	}
	return mkey{t.Provider(), t.Account(), kindRefund, t.RefundNo()}
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
	for _, s := range [3]string{k.p, k.a, k.ref} {
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
	case StateUnknown:
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
func match(ours []Ours, theirs []Theirs, tol int64) []Row {
	// Both sides are sorted by a hash of the match key first: the order is
	// only used to walk the two sides together (the report is sorted
	// afterwards), and comparing integers is much cheaper than comparing
	// provider, account and refund number strings a million times over.
	oi := make([]hashed, len(ours))
	for i := range oi {
		oi[i] = hashed{keyHash(oursKey(&ours[i])), int32(i)}
	}
	// The two sides sort at the same time, one per core.
	var wg sync.WaitGroup
	wg.Go(func() { sortOurs(ours, oi) })
	ti := make([]hashed, len(theirs))
	for i := range ti {
		ti[i] = hashed{keyHash(theirsKey(&theirs[i])), int32(i)}
	}
	sortTheirs(theirs, ti)
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
			k, h = theirsKey(&theirs[ti[j].i]), ti[j].h
		case j >= len(ti):
			k, h = oursKey(&ours[oi[i].i]), oi[i].h
		default:
			ko, kt := oursKey(&ours[oi[i].i]), theirsKey(&theirs[ti[j].i])
			k, h = ko, oi[i].h
			if c := cmp.Compare(ti[j].h, oi[i].h); c < 0 || c == 0 && cmpKey(kt, ko) < 0 {
				k, h = kt, ti[j].h
			}
		}
		og, tg = og[:0], tg[:0]
		for i < len(oi) && oi[i].h == h && cmpKey(oursKey(&ours[oi[i].i]), k) == 0 {
			og = append(og, &ours[oi[i].i])
			i++
		}
		for j < len(ti) && ti[j].h == h && cmpKey(theirsKey(&theirs[ti[j].i]), k) == 0 {
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

func sortOurs(ours []Ours, oi []hashed) {
	slices.SortFunc(oi, func(a, b hashed) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		if c := cmpKey(oursKey(&ours[a.i]), oursKey(&ours[b.i])); c != 0 {
			return c
		}
		return cmpSource(ours[a.i].Source, ours[a.i].Row, ours[b.i].Source, ours[b.i].Row)
	})
}

func sortTheirs(theirs []Theirs, ti []hashed) {
	slices.SortFunc(ti, func(a, b hashed) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		if c := cmpKey(theirsKey(&theirs[a.i]), theirsKey(&theirs[b.i])); c != 0 {
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
	// provider refund id, amount and currency are one refund; keep the one
	// that knows most, then the latest.
	tg = dedupeTheirs(tg)
	var t *Theirs
	if len(tg) > 0 {
		t = tg[0]
		for _, c := range tg[1:] {
			if betterPrimary(c, t, o) {
				t = c
			}
		}
	}

	rows = append(rows, decide(o, t, tol))
	for _, c := range og {
		if c != o && (c.Amount != o.Amount || c.Currency() != o.Currency()) {
			rows = append(rows, Row{O: c, Category: Duplicate, why: whyDupOurs, y: int64(len(og))})
		}
	}
	for _, c := range tg {
		if c != t {
			rows = append(rows, Row{T: c, Category: Duplicate, why: whyDupProvider, y: int64(len(tg))})
		}
	}
	return rows
}

func dedupeTheirs(tg []*Theirs) []*Theirs {
	if len(tg) < 2 {
		return tg
	}
	out := tg[:0:0]
next:
	for _, c := range tg {
		if c.ProviderRefundID() != "" {
			for k, p := range out {
				if p.ProviderRefundID() == c.ProviderRefundID() && p.Amount == c.Amount && p.Currency() == c.Currency() {
					if r, rp := theirRank(c.Status), theirRank(p.Status); r > rp || r == rp && c.Time().After(p.Time()) {
						out[k] = c
					}
					continue next
				}
			}
		}
		out = append(out, c)
	}
	return out
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

// decide is the decision table for one refund, applied in this order:
//
//	ours  provider                          → category
//	 –    any                               → UNEXPECTED_AT_PROVIDER
//	planned  –                              → PENDING (never sent)
//	failed   –                              → FAILED (rejected, nothing moved)
//	sent/succeeded –                        → MISSING_AT_PROVIDER
//	failed   failed                         → FAILED
//	currency differs                        → AMOUNT_MISMATCH
//	neither failed, |Δamount| > tolerance   → AMOUNT_MISMATCH
//	any      unknown (lookup failed)        → PENDING
//	succeeded failed / failed succeeded     → STATUS_MISMATCH
//	planned/submitting/unknown  final       → STATUS_MISMATCH
//	pending on either side                  → PENDING
//	succeeded succeeded                     → MATCHED
//
// "sent" is submitting, unknown or pending. A MATCHED row may still become
// DUPLICATE when its order's refunds exceed the order total (overTotal).
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
		}
		return set(MissingAtProvider, whyMissing)
	case o.State == StateFailed && t.Status == StatusFailed:
		return set(Failed, whyFailedBoth)
	case t.Status != StatusUnknown && o.Currency() != t.Currency():
		return set(AmountMismatch, whyCurrency)
	case t.Status != StatusUnknown && o.State != StateFailed && t.Status != StatusFailed && absDiff(o.Amount, t.Amount) > tol:
		r.x = t.Amount - o.Amount
		return set(AmountMismatch, whyAmount)
	case t.Status == StatusUnknown:
		return set(Pending, whyLookupFailed)
	case o.State == StateSucceeded && t.Status == StatusFailed:
		return set(StatusMismatch, whyWeSucceededTheyFailed)
	case o.State == StateFailed && t.Status == StatusSucceeded:
		return set(StatusMismatch, whyWeFailedTheySucceeded)
	case o.State == StatePlanned && t.Status.final():
		return set(StatusMismatch, whyNotSentTheyHave)
	case (o.State == StateSubmitting || o.State == StateUnknown) && t.Status.final():
		return set(StatusMismatch, whyOpenTheyFinal)
	case t.Status == StatusPending:
		return set(Pending, whyPendingTheirs)
	case !o.State.final():
		return set(Pending, whyPendingOurs)
	}
	// Both succeeded: the only case left, since failed/failed and the two
	// crossed outcomes are handled above.
	return set(Matched, whyMatched)
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

// ProviderAmount is the amount on the provider's record (0 when none).
func (r *Row) ProviderAmount() int64 {
	if r.T == nil {
		return 0
	}
	return r.T.Amount
}

// ProviderRefunded is what the provider says it refunded: its amount if succeeded.
func (r *Row) ProviderRefunded() int64 {
	if r.T == nil || r.T.Status != StatusSucceeded {
		return 0
	}
	return r.T.Amount
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
	if r.T != nil {
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
func setSortKeys(rows []Row) {
	type pair struct{ p, a string }
	ranks := map[pair]uint32{}
	for i := range rows {
		ranks[pair{rows[i].Provider(), rows[i].Account()}] = 0
	}
	pairs := make([]pair, 0, len(ranks))
	for k := range ranks {
		pairs = append(pairs, k)
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		return cmp.Or(strings.Compare(x.p, y.p), strings.Compare(x.a, y.a))
	})
	for i, k := range pairs {
		ranks[k] = uint32(i)
	}
	var last pair
	var lastRank uint32
	for i := range rows {
		r := &rows[i]
		k := pair{r.Provider(), r.Account()}
		if i == 0 || k != last {
			last, lastRank = k, ranks[k]
		}
		r.pa, r.ord = lastRank, r.OrderNo()
	}
}

// sameOrderRows reports whether two sorted rows belong to one order line of Net
// by order: provider, account, order number and currency.
func sameOrderRows(a, b *Row) bool {
	return a.pa == b.pa && a.ord == b.ord && a.Currency() == b.Currency()
}
