// Package web is bulkrefund's web server: finance staff upload a refund
// sheet, fix what validation finds, submit it, a second person approves it,
// it runs in the server while its progress shows live, and the results and
// the report are downloaded. Pages are html/template rendered on the
// server with a little plain JavaScript for live progress (no build step);
// every action goes through package app, the same code as the CLI, so the
// limits and maker-checker hold alike. Users, sessions and uploads are kept
// in the ledger (component "web"); uploaded files only under the data
// directory.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/runner"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/report/history"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	Ledger *store.SQL
	// Providers is the provider config: runs, live report lookups and
	// notifications need it. Nil: the server validates, submits and
	// approves, but runs nothing.
	Providers *config.Config
	// Controls are the limits and maker-checker rules; nil: the
	// Providers config's controls section, else none.
	Controls *app.Controls
	// DataDir holds uploaded sheets and the files made from them; nothing
	// is ever written outside it.
	DataDir string
	// SecureCookies marks cookies Secure (and names the session cookie
	// __Host-): set when served over TLS or behind a TLS-terminating proxy.
	SecureCookies bool
	// MaxUpload bounds an uploaded file; 64 MiB when 0.
	MaxUpload int64
	// Run are the runner options of runs started here (Parallel, Poll, …).
	Run runner.Options
	// Logger gets the server's events (refused notifications, run ends);
	// slog.Default when nil.
	Logger *slog.Logger
}

// Server is the web server. Create it with New; Close stops its runs.
type Server struct {
	o         Options
	l         *store.SQL
	ctl       *app.Controls
	providers *app.Providers // nil without a provider config
	root      *os.Root       // the data directory
	dataDir   string
	log       *slog.Logger
	pages     *pages
	logins    *loginLimiter
	runs      *runs
	plans     *planCache
	hist      *history.Store // the nightly reconciliation's exception history
	handler   http.Handler

	finishMu  sync.Mutex
	finishing map[string]*time.Timer // batches to mark done once notifications settle them

	ctx    context.Context // cancelled by Close: stops runs
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New prepares the server: the web tables in the ledger, the data
// directory, the provider clients.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Ledger == nil {
		return nil, errors.New("web: no ledger")
	}
	if o.DataDir == "" {
		return nil, errors.New("web: no data directory")
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := EnsureSchema(ctx, o.Ledger); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"", "uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("web: data directory: %w", err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("web: data directory: %w", err)
	}
	s := &Server{o: o, l: o.Ledger, root: root, dataDir: dir, log: o.Logger, ctl: o.Controls,
		logins: newLoginLimiter(), runs: newRuns(), plans: newPlanCache(64), finishing: map[string]*time.Timer{}}
	if o.Providers != nil {
		if s.providers, err = app.NewProviders(o.Providers); err != nil {
			root.Close()
			return nil, err
		}
		if s.ctl == nil {
			if s.ctl, err = app.LoadControls(o.Providers); err != nil {
				root.Close()
				return nil, err
			}
		}
	}
	if s.ctl == nil {
		s.ctl = &app.Controls{}
	}
	if s.pages, err = loadPages(); err != nil {
		root.Close()
		return nil, err
	}
	if s.hist, err = history.Open(ctx, o.Ledger); err != nil {
		root.Close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.handler = s.routes()
	return s, nil
}

// Handler serves the pages.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops starting refunds in the runs of this server, waits for the
// refunds in flight (their outcomes are recorded), and releases the data
// directory. The ledger stays open: it is the caller's.
func (s *Server) Close() error {
	s.cancel()
	s.finishMu.Lock()
	for id, t := range s.finishing {
		if t.Stop() {
			s.wg.Done()
		}
		delete(s.finishing, id)
	}
	s.finishMu.Unlock()
	s.wg.Wait()
	return s.root.Close()
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	// Provider notifications: no session and no CSRF token (the provider
	// is not a browser); each is verified on its own terms instead.
	mux.HandleFunc("POST /notify/payease", s.notifyPayEase)
	mux.HandleFunc("POST /notify/nomad", s.notifyNomad)

	any := Roles
	mux.Handle("POST /logout", s.auth(any, s.logout))
	mux.Handle("GET /{$}", s.auth(any, s.home))
	mux.Handle("GET /upload", s.auth([]string{RoleMaker}, s.uploadPage))
	mux.Handle("POST /upload", s.auth([]string{RoleMaker}, s.upload))
	mux.Handle("GET /uploads/{id}", s.auth(any, s.uploadView))
	mux.Handle("GET /uploads/{id}/errors.xlsx", s.auth(any, s.uploadErrors))
	mux.Handle("POST /uploads/{id}/submit", s.auth([]string{RoleMaker}, s.submit))
	mux.Handle("GET /batches/{id}", s.auth(any, s.batchView))
	mux.Handle("POST /batches/{id}/approve", s.auth([]string{RoleChecker}, s.approve))
	mux.Handle("POST /batches/{id}/reject", s.auth([]string{RoleChecker}, s.reject))
	mux.Handle("POST /batches/{id}/run", s.auth([]string{RoleMaker}, s.run))
	mux.Handle("GET /batches/{id}/watch", s.auth(any, s.watch))
	mux.Handle("GET /batches/{id}/progress", s.auth(any, s.progressJSON))
	mux.Handle("GET /batches/{id}/events", s.auth(any, s.progressEvents))
	mux.Handle("GET /batches/{id}/rows", s.auth(any, s.rowsFragment))
	mux.Handle("GET /batches/{id}/results.xlsx", s.auth(any, s.downloadResults))
	mux.Handle("GET /batches/{id}/report.xlsx", s.auth(any, s.downloadReport))
	mux.Handle("GET /reconcile", s.auth(any, s.reconcilePage))
	mux.Handle("POST /reconcile/explain", s.auth([]string{RoleAuditor}, s.explain))
	mux.Handle("GET /audit", s.auth(any, s.auditPage))

	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST /notify/")
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return securityHeaders(s.o.SecureCookies, cop.Handler(mux))
}

// cacheStatic lets browsers keep the embedded assets for a day.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders sets what every answer carries: a Content-Security-Policy
// that allows no inline script or style and no framing, and its older
// equivalents.
func securityHeaders(tls bool, h http.Handler) http.Handler {
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if tls {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// NewHTTPServer wraps h with the timeouts a server facing a network needs.
// Writes have no overall deadline (live progress streams for as long as a
// run lasts, a report of a large batch takes a while); each stream sets
// its own.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}
