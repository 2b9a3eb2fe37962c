package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// Order is one paid order the sandbox can refund. Account is the provider
// account that took the payment: Upay terminal_sn, QuickPay store_no, Nomad
// merchant, PayEase merchantId.
type Order struct {
	Provider        string
	Account         string
	OrderNo         string // Upay client_sn, QuickPay order_no, Nomad orderRef, PayEase orderRequestId
	ProviderOrderID string // Upay sn, Nomad transactionId; generated when empty
	Total           int64  // minor units
	Currency        money.Currency
	PaidAt          time.Time
	PaymentMethod   string // wechatpay | alipay (Nomad requires it; Upay derives payway from it)
}

// Account holds the credentials a client needs to talk to one emulated
// provider account. Secret is the Upay terminal key, the QuickPay store key or
// the Nomad api key; a PayEase client needs the two PEMs instead (its own
// private key to sign and decrypt, the platform's public key to encrypt and
// verify). The sandbox keeps the other halves.
type Account struct {
	Provider, ID, Secret  string
	MerchantPrivateKeyPEM []byte
	PlatformPublicKeyPEM  []byte
}

// String never prints the credentials.
func (a Account) String() string { return a.Provider + "/" + a.ID + " (credentials redacted)" }

// GoString never prints the credentials either (%#v).
func (a Account) GoString() string { return "sandbox.Account{" + a.String() + "}" }

// Faults are the misbehaviours the sandbox injects into provider endpoints
// (never into /_sandbox/ admin endpoints). Rates are probabilities in [0,1]
// drawn per request from a generator seeded with Seed.
type Faults struct {
	Latency time.Duration // fixed delay before every provider request is handled
	Jitter  time.Duration // plus a uniform random delay in [0, Jitter)
	// ErrorRate answers 503 before processing: nothing is applied.
	ErrorRate float64
	// LostResponseRate applies a refund/revoke, then closes the connection
	// without answering: the client sees EOF or a reset.
	LostResponseRate float64
	// TimeoutRate hangs the request without applying it until the client
	// gives up (or TimeoutCap passes, then 504).
	TimeoutRate float64
	// RateLimit is requests per second per provider account (token bucket
	// with Burst); above it the answer is 429 with Retry-After. 0 = unlimited.
	RateLimit float64
	Burst     int
	// PendingRate makes refunds of every provider (not Upay revokes)
	// pending; they settle SettleAfter later (lazily on any read, and by a
	// timer that also sends the notify). SettleFailRate of the pending ones
	// settle as failed.
	PendingRate    float64
	SettleAfter    time.Duration
	SettleFailRate float64
	// NonIdempotent emulates a provider that ignores refund numbers: a
	// repeated number is a new refund and moves money again, as far as the
	// business rules allow (what is left of the order, the refund window).
	// A test can then prove on its own that a client looks a doubtful
	// refund up before it re-sends it.
	NonIdempotent bool
	// LenientRepeat answers a repeated refund number with the refund held
	// under it even when the repeat names another amount or order
	// (idempotency on the number alone) instead of refusing it as a
	// conflict: the answer then names what was refunded, not what was asked.
	LenientRepeat bool
	// UpayRepeatNoop answers a repeated Upay refund_request_no with FAIL +
	// UPAY_REFUND_ORDER_NOOP instead of the original outcome; PROVIDERS.md
	// allows either.
	UpayRepeatNoop bool
	// LookupLagRate is the fraction of refund queries that do not see a
	// refund yet: the query answers the provider's native "no record" (the
	// Upay order query shows the order as before the refund). Only refunds
	// applied less than LookupLag ago lag; LookupLag 0 means any refund.
	LookupLagRate float64
	LookupLag     time.Duration
	Seed          int64
}

// Config configures a sandbox.
type Config struct {
	Orders []Order
	Faults Faults
	// Now is the sandbox clock (refund windows, same-day revoke, times);
	// time.Now when nil.
	Now func() time.Time
	// Accounts fixes credentials; accounts of Orders not listed here get
	// generated credentials. A PayEase account needs MerchantPrivateKeyPEM
	// (the sandbox derives the public half) or none (generated).
	Accounts []Account
	// PlatformPrivateKeyPEM fixes the PayEase platform key; generated when nil.
	PlatformPrivateKeyPEM []byte
	// TimeoutCap bounds how long a TimeoutRate request hangs; 2 minutes when 0.
	TimeoutCap time.Duration
	// NotifyURL, when set, receives every notify (Nomad and PayEase refunds
	// that become final) instead of the notifyUrl the refund call named.
	// Like those, it is called only on a loopback host.
	NotifyURL string
	// AdminToken, when set, guards the /_sandbox/ endpoints: they answer
	// 401 unless the request carries "Authorization: Bearer <AdminToken>".
	// NoAdmin turns them off (404). StartAt refuses a non-loopback address
	// unless one of the two is set: the admin endpoints change faults and
	// make refunds, and must not be open to the network.
	AdminToken string
	NoAdmin    bool
}

// Errors returned by New, LoadOrders and AddOutOfBand; callers can errors.Is them.
var (
	ErrInvalidOrder   = errors.New("invalid order")
	ErrDuplicateOrder = errors.New("duplicate order")
	ErrUnknownOrder   = errors.New("no such order")
	ErrOverRefund     = errors.New("refund exceeds the order's remaining amount")
	ErrInvalidRefund  = errors.New("invalid refund")
	ErrInvalidAccount = errors.New("invalid account")
	// ErrAdminExposed: StartAt on a non-loopback address with the admin
	// endpoints open (neither Config.AdminToken nor Config.NoAdmin).
	ErrAdminExposed = errors.New("admin endpoints would be open to the network: set an admin token or turn them off")
	// ErrNoNotify is returned by Notify for a refund that sends no notify
	// (pending, or a provider without one).
	ErrNoNotify = errors.New("no notify for this refund")
)

// Sandbox emulates Upay, QuickPay, Nomad and PayEase on one HTTP handler.
// It is safe for concurrent use.
type Sandbox struct {
	now        func() time.Time
	timeoutCap time.Duration

	mu      sync.Mutex // guards the business state below
	orders  map[orderKey]*order
	byPOID  map[orderKey]*order
	refunds map[refundKey]*refund // the latest refund under each number
	counts  map[refundKey]*numberCount
	all     []*refund
	seq     map[string]int64 // per provider, for refund ids
	timers  map[*time.Timer]struct{}

	accounts map[acctKey]*account   // read-only after New
	stats    map[acctKey]*acctStats // keys read-only after New
	platform *rsa.PrivateKey

	notifyURL          string
	adminToken         string
	noAdmin, onNetwork bool

	faults atomic.Pointer[Faults]
	fmu    sync.Mutex // guards rng and limiters
	rng    *lockedRand
	lims   map[acctKey]*limiterEntry

	closing   chan struct{}
	closeOnce sync.Once
	notifyWG  sync.WaitGroup
	notifier  *http.Client

	srv *http.Server
	ln  net.Listener
	url string

	mux *http.ServeMux
}

type acctKey struct{ provider, id string }

type account struct {
	Account
	merchantPub *rsa.PublicKey // PayEase only
}

// New builds a sandbox holding cfg.Orders. It does not listen; see Start or Handler.
func New(cfg Config) (*Sandbox, error) {
	s := &Sandbox{
		now:        cfg.Now,
		timeoutCap: cfg.TimeoutCap,
		orders:     make(map[orderKey]*order, len(cfg.Orders)),
		byPOID:     make(map[orderKey]*order, len(cfg.Orders)),
		refunds:    make(map[refundKey]*refund),
		counts:     make(map[refundKey]*numberCount),
		stats:      make(map[acctKey]*acctStats),
		notifyURL:  cfg.NotifyURL,
		adminToken: cfg.AdminToken,
		noAdmin:    cfg.NoAdmin,
		seq:        make(map[string]int64),
		timers:     make(map[*time.Timer]struct{}),
		accounts:   make(map[acctKey]*account),
		lims:       make(map[acctKey]*limiterEntry),
		closing:    make(chan struct{}),
		notifier:   &http.Client{Timeout: 5 * time.Second},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeoutCap <= 0 {
		s.timeoutCap = 2 * time.Minute
	}
	var err error
	if cfg.PlatformPrivateKeyPEM != nil {
		if s.platform, err = parsePrivateKey(cfg.PlatformPrivateKeyPEM); err != nil {
			return nil, fmt.Errorf("sandbox: platform private key: %w", err)
		}
	}
	for _, a := range cfg.Accounts {
		if err := s.addAccount(a); err != nil {
			return nil, err
		}
	}
	for i, o := range cfg.Orders {
		if err := s.addOrder(o); err != nil {
			return nil, fmt.Errorf("sandbox: order %d (%s/%s/%s): %w", i+1, o.Provider, o.Account, o.OrderNo, err)
		}
		k := acctKey{o.Provider, o.Account}
		if s.accounts[k] == nil {
			if err := s.addAccount(Account{Provider: o.Provider, ID: o.Account}); err != nil {
				return nil, err
			}
		}
	}
	for k := range s.accounts {
		s.stats[k] = &acctStats{}
	}
	if err := cfg.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox: faults: %w", err)
	}
	if cfg.NotifyURL != "" {
		if u, err := url.Parse(cfg.NotifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || !loopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("sandbox: notify URL %q: %w", cfg.NotifyURL, errNotLoopback)
		}
	}
	s.setFaults(cfg.Faults)
	s.mux = s.routes()
	return s, nil
}

// addAccount registers credentials, generating what a is missing.
func (s *Sandbox) addAccount(a Account) error {
	if !knownProvider(a.Provider) || a.ID == "" {
		return fmt.Errorf("sandbox: account %q/%q: %w", a.Provider, a.ID, ErrInvalidAccount)
	}
	k := acctKey{a.Provider, a.ID}
	if _, dup := s.accounts[k]; dup {
		return fmt.Errorf("sandbox: account %s/%s listed twice: %w", a.Provider, a.ID, ErrInvalidAccount)
	}
	acc := &account{Account: a}
	if a.Provider == adapters.PayEase {
		if s.platform == nil {
			p, err := cachedKey("platform")
			if err != nil {
				return err
			}
			s.platform = p
		}
		var priv *rsa.PrivateKey
		var err error
		if a.MerchantPrivateKeyPEM != nil {
			priv, err = parsePrivateKey(a.MerchantPrivateKeyPEM)
			if err != nil {
				return fmt.Errorf("sandbox: payease account %s: merchant private key: %w", a.ID, err)
			}
		} else {
			if priv, err = cachedKey("merchant/" + a.ID); err != nil {
				return err
			}
			acc.MerchantPrivateKeyPEM = encodePrivateKey(priv)
		}
		acc.merchantPub = &priv.PublicKey
		acc.PlatformPublicKeyPEM = encodePublicKey(&s.platform.PublicKey)
		acc.Secret = ""
	} else if acc.Secret == "" {
		var b [16]byte
		rand.Read(b[:])
		acc.Secret = hex.EncodeToString(b[:])
	}
	s.accounts[k] = acc
	return nil
}

func knownProvider(p string) bool {
	switch p {
	case adapters.Upay, adapters.QuickPay, adapters.Nomad, adapters.PayEase:
		return true
	}
	return false
}

// Handler serves the four providers on their real paths plus /_sandbox/.
func (s *Sandbox) Handler() http.Handler { return s.mux }

// Start builds a sandbox and serves it on a free loopback port.
func Start(cfg Config) (*Sandbox, error) { return StartAt(cfg, "127.0.0.1:0") }

// StartAt builds a sandbox and serves it on addr.
func StartAt(cfg Config, addr string) (*Sandbox, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		s.onNetwork = true
		if s.adminToken == "" && !s.noAdmin {
			ln.Close()
			return nil, fmt.Errorf("sandbox: listen %s: %s is not a loopback address: %w", addr, ln.Addr(), ErrAdminExposed)
		}
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go s.srv.Serve(ln)
	return s, nil
}

// OnNetwork reports whether a started sandbox listens on a non-loopback
// address, reachable from other machines.
func (s *Sandbox) OnNetwork() bool { return s.onNetwork }

// URL is the base URL of a started sandbox ("http://127.0.0.1:PORT"); every
// provider's base URL is this same address.
func (s *Sandbox) URL() string { return s.url }

// Accounts returns the credentials of every account, sorted by provider and id.
func (s *Sandbox) Accounts() []Account {
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, a.Account)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Close stops serving, releases hanging requests and settle timers, and
// waits for notifies in flight. It writes nothing.
func (s *Sandbox) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		s.mu.Lock()
		for t := range s.timers {
			t.Stop()
		}
		s.timers = map[*time.Timer]struct{}{}
		s.mu.Unlock()
		if s.srv != nil {
			err = s.srv.Close()
		}
		s.notifyWG.Wait()
	})
	return err
}
