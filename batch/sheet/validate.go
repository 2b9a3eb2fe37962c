package sheet

//go:generate go test -run TestDocTables -update

import (
	"fmt"
	"hash/maphash"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/internal/clip"
	"github.com/bulkrefund/bulkrefund/money"
)

// Options tunes Validate.
type Options struct {
	// Sheet is the XLSX sheet to read; "" means the first visible sheet.
	Sheet string
	// OnHeader, if set, is called once the header row is found and checked,
	// before any data row: the place to open an errors file, whose columns
	// are the header's. An error it returns stops Validate.
	OnHeader func(header []string) error
	// Defaults, if set, gives the values a provider account's configuration
	// supplies for blank cells, keyed by sheet field ("notify_url"), for
	// the fields whose descriptor rule says FromConfig. A blank such field
	// the map leaves empty is an error; with Defaults nil it is a warning
	// (a run with a config may still fill it). The filled value is checked
	// like a written one and goes into the item. provider is the canonical
	// name. Defaults is called from another goroutine than Validate's
	// caller, only for rows with such a blank, and must not block.
	Defaults func(provider, account string) map[string]string

	providers *providerTable // nil: the registry's; tests set their own
}

// Summary counts what Validate saw. Read = Valid + Invalid + Blank: the rows
// below the header.
type Summary struct {
	Read, Valid, Invalid, Blank int
	Warnings                    []string
	// Header is the header row as the user wrote it (trailing blank cells
	// dropped): the columns of the errors file.
	Header    []string
	HeaderRow int    // spreadsheet row number of the header
	Format    string // e.g. `CSV, GB18030, comma-separated` or `XLSX, sheet "退款"`
}

// maxTitleRows bounds the search for the header row.
const maxTitleRows = 30

// Validate streams the file at path: every valid item goes to onItem in
// sheet order, every invalid row (its original cells and all its errors) to
// onInvalid, which may be nil. A returned error means the file is
// unreadable or unusable (missing column, no header, no rows), or is the
// first error a callback returned.
func Validate(path string, opts Options, onItem func(batch.Item) error, onInvalid func(cells []string, errs []*RowError) error) (Summary, error) {
	var sum Summary
	src, err := open(path, opts)
	if err != nil {
		return sum, err
	}
	defer src.close()
	sum.Format = src.describe()

	// Find the header below any title rows.
	var cols columns
	var unknown []string
	seen := 0
	for {
		row, cells, rowErr, err := src.next()
		if err == io.EOF {
			if seen == 0 {
				return sum, fmt.Errorf("%w: %s has no rows", ErrEmptyFile, path)
			}
			break
		}
		seen++
		if err != nil {
			return sum, err
		}
		if rowErr != nil {
			continue
		}
		c, found, unk, dupErr := matchHeader(cells)
		if isHeader(c, found) {
			if dupErr != nil {
				return sum, fmt.Errorf("row %d: %w", row, dupErr)
			}
			cols, unknown, sum.HeaderRow = c, unk, row
			sum.Header = append([]string(nil), cells[:c.width]...)
			break
		}
		if row >= maxTitleRows {
			break
		}
	}
	if sum.HeaderRow == 0 {
		return sum, fmt.Errorf("%w in the first %d rows of %s: expected columns such as %s (or their Chinese names 渠道, 商户号, 订单号, 退款单号, 退款金额)",
			ErrNoHeader, maxTitleRows, path, strings.Join(fieldNames[:fRefundAmount+1], ", "))
	}
	if m := cols.missing(); len(m) > 0 {
		return sum, fmt.Errorf("%w: %s (header on row %d has: %s)", ErrMissingColumn, strings.Join(m, ", "), sum.HeaderRow, clip.Join(sum.Header))
	}
	for _, u := range unknown {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("column %s is not a known field; it is ignored", clip.Quote(u)))
	}
	if opts.OnHeader != nil {
		if err := opts.OnHeader(sum.Header); err != nil {
			return sum, err
		}
	}

	// Rows are read and checked on their own on a second goroutine (see
	// pipeline); the cross-row rules and the callbacks run here, in order.
	v := newValidator(cols, src.stored(), opts)
	p := startPipeline(src, v)
	defer p.stop()
	for {
		r, err := p.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, err
		}
		sum.Read++
		if r.blank {
			sum.Blank++
			continue
		}
		if r.errs == nil {
			c := rowCtx{v: v, row: r.row}
			v.crossRow(&c, r)
			r.errs = c.errs
		}
		if r.errs == nil {
			sum.Valid++
			if v.defaults == nil {
				v.unfilled.note(v.providers.lookup(r.item.Provider), &r.item)
			}
			if err := onItem(r.item); err != nil {
				return sum, err
			}
			continue
		}
		sum.Invalid++
		if onInvalid != nil {
			// r.cells belongs to this row alone (pipeline batches are
			// never reused), so the callback may keep it.
			if err := onInvalid(r.cells, r.errs); err != nil {
				return sum, err
			}
		}
	}
	if sum.Read == sum.Blank {
		return sum, fmt.Errorf("%w: %s has a header on row %d and nothing below it", ErrNoRows, path, sum.HeaderRow)
	}
	sum.Warnings = append(sum.Warnings, v.unfilled.warnings()...)
	return sum, nil
}

// check does everything for one row that needs no other row: it runs on
// the pipeline's goroutine.
func (v *validator) check(r *rowResult, rowErr error, ragged bool) {
	switch {
	case rowErr != nil:
		r.errs = []*RowError{{Row: r.row, Err: rowErr}}
	case blank(r.cells):
		r.blank = true
	case ragged && raggedRow(r.cells, v.cols.width):
		r.errs = []*RowError{{Row: r.row, Err: fmt.Errorf("%w: %d cells, the header has %d", ErrRagged, nonTrailing(r.cells), v.cols.width)}}
	default:
		v.row(r)
	}
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// raggedRow: fewer cells than the header, or extra cells that hold
// something. Extra empty cells (a trailing separator) are harmless.
func raggedRow(cells []string, width int) bool {
	if len(cells) < width {
		return true
	}
	return nonTrailing(cells) > width
}

func nonTrailing(cells []string) int {
	n := len(cells)
	for n > 0 && strings.TrimSpace(cells[n-1]) == "" {
		n--
	}
	return n
}

// key is a 64-bit hash of (provider, account, refund number) or of
// (provider, account, order). Two different ones collide with probability
// about n²/2⁶⁵ — 3·10⁻⁸ for a million rows — and a collision can only make a
// valid row look invalid (a "duplicate" refund number, an order's refunds
// added to another's), never let an invalid row through: each rule only
// gets stricter when two orders' states are merged. Full strings would cost
// several times the memory on a million-row sheet.
type key uint64

// orderState holds no pointers, so the garbage collector never scans the
// (possibly million-entry) order table; 32 bytes.
type orderState struct {
	total, refunded int64
	firstRow        int32 // also the order's first refund when it has no revoke
	totalRow        int32
	revokeRow       int32  // the row revoking this order, 0 if none
	currency        uint16 // index into validator.currencies
}

// validator holds the per-file state: column map and the cross-row tables.
// The maphash state h belongs to the pipeline's goroutine; the tables and
// currencies to Validate's.
type validator struct {
	cols       columns
	stored     bool
	providers  *providerTable
	defaults   func(provider, account string) map[string]string
	unfilled   unfilled
	h          maphash.Hash
	refunds    map[key]int32
	orders     map[key]orderState
	currencies []money.Currency
}

func (v *validator) currencyIndex(c money.Currency) uint16 {
	for i, x := range v.currencies {
		if x == c {
			return uint16(i)
		}
	}
	v.currencies = append(v.currencies, c)
	return uint16(len(v.currencies) - 1)
}

func newValidator(cols columns, stored bool, opts Options) *validator {
	v := &validator{cols: cols, stored: stored, providers: opts.providers, defaults: opts.Defaults,
		refunds: map[key]int32{}, orders: map[key]orderState{}}
	if v.providers == nil {
		v.providers = defaultProviders
	}
	v.h.SetSeed(maphash.MakeSeed())
	return v
}

func (v *validator) hash(a, b, c string) key {
	h := &v.h
	h.Reset()
	h.WriteString(a)
	h.WriteByte(0)
	h.WriteString(b)
	h.WriteByte(0)
	h.WriteString(c)
	return key(h.Sum64())
}

// cell returns the trimmed text of field f, and the raw cell for messages.
func (v *validator) cell(cells []string, f field) string {
	i := v.cols.idx[f]
	if i < 0 || i >= len(cells) {
		return ""
	}
	return trim(cells[i])
}

// trim drops surrounding spaces, U+00A0 and U+3000 included
// (unicode.IsSpace), without allocating.
func trim(s string) string {
	return strings.TrimSpace(s)
}

// rowCtx collects one row's errors.
type rowCtx struct {
	v    *validator
	row  int
	errs []*RowError
}

func (c *rowCtx) add(f field, value string, err error) {
	c.errs = append(c.errs, &RowError{Row: c.row, Column: c.v.cols.name[f], Value: value, Err: err})
}

func (c *rowCtx) addf(f field, value string, sentinel error, format string, args ...any) {
	c.add(f, value, fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...))
}

// id cleans an id cell: a number the spreadsheet stored in exponent form is
// expanded when all its digits survived, and otherwise rejected.
func (c *rowCtx) id(f field, s string) string {
	if !looksExponent(s) {
		if hasFullWidth(s) {
			c.addf(f, s, ErrBadFormat, "the id contains full-width characters (typed with a Chinese input method?); providers' ids are ASCII")
		}
		return s
	}
	if c.v.stored {
		if d, ok := expandExponent(s); ok {
			return d
		}
	}
	c.addf(f, s, ErrPrecisionLost, "the id is in scientific notation, a number the spreadsheet keeps to 15 digits; format the column as Text and re-enter the id")
	return s
}

// amount parses an amount cell in the column's unit.
func (c *rowCtx) amount(f field, s string, cur money.Currency, req bool) int64 {
	if s == "" {
		if req {
			c.addf(f, s, ErrRequired, "%s is empty", fieldNames[f])
		}
		return 0
	}
	var a int64
	var err error
	minor := c.v.cols.minor[f]
	switch {
	case c.v.stored:
		a, err = money.RecoverFloat(s, cur, minor)
	case minor:
		a, err = money.ParseMinor(s)
	default:
		a, err = money.ParseMajor(s, cur)
	}
	if err != nil {
		c.add(f, s, err)
		return 0
	}
	return a
}

var actionNames = map[string]adapters.Action{
	"refund": adapters.ActionRefund, "退款": adapters.ActionRefund,
	"revoke": adapters.ActionRevoke, "撤单": adapters.ActionRevoke, "撤销": adapters.ActionRevoke,
}

// row applies the per-row rules to one non-blank row and, when it passes,
// computes its cross-row keys.
func (v *validator) row(res *rowResult) {
	row, cells := res.row, res.cells
	c := rowCtx{v: v, row: row}
	var r adapters.Refund

	raw := v.cell(cells, fProvider)
	p := v.providers.lookup(raw)
	switch {
	case raw == "":
		c.addf(fProvider, raw, ErrRequired, "provider is empty (%s)", v.providers.names)
	case p == nil:
		c.addf(fProvider, raw, ErrUnknownProvider, "%s is not %s", clip.Quote(raw), v.providers.names)
	default:
		r.Provider = p.d.Name
	}

	r.Currency = money.CNY
	if s := v.cell(cells, fCurrency); s != "" && s != "CNY" {
		cur, err := money.ParseCurrency(strings.Map(foldRune, s))
		if err != nil {
			c.add(fCurrency, s, err)
			r.Currency = ""
		} else {
			r.Currency = cur
		}
	}
	if r.Currency != "" && p != nil && !p.d.Accepts(r.Currency) {
		c.addf(fCurrency, string(r.Currency), ErrCurrency, "%s refunds are in %s only", r.Provider, p.currencies)
	}

	r.Action = adapters.ActionRefund
	if s := v.cell(cells, fAction); s != "" && s != "refund" {
		a, ok := actionNames[normalizeHeader(s)]
		if !ok {
			c.addf(fAction, s, ErrBadAction, "%s is not refund or revoke", clip.Quote(s))
		}
		r.Action = a
	}

	r.Account = c.id(fAccount, v.cell(cells, fAccount))
	r.OrderNo = c.id(fOrderNo, v.cell(cells, fOrderNo))
	r.ProviderOrderID = c.id(fProviderOrderID, v.cell(cells, fProviderOrderID))
	r.RefundNo = c.id(fRefundNo, v.cell(cells, fRefundNo))
	r.Operator = v.cell(cells, fOperator)
	r.Reason = v.cell(cells, fReason)
	r.PaymentMethod = v.cell(cells, fPaymentMethod)
	r.NotifyURL = v.cell(cells, fNotifyURL)

	amountText := v.cell(cells, fRefundAmount)
	totalText := v.cell(cells, fTotalAmount)
	cur := r.Currency
	if cur == "" {
		cur = money.CNY // still report amount errors against the default
	}
	r.Amount = c.amount(fRefundAmount, amountText, cur, true)
	totalRequired := r.Action == adapters.ActionRevoke || (p != nil && p.totalRequired)
	r.Total = c.amount(fTotalAmount, totalText, cur, totalRequired)
	if r.Amount > 0 && r.Total > 0 && r.Amount > r.Total {
		c.addf(fRefundAmount, amountText, ErrOverRefund, "refund %s is more than the order total %s", money.Format(r.Amount, cur), money.Format(r.Total, cur))
	}

	if r.Action == adapters.ActionRevoke {
		if p != nil && !p.d.Revoke {
			c.addf(fAction, v.cell(cells, fAction), ErrRevokeNotAllowed, "%s has no revoke; use a refund", r.Provider)
		} else if r.Amount > 0 && r.Total > 0 && r.Amount != r.Total {
			c.addf(fRefundAmount, amountText, ErrRevokeNotFull, "revoke %s but the order total is %s", money.Format(r.Amount, cur), money.Format(r.Total, cur))
		}
	}

	if p != nil {
		c.maxAmount(fRefundAmount, amountText, r.Amount, p.d.MaxAmount, cur, r.Provider)
		p.apply(&c, &r, totalText, cur)
	}

	if len(c.errs) > 0 {
		res.errs = c.errs
		return
	}
	res.item = batch.Item{Row: row, Refund: r}
	res.amountText, res.totalText = amountText, totalText
	order := r.OrderNo
	if order == "" {
		order = "sn:" + r.ProviderOrderID
	}
	res.refundKey = v.hash(r.Provider, r.Account, r.RefundNo)
	res.orderKey = v.hash(r.Provider, r.Account, order)
}

func (c *rowCtx) maxAmount(f field, s string, a, max int64, cur money.Currency, provider string) {
	if max > 0 && a > max {
		c.addf(f, s, ErrOutOfRange, "%s allows at most %s", provider, money.Format(max, cur))
	}
}

// crossRow applies the rules across rows and, when the row passes, records
// it. It runs on Validate's goroutine, in sheet order.
func (v *validator) crossRow(c *rowCtx, res *rowResult) {
	r, amountText, totalText := &res.item.Refund, res.amountText, res.totalText
	rk, ok := res.refundKey, res.orderKey
	if first, ok := v.refunds[rk]; ok {
		c.addf(fRefundNo, r.RefundNo, ErrDuplicateRefundNo, "refund number already used on row %d for %s account %s; each refund needs its own number", first, r.Provider, r.Account)
		return
	}
	st, seen := v.orders[ok]
	cur := r.Currency
	ci := v.currencyIndex(cur)
	if seen {
		switch {
		case st.currency != ci:
			c.addf(fCurrency, string(cur), ErrOrderConflict, "this order is in %s on row %d", v.currencies[st.currency], st.firstRow)
		case r.Total > 0 && st.total > 0 && r.Total != st.total:
			c.addf(fTotalAmount, totalText, ErrOrderConflict, "this order's total is %s on row %d", money.Format(st.total, cur), st.totalRow)
		case st.revokeRow > 0:
			c.addf(fOrderNo, r.OrderNo, ErrRevokeNotAlone, "this order is revoked on row %d; nothing else can be refunded on it", st.revokeRow)
		case r.Action == adapters.ActionRevoke:
			c.addf(fAction, string(r.Action), ErrRevokeNotAlone, "this order already has a refund on row %d; a revoke must be alone on its order", st.firstRow)
		}
		if len(c.errs) > 0 {
			return
		}
		total := st.total
		if total == 0 {
			total = r.Total
		}
		if total > 0 && st.refunded+r.Amount > total {
			c.addf(fRefundAmount, amountText, ErrOverRefund, "with the refunds above, this order's refunds add up to %s, more than its total %s",
				money.Format(st.refunded+r.Amount, cur), money.Format(total, cur))
			return
		}
	} else {
		st = orderState{currency: ci, firstRow: int32(c.row)}
	}
	if st.total == 0 && r.Total > 0 {
		st.total, st.totalRow = r.Total, int32(c.row)
	}
	st.refunded += r.Amount
	if r.Action == adapters.ActionRevoke {
		st.revokeRow = int32(c.row)
	}
	v.orders[ok] = st
	v.refunds[rk] = int32(c.row)
}

// looksExponent matches a number in scientific notation ("4.20000114820211E+27").
func looksExponent(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false // the common case: an id starting with a letter
	}
	e := strings.IndexAny(s, "eE")
	if e <= 0 || e == len(s)-1 {
		return false
	}
	m, x := s[:e], s[e+1:]
	if x[0] == '+' || x[0] == '-' {
		x = x[1:]
	}
	if !allDigits(x) {
		return false
	}
	if i := strings.IndexByte(m, '.'); i >= 0 {
		return allDigits(m[:i]) && (i == len(m)-1 || allDigits(m[i+1:]))
	}
	return allDigits(m)
}

// expandExponent turns a stored number in exponent form into its integer
// digits when it has at most 15 significant digits — all Excel keeps — and
// is an integer: "2.0261101001E+10" → "20261101001". Anything longer has lost
// digits and is not expanded.
func expandExponent(s string) (string, bool) {
	e := strings.IndexAny(s, "eE")
	m, x := s[:e], s[e+1:]
	neg := false
	if x[0] == '+' {
		x = x[1:]
	} else if x[0] == '-' {
		neg = true
		x = x[1:]
	}
	if len(x) > 3 || neg {
		return "", false
	}
	exp := 0
	for i := 0; i < len(x); i++ {
		exp = exp*10 + int(x[i]-'0')
	}
	intPart, frac := m, ""
	if i := strings.IndexByte(m, '.'); i >= 0 {
		intPart, frac = m[:i], m[i+1:]
	}
	frac = strings.TrimRight(frac, "0")
	intPart = strings.TrimLeft(intPart, "0")
	if len(frac) > exp {
		return "", false // not an integer
	}
	digits := intPart + frac + strings.Repeat("0", exp-len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" || len(digits) > 15 {
		return "", false
	}
	return digits, true
}

// hasFullWidth reports full-width ASCII forms or ideographic spaces, which
// look like ASCII in a sheet but never match a provider's id.
func hasFullWidth(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.ContainsFunc(s[i:], func(r rune) bool { return (r >= 0xFF01 && r <= 0xFF5E) || r == 0x3000 })
		}
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
