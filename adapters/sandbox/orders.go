package sandbox

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// OrdersHeader is the header of the orders file (working agreement).
var OrdersHeader = []string{"provider", "account", "order_no", "provider_order_id", "total_amount", "currency", "paid_at", "payment_method"}

// OrdersError is a bad cell of an orders file: the row as a spreadsheet
// numbers it (header = row 1), the column as the file names it, the value,
// and why. It wraps a sentinel (ErrInvalidOrder, ErrDuplicateOrder, ...).
type OrdersError struct {
	Path   string
	Row    int
	Column string
	Value  string
	Err    error
}

func (e *OrdersError) Error() string {
	s := e.Path
	if e.Row > 0 {
		s += fmt.Sprintf(": row %d", e.Row)
	}
	if e.Column != "" {
		s += fmt.Sprintf(", column %q", e.Column)
	}
	if e.Value != "" || e.Column != "" {
		s += fmt.Sprintf(", value %q", e.Value)
	}
	return s + ": " + e.Err.Error()
}

func (e *OrdersError) Unwrap() error { return e.Err }

// ErrBadAmount is wrapped by ParseAmount errors.
var ErrBadAmount = errors.New("not an exact amount")

// ParseAmount parses major-unit decimal text ("12.50") exactly into minor
// units of cur. More decimals than the currency has, signs, exponents and
// grouping are errors, never roundings.
func ParseAmount(s string, cur money.Currency) (int64, error) {
	scale, ok := cur.Scale()
	if !ok {
		return 0, fmt.Errorf("%w: %q", money.ErrUnknownCurrency, cur)
	}
	t := strings.TrimSpace(s)
	whole, frac, dot := strings.Cut(t, ".")
	if whole == "" || (dot && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q is not a decimal amount", ErrBadAmount, s)
	}
	if len(frac) > scale {
		return 0, fmt.Errorf("%w: %q has more than %d decimals for %s", ErrBadAmount, s, scale, cur)
	}
	frac += strings.Repeat("0", scale-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/money.Pow10(scale)-1 {
		return 0, fmt.Errorf("%w: %q is too large", ErrBadAmount, s)
	}
	var f int64
	if frac != "" {
		f, _ = strconv.ParseInt(frac, 10, 64)
	}
	return w*money.Pow10(scale) + f, nil
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// LoadOrders reads an orders file. paid_at is RFC3339 or "now-DURATION"
// (now-2h, now-240h), relative to now, so a bundled sample stays inside
// refund windows whatever day it runs.
func LoadOrders(path string, now time.Time) ([]Order, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadOrders(f, path, now)
}

// ReadOrders is LoadOrders over a reader; name labels errors.
func ReadOrders(r io.Reader, name string, now time.Time) ([]Order, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, &OrdersError{Path: name, Row: 1, Err: fmt.Errorf("%w: reading header: %v", ErrInvalidOrder, err)}
	}
	col := map[string]int{}
	names := make([]string, len(header))
	for i, h := range header {
		h = strings.TrimPrefix(h, "\ufeff")
		names[i] = h
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, want := range OrdersHeader {
		if _, ok := col[want]; !ok && want != "provider_order_id" && want != "payment_method" && want != "currency" {
			return nil, &OrdersError{Path: name, Row: 1, Column: want, Err: fmt.Errorf("%w: missing column", ErrInvalidOrder)}
		}
	}
	seen := map[orderKey]int{}
	var out []Order
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, &OrdersError{Path: name, Row: row, Err: fmt.Errorf("%w: %v", ErrInvalidOrder, err)}
		}
		cell := func(c string) (string, string) {
			i, ok := col[c]
			if !ok || i >= len(rec) {
				return "", c
			}
			return strings.TrimSpace(rec[i]), names[i]
		}
		bad := func(c string, err error) error {
			v, n := cell(c)
			return &OrdersError{Path: name, Row: row, Column: n, Value: v, Err: err}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		var o Order
		o.Provider, _ = cell("provider")
		o.Provider = strings.ToLower(o.Provider)
		if !knownProvider(o.Provider) {
			return nil, bad("provider", fmt.Errorf("%w: provider must be upay, quickpay, nomad or payease", ErrInvalidOrder))
		}
		if o.Account, _ = cell("account"); o.Account == "" {
			return nil, bad("account", fmt.Errorf("%w: account is required", ErrInvalidOrder))
		}
		if o.OrderNo, _ = cell("order_no"); o.OrderNo == "" {
			return nil, bad("order_no", fmt.Errorf("%w: order_no is required", ErrInvalidOrder))
		}
		o.ProviderOrderID, _ = cell("provider_order_id")
		cur, _ := cell("currency")
		if cur == "" {
			o.Currency = money.CNY
		} else if o.Currency, err = money.ParseCurrency(cur); err != nil {
			return nil, bad("currency", fmt.Errorf("%w: %w", ErrInvalidOrder, err))
		}
		total, _ := cell("total_amount")
		if o.Total, err = ParseAmount(total, o.Currency); err != nil {
			return nil, bad("total_amount", fmt.Errorf("%w: %w", ErrInvalidOrder, err))
		}
		if o.Total <= 0 {
			return nil, bad("total_amount", fmt.Errorf("%w: total must be positive", ErrInvalidOrder))
		}
		paid, _ := cell("paid_at")
		if o.PaidAt, err = parsePaidAt(paid, now); err != nil {
			return nil, bad("paid_at", fmt.Errorf("%w: %w", ErrInvalidOrder, err))
		}
		o.PaymentMethod, _ = cell("payment_method")
		o.PaymentMethod = strings.ToLower(o.PaymentMethod)
		if o.Provider == adapters.Nomad && o.PaymentMethod != "wechatpay" && o.PaymentMethod != "alipay" {
			return nil, bad("payment_method", fmt.Errorf("%w: a Nomad order needs payment_method wechatpay or alipay", ErrInvalidOrder))
		}
		if c, err := checkIDs(o); err != nil {
			return nil, bad(c, err)
		}
		k := orderKey{o.Provider, o.Account, o.OrderNo}
		if first, dup := seen[k]; dup {
			return nil, bad("order_no", fmt.Errorf("%w: same order as row %d", ErrDuplicateOrder, first))
		}
		seen[k] = row
		out = append(out, o)
	}
}

func parsePaidAt(s string, now time.Time) (time.Time, error) {
	if rest, ok := strings.CutPrefix(s, "now-"); ok {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("paid_at %q: want now-DURATION such as now-2h", s)
		}
		return now.Add(-d), nil
	}
	if s == "now" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("paid_at %q: want RFC3339 or now-DURATION", s)
	}
	return t, nil
}

// WriteOrders writes orders in the orders file format, paid_at as RFC3339.
func WriteOrders(w io.Writer, orders []Order) error {
	cw := csv.NewWriter(w)
	cw.Write(OrdersHeader)
	for _, o := range orders {
		cur := o.Currency
		if cur == "" {
			cur = money.CNY
		}
		cw.Write([]string{o.Provider, o.Account, o.OrderNo, o.ProviderOrderID, money.Format(o.Total, cur),
			string(cur), o.PaidAt.Format(time.RFC3339), o.PaymentMethod})
	}
	cw.Flush()
	return cw.Error()
}

// Sample accounts of the working agreement.
var sampleAccounts = map[string][]string{
	adapters.Upay:     {"100000330000000001", "100000330000000002"},
	adapters.QuickPay: {"SH001", "SH002"},
	adapters.Nomad:    {"wechat.sh_smk"},
	adapters.PayEase:  {"890000593"},
}

// GenerateOrders makes n realistic orders over the four providers and the
// sample accounts, the same for the same n, seed and now: Upay about 40%
// (a tenth of them paid today, so they can be revoked), QuickPay 25%, Nomad
// 20%, PayEase 15%; totals from 1.00 to 5,000.00 CNY; paid within the last
// 60 days.
func GenerateOrders(n int, seed int64, now time.Time) []Order {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	out := make([]Order, 0, n)
	now = now.Truncate(time.Second)
	for i := 1; i <= n; i++ {
		var o Order
		o.Currency = money.CNY
		o.Total = 100 + rng.Int64N(500000-100)
		if rng.IntN(4) == 0 {
			o.Total -= o.Total % 100 // round yuan amounts are common
		}
		o.PaidAt = now.Add(-time.Duration(rng.Int64N(int64(60 * 24 * time.Hour))).Truncate(time.Second))
		o.PaymentMethod = "wechatpay"
		if rng.IntN(3) == 0 {
			o.PaymentMethod = "alipay"
		}
		p := rng.IntN(100)
		switch {
		case p < 40:
			o.Provider = adapters.Upay
			if rng.IntN(10) == 0 {
				// Paid today in Shanghai, so that it can still be revoked.
				y, m, d := now.In(cst).Date()
				window := min(time.Hour, now.Sub(time.Date(y, m, d, 0, 0, 0, 0, cst))) + time.Nanosecond
				o.PaidAt = now.Add(-time.Duration(rng.Int64N(int64(window))).Truncate(time.Second))
			}
			o.OrderNo = fmt.Sprintf("U%s%06d", o.PaidAt.In(cst).Format("20060102"), i)
			o.ProviderOrderID = fmt.Sprintf("78%014d", uint64(seed)%1000*1e11+uint64(i))
		case p < 65:
			o.Provider = adapters.QuickPay
			o.OrderNo = fmt.Sprintf("QP%s%06d", o.PaidAt.In(cst).Format("20060102"), i)
		case p < 85:
			o.Provider = adapters.Nomad
			o.OrderNo = fmt.Sprintf("NM%s%06d", o.PaidAt.In(cst).Format("20060102"), i)
			o.ProviderOrderID = fmt.Sprintf("42000011%s%012d", o.PaidAt.In(cst).Format("20060102"), uint64(seed)%1000*1e8+uint64(i))
		default:
			o.Provider = adapters.PayEase
			o.OrderNo = fmt.Sprintf("%s-890000593-%d", o.PaidAt.In(cst).Format("20060102"), 100000+i)
		}
		accts := sampleAccounts[o.Provider]
		o.Account = accts[rng.IntN(len(accts))]
		if o.ProviderOrderID == "" {
			o.ProviderOrderID = providerOrderID(o)
		}
		out = append(out, o)
	}
	return out
}
