package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch/runner"
)

// buildRoutes loads the provider accounts (from --config, or from a sandbox
// started in-process for --sandbox) and returns how the runner finds each
// item's client and rate limiter, and what to close at the end.
func buildRoutes(e env, f runFlags) (func(provider, account string) (runner.Target, bool), func(), error) {
	closeFn := func() {}
	var cfg *config.Config
	if f.sandbox {
		orders, err := sandbox.LoadOrders(f.sandboxOrders, time.Now())
		if err != nil {
			return nil, nil, fmt.Errorf("--sandbox-orders: %w", err)
		}
		sb, err := sandbox.Start(sandbox.Config{Orders: orders})
		if err != nil {
			return nil, nil, fmt.Errorf("starting the sandbox: %w", err)
		}
		closeFn = func() { sb.Close() }
		fmt.Fprintf(e.stdout, "Sandbox providers in-process at %s (%d orders from %s)\n", sb.URL(), len(orders), f.sandboxOrders)
		if cfg, err = sandboxConfig(sb); err != nil {
			closeFn()
			return nil, nil, fmt.Errorf("sandbox credentials: %w", err)
		}
	} else {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, nil, err
		}
	}
	clients, err := cfg.Providers()
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	targets := make(map[string]runner.Target, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		targets[a.Key()] = runner.Target{Provider: clients[a.Key()], Limiter: a.Limiter()}
	}
	return func(provider, account string) (runner.Target, bool) {
		t, ok := targets[config.Key(provider, account)]
		return t, ok
	}, closeFn, nil
}

// sandboxConfig builds a provider config for an in-process sandbox by writing
// its generated credentials to a private temporary directory, loading them as
// any config file is loaded, and removing the directory.
func sandboxConfig(sb *sandbox.Sandbox) (*config.Config, error) {
	dir, err := os.MkdirTemp("", "bulkrefund-sandbox-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	type acct struct {
		Provider              string `json:"provider"`
		Account               string `json:"account"`
		BaseURL               string `json:"base_url"`
		SecretFile            string `json:"secret_file,omitempty"`
		PrivateKeyFile        string `json:"private_key_file,omitempty"`
		PlatformPublicKeyFile string `json:"platform_public_key_file,omitempty"`
	}
	var accts []acct
	for i, a := range sb.Accounts() {
		c := acct{Provider: a.Provider, Account: a.ID, BaseURL: sb.URL()}
		write := func(suffix string, b []byte) (string, error) {
			name := fmt.Sprintf("%d-%s", i, suffix)
			return name, os.WriteFile(filepath.Join(dir, name), b, 0o600)
		}
		if a.Provider == adapters.PayEase {
			if c.PrivateKeyFile, err = write("merchant.pem", a.MerchantPrivateKeyPEM); err != nil {
				return nil, err
			}
			if c.PlatformPublicKeyFile, err = write("platform.pem", a.PlatformPublicKeyPEM); err != nil {
				return nil, err
			}
		} else if c.SecretFile, err = write("secret", []byte(a.Secret)); err != nil {
			return nil, err
		}
		accts = append(accts, c)
	}
	b, err := json.Marshal(map[string]any{"accounts": accts})
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "providers.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return config.Load(path)
}
