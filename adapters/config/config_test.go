package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
)

const (
	upayKey  = "upay-terminal-key-0123456789abcdef"
	nomadKey = "nomad-api-key-zyxwvu"
)

func setKeys(t *testing.T) {
	t.Setenv("BR_TEST_UPAY_KEY", upayKey)
	t.Setenv("BR_TEST_NOMAD_KEY", nomadKey)
}

func TestLoadGood(t *testing.T) {
	setKeys(t)
	cfg, err := Load("testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"nomad/wechat.sh_smk", "payease/890000593", "quickpay/SH002", "upay/100000330000000001"}
	if got := cfg.Keys(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("keys %v, want %v", got, want)
	}
	u, _ := cfg.Account(adapters.Upay, "100000330000000001")
	if u.Rate != 20 || u.Burst != 5 || time.Duration(u.Timeout) != 8*time.Second || u.secret.Reveal() != upayKey {
		t.Errorf("upay account %+v", u.Limits)
	}
	q, _ := cfg.Account(adapters.QuickPay, "SH002")
	if q.Rate != 50 || q.Burst != 50 || time.Duration(q.Timeout) != 10*time.Second || q.secret.Reveal() != "qp-store-key-from-file" {
		t.Errorf("quickpay account takes the defaults and a trimmed file secret: %+v %q", q.Limits, q.secret.Reveal())
	}
	n, _ := cfg.Account(adapters.Nomad, "wechat.sh_smk")
	if n.Limiter() != nil {
		t.Errorf("rate 0 must mean unlimited")
	}
	if l := u.Limiter(); l == nil || l.Burst() != 5 || float64(l.Limit()) != 20 {
		t.Errorf("upay limiter %v", l)
	}
	ps, err := cfg.Providers()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 || ps[Key(adapters.PayEase, "890000593")] == nil {
		t.Fatalf("providers %v", ps)
	}
}

// writeConfig writes a config with one account (fields merged into a valid
// base) next to the test keys, and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"payease_merchant_key.pem", "payease_platform_pub.pem", "quickpay_SH002.key"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	p := filepath.Join(dir, "providers.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	setKeys(t)
	t.Setenv("BR_TEST_EMPTY", "")
	up := `{"provider":"upay","account":"T1","base_url":"https://u.example","secret_env":"BR_TEST_UPAY_KEY"}`
	cases := []struct {
		name      string
		body      string
		sentinel  error
		wantParts []string
	}{
		{"unknown provider", `{"accounts":[{"provider":"alipay","account":"A","base_url":"https://a.example","secret_env":"BR_TEST_UPAY_KEY"}]}`,
			ErrUnknownProvider, []string{"accounts[1]", "provider", `"alipay"`}},
		{"duplicate account", `{"accounts":[` + up + `,` + up + `]}`,
			ErrDuplicateAccount, []string{"accounts[2]", "upay/T1", "accounts[1]"}},
		{"env var not set", `{"accounts":[{"provider":"nomad","account":"m","base_url":"https://n.example","secret_env":"BR_TEST_NOT_SET_ANYWHERE"}]}`,
			ErrMissingSecret, []string{"secret_env", "BR_TEST_NOT_SET_ANYWHERE", "not set"}},
		{"env var empty", `{"accounts":[{"provider":"nomad","account":"m","base_url":"https://n.example","secret_env":"BR_TEST_EMPTY"}]}`,
			ErrMissingSecret, []string{"BR_TEST_EMPTY"}},
		{"no credential", `{"accounts":[{"provider":"quickpay","account":"S","base_url":"https://q.example"}]}`,
			ErrMissingSecret, []string{"secret_env or secret_file"}},
		{"secret file missing", `{"accounts":[{"provider":"quickpay","account":"S","base_url":"https://q.example","secret_file":"nope.key"}]}`,
			ErrMissingSecret, []string{"secret_file", "nope.key"}},
		{"inline secret refused", `{"accounts":[{"provider":"upay","account":"T1","base_url":"https://u.example","secret":"hunter2hunter2"}]}`,
			ErrSecretInFile, []string{"accounts[1]", "secret"}},
		{"credentials in URL", `{"accounts":[{"provider":"upay","account":"T1","base_url":"https://me:hunter2hunter2@u.example","secret_env":"BR_TEST_UPAY_KEY"}]}`,
			ErrSecretInFile, []string{"base_url"}},
		{"bad URL", `{"accounts":[{"provider":"upay","account":"T1","base_url":"ftp://u","secret_env":"BR_TEST_UPAY_KEY"}]}`,
			ErrInvalid, []string{"base_url", "ftp://u"}},
		{"payease without keys", `{"accounts":[{"provider":"payease","account":"890000593","base_url":"https://p.example"}]}`,
			ErrMissingSecret, []string{"private_key_file"}},
		{"payease key is not a key", `{"accounts":[{"provider":"payease","account":"890000593","base_url":"https://p.example","private_key_file":"quickpay_SH002.key","platform_public_key_file":"payease_platform_pub.pem"}]}`,
			ErrInvalid, []string{"private_key_file", "quickpay_SH002.key"}},
		{"negative rate", `{"accounts":[{"provider":"upay","account":"T1","base_url":"https://u.example","secret_env":"BR_TEST_UPAY_KEY","rate":-1}]}`,
			ErrInvalid, []string{"rate"}},
		{"negative burst", `{"accounts":[{"provider":"upay","account":"T1","base_url":"https://u.example","secret_env":"BR_TEST_UPAY_KEY","burst":-2}]}`,
			ErrInvalid, []string{"burst", "-2"}},
		{"negative default rate", `{"defaults":{"rate":-1},"accounts":[` + up + `]}`,
			ErrInvalid, []string{"defaults.rate"}},
		{"bad timeout", `{"accounts":[{"provider":"upay","account":"T1","base_url":"https://u.example","secret_env":"BR_TEST_UPAY_KEY","timeout":"soon"}]}`,
			ErrInvalid, []string{"soon"}},
		{"unknown field", `{"accounts":[{"provider":"upay","account":"T1","base_url":"https://u.example","secret_env":"BR_TEST_UPAY_KEY","rat":5}]}`,
			ErrInvalid, []string{"rat"}},
		{"no accounts", `{"accounts":[]}`, ErrInvalid, []string{"accounts"}},
		{"notify_url on a provider that takes none", `{"accounts":[{"provider":"upay","account":"T1","base_url":"https://u.example","secret_env":"BR_TEST_UPAY_KEY","notify_url":"https://m.example/n"}]}`,
			ErrInvalid, []string{"accounts[1]", "notify_url", "upay takes no notify_url", "only payease"}},
		{"key files on a shared-secret provider", `{"accounts":[{"provider":"nomad","account":"m","base_url":"https://n.example","secret_env":"BR_TEST_NOMAD_KEY","private_key_file":"payease_merchant_key.pem"}]}`,
			ErrInvalid, []string{"private_key_file", "nomad takes its API key from secret_env or secret_file"}},
		{"not JSON", `accounts: []`, ErrInvalid, []string{"providers.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			_, err := Load(p)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Path != p {
				t.Fatalf("want a *config.Error naming the file, got %T %v", err, err)
			}
			msg := err.Error()
			for _, part := range tc.wantParts {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
			for _, secret := range []string{upayKey, nomadKey, "hunter2hunter2", "qp-store-key-from-file"} {
				if strings.Contains(msg, secret) {
					t.Errorf("message prints a secret: %q", msg)
				}
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	setKeys(t)
	cfg, err := Load("testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := os.ReadFile("testdata/payease_merchant_key.pem")
	secrets := []string{upayKey, nomadKey, "qp-store-key-from-file", string(priv[40:90])}

	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		fmt.Fprintf(&out, verb+"\n", cfg)
		fmt.Fprintf(&out, verb+"\n", *cfg)
		fmt.Fprintf(&out, verb+"\n", cfg.Accounts)
		for _, a := range cfg.Accounts {
			fmt.Fprintf(&out, verb+"\n", a)
			fmt.Fprintf(&out, verb+"\n", a.secret)
		}
	}
	log := slog.New(slog.NewJSONHandler(&out, nil))
	for _, a := range cfg.Accounts {
		log.Info("account", "a", a, "secret", a.secret, "pem", a.privateKeyPEM)
		b, _ := json.Marshal(a)
		out.Write(b)
	}
	b, _ := json.Marshal(cfg)
	out.Write(b)
	ps, _ := cfg.Providers()
	for _, p := range ps {
		fmt.Fprintf(&out, "%v %+v %#v %d %x\n", p, p, p, p, p)
	}
	for _, s := range secrets {
		if strings.Contains(out.String(), s) {
			t.Errorf("secret %q printed in:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), redacted) {
		t.Error("expected [REDACTED] markers in the output")
	}
}

// The shipped example is a valid config once its keys exist.
func TestExampleConfig(t *testing.T) {
	raw, err := os.ReadFile("../../samples/providers.example.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	body := strings.ReplaceAll(string(raw), "/etc/bulkrefund/keys/", dir+"/")
	copyTo := func(src, dst string) {
		b, err := os.ReadFile(filepath.Join("testdata", src))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, dst), b, 0o600)
	}
	copyTo("quickpay_SH002.key", "quickpay_SH001.key")
	copyTo("quickpay_SH002.key", "quickpay_SH002.key")
	copyTo("payease_merchant_key.pem", "payease_890000593.key.pem")
	copyTo("payease_platform_pub.pem", "payease_platform.cer.pem")
	p := filepath.Join(dir, "providers.json")
	os.WriteFile(p, []byte(body), 0o600)
	t.Setenv("BULKREFUND_UPAY_100000330000000001_KEY", "k1")
	t.Setenv("BULKREFUND_UPAY_100000330000000002_KEY", "k2")
	t.Setenv("BULKREFUND_NOMAD_API_KEY", "k3")
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Accounts) != 6 {
		t.Fatalf("%d accounts", len(cfg.Accounts))
	}
	if _, err := cfg.Providers(); err != nil {
		t.Fatal(err)
	}
	pe, _ := cfg.Account(adapters.PayEase, "890000593")
	if pe.Rate != 5 || pe.Burst != 5 || time.Duration(pe.Timeout) != 30*time.Second {
		t.Errorf("payease limits %+v", pe.Limits)
	}
}

// Every registered provider can be configured: config knows its credential
// kind and can supply every field it takes from the config.
func TestRegistryCovered(t *testing.T) {
	for _, d := range registry.All() {
		if _, ok := credentialKinds[d.Credential]; !ok {
			t.Errorf("%s: credential kind %q unknown to config", d.Name, d.Credential)
		}
		for _, f := range fromConfig(d) {
			if configFields[f] == nil {
				t.Errorf("%s takes %s from the config, which has no such field", d.Name, f)
			}
		}
	}
}

// Defaults is what validate --config and run --config fill blank cells
// with: the account's notify_url, for the providers that take it.
func TestDefaults(t *testing.T) {
	setKeys(t)
	dir := t.TempDir()
	for _, f := range []string{"good.json", "payease_merchant_key.pem", "payease_platform_pub.pem", "quickpay_SH002.key"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "good.json" {
			// A provider alias is read as its canonical name.
			b = bytes.Replace(b, []byte(`"provider": "payease"`), []byte(`"provider": "5upay"`), 1)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	cfg, err := Load(filepath.Join(dir, "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Defaults(adapters.PayEase, "890000593"); len(got) != 1 || got["notify_url"] != "https://merchant.example/payease/notify" {
		t.Errorf("payease defaults %v", got)
	}
	if got := cfg.Defaults(adapters.Upay, "100000330000000001"); got != nil {
		t.Errorf("upay defaults %v, want none", got)
	}
	if got := cfg.Defaults(adapters.PayEase, "890000594"); got != nil {
		t.Errorf("an account the config lacks has defaults %v", got)
	}
}

// Parse reads what Load reads, but no credential: validate --config works
// where the keys are not.
func TestParseResolvesNothing(t *testing.T) {
	// No BR_TEST_* variables are set, and the key files are absent.
	p := writeConfig(t, `{"accounts":[
		{"provider":"upay","account":"T1","base_url":"https://u.example","secret_env":"BR_TEST_NOT_SET_ANYWHERE"},
		{"provider":"payease","account":"890000593","base_url":"https://p.example","private_key_file":"nope.pem","platform_public_key_file":"nope.pem","notify_url":"https://m.example/n"}]}`)
	cfg, err := Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Defaults(adapters.PayEase, "890000593")["notify_url"]; got != "https://m.example/n" {
		t.Errorf("notify_url default %q", got)
	}
	if _, err := Load(p); !errors.Is(err, ErrMissingSecret) {
		t.Errorf("Load of the same file: %v, want ErrMissingSecret", err)
	}
	// The file itself is still checked.
	if _, err := Parse(writeConfig(t, `{"accounts":[{"provider":"alipay","account":"A","base_url":"https://a.example","secret_env":"X"}]}`)); !errors.Is(err, ErrUnknownProvider) {
		t.Errorf("Parse of an unknown provider: %v", err)
	}
}
