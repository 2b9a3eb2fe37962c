package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
)

var update = flag.Bool("update", false, "rewrite the generated table of docs/config.md")

const configDoc = "../../docs/config.md"

// TestDocTable: the provider table of docs/config.md is what the registry
// and the credential kinds say. `go generate ./adapters/config` (go test
// -run TestDocTable -update) rewrites it.
func TestDocTable(t *testing.T) {
	b, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	const begin, end = "<!-- generated: providers (go generate ./adapters/config) -->\n", "<!-- end generated: providers -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q block", configDoc, strings.TrimSpace(begin), end)
	}
	got := doc[:i+len(begin)] + providersTable() + doc[j:]
	if got == doc {
		return
	}
	if *update {
		if err := os.WriteFile(configDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/config.md is not what the descriptors say; run go generate ./adapters/config and review the diff")
}

func providersTable() string {
	var b strings.Builder
	b.WriteString("| `provider` | also written | `account` is | credential | the account gives | fills blank sheet cells |\n|---|---|---|---|---|---|\n")
	for _, d := range registry.All() {
		also := make([]string, len(d.Aliases))
		for i, a := range d.Aliases {
			also[i] = "`" + a + "`"
		}
		account := adapters.FieldAccount
		if l, ok := d.Limit(adapters.FieldAccount); ok {
			account = l.Label()
		}
		kind := credentialKinds[d.Credential]
		cred, gives := kind.secret, "`secret_env` or `secret_file`"
		if kind.keyPair {
			cred, gives = "key pair", "`private_key_file` and `platform_public_key_file`"
		}
		fills := make([]string, 0, 1)
		for _, f := range fromConfig(d) {
			fills = append(fills, "`"+f+"`")
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s (`%s`) | %s | %s |\n",
			d.Name, strings.Join(also, ", "), account, cred, d.Credential, gives, strings.Join(fills, ", "))
	}
	return b.String()
}
