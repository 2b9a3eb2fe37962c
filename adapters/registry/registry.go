// Package registry is the one list of providers the toolkit supports.
// Validation, config, the ledger, the report and the sandbox read it; a new
// provider is its package, its emulator and one line here.
package registry

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/nomad"
	"github.com/bulkrefund/bulkrefund/adapters/payease"
	"github.com/bulkrefund/bulkrefund/adapters/quickpay"
	"github.com/bulkrefund/bulkrefund/adapters/upay"
	"github.com/bulkrefund/bulkrefund/money"
)

var all = mustBuild(
	upay.Descriptor,
	quickpay.Descriptor,
	nomad.Descriptor,
	payease.Descriptor,
)

type table struct {
	list   []adapters.Descriptor
	byName map[string]int // canonical names and aliases, folded
}

func mustBuild(ds ...adapters.Descriptor) table {
	t, err := build(ds...)
	if err != nil {
		panic(err) // a programming error in the list above: fail at startup
	}
	return t
}

// build checks the descriptors as a set: every name and alias names one
// provider, and every column alias means one field, so that a header or a
// provider cell can never be read two ways.
func build(ds ...adapters.Descriptor) (table, error) {
	t := table{byName: map[string]int{}}
	sheetCols := map[string]colOwner{}
	stmtCols := map[string]colOwner{}
	for i, d := range ds {
		if d.Name == "" {
			return t, fmt.Errorf("provider registry: descriptor %d has no name", i)
		}
		for _, n := range append([]string{d.Name}, d.Aliases...) {
			k := Fold(n)
			if j, dup := t.byName[k]; dup {
				return t, fmt.Errorf("provider registry: name %q is used by both %s and %s", n, ds[j].Name, d.Name)
			}
			t.byName[k] = i
		}
		if err := check(d); err != nil {
			return t, fmt.Errorf("provider registry: %s: %w", d.Name, err)
		}
		for field, names := range d.Columns {
			if err := claim(sheetCols, d.Name, field, names); err != nil {
				return t, err
			}
			if err := claim(stmtCols, d.Name, field, names); err != nil {
				return t, err
			}
		}
		for field, names := range d.StatementColumns {
			if err := claim(stmtCols, d.Name, field, names); err != nil {
				return t, err
			}
		}
		t.list = append(t.list, d)
	}
	return t, nil
}

// check is what one descriptor must get right on its own.
func check(d adapters.Descriptor) error {
	if d.New == nil {
		return fmt.Errorf("no New: the config cannot build its clients")
	}
	if d.Credential == "" {
		return fmt.Errorf("no credential kind")
	}
	for field := range d.Columns {
		if !slices.Contains(adapters.Fields, field) {
			return fmt.Errorf("Columns names %q, which is not a sheet field", field)
		}
	}
	seen := map[string]bool{}
	for _, l := range d.Limits {
		switch {
		case !slices.Contains(adapters.Fields, l.Field):
			return fmt.Errorf("a limit names %q, which is not a sheet field", l.Field)
		case seen[l.Field]:
			return fmt.Errorf("two limits for %s", l.Field)
		case l.Or != "" && !slices.Contains(adapters.Fields, l.Or):
			return fmt.Errorf("the limit on %s stands in %q, which is not a sheet field", l.Field, l.Or)
		}
		seen[l.Field] = true
		if l.Pattern != "" {
			if _, err := regexp.Compile(l.Pattern); err != nil {
				return fmt.Errorf("the pattern of %s: %w", l.Field, err)
			}
		}
	}
	for _, c := range d.Currencies {
		if _, ok := c.Scale(); !ok {
			return fmt.Errorf("currency %q: %w", c, money.ErrUnknownCurrency)
		}
	}
	return nil
}

type colOwner struct{ provider, field string }

// claim records that names mean field, refusing a name another provider
// (or this one) already gave to another field.
func claim(owners map[string]colOwner, provider, field string, names []string) error {
	for _, n := range names {
		k := Fold(n)
		if o, ok := owners[k]; ok && o.field != field {
			return fmt.Errorf("provider registry: column %q is %s for %s and %s for %s", n, o.field, o.provider, field, provider)
		}
		owners[k] = colOwner{provider, field}
	}
	return nil
}

// Fold is how names are compared: case, spaces, '_', '-', '.' and a byte
// order mark do not matter, and full-width forms (typed with a Chinese
// input method) equal their ASCII letters. "Samarkand Nomad",
// "samarkand_nomad" and "ＳａｍａｒｋａｎｄＮｏｍａｄ" are one name.
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			r = r - 0xFF01 + '!'
		case r == 0x3000 || r == 0x00A0:
			continue
		}
		if r == '_' || r == '-' || r == '.' || r == '\ufeff' || unicode.IsSpace(r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// All returns the descriptors in the registry's fixed order.
func All() []adapters.Descriptor { return append([]adapters.Descriptor(nil), all.list...) }

// Names lists the canonical provider names in the registry's order.
func Names() []string {
	names := make([]string, len(all.list))
	for i, d := range all.list {
		names[i] = d.Name
	}
	return names
}

// Get finds a provider by its name or an alias, compared as Fold does.
func Get(name string) (adapters.Descriptor, bool) {
	i, ok := all.byName[name] // the common case: a canonical name
	if !ok {
		i, ok = all.byName[Fold(name)]
	}
	if !ok {
		return adapters.Descriptor{}, false
	}
	return all.list[i], true
}

// StatementAliases lists the providers' names for a reconciliation field:
// their Columns and StatementColumns for it, in registry order, each name
// once. The report's reader adds these to its own generic names.
func StatementAliases(field string) []string {
	var out []string
	for _, d := range all.list {
		for _, n := range append(append([]string(nil), d.Columns[field]...), d.StatementColumns[field]...) {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// Key is the ledger and report identity of a refund (see
// adapters.Descriptor.Key). An unknown provider keys per order, the
// narrower scope, so that nothing is ever merged by mistake.
func Key(provider, account, orderNo, refundNo string) string {
	if d, ok := Get(provider); ok {
		return d.Key(account, orderNo, refundNo)
	}
	return adapters.Descriptor{Name: provider, RefundNoScope: adapters.ScopeOrder}.Key(account, orderNo, refundNo)
}
