package main

import (
	"fmt"
	"time"

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
		cfg = config.ForSandbox(sb.URL(), sb.Accounts())
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
