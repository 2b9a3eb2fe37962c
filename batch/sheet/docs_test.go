package sheet

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/money"
)

var update = flag.Bool("update", false, "rewrite the generated tables of docs/validate.md")

const validateDoc = "../../docs/validate.md"

// TestDocTables: the column and provider tables of docs/validate.md are
// what the header matcher and the descriptors say. `go generate
// ./batch/sheet` (go test -run TestDocTables -update) rewrites them.
func TestDocTables(t *testing.T) {
	b, err := os.ReadFile(validateDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	got := doc
	for name, body := range map[string]string{"columns": columnsTable(), "providers": providersTable()} {
		if got, err = replaceGenerated(got, name, body); err != nil {
			t.Fatal(err)
		}
	}
	if got == doc {
		return
	}
	if *update {
		if err := os.WriteFile(validateDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/validate.md is not what the descriptors say; run go generate ./batch/sheet and review the diff")
}

// replaceGenerated swaps the text between the markers of block name.
func replaceGenerated(doc, name, body string) (string, error) {
	begin := "<!-- generated: " + name + " (go generate ./batch/sheet) -->\n"
	end := "<!-- end generated: " + name + " -->"
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return doc, fmt.Errorf("%s has no %q … %q block", validateDoc, strings.TrimSpace(begin), end)
	}
	return doc[:i+len(begin)] + body + doc[j:], nil
}

// fieldNotes are what a field's aliases cell adds in words.
var fieldNotes = map[field]string{
	fCurrency: " — default CNY",
	fAction:   " — `refund`/`退款` (default) or `revoke`/`撤单`/`撤销`",
}

func columnsTable() string {
	var b strings.Builder
	b.WriteString("| field | required column | aliases |\n|---|---|---|\n")
	for f := range numFields {
		req := ""
		for _, r := range required {
			if r == f {
				req = "yes"
			}
		}
		var names []string
		for _, n := range fieldAliases[f] {
			if n != fieldNames[f] {
				names = append(names, n)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s%s |\n", fieldNames[f], req, strings.Join(names, ", "), fieldNotes[f])
	}
	return b.String()
}

func providersTable() string {
	var b strings.Builder
	b.WriteString("| provider | also written | refund numbers unique per | rules |\n|---|---|---|---|\n")
	for _, d := range registry.All() {
		also := make([]string, len(d.Aliases))
		for i, a := range d.Aliases {
			also[i] = "`" + a + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.Name, strings.Join(also, ", "), d.RefundNoScope, rulesText(d))
	}
	return b.String()
}

// rulesText says a descriptor's rules in a sentence.
func rulesText(d adapters.Descriptor) string {
	var parts []string
	for _, l := range d.Limits {
		s := l.Label()
		if l.Name != "" && l.Name != l.Field {
			s += " (" + l.Field + ")"
		}
		var rs []string
		switch {
		case l.Required && l.Or != "":
			or := l.Or
			if o, ok := d.Limit(l.Or); ok {
				or = o.Label()
			}
			rs = append(rs, "required unless "+or+" is given")
		case l.Required:
			rs = append(rs, "required")
		}
		if l.MaxLen > 0 {
			rs = append(rs, fmt.Sprintf("≤ %d", l.MaxLen))
		}
		if l.MaxAmount > 0 {
			rs = append(rs, "≤ "+grouped(l.MaxAmount, d))
		}
		if l.Values != nil {
			vs := make([]string, len(l.Values))
			for i, v := range l.Values {
				vs[i] = "`" + v + "`"
			}
			rs = append(rs, orList(vs))
		}
		if l.Help != "" {
			rs = append(rs, "`"+l.Help+"`")
		} else if l.Pattern != "" {
			rs = append(rs, "matching `"+l.Pattern+"`")
		}
		if l.FromConfig {
			rs = append(rs, "blank: the account's "+l.Field+" from the provider config")
		}
		parts = append(parts, s+" "+strings.Join(rs, ", "))
	}
	if d.MaxAmount > 0 {
		parts = append(parts, "refund amount ≤ "+grouped(d.MaxAmount, d))
	}
	if len(d.Currencies) == 0 {
		parts = append(parts, "any currency")
	} else {
		cs := make([]string, len(d.Currencies))
		for i, c := range d.Currencies {
			cs[i] = string(c)
		}
		parts = append(parts, strings.Join(cs, ", "))
	}
	if d.Revoke {
		parts = append(parts, "`revoke` allowed")
	} else {
		parts = append(parts, "no `revoke`")
	}
	return strings.Join(parts, "; ") + "."
}

// grouped formats a bound in the provider's first currency with thousands
// separators: 99,999,999.99.
func grouped(minor int64, d adapters.Descriptor) string {
	cur := money.CNY
	if len(d.Currencies) > 0 {
		cur = d.Currencies[0]
	}
	s := money.Format(minor, cur)
	intPart, frac, _ := strings.Cut(s, ".")
	for i := len(intPart) - 3; i > 0; i -= 3 {
		intPart = intPart[:i] + "," + intPart[i:]
	}
	if frac != "" {
		return intPart + "." + frac
	}
	return intPart
}
