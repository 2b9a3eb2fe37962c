package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// Controls are what a batch must pass before any refund of it is sent,
// whoever sends it (the CLI or the web server): limits, a second person's
// approval, and a typed confirmation of the total. They are the "controls"
// section of the provider config file (docs/controls.md). The zero value
// is "no controls".
type Controls struct {
	Source   string // the config file, for messages
	Limits   Limits
	Approval ApprovalRule
	// TypedConfirmAbove: a batch whose total in a currency is above the
	// currency's amount is confirmed on a terminal by typing that total.
	// A currency it does not name always needs the typed total, once the
	// map is set at all.
	TypedConfirmAbove map[money.Currency]int64
}

// Limits cap what one batch may send. Per-currency maps of the whole batch
// fail closed: once max_refund (or max_batch_total) is set, a currency it
// does not name is refused, so that a new currency never runs unlimited
// by omission. Account limits only add to those.
type Limits struct {
	MaxRefund     map[money.Currency]int64 // per refund row
	MaxBatchTotal map[money.Currency]int64 // per batch and currency
	MaxRows       int                      // rows per batch; 0: unlimited
	Accounts      map[AccountRef]AccountLimits
}

// AccountRef names one provider account.
type AccountRef struct{ Provider, Account string }

func (a AccountRef) String() string { return a.Provider + "/" + a.Account }

// AccountLimits cap one provider account's share of a batch. A currency an
// account map does not name is left to the batch-wide limits.
type AccountLimits struct {
	MaxRefund     map[money.Currency]int64
	MaxBatchTotal map[money.Currency]int64
	MaxRows       int
}

// ApprovalRule says which batches need a second person's approval.
type ApprovalRule struct {
	Always bool
	// Above: a batch whose total in a currency is above the amount needs
	// approval; a currency it does not name always does, once it is set.
	Above map[money.Currency]int64
}

// Enabled reports whether any batch can need approval.
func (r ApprovalRule) Enabled() bool { return r.Always || r.Above != nil }

// controlsFile is the "controls" section as written.
type controlsFile struct {
	Limits *struct {
		MaxRefund     amounts `json:"max_refund"`
		MaxBatchTotal amounts `json:"max_batch_total"`
		MaxRows       int     `json:"max_rows"`
		Accounts      []struct {
			Provider      string  `json:"provider"`
			Account       string  `json:"account"`
			MaxRefund     amounts `json:"max_refund"`
			MaxBatchTotal amounts `json:"max_batch_total"`
			MaxRows       int     `json:"max_rows"`
		} `json:"accounts"`
	} `json:"limits"`
	Approval *struct {
		Always bool    `json:"always"`
		Above  amounts `json:"above"`
	} `json:"approval"`
	TypedConfirmation *struct {
		Above amounts `json:"above"`
	} `json:"typed_confirmation"`
}

// amounts is a currency → major-unit text map, {"CNY": "50000.00"}.
// Amounts are strings so that no JSON float ever carries money.
type amounts map[string]json.RawMessage

// ErrControls wraps every error in the controls section.
var ErrControls = errors.New("invalid controls")

// LoadControls reads the controls of a loaded provider config; a config
// without a "controls" section has none.
func LoadControls(cfg *config.Config) (*Controls, error) {
	if cfg == nil {
		return &Controls{}, nil
	}
	return ParseControls(cfg.Controls, cfg.Path)
}

// ParseControls parses a "controls" section (raw JSON, nil for none).
// source names the file in messages.
func ParseControls(raw []byte, source string) (*Controls, error) {
	c := &Controls{Source: source}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return c, nil
	}
	fail := func(field string, err error) error {
		return fmt.Errorf("%s: controls.%s: %w: %v", source, field, ErrControls, err)
	}
	var f controlsFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: controls: %w: %v", source, ErrControls, err)
	}
	var err error
	if lf := f.Limits; lf != nil {
		if c.Limits.MaxRefund, err = lf.MaxRefund.parse(); err != nil {
			return nil, fail("limits.max_refund", err)
		}
		if c.Limits.MaxBatchTotal, err = lf.MaxBatchTotal.parse(); err != nil {
			return nil, fail("limits.max_batch_total", err)
		}
		if lf.MaxRows < 0 {
			return nil, fail("limits.max_rows", fmt.Errorf("%d is negative", lf.MaxRows))
		}
		c.Limits.MaxRows = lf.MaxRows
		for i, a := range lf.Accounts {
			at := fmt.Sprintf("limits.accounts[%d]", i+1)
			ref := AccountRef{strings.ToLower(strings.TrimSpace(a.Provider)), strings.TrimSpace(a.Account)}
			if ref.Provider == "" || ref.Account == "" {
				return nil, fail(at, errors.New("provider and account are required"))
			}
			var al AccountLimits
			if al.MaxRefund, err = a.MaxRefund.parse(); err != nil {
				return nil, fail(at+".max_refund", err)
			}
			if al.MaxBatchTotal, err = a.MaxBatchTotal.parse(); err != nil {
				return nil, fail(at+".max_batch_total", err)
			}
			if a.MaxRows < 0 {
				return nil, fail(at+".max_rows", fmt.Errorf("%d is negative", a.MaxRows))
			}
			al.MaxRows = a.MaxRows
			if c.Limits.Accounts == nil {
				c.Limits.Accounts = map[AccountRef]AccountLimits{}
			}
			if _, dup := c.Limits.Accounts[ref]; dup {
				return nil, fail(at, fmt.Errorf("%s is listed twice", ref))
			}
			c.Limits.Accounts[ref] = al
		}
	}
	if af := f.Approval; af != nil {
		c.Approval.Always = af.Always
		if c.Approval.Above, err = af.Above.parse(); err != nil {
			return nil, fail("approval.above", err)
		}
	}
	if tf := f.TypedConfirmation; tf != nil {
		if c.TypedConfirmAbove, err = tf.Above.parse(); err != nil {
			return nil, fail("typed_confirmation.above", err)
		}
	}
	return c, nil
}

// parse reads the map; nil stays nil ("not set"), {} is set and empty.
func (a amounts) parse() (map[money.Currency]int64, error) {
	if a == nil {
		return nil, nil
	}
	out := make(map[money.Currency]int64, len(a))
	for code, raw := range a {
		cur, err := money.ParseCurrency(code)
		if err != nil {
			return nil, err
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, fmt.Errorf("%s: want the amount as text in major units, like \"50000.00\", got %s", code, raw)
		}
		v, err := money.ParseMajor(text, cur)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", code, text, err)
		}
		out[cur] = v
	}
	return out, nil
}

// ErrOverLimit: the batch breaks a limit; nothing was sent.
var ErrOverLimit = errors.New("over the configured limits: nothing was sent")

// Breach is one limit a batch breaks.
type Breach struct {
	Rule     string     // max_refund, max_batch_total, max_rows
	Account  AccountRef // zero for the batch-wide limits
	Currency money.Currency
	Limit    int64 // minor units, or rows for max_rows
	Actual   int64 // the batch's total or rows; for max_refund the largest refund
	// Rows are the sheet rows over max_refund, at most MaxBreachRows of
	// them; Count is how many there are.
	Rows  []int
	Count int
	// Unlisted: the currency is not named by a limit that fails closed.
	Unlisted bool
}

// MaxBreachRows bounds the rows a Breach lists.
const MaxBreachRows = 1000

// Scope names where the limit applies.
func (b Breach) Scope() string {
	if b.Account == (AccountRef{}) {
		return "the batch"
	}
	return b.Account.String()
}

func (b Breach) String() string {
	switch {
	case b.Rule == "max_rows":
		return fmt.Sprintf("%s: %s rows, the limit (max_rows) is %s", b.Scope(), money.Group(b.Actual), money.Group(b.Limit))
	case b.Unlisted:
		return fmt.Sprintf("%s: %s has no %s limit configured, so %s refunds are refused (%d rows)", b.Scope(), b.Rule, b.Currency, b.Currency, b.Count)
	case b.Rule == "max_refund":
		return fmt.Sprintf("%s: %d refunds above the %s limit of %s %s (largest %s %s) on rows %s",
			b.Scope(), b.Count, b.Rule, money.FormatGrouped(b.Limit, b.Currency), b.Currency,
			money.FormatGrouped(b.Actual, b.Currency), b.Currency, rowList(b.Rows, b.Count))
	}
	return fmt.Sprintf("%s: total %s %s is above the %s limit of %s %s", b.Scope(),
		money.FormatGrouped(b.Actual, b.Currency), b.Currency, b.Rule, money.FormatGrouped(b.Limit, b.Currency), b.Currency)
}

func rowList(rows []int, count int) string {
	const show = 20
	var b strings.Builder
	for i, r := range rows {
		if i == show {
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, r)
	}
	if count > min(len(rows), show) {
		fmt.Fprintf(&b, " and %d more", count-min(len(rows), show))
	}
	return b.String()
}

// LimitError lists every limit a batch breaks.
type LimitError struct {
	Source   string
	Breaches []Breach
}

func (e *LimitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v (limits from %s):", ErrOverLimit, e.Source)
	for _, br := range e.Breaches {
		b.WriteString("\n  " + br.String())
	}
	return b.String()
}

func (e *LimitError) Unwrap() error { return ErrOverLimit }

// LimitCheck is one limit as weighed against a batch, for plans that show
// every limit and whether it holds.
type LimitCheck struct {
	Rule     string
	Account  AccountRef
	Currency money.Currency
	Limit    int64
	Actual   int64 // the batch's total or rows; for max_refund its largest refund
	OK       bool
}

// Scope names where the limit applies.
func (c LimitCheck) Scope() string { return Breach{Account: c.Account}.Scope() }

// CheckLimits weighs items against the limits. It returns every limit
// checked, and a *LimitError if any is broken (nil otherwise).
func (c *Controls) CheckLimits(items []batch.Item) ([]LimitCheck, error) {
	if c == nil {
		return nil, nil
	}
	l := c.Limits
	var checks []LimitCheck
	var breaches []Breach
	type scopeCur struct {
		acct AccountRef
		cur  money.Currency
	}
	totals := map[scopeCur]int64{}
	largest := map[scopeCur]int64{}
	rows := map[AccountRef]int{}
	over := map[scopeCur]*Breach{}
	var order []scopeCur
	overRefund := func(k scopeCur, limit int64, unlisted bool, it batch.Item) {
		b := over[k]
		if b == nil {
			b = &Breach{Rule: "max_refund", Account: k.acct, Currency: k.cur, Limit: limit, Unlisted: unlisted}
			over[k] = b
			order = append(order, k)
		}
		b.Count++
		b.Actual = max(b.Actual, it.Amount)
		if len(b.Rows) < MaxBreachRows {
			b.Rows = append(b.Rows, it.Row)
		}
	}
	for _, it := range items {
		acct := AccountRef{it.Provider, it.Account}
		all := scopeCur{cur: it.Currency}
		totals[all] += it.Amount
		totals[scopeCur{acct, it.Currency}] += it.Amount
		largest[all] = max(largest[all], it.Amount)
		largest[scopeCur{acct, it.Currency}] = max(largest[scopeCur{acct, it.Currency}], it.Amount)
		rows[acct]++
		if l.MaxRefund != nil {
			if lim, ok := l.MaxRefund[it.Currency]; !ok {
				overRefund(all, 0, true, it)
			} else if it.Amount > lim {
				overRefund(all, lim, false, it)
			}
		}
		if al, ok := l.Accounts[acct]; ok {
			if lim, ok := al.MaxRefund[it.Currency]; ok && it.Amount > lim {
				overRefund(scopeCur{acct, it.Currency}, lim, false, it)
			}
		}
	}
	// Every limit that applies, in a stable order: the batch, then accounts.
	curs := CurrencyTotals(items)
	if l.MaxRefund != nil {
		for _, t := range curs {
			lim, ok := l.MaxRefund[t.Currency]
			b := over[scopeCur{cur: t.Currency}]
			checks = append(checks, LimitCheck{Rule: "max_refund", Currency: t.Currency, Limit: lim, Actual: largest[scopeCur{cur: t.Currency}], OK: b == nil && ok})
		}
	}
	if l.MaxBatchTotal != nil {
		for _, t := range curs {
			lim, ok := l.MaxBatchTotal[t.Currency]
			ch := LimitCheck{Rule: "max_batch_total", Currency: t.Currency, Limit: lim, Actual: t.Amount, OK: ok && t.Amount <= lim}
			checks = append(checks, ch)
			switch {
			case !ok:
				breaches = append(breaches, Breach{Rule: "max_batch_total", Currency: t.Currency, Actual: t.Amount, Count: t.Rows, Unlisted: true})
			case t.Amount > lim:
				breaches = append(breaches, Breach{Rule: "max_batch_total", Currency: t.Currency, Limit: lim, Actual: t.Amount})
			}
		}
	}
	if l.MaxRows > 0 {
		checks = append(checks, LimitCheck{Rule: "max_rows", Limit: int64(l.MaxRows), Actual: int64(len(items)), OK: len(items) <= l.MaxRows})
		if len(items) > l.MaxRows {
			breaches = append(breaches, Breach{Rule: "max_rows", Limit: int64(l.MaxRows), Actual: int64(len(items))})
		}
	}
	accts := make([]AccountRef, 0, len(l.Accounts))
	for a := range l.Accounts {
		if rows[a] > 0 {
			accts = append(accts, a)
		}
	}
	sort.Slice(accts, func(i, j int) bool { return accts[i].String() < accts[j].String() })
	for _, a := range accts {
		al := l.Accounts[a]
		for _, t := range curs {
			k := scopeCur{a, t.Currency}
			tot, has := totals[k]
			if !has {
				continue
			}
			if lim, ok := al.MaxRefund[t.Currency]; ok {
				checks = append(checks, LimitCheck{Rule: "max_refund", Account: a, Currency: t.Currency, Limit: lim, Actual: largest[k], OK: over[k] == nil})
			}
			if lim, ok := al.MaxBatchTotal[t.Currency]; ok {
				checks = append(checks, LimitCheck{Rule: "max_batch_total", Account: a, Currency: t.Currency, Limit: lim, Actual: tot, OK: tot <= lim})
				if tot > lim {
					breaches = append(breaches, Breach{Rule: "max_batch_total", Account: a, Currency: t.Currency, Limit: lim, Actual: tot})
				}
			}
		}
		if al.MaxRows > 0 {
			checks = append(checks, LimitCheck{Rule: "max_rows", Account: a, Limit: int64(al.MaxRows), Actual: int64(rows[a]), OK: rows[a] <= al.MaxRows})
			if rows[a] > al.MaxRows {
				breaches = append(breaches, Breach{Rule: "max_rows", Account: a, Limit: int64(al.MaxRows), Actual: int64(rows[a])})
			}
		}
	}
	for _, k := range order {
		breaches = append(breaches, *over[k])
	}
	sort.SliceStable(breaches, func(i, j int) bool {
		a, b := breaches[i], breaches[j]
		if (a.Account == AccountRef{}) != (b.Account == AccountRef{}) {
			return a.Account == AccountRef{}
		}
		return a.Account.String() < b.Account.String()
	})
	if len(breaches) > 0 {
		return checks, &LimitError{Source: c.Source, Breaches: breaches}
	}
	return checks, nil
}

// ErrTypedTotalRequired: the batch is above the typed-confirmation
// threshold and was neither confirmed by typing its total nor approved.
var ErrTypedTotalRequired = errors.New("above the typed-confirmation threshold: type the total at a terminal, or have the batch approved before running it unattended")

// Gate applies the controls to a sheet about to run, before any call: the
// limits, then maker-checker (a rejected batch never runs, with or without
// controls; one that needs approval runs only with one bound to its
// content). l may be nil (no ledger yet: nothing is approved). It returns
// the approval in force, if any.
func (c *Controls) Gate(ctx context.Context, l *store.SQL, p *Planned) (*Decision, error) {
	if _, err := c.CheckLimits(p.Items); err != nil {
		return nil, err
	}
	var ledger store.Ledger
	if l != nil {
		ledger = l
	}
	return MayRun(ctx, ledger, p.Meta.BatchID, CurrencyTotals(p.Items), c)
}

// NeedsApproval reports whether a batch of these totals (CurrencyTotals)
// runs only after a second person approves it, and why.
func (c *Controls) NeedsApproval(totals []Total) (bool, string) {
	if c == nil {
		return false, ""
	}
	if c.Approval.Always {
		return true, "every batch needs a second person's approval (controls.approval.always)"
	}
	if t, ok := above(totals, c.Approval.Above); ok {
		return true, "its " + t + " (controls.approval.above)"
	}
	return false, ""
}

// TypedConfirmation lists the currency totals an operator confirms on a
// terminal by typing them; empty when a plain "yes" is enough.
func (c *Controls) TypedConfirmation(totals []Total) []Total {
	if c == nil || c.TypedConfirmAbove == nil {
		return nil
	}
	var out []Total
	for _, t := range totals {
		if lim, ok := c.TypedConfirmAbove[t.Currency]; !ok || t.Amount > lim {
			out = append(out, t)
		}
	}
	return out
}

// above names the first total above its threshold ("CNY total 1,234.00 is
// above 1,000.00"); a nil map is no threshold, a currency it lacks is above.
func above(totals []Total, limits map[money.Currency]int64) (string, bool) {
	if limits == nil {
		return "", false
	}
	for _, t := range totals {
		lim, ok := limits[t.Currency]
		if !ok {
			return fmt.Sprintf("%s total %s has no threshold configured", t.Currency, money.FormatGrouped(t.Amount, t.Currency)), true
		}
		if t.Amount > lim {
			return fmt.Sprintf("%s total %s is above %s", t.Currency, money.FormatGrouped(t.Amount, t.Currency), money.FormatGrouped(lim, t.Currency)), true
		}
	}
	return "", false
}

// TypedTotalMatches reports whether what the operator typed is exactly the
// total: the same amount in minor units (grouping commas, spaces and the
// currency code may be typed or not).
func TypedTotalMatches(typed string, t Total) bool {
	s := strings.TrimSpace(typed)
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, string(t.Currency)), string(t.Currency)))
	v, err := money.ParseMajor(s, t.Currency)
	return err == nil && v == t.Amount
}
