package sheet

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
)

// providerTable is the registry's descriptors made ready for the per-row
// checks: names folded, fields resolved, patterns compiled, once.
type providerTable struct {
	list   []*provider
	byName map[string]*provider // canonical names as written, and folded names and aliases
	names  string               // "upay, quickpay, nomad or payease", for messages
}

// provider is one descriptor with its rules resolved to sheet fields.
type provider struct {
	d             adapters.Descriptor
	rules         []rule
	totalRequired bool
	currencies    string // "CNY", "CNY, USD, …", for messages
}

type rule struct {
	l       adapters.FieldLimit
	f, or   field // or < 0: no stand-in field
	orLabel string
	re      *regexp.Regexp
}

// defaultProviders is the registry as validation reads it. A descriptor
// rule this package cannot apply stops the program at start, like a
// duplicate in the registry itself.
var defaultProviders = func() *providerTable {
	t, err := newProviderTable(registry.All())
	if err != nil {
		panic(err)
	}
	return t
}()

func newProviderTable(ds []adapters.Descriptor) (*providerTable, error) {
	t := &providerTable{byName: map[string]*provider{}}
	var names []string
	for _, d := range ds {
		p := &provider{d: d}
		for _, l := range d.Limits {
			ru, err := newRule(d, l)
			if err != nil {
				return nil, fmt.Errorf("sheet: %s: %w", d.Name, err)
			}
			if ru.f == fTotalAmount && l.Required {
				p.totalRequired = true
			}
			p.rules = append(p.rules, ru)
		}
		cs := make([]string, len(d.Currencies))
		for i, c := range d.Currencies {
			cs[i] = string(c)
		}
		p.currencies = strings.Join(cs, ", ")
		t.list = append(t.list, p)
		t.byName[d.Name] = p
		for _, n := range append([]string{d.Name}, d.Aliases...) {
			t.byName[normalizeHeader(n)] = p
		}
		names = append(names, d.Name)
	}
	t.names = orList(names)
	return t, nil
}

func newRule(d adapters.Descriptor, l adapters.FieldLimit) (rule, error) {
	f, ok := fieldByName[l.Field]
	if !ok {
		return rule{}, fmt.Errorf("a limit names %q, which is not a sheet field", l.Field)
	}
	ru := rule{l: l, f: f, or: -1}
	switch f {
	case fProvider, fCurrency, fAction:
		return rule{}, fmt.Errorf("%s takes no per-provider limit (use Currencies, Revoke)", l.Field)
	case fRefundAmount, fTotalAmount:
		if l.MaxLen > 0 || l.Pattern != "" || l.Values != nil || l.Check != nil || l.Or != "" || l.FromConfig {
			return rule{}, fmt.Errorf("%s is an amount: only Required and MaxAmount apply", l.Field)
		}
		return ru, nil
	}
	if l.MaxAmount > 0 {
		return rule{}, fmt.Errorf("%s is not an amount: MaxAmount does not apply", l.Field)
	}
	if l.Or != "" {
		if ru.or, ok = fieldByName[l.Or]; !ok || textField(nil, ru.or) == nil {
			return rule{}, fmt.Errorf("the limit on %s stands in %q, which is not a text field", l.Field, l.Or)
		}
		ru.orLabel = l.Or
		if o, ok := d.Limit(l.Or); ok {
			ru.orLabel = o.Label()
		}
	}
	if l.Pattern != "" {
		re, err := regexp.Compile(`^(?:` + l.Pattern + `)$`)
		if err != nil {
			return rule{}, fmt.Errorf("the pattern of %s: %w", l.Field, err)
		}
		ru.re = re
	}
	return ru, nil
}

// lookup finds a provider cell's descriptor: the canonical name as
// written costs one map probe, anything else is folded first.
func (t *providerTable) lookup(s string) *provider {
	if p, ok := t.byName[s]; ok {
		return p
	}
	return t.byName[normalizeHeader(s)]
}

// textField points at r's text field f, or is nil for the other fields.
// With a nil r it only tells whether f is a text field.
func textField(r *adapters.Refund, f field) *string {
	if r == nil {
		r = &adapters.Refund{}
	}
	switch f {
	case fAccount:
		return &r.Account
	case fOrderNo:
		return &r.OrderNo
	case fProviderOrderID:
		return &r.ProviderOrderID
	case fRefundNo:
		return &r.RefundNo
	case fOperator:
		return &r.Operator
	case fReason:
		return &r.Reason
	case fPaymentMethod:
		return &r.PaymentMethod
	case fNotifyURL:
		return &r.NotifyURL
	}
	return nil
}

// apply checks r against the provider's field rules, filling a blank field
// the configuration gives a value for (Options.Defaults).
func (p *provider) apply(c *rowCtx, r *adapters.Refund, totalText string, cur money.Currency) {
	for i := range p.rules {
		ru := &p.rules[i]
		l := &ru.l
		if ru.f == fTotalAmount {
			c.maxAmount(fTotalAmount, totalText, r.Total, l.MaxAmount, cur, p.d.Name)
			continue // Required is applied when the amount is parsed
		}
		s := textField(r, ru.f)
		if s == nil {
			continue // refund_amount: always required, bounded by Descriptor.MaxAmount
		}
		if *s == "" && l.FromConfig {
			if c.v.defaults == nil {
				continue // no configuration to ask: a warning (see unfilled), as a run may fill it
			}
			if *s = c.v.defaults(p.d.Name, r.Account)[l.Field]; *s == "" {
				c.addf(ru.f, "", ErrRequired, "%s is empty, and the provider config gives no %s for %s account %s", l.Label(), l.Field, p.d.Name, r.Account)
				continue
			}
		}
		if *s == "" {
			if l.Required && (ru.or < 0 || *textField(r, ru.or) == "") {
				c.addf(ru.f, "", ErrRequired, "%s is empty%s", l.Label(), requiredHint(ru))
			}
			continue
		}
		if l.MaxLen > 0 && len(*s) > l.MaxLen && utf8.RuneCountInString(*s) > l.MaxLen {
			c.addf(ru.f, *s, ErrTooLong, "%s is at most %d characters, this is %d", l.Label(), l.MaxLen, utf8.RuneCountInString(*s))
			continue
		}
		if l.Values != nil {
			j := slices.IndexFunc(l.Values, func(v string) bool { return strings.EqualFold(v, *s) })
			if j < 0 {
				c.addf(ru.f, *s, ErrBadFormat, "%s %s is %s", p.d.Name, l.Label(), orList(l.Values))
				continue
			}
			*s = l.Values[j]
		}
		if ru.re != nil && !ru.re.MatchString(*s) {
			c.addf(ru.f, *s, ErrBadFormat, "%s must be %s", l.Label(), patternHelp(l))
			continue
		}
		if l.Check != nil {
			if msg := l.Check(*s, *r); msg != "" {
				c.addf(ru.f, *s, ErrBadFormat, "%s must be %s: %s", l.Label(), patternHelp(l), msg)
			}
		}
	}
}

func requiredHint(ru *rule) string {
	switch {
	case ru.or >= 0:
		return " (give it or " + ru.orLabel + ")"
	case ru.l.Values != nil:
		return " (" + orList(ru.l.Values) + ")"
	}
	return ""
}

func patternHelp(l *adapters.FieldLimit) string {
	if l.Help != "" {
		return l.Help
	}
	if l.Pattern != "" {
		return "of the form " + l.Pattern
	}
	return "well formed"
}

// orList writes "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// unfilled counts the valid rows that leave blank a field the account's
// configuration would fill (FromConfig), when Validate has no Defaults: one
// warning per provider and field, naming the first few rows.
type unfilled struct {
	order []string
	seen  map[string]*blanks
}

type blanks struct {
	provider string
	rule     *rule
	rows     []int
	n        int
}

const unfilledRowsShown = 5

func (u *unfilled) note(p *provider, it *batch.Item) {
	if p == nil {
		return
	}
	for i := range p.rules {
		ru := &p.rules[i]
		if !ru.l.FromConfig {
			continue
		}
		if s := textField(&it.Refund, ru.f); s == nil || *s != "" {
			continue
		}
		k := p.d.Name + "\x00" + ru.l.Field
		b := u.seen[k]
		if b == nil {
			if u.seen == nil {
				u.seen = map[string]*blanks{}
			}
			b = &blanks{provider: p.d.Name, rule: ru}
			u.seen[k] = b
			u.order = append(u.order, k)
		}
		b.n++
		if len(b.rows) < unfilledRowsShown {
			b.rows = append(b.rows, it.Row)
		}
	}
}

func (u *unfilled) warnings() []string {
	var out []string
	for _, k := range u.order {
		b := u.seen[k]
		rows := make([]string, len(b.rows))
		for i, r := range b.rows {
			rows[i] = strconv.Itoa(r)
		}
		more := ""
		if b.n > len(b.rows) {
			more = ", …"
		}
		f := b.rule.l.Field
		plural := "s"
		if b.n == 1 {
			plural = ""
		}
		out = append(out, fmt.Sprintf("%s is blank on %d %s row%s (row%s %s%s): %s requires %s, which a run takes from the account's %s in the provider config; validate with that config to check it",
			f, b.n, b.provider, plural, plural, strings.Join(rows, ", "), more, b.provider, b.rule.l.Label(), f))
	}
	return out
}
