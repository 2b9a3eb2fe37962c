package main

import (
	"context"
	"fmt"
	"io"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/atomicfile"
	"github.com/bulkrefund/bulkrefund/internal/excel"
	"github.com/bulkrefund/bulkrefund/report"
)

// writeRunReport is the hook for `run --report FILE`: it reconciles the run's
// state with the reconcile command's code (package report) and writes the
// report. Against the in-process sandbox the provider side is the sandbox's
// statement and the orders are the sandbox's; against real providers every
// sent refund is looked up live, within each account's rate limit. clean is
// false when the report has exceptions or pending rows.
//
// Every input the report names stays where it says, so that an auditor can
// check its hash later: the ledger and the orders file are where the run
// found them (named by absolute path), and the sandbox's statement, which
// lives only in this process, is kept beside the report as
// NAME.statement.csv.
func writeRunReport(ctx context.Context, e env, f runFlags, l store.Ledger, batchID string, ps *providerSet) (clean bool, err error) {
	in := report.Inputs{Ledger: l, Batches: []string{batchID}, ToolVersion: toolVersion}
	if u, err := user.Current(); err == nil {
		in.Operator = u.Username
	}
	if ps.sandbox != nil {
		stmt := statementBeside(f.report)
		err := atomicfile.Write(stmt, 0o644, func(w io.Writer) error {
			if !f.noBOM {
				if _, err := io.WriteString(w, excel.BOM); err != nil {
					return err
				}
			}
			return ps.sandbox.WriteStatement(w)
		})
		if err != nil {
			return false, fmt.Errorf("keeping the sandbox's statement: %w", err)
		}
		fmt.Fprintf(e.stdout, "Sandbox statement kept at %s\n", stmt)
		in.Statements = []string{absPath(stmt)}
		in.Orders = []string{absPath(f.sandboxOrders)}
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

// statementBeside names the file the sandbox's statement is kept in:
// report.xlsx → report.statement.csv, in the report's directory.
func statementBeside(reportPath string) string {
	return strings.TrimSuffix(reportPath, filepath.Ext(reportPath)) + ".statement.csv"
}

// absPath is p made absolute, or p if the working directory is unknown.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
