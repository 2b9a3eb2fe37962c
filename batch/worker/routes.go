package worker

import (
	"context"
	"fmt"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/batch/ratelimit"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// Routes builds every configured account's client with its rate limit kept
// in the ledger l (shared by all workers on a PostgreSQL ledger), and lists
// the accounts, for Config.Route and Config.Accounts.
func Routes(ctx context.Context, cfg *config.Config, l *store.SQL) (func(provider, account string) (runner.Target, bool), []store.AccountRef, error) {
	clients, err := cfg.Providers()
	if err != nil {
		return nil, nil, err
	}
	targets := make(map[string]runner.Target, len(cfg.Accounts))
	accounts := make([]store.AccountRef, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		t := runner.Target{Provider: clients[a.Key()]}
		lim, err := ratelimit.For(ctx, l, a.Key(), a.Rate, a.Burst)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", a.Key(), err)
		}
		if lim != nil {
			t.Limiter = lim
		}
		targets[a.Key()] = t
		accounts = append(accounts, store.AccountRef{Provider: a.Provider, Account: a.ID})
	}
	return func(provider, account string) (runner.Target, bool) {
		t, ok := targets[config.Key(provider, account)]
		return t, ok
	}, accounts, nil
}
