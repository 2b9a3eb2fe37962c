package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/internal/excel"
)

// defaultSandboxOrders is loaded when neither --orders nor --generate is given.
const defaultSandboxOrders = "samples/orders.csv"

// cmdSandbox serves the provider emulators until SIGINT/SIGTERM, then writes
// the statement (if asked) and exits 0.
func cmdSandbox(e env, args []string) int {
	fs := flag.NewFlagSet("bulkrefund sandbox", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	ordersPath := fs.String("orders", "", "orders file to load (default "+defaultSandboxOrders+")")
	generate := fs.Int("generate", 0, "generate N orders instead of loading a file")
	seed := fs.Int64("seed", 1, "seed for --generate and for fault draws")
	writeOrders := fs.String("write-orders", "", "write the orders in force to FILE (useful with --generate)")
	var f sandbox.Faults
	fs.DurationVar(&f.Latency, "latency", 0, "fixed delay per provider request")
	fs.DurationVar(&f.Jitter, "jitter", 0, "extra uniform random delay in [0, D)")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "fraction answered 503 without processing")
	fs.Float64Var(&f.LostResponseRate, "lost-rate", 0, "fraction of refunds applied whose response is dropped")
	fs.Float64Var(&f.TimeoutRate, "timeout-rate", 0, "fraction that hang without processing")
	fs.Float64Var(&f.RateLimit, "rate-limit", 0, "requests per second per account before 429 (0: unlimited)")
	fs.IntVar(&f.Burst, "burst", 0, "token bucket size for --rate-limit (default ceil(rate))")
	fs.Float64Var(&f.PendingRate, "pending-rate", 0, "fraction of refunds (all four providers; never a Upay revoke) that are pending first")
	fs.DurationVar(&f.SettleAfter, "settle-after", 0, "how long a pending refund stays pending")
	fs.Float64Var(&f.SettleFailRate, "settle-fail-rate", 0, "fraction of pending refunds that settle as failed")
	statement := fs.String("statement", "", "write the statement CSV to FILE on shutdown")
	writeConfig := fs.String("write-config", "", "write providers.json and credential files for a client to DIR")
	noBOM := fs.Bool("no-bom", false, "write --statement and --write-orders without the UTF-8 byte-order mark Excel needs to show Chinese text")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "bulkrefund sandbox: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	f.Seed = *seed
	if err := f.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund sandbox: %v\n", err)
		return exitUsage
	}
	now := time.Now()
	var orders []sandbox.Order
	switch {
	case *generate > 0 && *ordersPath != "":
		fmt.Fprintln(e.stderr, "bulkrefund sandbox: --orders and --generate exclude each other")
		return exitUsage
	case *generate > 0:
		orders = sandbox.GenerateOrders(*generate, *seed, now)
	case *generate < 0:
		fmt.Fprintln(e.stderr, "bulkrefund sandbox: --generate must be positive")
		return exitUsage
	default:
		p := *ordersPath
		if p == "" {
			p = defaultSandboxOrders
		}
		var err error
		if orders, err = sandbox.LoadOrders(p, now); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund sandbox: %v\n", err)
			return exitUsage
		}
	}
	if *writeOrders != "" {
		if err := writeFileAtomic(*writeOrders, !*noBOM, func(w *os.File) error { return sandbox.WriteOrders(w, orders) }); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund sandbox: %v\n", err)
			return exitUsage
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sb, err := sandbox.StartAt(sandbox.Config{Orders: orders, Faults: f}, *addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund sandbox: %v\n", err)
		return exitUsage
	}
	defer sb.Close()
	// The config is in place before the first line: a script that has read
	// the address may start its client at once.
	var cfgPath string
	if *writeConfig != "" {
		if cfgPath, err = sb.WriteClientConfig(*writeConfig); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund sandbox: --write-config: %v\n", err)
			return exitUsage
		}
	}
	// Scripts and tests read this first line for the address.
	fmt.Fprintf(e.stdout, "sandbox listening on %s\n", sb.URL())
	if cfgPath != "" {
		fmt.Fprintf(e.stdout, "client config written to %s\n", cfgPath)
	}
	fmt.Fprintf(e.stdout, "%d orders; accounts:", len(orders))
	for _, a := range sb.Accounts() {
		fmt.Fprintf(e.stdout, " %s/%s", a.Provider, a.ID)
	}
	fmt.Fprintln(e.stdout)

	<-ctx.Done()
	stop()
	sb.Close()
	if *statement != "" {
		if err := writeFileAtomic(*statement, !*noBOM, func(w *os.File) error { return sb.WriteStatement(w) }); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund sandbox: writing statement: %v\n", err)
			return exitFailures
		}
		fmt.Fprintf(e.stdout, "statement written to %s (%d refunds)\n", *statement, len(sb.Ledger()))
	}
	return exitOK
}

// writeFileAtomic writes through a temporary file in the same directory and
// renames it, so a reader never sees half a statement. A CSV file starts
// with the UTF-8 byte-order mark when bom is set (see excel.BOM).
func writeFileAtomic(path string, bom bool, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if bom {
		if _, err := tmp.WriteString(excel.BOM); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
