package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

func (s *Sandbox) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("POST /upay/v2/refund", s.upay("refund"))
	m.HandleFunc("POST /upay/v2/revoke", s.upay("revoke"))
	m.HandleFunc("POST /upay/v2/query", s.upay("query"))
	m.HandleFunc("POST /QuickPay/Refund", s.quickpay("refund"))
	m.HandleFunc("POST /QuickPay/RefundQuery", s.quickpay("query"))
	m.HandleFunc("POST /refund/{merchant}", s.nomad("refund"))
	m.HandleFunc("GET /refund/{merchant}", s.nomad("query"))
	m.HandleFunc("POST /icc/refund", s.payease("refund"))
	m.HandleFunc("POST /icc/refundQuery", s.payease("query"))

	// Admin endpoints: never subject to faults; off with Config.NoAdmin,
	// behind a bearer token with Config.AdminToken.
	if s.noAdmin {
		return m
	}
	admin := func(pattern string, h http.HandlerFunc) { m.HandleFunc(pattern, s.guard(h)) }
	admin("GET /_sandbox/statement", s.adminStatement)
	admin("GET /_sandbox/ledger", s.adminLedger)
	admin("GET /_sandbox/numbers", s.adminNumbers)
	admin("GET /_sandbox/stats", s.adminStats)
	admin("GET /_sandbox/orders", s.adminOrders)
	admin("GET /_sandbox/faults", s.adminGetFaults)
	admin("POST /_sandbox/faults", s.adminSetFaults)
	admin("POST /_sandbox/refunds", s.adminOutOfBand)
	return m
}

// guard lets a request through when no admin token is set or when it
// carries "Authorization: Bearer <token>".
func (s *Sandbox) guard(h http.HandlerFunc) http.HandlerFunc {
	if s.adminToken == "" {
		return h
	}
	want := []byte("Bearer " + s.adminToken)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bulkrefund sandbox admin"`)
			adminError(w, http.StatusUnauthorized, errors.New("admin endpoints need Authorization: Bearer <admin token>"))
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func adminError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Sandbox) adminStatement(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	s.WriteStatement(w)
}

// ledgerJSON is a LedgerRefund on the admin API: amounts both as minor units
// and as the major-unit text the files use.
type ledgerJSON struct {
	Provider         string    `json:"provider"`
	Account          string    `json:"account"`
	OrderNo          string    `json:"order_no"`
	ProviderOrderID  string    `json:"provider_order_id"`
	RefundNo         string    `json:"refund_no"`
	ProviderRefundID string    `json:"provider_refund_id"`
	Type             string    `json:"type"`
	AmountMinor      int64     `json:"amount_minor"`
	Amount           string    `json:"amount"`
	Currency         string    `json:"currency"`
	Status           string    `json:"status"`
	Created          time.Time `json:"created"`
	Time             time.Time `json:"time"`
	Requests         int       `json:"requests"`
	Applied          int       `json:"applied"`
	OutOfBand        bool      `json:"out_of_band"`
}

func toJSON(r LedgerRefund) ledgerJSON {
	return ledgerJSON{r.Provider, r.Account, r.OrderNo, r.ProviderOrderID, r.RefundNo, r.ProviderRefundID,
		string(r.Type), r.Amount, money.Format(r.Amount, r.Currency), string(r.Currency), string(r.Status),
		r.Created.UTC(), r.Time.UTC(), r.Requests, r.Applied, r.OutOfBand}
}

func (s *Sandbox) adminNumbers(w http.ResponseWriter, r *http.Request) {
	type nj struct {
		Provider string `json:"provider"`
		Account  string `json:"account"`
		OrderNo  string `json:"order_no"`
		RefundNo string `json:"refund_no"`
		Type     string `json:"type"`
		Requests int    `json:"requests"`
		Applied  int    `json:"applied"`
	}
	ns := s.Numbers()
	out := make([]nj, len(ns))
	for i, n := range ns {
		out[i] = nj{n.Provider, n.Account, n.OrderNo, n.RefundNo, string(n.Type), n.Requests, n.Applied}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sandbox) adminStats(w http.ResponseWriter, r *http.Request) {
	type sj struct {
		Provider     string `json:"provider"`
		Account      string `json:"account"`
		Requests     int64  `json:"requests"`
		RateLimited  int64  `json:"rate_limited"`
		MaxPerSecond int    `json:"max_per_second"`
	}
	st := s.Stats()
	out := make([]sj, len(st))
	for i, a := range st {
		out[i] = sj{a.Provider, a.Account, a.Requests, a.RateLimited, a.MaxPerSecond}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sandbox) adminLedger(w http.ResponseWriter, r *http.Request) {
	l := s.Ledger()
	out := make([]ledgerJSON, len(l))
	for i, x := range l {
		out[i] = toJSON(x)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sandbox) adminOrders(w http.ResponseWriter, r *http.Request) {
	type oj struct {
		Provider        string    `json:"provider"`
		Account         string    `json:"account"`
		OrderNo         string    `json:"order_no"`
		ProviderOrderID string    `json:"provider_order_id"`
		Total           string    `json:"total_amount"`
		Refunded        string    `json:"refunded"`
		Remaining       string    `json:"remaining"`
		Currency        string    `json:"currency"`
		PaidAt          time.Time `json:"paid_at"`
		PaymentMethod   string    `json:"payment_method"`
		Revoked         bool      `json:"revoked"`
	}
	os := s.Orders()
	out := make([]oj, len(os))
	for i, o := range os {
		out[i] = oj{o.Provider, o.Account, o.OrderNo, o.ProviderOrderID, money.Format(o.Total, o.Currency),
			money.Format(o.Refunded, o.Currency), money.Format(o.Total-o.Refunded, o.Currency), string(o.Currency),
			o.PaidAt.UTC(), o.PaymentMethod, o.Revoked}
	}
	writeJSON(w, http.StatusOK, out)
}

// FaultsJSON is Faults on the admin API, durations as Go duration text ("50ms").
type FaultsJSON struct {
	Latency          string  `json:"latency"`
	Jitter           string  `json:"jitter"`
	ErrorRate        float64 `json:"error_rate"`
	LostResponseRate float64 `json:"lost_response_rate"`
	TimeoutRate      float64 `json:"timeout_rate"`
	RateLimit        float64 `json:"rate_limit"`
	Burst            int     `json:"burst"`
	PendingRate      float64 `json:"pending_rate"`
	SettleAfter      string  `json:"settle_after"`
	SettleFailRate   float64 `json:"settle_fail_rate"`
	NonIdempotent    bool    `json:"non_idempotent"`
	LenientRepeat    bool    `json:"lenient_repeat"`
	UpayRepeatNoop   bool    `json:"upay_repeat_noop"`
	LookupLagRate    float64 `json:"lookup_lag_rate"`
	LookupLag        string  `json:"lookup_lag"`
	Seed             int64   `json:"seed"`
}

// ToJSON is f on the admin API.
func (f Faults) ToJSON() FaultsJSON {
	return FaultsJSON{
		Latency: f.Latency.String(), Jitter: f.Jitter.String(), ErrorRate: f.ErrorRate,
		LostResponseRate: f.LostResponseRate, TimeoutRate: f.TimeoutRate, RateLimit: f.RateLimit, Burst: f.Burst,
		PendingRate: f.PendingRate, SettleAfter: f.SettleAfter.String(), SettleFailRate: f.SettleFailRate,
		NonIdempotent: f.NonIdempotent, LenientRepeat: f.LenientRepeat, UpayRepeatNoop: f.UpayRepeatNoop,
		LookupLagRate: f.LookupLagRate, LookupLag: f.LookupLag.String(), Seed: f.Seed,
	}
}

func (s *Sandbox) adminGetFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults().ToJSON())
}

// adminSetFaults replaces the faults; fields left out of the JSON keep
// their current values.
func (s *Sandbox) adminSetFaults(w http.ResponseWriter, r *http.Request) {
	cur := s.Faults().ToJSON()
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cur); err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	nf, err := cur.Faults()
	if err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	s.SetFaults(nf)
	s.adminGetFaults(w, r)
}

// Faults converts and validates.
func (j FaultsJSON) Faults() (Faults, error) {
	var f Faults
	var err error
	parse := func(name, v string) time.Duration {
		if v == "" || err != nil {
			return 0
		}
		d, e := time.ParseDuration(v)
		if e != nil || d < 0 {
			err = errors.New(name + ": not a non-negative duration: " + v)
		}
		return d
	}
	f.Latency, f.Jitter, f.SettleAfter = parse("latency", j.Latency), parse("jitter", j.Jitter), parse("settle_after", j.SettleAfter)
	f.LookupLag = parse("lookup_lag", j.LookupLag)
	f.ErrorRate, f.LostResponseRate, f.TimeoutRate = j.ErrorRate, j.LostResponseRate, j.TimeoutRate
	f.RateLimit, f.Burst, f.PendingRate, f.SettleFailRate, f.Seed = j.RateLimit, j.Burst, j.PendingRate, j.SettleFailRate, j.Seed
	f.NonIdempotent, f.LenientRepeat, f.UpayRepeatNoop, f.LookupLagRate = j.NonIdempotent, j.LenientRepeat, j.UpayRepeatNoop, j.LookupLagRate
	if err != nil {
		return Faults{}, err
	}
	return f, f.Validate()
}

// Validate checks rates are probabilities and nothing is negative.
func (f Faults) Validate() error {
	for name, v := range map[string]float64{"error rate": f.ErrorRate, "lost response rate": f.LostResponseRate,
		"timeout rate": f.TimeoutRate, "pending rate": f.PendingRate, "settle fail rate": f.SettleFailRate,
		"lookup lag rate": f.LookupLagRate} {
		if !(v >= 0 && v <= 1) { // NaN too
			return errors.New(name + " must be between 0 and 1")
		}
	}
	if f.RateLimit < 0 || f.Burst < 0 || f.Latency < 0 || f.Jitter < 0 || f.SettleAfter < 0 || f.LookupLag < 0 {
		return errors.New("rate limit, burst and durations must not be negative")
	}
	return nil
}

// outOfBandJSON is the body of POST /_sandbox/refunds. amount is major-unit
// text ("12.50") like every file of the project.
type outOfBandJSON struct {
	Provider        string `json:"provider"`
	Account         string `json:"account"`
	OrderNo         string `json:"order_no"`
	ProviderOrderID string `json:"provider_order_id"`
	RefundNo        string `json:"refund_no"`
	Type            string `json:"type"`
	Amount          string `json:"amount"`
	Time            string `json:"time"`
}

func (s *Sandbox) adminOutOfBand(w http.ResponseWriter, r *http.Request) {
	var in outOfBandJSON
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	oob := OutOfBand{Provider: in.Provider, Account: in.Account, OrderNo: in.OrderNo, ProviderOrderID: in.ProviderOrderID,
		RefundNo: in.RefundNo, Type: adapters.Action(in.Type)}
	if in.Time != "" {
		t, err := time.Parse(time.RFC3339, in.Time)
		if err != nil {
			adminError(w, http.StatusBadRequest, errors.New("time: not RFC3339: "+in.Time))
			return
		}
		oob.Time = t
	}
	if oob.Type != adapters.ActionRevoke {
		cur := s.orderCurrency(in.Provider, in.Account, in.ProviderOrderID, in.OrderNo)
		amt, err := ParseAmount(in.Amount, cur)
		if err != nil {
			adminError(w, http.StatusBadRequest, errors.New("amount: "+err.Error()))
			return
		}
		oob.Amount = amt
	}
	rf, err := s.AddOutOfBand(oob)
	switch {
	case errors.Is(err, ErrUnknownOrder):
		adminError(w, http.StatusNotFound, err)
	case err != nil:
		adminError(w, http.StatusUnprocessableEntity, err)
	default:
		writeJSON(w, http.StatusCreated, toJSON(rf))
	}
}

func (s *Sandbox) orderCurrency(provider, acct, poid, no string) money.Currency {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.findOrder(provider, acct, poid, no); o != nil {
		return o.Currency
	}
	return money.CNY
}
