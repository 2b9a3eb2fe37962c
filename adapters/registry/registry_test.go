package registry

import (
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

func newNothing(adapters.Connection) (adapters.Provider, error) { return nil, nil }

func desc(name string, aliases ...string) adapters.Descriptor {
	return adapters.Descriptor{Name: name, Aliases: aliases, Credential: adapters.CredentialAPIKey, New: newNothing}
}

// The registry refuses, at build time, any set of descriptors that would
// let one cell be read two ways.
func TestBuildRefuses(t *testing.T) {
	withCols := func(d adapters.Descriptor, field string, names ...string) adapters.Descriptor {
		d.Columns = map[string][]string{field: names}
		return d
	}
	withLimit := func(d adapters.Descriptor, l adapters.FieldLimit) adapters.Descriptor {
		d.Limits = append(d.Limits, l)
		return d
	}
	cases := []struct {
		name string
		ds   []adapters.Descriptor
		want string
	}{
		{"duplicate name", []adapters.Descriptor{desc("alpha"), desc("alpha")}, `name "alpha" is used by both alpha and alpha`},
		{"alias is another's name", []adapters.Descriptor{desc("alpha"), desc("beta", "Alpha")}, `"Alpha" is used by both alpha and beta`},
		{"aliases equal once folded", []adapters.Descriptor{desc("alpha", "pay-one"), desc("beta", "ＰＡＹ ＯＮＥ")}, "used by both alpha and beta"},
		{"no name", []adapters.Descriptor{desc("")}, "has no name"},
		{"no New", []adapters.Descriptor{{Name: "alpha", Credential: adapters.CredentialAPIKey}}, "no New"},
		{"column alias means two fields", []adapters.Descriptor{
			withCols(desc("alpha"), adapters.FieldTotalAmount, "amount"),
			withCols(desc("beta"), adapters.FieldRefundAmount, "Amount")}, `column "Amount" is total_amount for alpha and refund_amount for beta`},
		{"statement alias clashes with a sheet alias", []adapters.Descriptor{
			withCols(desc("alpha"), adapters.FieldOrderNo, "ref"),
			func() adapters.Descriptor {
				d := desc("beta")
				d.StatementColumns = map[string][]string{"provider_refund_id": {"ref"}}
				return d
			}()}, `column "ref" is order_no for alpha and provider_refund_id for beta`},
		{"unknown column field", []adapters.Descriptor{withCols(desc("alpha"), "orderno", "x")}, `"orderno", which is not a sheet field`},
		{"unknown limit field", []adapters.Descriptor{withLimit(desc("alpha"), adapters.FieldLimit{Field: "terminal"})}, `"terminal", which is not a sheet field`},
		{"two limits on a field", []adapters.Descriptor{withLimit(withLimit(desc("alpha"),
			adapters.FieldLimit{Field: adapters.FieldOperator}), adapters.FieldLimit{Field: adapters.FieldOperator})}, "two limits for operator"},
		{"bad pattern", []adapters.Descriptor{withLimit(desc("alpha"), adapters.FieldLimit{Field: adapters.FieldAccount, Pattern: "[0-9"})}, "the pattern of account"},
		{"unknown currency", []adapters.Descriptor{func() adapters.Descriptor { d := desc("alpha"); d.Currencies = []money.Currency{"CYN"}; return d }()}, "CYN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(tc.ds...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("build: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := build(withCols(desc("alpha"), adapters.FieldAccount, "shop"), withCols(desc("beta"), adapters.FieldAccount, "SHOP")); err != nil {
		t.Fatalf("two providers may share an alias for the same field: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	if got := strings.Join(Names(), ","); got != "upay,quickpay,nomad,payease" {
		t.Fatalf("Names() = %s", got)
	}
	for _, tc := range []struct{ in, want string }{
		{"upay", "upay"}, {" UPAY ", "upay"}, {"收钱吧", "upay"}, {"Shouqianba", "upay"},
		{"quickpay", "quickpay"}, {"Samarkand Nomad", "nomad"}, {"samarkand_nomad", "nomad"},
		{"５ｕｐａｙ", "payease"}, {"首信易", "payease"},
	} {
		d, ok := Get(tc.in)
		if !ok || d.Name != tc.want {
			t.Errorf("Get(%q) = %q, %v; want %q", tc.in, d.Name, ok, tc.want)
		}
	}
	if _, ok := Get("wechat"); ok {
		t.Error("Get(wechat) found a provider")
	}
	// All returns a copy: a caller cannot change the registry.
	a := All()
	a[0].Name = "changed"
	if All()[0].Name != "upay" {
		t.Error("All() shares its slice with the registry")
	}
	if got := StatementAliases("provider_refund_id"); strings.Join(got, ",") != "refund_transaction_no,refundId" {
		t.Errorf("StatementAliases(provider_refund_id) = %q", got)
	}
}

func TestKeyScope(t *testing.T) {
	if Key("upay", "T1", "O1", "R1") == Key("upay", "T1", "O2", "R1") {
		t.Error("Upay scopes refund numbers per order: two orders' R1 are two refunds")
	}
	if Key("quickpay", "S1", "O1", "R1") != Key("quickpay", "S1", "O2", "R1") {
		t.Error("QuickPay scopes refund numbers per store: one refund")
	}
	if Key("收钱吧", "T1", "O1", "R1") != Key("upay", "T1", "O1", "R1") {
		t.Error("an alias keys as its provider")
	}
	if Key("wechat", "A", "O1", "R1") == Key("wechat", "A", "O2", "R1") {
		t.Error("an unknown provider must key per order")
	}
}
