package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch/runner"
)

// providerSet is what a run talks to: each configured account's client and
// rate limiter, and, for --sandbox, the sandbox itself.
type providerSet struct {
	targets map[string]runner.Target
	sandbox *sandbox.Sandbox // nil unless --sandbox
}

// route finds an item's target; ok is false for an account the config lacks.
func (p *providerSet) route(provider, account string) (runner.Target, bool) {
	t, ok := p.targets[config.Key(provider, account)]
	return t, ok
}

// keys lists the configured accounts, for messages.
func (p *providerSet) keys() string {
	ks := make([]string, 0, len(p.targets))
	for k := range p.targets {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func (p *providerSet) Close() {
	if p.sandbox != nil {
		p.sandbox.Close()
	}
}

// loadProviders builds the clients from --config, or starts the sandbox
// in-process for --sandbox with the orders of --sandbox-orders.
func loadProviders(e env, f runFlags) (*providerSet, error) {
	ps := &providerSet{}
	var cfg *config.Config
	if f.sandbox {
		orders, err := sandbox.LoadOrders(f.sandboxOrders, time.Now())
		if err != nil {
			return nil, fmt.Errorf("--sandbox-orders: %w", err)
		}
		sb, err := sandbox.Start(sandbox.Config{Orders: orders})
		if err != nil {
			return nil, fmt.Errorf("starting the sandbox: %w", err)
		}
		ps.sandbox = sb
		fmt.Fprintf(e.stdout, "Sandbox providers in-process at %s (%d orders from %s)\n", sb.URL(), len(orders), f.sandboxOrders)
		cfg = config.ForSandbox(sb.URL(), sb.Accounts())
	} else {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	clients, err := cfg.Providers()
	if err != nil {
		ps.Close()
		return nil, err
	}
	ps.targets = make(map[string]runner.Target, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		t := runner.Target{Provider: clients[a.Key()]}
		if lim := a.Limiter(); lim != nil { // a nil *rate.Limiter in the interface would not be nil
			t.Limiter = lim
		}
		ps.targets[a.Key()] = t
	}
	return ps, nil
}
