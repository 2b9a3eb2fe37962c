package config

import (
	"slices"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

// SandboxNotifyURL is the notify_url of sandbox accounts whose provider
// takes one from the config (PayEase). The sandbox
// only calls loopback notify URLs, and .invalid never resolves, so nothing is
// notified; the runner learns outcomes by querying.
const SandboxNotifyURL = "https://notify.invalid/payease"

// ForSandbox builds a configuration for the sandbox at baseURL from the
// credentials it generated (sandbox.Sandbox.Accounts), so that a sandbox run
// needs no config file. Every account is unlimited (the sandbox's own rate
// limit, if any, answers 429) with the default timeout.
func ForSandbox(baseURL string, accounts []sandbox.Account) *Config {
	cfg := &Config{Path: "(sandbox " + baseURL + ")"}
	for _, sa := range accounts {
		a := Account{
			Provider: sa.Provider,
			ID:       sa.ID,
			BaseURL:  baseURL,
			Limits:   Limits{Timeout: Duration(DefaultTimeout)},
		}
		d, _ := registry.Get(sa.Provider)
		if credentialKinds[d.Credential].keyPair {
			a.privateKeyPEM = NewSecret(string(sa.MerchantPrivateKeyPEM))
			a.publicKeyPEM = sa.PlatformPublicKeyPEM
		} else {
			a.secret = NewSecret(sa.Secret)
		}
		if slices.Contains(fromConfig(d), adapters.FieldNotifyURL) {
			a.NotifyURL = SandboxNotifyURL
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	return cfg
}
