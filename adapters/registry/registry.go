// Package registry is the one list of providers the toolkit supports.
// Validation, config, the ledger, the report and the sandbox read it; a new
// provider is its package, its emulator and one line here.
package registry

import (
	"fmt"
	"strings"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/nomad"
	"github.com/bulkrefund/bulkrefund/adapters/payease"
	"github.com/bulkrefund/bulkrefund/adapters/quickpay"
	"github.com/bulkrefund/bulkrefund/adapters/upay"
)

var all = mustBuild(
	upay.Descriptor,
	quickpay.Descriptor,
	nomad.Descriptor,
	payease.Descriptor,
)

type table struct {
	list   []adapters.Descriptor
	byName map[string]int // canonical names and aliases, lower case
}

func mustBuild(ds ...adapters.Descriptor) table {
	t, err := build(ds...)
	if err != nil {
		panic(err) // a programming error in the list above: fail at startup
	}
	return t
}

func build(ds ...adapters.Descriptor) (table, error) {
	t := table{byName: map[string]int{}}
	for i, d := range ds {
		if d.Name == "" {
			return t, fmt.Errorf("provider registry: descriptor %d has no name", i)
		}
		for _, n := range append([]string{d.Name}, d.Aliases...) {
			k := strings.ToLower(strings.TrimSpace(n))
			if j, dup := t.byName[k]; dup {
				return t, fmt.Errorf("provider registry: name %q is used by both %s and %s", n, ds[j].Name, d.Name)
			}
			t.byName[k] = i
		}
		t.list = append(t.list, d)
	}
	return t, nil
}

// All returns the descriptors in the registry's fixed order.
func All() []adapters.Descriptor { return append([]adapters.Descriptor(nil), all.list...) }

// Get finds a provider by its name or an alias, ignoring case and spaces.
func Get(name string) (adapters.Descriptor, bool) {
	i, ok := all.byName[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return adapters.Descriptor{}, false
	}
	return all.list[i], true
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
