package config

import (
	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

// SandboxNotifyURL is the PayEase notifyUrl of sandbox accounts. The sandbox
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
		if sa.Provider == adapters.PayEase {
			a.privateKeyPEM = NewSecret(string(sa.MerchantPrivateKeyPEM))
			a.publicKeyPEM = sa.PlatformPublicKeyPEM
			a.NotifyURL = SandboxNotifyURL
		} else {
			a.secret = NewSecret(sa.Secret)
		}
		cfg.Accounts = append(cfg.Accounts, a)
	}
	return cfg
}
