package config

//go:generate go test -run TestDocTable -update

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
	"github.com/bulkrefund/bulkrefund/adapters/payease"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
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

	// NotifyURL fills a sheet's blank notify_url, for providers whose
	// descriptor takes it from the config (PayEase).
	NotifyURL string `json:"notify_url,omitempty"`
	Limits

	secret        Secret // shared-secret kinds: terminal key, store key, API key
	privateKeyPEM Secret // key-pair kinds: the merchant's private key
	publicKeyPEM  []byte // key-pair kinds: the platform's public key (not secret)
}

// credentialKind is what the file must give for one adapters.Credential*
// kind: one secret (secret_env or secret_file), or two key files.
type credentialKind struct {
	secret  string // for messages: "terminal key"
	keyPair bool
	// checkPrivate and checkPublic parse a key pair's files, so that a
	// wrong file stops Load rather than the first refund.
	checkPrivate, checkPublic func([]byte) error
}

// credentialKinds lists every kind a descriptor may name; a test checks
// that each registered provider's kind is here.
var credentialKinds = map[string]credentialKind{
	adapters.CredentialTerminalKey: {secret: "terminal key"},
	adapters.CredentialStoreKey:    {secret: "store key"},
	adapters.CredentialAPIKey:      {secret: "API key"},
	// The RSA PEM readers live in the payease package, today the one
	// provider of this kind.
	adapters.CredentialRSAKeyPair: {keyPair: true,
		checkPrivate: func(b []byte) error { _, err := payease.ParsePrivateKey(b); return err },
		checkPublic:  func(b []byte) error { _, err := payease.ParsePublicKey(b); return err }},
}

// configFields are the sheet fields an account of the file can supply
// (adapters.FieldLimit.FromConfig), with the account's value for each.
var configFields = map[string]func(Account) string{
	adapters.FieldNotifyURL: func(a Account) string { return a.NotifyURL },
}

// fromConfig lists the sheet fields d takes from an account's config.
func fromConfig(d adapters.Descriptor) []string {
	var fs []string
	for _, l := range d.Limits {
		if l.FromConfig {
			fs = append(fs, l.Field)
		}
	}
	return fs
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
func Load(path string) (*Config, error) { return load(path, true) }

// Parse reads and validates the config file at path as Load does but
// resolves no credential: no environment variable or key file is read, and
// the accounts cannot build clients. It is for commands that send nothing
// (validate --config reads the accounts' defaults) on a machine that may
// not hold the keys.
func Parse(path string) (*Config, error) { return load(path, false) }

func load(path string, resolve bool) (*Config, error) {
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
		if resolve {
			if field, err := a.resolve(dir); err != nil {
				return nil, fail(field, err)
			}
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
	d, ok := registry.Get(a.Provider)
	if !ok {
		return "provider", fmt.Errorf("%w %q (want one of %s)", ErrUnknownProvider, a.Provider, strings.Join(registry.Names(), ", "))
	}
	a.Provider = d.Name
	a.ID = strings.TrimSpace(a.ID)
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
	if a.NotifyURL != "" && !slices.Contains(fromConfig(d), adapters.FieldNotifyURL) {
		return "notify_url", fmt.Errorf("%w: %s takes no notify_url (only %s accounts do)", ErrInvalid, d.Name, providersTaking(adapters.FieldNotifyURL))
	}
	kind, ok := credentialKinds[d.Credential]
	if !ok {
		return "provider", fmt.Errorf("%w: %s has credential kind %q, which config does not know", ErrInvalid, d.Name, d.Credential)
	}
	if kind.keyPair {
		if a.SecretEnv != "" || a.SecretFile != "" {
			return "secret_env", fmt.Errorf("%w: %s uses private_key_file and platform_public_key_file", ErrInvalid, d.Name)
		}
		if a.PrivateKeyFile == "" {
			return "private_key_file", fmt.Errorf("%w: %s needs the merchant private key file", ErrMissingSecret, d.Name)
		}
		if a.PlatformPublicKeyFile == "" {
			return "platform_public_key_file", fmt.Errorf("%w: %s needs the platform public key file", ErrMissingSecret, d.Name)
		}
		return "", nil
	}
	if a.PrivateKeyFile != "" || a.PlatformPublicKeyFile != "" {
		return "private_key_file", fmt.Errorf("%w: %s takes its %s from secret_env or secret_file; only key-pair providers take key files", ErrInvalid, d.Name, kind.secret)
	}
	switch {
	case a.SecretEnv == "" && a.SecretFile == "":
		return "secret_env", fmt.Errorf("%w: set secret_env or secret_file to the %s %s", ErrMissingSecret, d.Name, kind.secret)
	case a.SecretEnv != "" && a.SecretFile != "":
		return "secret_env", fmt.Errorf("%w: set secret_env or secret_file, not both", ErrInvalid)
	}
	return "", nil
}

// providersTaking lists the providers that take field from the config.
func providersTaking(field string) string {
	var names []string
	for _, d := range registry.All() {
		if slices.Contains(fromConfig(d), field) {
			names = append(names, d.Name)
		}
	}
	return strings.Join(names, ", ")
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
	d, _ := registry.Get(a.Provider) // validate checked it
	switch kind := credentialKinds[d.Credential]; {
	case kind.keyPair:
		priv, err := read(a.PrivateKeyFile)
		if err != nil {
			return "private_key_file", err
		}
		if err := kind.checkPrivate(priv); err != nil {
			return "private_key_file", fmt.Errorf("%w: %s: %v", ErrInvalid, a.PrivateKeyFile, err)
		}
		pub, err := read(a.PlatformPublicKeyFile)
		if err != nil {
			return "platform_public_key_file", err
		}
		if err := kind.checkPublic(pub); err != nil {
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
	d, ok := registry.Get(a.Provider)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownProvider, a.Provider)
	}
	return d.New(adapters.Connection{BaseURL: a.BaseURL, Account: a.ID, Secret: a.secret.Reveal(),
		PrivateKeyPEM: []byte(a.privateKeyPEM.Reveal()), PublicKeyPEM: a.publicKeyPEM,
		NotifyURL: a.NotifyURL, Timeout: time.Duration(a.Timeout)})
}

// Defaults gives the values the account's configuration supplies for a
// sheet's blank cells, by sheet field: sheet.Options.Defaults. It is nil for
// an account the config does not have.
func (c *Config) Defaults(provider, account string) map[string]string {
	a, ok := c.Account(provider, account)
	if !ok {
		return nil
	}
	d, _ := registry.Get(a.Provider)
	var m map[string]string
	for _, f := range fromConfig(d) {
		if get := configFields[f]; get != nil && get(a) != "" {
			if m == nil {
				m = map[string]string{}
			}
			m[f] = get(a)
		}
	}
	return m
}
