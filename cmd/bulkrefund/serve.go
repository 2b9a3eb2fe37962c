package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/internal/cli"
	"github.com/bulkrefund/bulkrefund/web"
)

type serveFlags struct {
	addr, ledger, config, data, tlsCert, tlsKey string
	secureCookies                               bool
	maxUploadMiB, parallel                      int
	poll                                        time.Duration
}

func newServeCmd(e env) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web pages: upload, approve, run, watch, download",
		Long: `Serve bulkrefund's web pages on --addr (127.0.0.1:8080 by default): finance
staff upload a refund sheet and see every invalid row, a maker submits it, a
checker approves or rejects it, a maker runs it in this process and everyone
watches its progress; results, reports and errors files download from it.
Add users first with bulkrefund user add. The provider config (--config, or
$BULKREFUND_CONFIG, or the user config directory's bulkrefund/config.json)
gives the accounts and the controls (limits, approval); without one the
server validates and approves but runs nothing.

PayEase's notifyUrl and Nomad's notify may point at /notify/payease and
/notify/nomad on this server (see docs/web.md).`,
		Example: `  bulkrefund user add alice --role admin
  bulkrefund serve --config providers.json`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.Exit(cmdServe(e, f))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen on `HOST:PORT`")
	fl.StringVar(&f.ledger, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else ~/.local/state/bulkrefund/ledger.db)")
	fl.StringVarP(&f.config, "config", "c", "", "provider config `FILE` (default: $BULKREFUND_CONFIG, else the user config directory's bulkrefund/config.json)")
	fl.StringVar(&f.data, "data", "", "`DIR` for uploaded sheets and the files made from them (default: the state directory's web/)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate `FILE` (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "…and this key `FILE` (PEM)")
	fl.BoolVar(&f.secureCookies, "secure-cookies", false, "mark cookies Secure: the server is reached over HTTPS through a proxy")
	fl.IntVar(&f.maxUploadMiB, "max-upload", 64, "largest sheet accepted, in `MiB`")
	fl.IntVarP(&f.parallel, "parallel", "j", 16, "refunds in flight at once per run")
	fl.DurationVar(&f.poll, "poll", 2*time.Minute, "after sending, keep looking up pending refunds for up to `DURATION`")
	return cmd
}

func cmdServe(e env, f serveFlags) int {
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund serve: "+format+"\n", a...) }
	if (f.tlsCert == "") != (f.tlsKey == "") {
		errf("give both --tls-cert and --tls-key, or neither")
		return exitUsage
	}
	if f.maxUploadMiB < 1 || f.parallel < 1 || f.poll < 0 {
		errf("--max-upload and --parallel must be at least 1, --poll not negative")
		return exitUsage
	}
	ctx := context.Background()
	var cfg *config.Config
	found, err := cli.FindConfig(f.config)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	if found.Path != "" {
		if cfg, err = config.Load(found.Path); err != nil {
			errf("%v", err)
			return exitUsage
		}
	}
	l, err := app.OpenLedger(ctx, app.LedgerSpec(f.ledger), false)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer l.Close()
	data := f.data
	if data == "" {
		data = filepath.Join(store.StateDir(), "web")
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	srv, err := web.New(ctx, web.Options{Ledger: l, Providers: cfg, DataDir: data, SecureCookies: f.secureCookies || f.tlsCert != "",
		MaxUpload: int64(f.maxUploadMiB) << 20, Logger: logger,
		Run: runner.Options{Parallel: f.parallel, Poll: f.poll, Logger: logger}})
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); scheme == "http" && !f.secureCookies && !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(e.stderr, "bulkrefund serve: WARNING: plain HTTP on %s, which is not loopback: passwords and session cookies cross the network in clear. "+
			"Use --tls-cert/--tls-key, or a TLS proxy in front with --secure-cookies.\n", ln.Addr())
	}
	fmt.Fprintf(e.stdout, "Serving on %s://%s\n", scheme, ln.Addr())
	fmt.Fprintf(e.stdout, "Ledger: %s\nData: %s\n", l.Where(), data)
	if cfg != nil {
		fmt.Fprintf(e.stdout, "Config: %s\n", found)
	} else {
		fmt.Fprintf(e.stdout, "No provider config (%s): batches can be uploaded, submitted and approved, not run.\n", cli.ConfigHint)
	}
	if users, err := web.ListUsers(ctx, l); err == nil && len(users) == 0 {
		fmt.Fprintln(e.stdout, "No users yet: add one with `bulkrefund user add NAME --role admin`.")
	}
	hs := web.NewHTTPServer(f.addr, srv.Handler())
	hs.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	errc := make(chan error, 1)
	go func() {
		if f.tlsCert != "" {
			errc <- hs.ServeTLS(ln, f.tlsCert, f.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			errf("%v", err)
			return exitUsage
		}
	case s := <-sigs:
		fmt.Fprintf(e.stderr, "bulkrefund serve: %v: stopping (runs finish the refunds in flight; the next run resumes the rest)\n", s)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		hs.Shutdown(sctx)
		cancel()
	}
	return exitOK
}
