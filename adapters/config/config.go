package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/nomad"
	"github.com/bulkrefund/bulkrefund/adapters/payease"
	"github.com/bulkrefund/bulkrefund/adapters/quickpay"
	"github.com/bulkrefund/bulkrefund/adapters/upay"
)

// Sentinel errors wrapped by *Error; callers can errors.Is them.
var (
	ErrUnknownProvider  = errors.New("unknown provider")
	ErrDuplicateAccount = errors.New("duplicate account")
	ErrMissingSecret    = errors.New("missing credential")
	ErrInvalid          = errors.New("invalid value")
	ErrSecretInFile     = errors.New("credential written in the config file")
)

// DefaultTimeout is an account's per-call timeout when the file sets none.
const DefaultTimeout = 15 * time.Second

// Error is a problem with one place of the config file.
type Error struct {
	Path    string // the config file
	Account int    // 1-based position in "accounts"; 0 for the file as a whole
	Field   string // the JSON field, as written in the file
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Account > 0 {
		fmt.Fprintf(&b, ": accounts[%d]", e.Account)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Duration is a time.Duration written as Go duration text ("10s", "1m30s").
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration like \"10s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("want a duration like \"10s\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Limits are how an account may be called.
type Limits struct {
	Rate    float64  `json:"rate,omitempty"`  // requests per second; 0: unlimited
	Burst   int      `json:"burst,omitempty"` // token bucket size; default max(1, ceil(rate))
	Timeout Duration `json:"timeout,omitempty"`
}

// Account is one provider account as the file describes it, with its
// credentials resolved.
type Account struct {
	Provider string `json:"provider"`
	ID       string `json:"account"`
	BaseURL  string `json:"base_url"`

	// Credential references. Never the credentials themselves.
	SecretEnv             string `json:"secret_env,omitempty"`
	SecretFile            string `json:"secret_file,omitempty"`
	PrivateKeyFile        string `json:"private_key_file,omitempty"`
	PlatformPublicKeyFile string `json:"platform_public_key_file,omitempty"`

	NotifyURL string `json:"notify_url,omitempty"` // PayEase: default notifyUrl
	Limits

	secret        Secret // Upay terminal key, QuickPay store key, Nomad API key
	privateKeyPEM Secret // PayEase merchant private key
	publicKeyPEM  []byte // PayEase platform public key (not secret)
}

// Key is the account's key in Providers' map.
func (a Account) Key() string { return Key(a.Provider, a.ID) }

// String describes the account without credentials.
func (a Account) String() string {
	return fmt.Sprintf("%s account %s at %s", a.Provider, a.ID, a.BaseURL)
}

// GoString is String: %#v must not reach the credentials either.
func (a Account) GoString() string { return a.String() }

// Format prints String under every verb, so that no verb (%d, %x) can reach
// the credentials through reflection.
func (a Account) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.String()) }

// LogValue logs the account's references, never its credentials.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(slog.String("provider", a.Provider), slog.String("account", a.ID),
		slog.String("base_url", a.BaseURL), slog.Float64("rate", a.Rate), slog.Int("burst", a.Burst))
}

// Limiter is a token bucket for the account's rate, or nil when unlimited.
func (a Account) Limiter() *rate.Limiter {
	if a.Rate <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(a.Rate), a.Burst)
}

// Config is a loaded, validated provider configuration.
type Config struct {
	Path     string
	Accounts []Account
	// Controls is the file's "controls" section as written (limits,
	// maker-checker, typed confirmation), parsed by package app; nil if absent.
	Controls json.RawMessage
}

// String summarizes the configuration without credentials.
func (c *Config) String() string {
	keys := make([]string, len(c.Accounts))
	for i, a := range c.Accounts {
		keys[i] = a.Key()
	}
	return fmt.Sprintf("config %s: %s", c.Path, strings.Join(keys, ", "))
}

// GoString is String.
func (c *Config) GoString() string { return c.String() }

// Format prints String under every verb.
func (c *Config) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// Key is how an account is named across the program: "provider/account".
func Key(provider, account string) string { return provider + "/" + account }

type file struct {
	Defaults Limits            `json:"defaults"`
	Accounts []json.RawMessage `json:"accounts"`
	Controls json.RawMessage   `json:"controls"`
}

// secretFields are keys that would put a credential into the file itself.
var secretFields = []string{"secret", "key", "api_key", "apikey", "terminal_key", "store_key", "password", "private_key", "token"}

// Load reads and validates the config file at path, resolving every
// credential reference (relative files are relative to the config file).
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &Error{Path: path, Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
	}
	if len(f.Accounts) == 0 {
		return nil, &Error{Path: path, Field: "accounts", Err: fmt.Errorf("%w: no accounts", ErrInvalid)}
	}
	if field, err := checkLimits(f.Defaults); err != nil {
		return nil, &Error{Path: path, Field: "defaults." + field, Err: err}
	}
	dir := filepath.Dir(path)
	cfg := &Config{Path: path, Controls: f.Controls}
	seen := map[string]int{}
	for i, rawAcc := range f.Accounts {
		n := i + 1
		fail := func(field string, err error) error { return &Error{Path: path, Account: n, Field: field, Err: err} }

		// A credential written inline is refused with its own message,
		// before the generic unknown-field error could echo it.
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(rawAcc, &probe); err != nil {
			return nil, fail("", fmt.Errorf("%w: not a JSON object", ErrInvalid))
		}
		for k := range probe {
			if slices.Contains(secretFields, strings.ToLower(k)) {
				return nil, fail(k, fmt.Errorf("%w: name it with secret_env or secret_file instead", ErrSecretInFile))
			}
		}
		a := Account{Limits: f.Defaults}
		d := json.NewDecoder(bytes.NewReader(rawAcc))
		d.DisallowUnknownFields()
		if err := d.Decode(&a); err != nil {
			return nil, fail("", fmt.Errorf("%w: %v", ErrInvalid, err))
		}
		if field, err := a.validate(); err != nil {
			return nil, fail(field, err)
		}
		if prev, dup := seen[a.Key()]; dup {
			return nil, fail("account", fmt.Errorf("%w: %s is already accounts[%d]", ErrDuplicateAccount, a.Key(), prev))
		}
		seen[a.Key()] = n
		if field, err := a.resolve(dir); err != nil {
			return nil, fail(field, err)
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	return cfg, nil
}

func checkLimits(l Limits) (field string, err error) {
	switch {
	case l.Rate < 0:
		return "rate", fmt.Errorf("%w: rate %v is negative", ErrInvalid, l.Rate)
	case l.Burst < 0:
		return "burst", fmt.Errorf("%w: burst %d is negative", ErrInvalid, l.Burst)
	}
	return "", nil
}

// validate checks what can be checked without touching the environment.
func (a *Account) validate() (field string, err error) {
	a.Provider = strings.ToLower(strings.TrimSpace(a.Provider))
	a.ID = strings.TrimSpace(a.ID)
	if !slices.Contains(adapters.Providers, a.Provider) {
		return "provider", fmt.Errorf("%w %q (want one of %s)", ErrUnknownProvider, a.Provider, strings.Join(adapters.Providers, ", "))
	}
	if a.ID == "" {
		return "account", fmt.Errorf("%w: account is required", ErrInvalid)
	}
	u, perr := url.Parse(a.BaseURL)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "base_url", fmt.Errorf("%w: %q is not an http(s) URL", ErrInvalid, a.BaseURL)
	}
	if u.User != nil {
		return "base_url", fmt.Errorf("%w: base_url must not carry credentials", ErrSecretInFile)
	}
	if field, err := checkLimits(a.Limits); err != nil {
		return field, err
	}
	if a.Rate > 0 && a.Burst == 0 {
		a.Burst = max(1, int(a.Rate+0.999999))
	}
	if a.Timeout == 0 {
		a.Timeout = Duration(DefaultTimeout)
	}
	if a.Provider == adapters.PayEase {
		if a.SecretEnv != "" || a.SecretFile != "" {
			return "secret_env", fmt.Errorf("%w: PayEase uses private_key_file and platform_public_key_file", ErrInvalid)
		}
		if a.PrivateKeyFile == "" {
			return "private_key_file", fmt.Errorf("%w: PayEase needs the merchant private key file", ErrMissingSecret)
		}
		if a.PlatformPublicKeyFile == "" {
			return "platform_public_key_file", fmt.Errorf("%w: PayEase needs the platform public key file", ErrMissingSecret)
		}
		return "", nil
	}
	if a.PrivateKeyFile != "" || a.PlatformPublicKeyFile != "" {
		return "private_key_file", fmt.Errorf("%w: only PayEase accounts take key files", ErrInvalid)
	}
	switch {
	case a.SecretEnv == "" && a.SecretFile == "":
		return "secret_env", fmt.Errorf("%w: set secret_env or secret_file", ErrMissingSecret)
	case a.SecretEnv != "" && a.SecretFile != "":
		return "secret_env", fmt.Errorf("%w: set secret_env or secret_file, not both", ErrInvalid)
	}
	return "", nil
}

// resolve reads the credentials the account references.
func (a *Account) resolve(dir string) (field string, err error) {
	read := func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			// The path error names the file, never its content.
			return nil, fmt.Errorf("%w: %v", ErrMissingSecret, err)
		}
		return b, nil
	}
	switch {
	case a.Provider == adapters.PayEase:
		priv, err := read(a.PrivateKeyFile)
		if err != nil {
			return "private_key_file", err
		}
		if _, err := payease.ParsePrivateKey(priv); err != nil {
			return "private_key_file", fmt.Errorf("%w: %s: %v", ErrInvalid, a.PrivateKeyFile, err)
		}
		pub, err := read(a.PlatformPublicKeyFile)
		if err != nil {
			return "platform_public_key_file", err
		}
		if _, err := payease.ParsePublicKey(pub); err != nil {
			return "platform_public_key_file", fmt.Errorf("%w: %s: %v", ErrInvalid, a.PlatformPublicKeyFile, err)
		}
		a.privateKeyPEM, a.publicKeyPEM = NewSecret(string(priv)), pub
	case a.SecretEnv != "":
		v, ok := os.LookupEnv(a.SecretEnv)
		if !ok || strings.TrimSpace(v) == "" {
			return "secret_env", fmt.Errorf("%w: environment variable %s is not set", ErrMissingSecret, a.SecretEnv)
		}
		a.secret = NewSecret(strings.TrimSpace(v))
	default:
		b, err := read(a.SecretFile)
		if err != nil {
			return "secret_file", err
		}
		v := strings.TrimSpace(string(b)) // a trailing newline is not part of a key
		if v == "" {
			return "secret_file", fmt.Errorf("%w: %s is empty", ErrMissingSecret, a.SecretFile)
		}
		a.secret = NewSecret(v)
	}
	return "", nil
}

// Account returns the account with the given provider and id.
func (c *Config) Account(provider, id string) (Account, bool) {
	for _, a := range c.Accounts {
		if a.Provider == provider && a.ID == id {
			return a, true
		}
	}
	return Account{}, false
}

// Keys lists the accounts' keys, sorted.
func (c *Config) Keys() []string {
	keys := make([]string, 0, len(c.Accounts))
	for _, a := range c.Accounts {
		keys = append(keys, a.Key())
	}
	sort.Strings(keys)
	return keys
}

// Providers builds one client per account, keyed by Key(provider, account).
// The clients share one pooled HTTP transport.
func (c *Config) Providers() (map[string]adapters.Provider, error) {
	out := make(map[string]adapters.Provider, len(c.Accounts))
	for _, a := range c.Accounts {
		p, err := a.Client()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Key(), err)
		}
		out[a.Key()] = p
	}
	return out, nil
}

// Client builds the account's provider client.
func (a Account) Client() (adapters.Provider, error) {
	timeout := time.Duration(a.Timeout)
	switch a.Provider {
	case adapters.Upay:
		return upay.New(upay.Options{BaseURL: a.BaseURL, TerminalSN: a.ID, TerminalKey: a.secret.Reveal(), Timeout: timeout})
	case adapters.QuickPay:
		return quickpay.New(quickpay.Options{BaseURL: a.BaseURL, StoreNo: a.ID, StoreKey: a.secret.Reveal(), Timeout: timeout})
	case adapters.Nomad:
		return nomad.New(nomad.Options{BaseURL: a.BaseURL, Merchant: a.ID, APIKey: a.secret.Reveal(), Timeout: timeout})
	case adapters.PayEase:
		return payease.New(payease.Options{BaseURL: a.BaseURL, MerchantID: a.ID,
			MerchantPrivateKeyPEM: []byte(a.privateKeyPEM.Reveal()), PlatformPublicKeyPEM: a.publicKeyPEM,
			NotifyURL: a.NotifyURL, Timeout: timeout})
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownProvider, a.Provider)
}
