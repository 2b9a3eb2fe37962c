package app

import (
	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/batch/runner"
)

// Providers are the clients of a provider config, for a process that runs
// batches, settles notifications and looks refunds up (the web server).
type Providers struct {
	Config  *config.Config
	Clients map[string]adapters.Provider // by config.Key(provider, account)
	targets map[string]runner.Target
}

// NewProviders builds every account's client and rate limiter.
func NewProviders(cfg *config.Config) (*Providers, error) {
	clients, err := cfg.Providers()
	if err != nil {
		return nil, err
	}
	p := &Providers{Config: cfg, Clients: clients, targets: make(map[string]runner.Target, len(cfg.Accounts))}
	for _, a := range cfg.Accounts {
		t := runner.Target{Provider: clients[a.Key()]}
		if lim := a.Limiter(); lim != nil { // a nil *rate.Limiter in the interface would not be nil
			t.Limiter = lim
		}
		p.targets[a.Key()] = t
	}
	return p, nil
}

// Route is the Routes of the config.
func (p *Providers) Route(provider, account string) (runner.Target, bool) {
	t, ok := p.targets[config.Key(provider, account)]
	return t, ok
}

// ReadControls reads the "controls" section of the provider config file at
// path without resolving any credential: submitting and approving need the
// limits, not the keys. An empty path has no controls.
func ReadControls(path string) (*Controls, error) {
	if path == "" {
		return &Controls{}, nil
	}
	cfg, err := config.Parse(path)
	if err != nil {
		return nil, err
	}
	return LoadControls(cfg)
}
