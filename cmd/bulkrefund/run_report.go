package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/report"
)

// writeRunReport is the hook for `run --report FILE`: it reconciles the run's
// state with the reconcile command's code (package report) and writes the
// report. Against the in-process sandbox the provider side is the sandbox's
// statement and the orders are the sandbox's; against real providers every
// sent refund is looked up live, within each account's rate limit. clean is
// false when the report has exceptions or pending rows.
func writeRunReport(ctx context.Context, e env, f runFlags, l store.Ledger, batchID string, ps *providerSet) (clean bool, err error) {
	in := report.Inputs{Ledger: l, Batches: []string{batchID}, ToolVersion: toolVersion}
	if u, err := user.Current(); err == nil {
		in.Operator = u.Username
	}
	if ps.sandbox != nil {
		dir, err := os.MkdirTemp("", "bulkrefund-report-")
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(dir)
		stmt := filepath.Join(dir, "sandbox-statement.csv")
		fh, err := os.Create(stmt)
		if err != nil {
			return false, err
		}
		if err := ps.sandbox.WriteStatement(fh); err != nil {
			fh.Close()
			return false, err
		}
		if err := fh.Close(); err != nil {
			return false, err
		}
		in.Statements = []string{stmt}
		in.Orders = []string{f.sandboxOrders}
	} else {
		in.Lookup = &report.Lookup{
			Provider: func(provider, account string) (adapters.Provider, error) {
				t, ok := ps.route(provider, account)
				if !ok {
					return nil, fmt.Errorf("no configured %s account %q", provider, account)
				}
				return t.Provider, nil
			},
			Limiter: func(provider, account string) report.Limiter {
				t, _ := ps.route(provider, account)
				return t.Limiter
			},
			Parallel: f.parallel,
			Timeout:  f.callTimeout,
		}
	}
	res, err := report.Build(context.WithoutCancel(ctx), in)
	if err != nil {
		return false, err
	}
	if strings.EqualFold(filepath.Ext(f.report), ".json") {
		err = report.WriteJSON(f.report, res)
	} else {
		err = report.WriteXLSX(f.report, res)
	}
	if err != nil {
		return false, err
	}
	fmt.Fprintf(e.stdout, "Report written to %s:", f.report)
	for _, c := range report.Categories() {
		if n := res.Count(c); n > 0 {
			fmt.Fprintf(e.stdout, " %v %d", c, n)
		}
	}
	fmt.Fprintln(e.stdout)
	return res.Clean(), nil
}
