package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ClientConfigFile is the name WriteClientConfig gives the provider config.
const ClientConfigFile = "providers.json"

// WriteClientConfig writes what a separate `bulkrefund run --config
// DIR/providers.json` process needs to talk to this sandbox: a provider
// config in the format of adapters/config (docs/config.md) whose accounts
// point at the sandbox, and one credential file per account (mode 0600)
// referenced by secret_file, or private_key_file and
// platform_public_key_file for PayEase. Paths in the config are relative to
// DIR. The sandbox must be started (URL known).
func (s *Sandbox) WriteClientConfig(dir string) (string, error) {
	if s.url == "" {
		return "", fmt.Errorf("sandbox: WriteClientConfig: not listening")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	type acct struct {
		Provider              string `json:"provider"`
		Account               string `json:"account"`
		BaseURL               string `json:"base_url"`
		SecretFile            string `json:"secret_file,omitempty"`
		PrivateKeyFile        string `json:"private_key_file,omitempty"`
		PlatformPublicKeyFile string `json:"platform_public_key_file,omitempty"`
		NotifyURL             string `json:"notify_url,omitempty"`
	}
	var out struct {
		Defaults struct {
			Timeout string `json:"timeout"`
		} `json:"defaults"`
		Accounts []acct `json:"accounts"`
	}
	out.Defaults.Timeout = "15s"
	write := func(name string, b []byte) error {
		return os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	for _, a := range s.Accounts() {
		c := acct{Provider: a.Provider, Account: a.ID, BaseURL: s.url}
		base := a.Provider + "_" + safeName(a.ID)
		if a.MerchantPrivateKeyPEM != nil {
			c.PrivateKeyFile, c.PlatformPublicKeyFile = base+"_merchant_key.pem", base+"_platform_pub.pem"
			// The sandbox only calls loopback notify URLs and .invalid never
			// resolves: the client learns outcomes by querying.
			c.NotifyURL = "https://notify.invalid/payease"
			if err := write(c.PrivateKeyFile, a.MerchantPrivateKeyPEM); err != nil {
				return "", err
			}
			if err := write(c.PlatformPublicKeyFile, a.PlatformPublicKeyPEM); err != nil {
				return "", err
			}
		} else {
			c.SecretFile = base + ".key"
			if err := write(c.SecretFile, []byte(a.Secret+"\n")); err != nil {
				return "", err
			}
		}
		out.Accounts = append(out.Accounts, c)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, ClientConfigFile)
	return p, write(ClientConfigFile, append(b, '\n'))
}

// safeName keeps an account id usable as part of a file name.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
