package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
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
	fs.BoolVar(&f.NonIdempotent, "non-idempotent", false, "a repeated refund number is a new refund: money moves again while the order has some left")
	fs.BoolVar(&f.LenientRepeat, "lenient-repeat", false, "answer a repeated refund number with the refund held, even for another amount or order")
	fs.BoolVar(&f.UpayRepeatNoop, "upay-repeat-noop", false, "answer a repeated Upay refund_request_no with FAIL + UPAY_REFUND_ORDER_NOOP")
	fs.Float64Var(&f.LookupLagRate, "lookup-lag-rate", 0, "fraction of refund queries that do not see a fresh refund yet (native \"no record\")")
	fs.DurationVar(&f.LookupLag, "lookup-lag", 0, "how long a refund stays invisible to lagging queries (0: always)")
	statement := fs.String("statement", "", "write the statement CSV to FILE on shutdown")
	writeConfig := fs.String("write-config", "", "write providers.json and credential files for a client to DIR")
	notifyURL := fs.String("notify-url", "", "send every Nomad and PayEase notify to this loopback URL instead of the refund's notifyUrl")
	adminToken := fs.String("admin-token", "", "require \"Authorization: Bearer TOKEN\" on the /_sandbox/ admin endpoints (needed off loopback)")
	adminTokenFile := fs.String("admin-token-file", "", "read the admin token from FILE (keeps it out of the process list)")
	noAdmin := fs.Bool("no-admin", false, "turn the /_sandbox/ admin endpoints off")
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
	token, err := sandboxAdminToken(*adminToken, *adminTokenFile, *noAdmin)
	if err != nil {
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
		if err := writeFileAtomic(*writeOrders, func(w *os.File) error { return sandbox.WriteOrders(w, orders) }); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund sandbox: %v\n", err)
			return exitUsage
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sb, err := sandbox.StartAt(sandbox.Config{Orders: orders, Faults: f, NotifyURL: *notifyURL,
		AdminToken: token, NoAdmin: *noAdmin}, *addr)
	if errors.Is(err, sandbox.ErrAdminExposed) {
		fmt.Fprintf(e.stderr, "bulkrefund sandbox: %s is not a loopback address: the admin endpoints (faults, out-of-band refunds) "+
			"would be open to the network; give --admin-token TOKEN (or --admin-token-file FILE) or --no-admin\n", *addr)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund sandbox: %v\n", err)
		return exitUsage
	}
	defer sb.Close()
	if sb.OnNetwork() {
		admin := "the admin endpoints need \"Authorization: Bearer <admin token>\""
		if *noAdmin {
			admin = "the admin endpoints are off"
		}
		fmt.Fprintf(e.stderr, "bulkrefund sandbox: warning: listening on %s, reachable from other machines; "+
			"the provider endpoints take any client holding the generated credentials; %s\n", sb.URL(), admin)
	}
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
		if err := writeFileAtomic(*statement, func(w *os.File) error { return sb.WriteStatement(w) }); err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund sandbox: writing statement: %v\n", err)
			return exitFailures
		}
		fmt.Fprintf(e.stdout, "statement written to %s (%d refunds)\n", *statement, len(sb.Ledger()))
	}
	return exitOK
}

// sandboxAdminToken picks the admin token from --admin-token or
// --admin-token-file; at most one of them, and neither with --no-admin.
func sandboxAdminToken(flagToken, file string, noAdmin bool) (string, error) {
	if flagToken != "" && file != "" {
		return "", errors.New("--admin-token and --admin-token-file exclude each other")
	}
	token := flagToken
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--admin-token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return "", fmt.Errorf("--admin-token-file: %s is empty", file)
		}
	}
	if token != "" && noAdmin {
		return "", errors.New("--no-admin turns the admin endpoints off: an admin token makes no sense with it")
	}
	return token, nil
}

// writeFileAtomic writes through a temporary file in the same directory and
// renames it, so a reader never sees half a statement.
func writeFileAtomic(path string, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
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
