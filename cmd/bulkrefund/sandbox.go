package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/internal/cli"
	"github.com/bulkrefund/bulkrefund/internal/excel"
)

// defaultSandboxOrders is loaded when neither --orders nor --generate is given.
const defaultSandboxOrders = "samples/orders.csv"

type sandboxFlags struct {
	addr, orders, writeOrders, statement, writeConfig string
	notifyURL, adminToken, adminTokenFile             string
	noAdmin, noBOM                                    bool
	generate                                          int
	seed                                              int64
	faults                                            sandbox.Faults
}

func newSandboxCmd(e env) *cobra.Command {
	var sf sandboxFlags
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve emulators of all four providers on loopback, with fault injection",
		Long: `Serve emulators of Upay, QuickPay, Samarkand Nomad and PayEase (their real
wire formats) on loopback until SIGINT or SIGTERM, holding the orders of
--orders (default ` + defaultSandboxOrders + `) or --generate N orders. The first
line on stdout is "sandbox listening on URL". --write-config DIR writes a
provider config and credential files a client can use at once.`,
		Example: `  bulkrefund sandbox --write-config /tmp/sbx &
  bulkrefund run samples/refunds.xlsx --config /tmp/sbx/providers.json --yes
  bulkrefund sandbox --generate 5000 --latency 20ms --lost-rate 0.01 --statement statement.csv`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cli.Exit(cmdSandbox(e, sf))
		},
	}
	fl := cmd.Flags()
	f := &sf.faults
	fl.StringVar(&sf.addr, "addr", "127.0.0.1:0", "listen `ADDRESS`")
	fl.StringVar(&sf.orders, "orders", "", "orders `FILE` to load (default "+defaultSandboxOrders+")")
	fl.IntVar(&sf.generate, "generate", 0, "generate `N` orders instead of loading a file")
	fl.Int64Var(&sf.seed, "seed", 1, "seed for --generate and for fault draws")
	fl.StringVar(&sf.writeOrders, "write-orders", "", "write the orders in force to `FILE` (useful with --generate)")
	fl.DurationVar(&f.Latency, "latency", 0, "fixed delay `D` per provider request")
	fl.DurationVar(&f.Jitter, "jitter", 0, "extra uniform random delay in [0, `D`)")
	fl.Float64Var(&f.ErrorRate, "error-rate", 0, "fraction answered 503 without processing")
	fl.Float64Var(&f.LostResponseRate, "lost-rate", 0, "fraction of refunds applied whose response is dropped")
	fl.Float64Var(&f.TimeoutRate, "timeout-rate", 0, "fraction that hang without processing")
	fl.Float64Var(&f.RateLimit, "rate-limit", 0, "requests per second per account before 429 (0: unlimited)")
	fl.IntVar(&f.Burst, "burst", 0, "token bucket size for --rate-limit (default ceil(rate))")
	fl.Float64Var(&f.PendingRate, "pending-rate", 0, "fraction of refunds (all four providers; never a Upay revoke) that are pending first")
	fl.DurationVar(&f.SettleAfter, "settle-after", 0, "how long `D` a pending refund stays pending")
	fl.Float64Var(&f.SettleFailRate, "settle-fail-rate", 0, "fraction of pending refunds that settle as failed")
	fl.BoolVar(&f.NonIdempotent, "non-idempotent", false, "a repeated refund number is a new refund: money moves again while the order has some left")
	fl.BoolVar(&f.LenientRepeat, "lenient-repeat", false, "answer a repeated refund number with the refund held, even for another amount or order")
	fl.BoolVar(&f.UpayRepeatNoop, "upay-repeat-noop", false, "answer a repeated Upay refund_request_no with FAIL + UPAY_REFUND_ORDER_NOOP")
	fl.Float64Var(&f.LookupLagRate, "lookup-lag-rate", 0, "fraction of refund queries that do not see a fresh refund yet (native \"no record\")")
	fl.DurationVar(&f.LookupLag, "lookup-lag", 0, "how long `D` a refund stays invisible to lagging queries (0: always)")
	fl.StringVar(&sf.notifyURL, "notify-url", "", "send every Nomad and PayEase notify to this loopback `URL` instead of the refund's notifyUrl")
	fl.StringVar(&sf.adminToken, "admin-token", "", "require \"Authorization: Bearer `TOKEN`\" on the /_sandbox/ admin endpoints (needed off loopback)")
	fl.StringVar(&sf.adminTokenFile, "admin-token-file", "", "read the admin token from `FILE` (keeps it out of the process list)")
	fl.BoolVar(&sf.noAdmin, "no-admin", false, "turn the /_sandbox/ admin endpoints off")
	fl.BoolVar(&sf.noBOM, "no-bom", false, "write --statement and --write-orders without the UTF-8 byte-order mark Excel needs to show Chinese text")
	fl.StringVar(&sf.statement, "statement", "", "write the statement CSV to `FILE` on shutdown")
	fl.StringVar(&sf.writeConfig, "write-config", "", "write providers.json and credential files for a client to `DIR`")
	for name, exts := range map[string][]string{"orders": {"csv"}, "write-orders": {"csv"}, "statement": {"csv"}} {
		cmd.MarkFlagFilename(name, exts...)
	}
	cmd.MarkFlagDirname("write-config")
	return cmd
}

// cmdSandbox serves the provider emulators until SIGINT/SIGTERM, then writes
// the statement (if asked) and exits 0.
func cmdSandbox(e env, sf sandboxFlags) int {
	addr, ordersPath, generate, seed, writeOrders := &sf.addr, &sf.orders, &sf.generate, &sf.seed, &sf.writeOrders
	statement, writeConfig, f := &sf.statement, &sf.writeConfig, sf.faults
	notifyURL, adminToken, adminTokenFile, noAdmin, noBOM := &sf.notifyURL, &sf.adminToken, &sf.adminTokenFile, &sf.noAdmin, &sf.noBOM
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
		if err := writeFileAtomic(*writeOrders, !*noBOM, func(w *os.File) error { return sandbox.WriteOrders(w, orders) }); err != nil {
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
		if err := writeFileAtomic(*statement, !*noBOM, func(w *os.File) error { return sb.WriteStatement(w) }); err != nil {
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
