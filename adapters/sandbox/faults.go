package sandbox

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/adapters"
)

type lockedRand struct{ r *rand.Rand }

type limiterEntry struct{ lim *rate.Limiter }

// SetFaults replaces the faults in force, reseeds the fault generator with
// f.Seed and resets the rate limiters. Requests already past their fault
// checks are not affected.
func (s *Sandbox) SetFaults(f Faults) { s.setFaults(f) }

// Faults returns the faults in force.
func (s *Sandbox) Faults() Faults { return *s.faults.Load() }

func (s *Sandbox) setFaults(f Faults) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.rng = &lockedRand{rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)^0x9e3779b97f4a7c15))}
	s.lims = make(map[acctKey]*limiterEntry)
	s.faults.Store(&f)
}

// draw returns the next number in [0,1) of the seeded fault generator.
func (s *Sandbox) draw() float64 {
	s.fmu.Lock()
	v := s.rng.r.Float64()
	s.fmu.Unlock()
	return v
}

func (s *Sandbox) jitter(d time.Duration) time.Duration {
	s.fmu.Lock()
	v := time.Duration(s.rng.r.Int64N(int64(d)))
	s.fmu.Unlock()
	return v
}

// limiter returns the account's token bucket, nil when unlimited.
func (s *Sandbox) limiter(f *Faults, provider, acct string) *rate.Limiter {
	if f.RateLimit <= 0 {
		return nil
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	k := acctKey{provider, acct}
	e := s.lims[k]
	if e == nil {
		burst := f.Burst
		if burst <= 0 {
			burst = int(math.Ceil(f.RateLimit))
		}
		e = &limiterEntry{rate.NewLimiter(rate.Limit(f.RateLimit), burst)}
		s.lims[k] = e
	}
	return e.lim
}

// admit applies the faults that act before a provider request is processed:
// latency, rate limit (429), error (503) and timeout (hang). It reports
// whether the request may proceed; when it returns false the answer is
// written (or the client is gone) and nothing was applied.
func (s *Sandbox) admit(w http.ResponseWriter, r *http.Request, provider, acct string) bool {
	st := s.stats[acctKey{provider, acct}] // nil for an account the sandbox does not hold
	st.arrive(time.Now())
	f := s.faults.Load()
	if f.Latency > 0 || f.Jitter > 0 {
		d := f.Latency
		if f.Jitter > 0 {
			d += s.jitter(f.Jitter)
		}
		if !s.sleep(r, d) {
			return false
		}
	}
	if lim := s.limiter(f, provider, acct); lim != nil && !lim.Allow() {
		res := lim.Reserve()
		wait := res.Delay()
		res.Cancel()
		secs := int(math.Ceil(wait.Seconds()))
		if secs < 1 || wait == rate.InfDuration {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeFault(w, provider, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "rate limit exceeded")
		st.limit()
		return false
	}
	if f.ErrorRate > 0 && s.draw() < f.ErrorRate {
		writeFault(w, provider, http.StatusServiceUnavailable, "SYSTEM_BUSY", "service unavailable, nothing processed")
		return false
	}
	if f.TimeoutRate > 0 && s.draw() < f.TimeoutRate {
		if s.sleep(r, s.timeoutCap) {
			writeFault(w, provider, http.StatusGatewayTimeout, "TIMEOUT", "timed out, nothing processed")
		}
		return false
	}
	return true
}

// sleep waits d unless the client goes away or the sandbox closes; it
// reports whether the full time passed.
func (s *Sandbox) sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		return false
	}
}

// respond writes a processed answer, or with LostResponseRate drops it: the
// refund is already applied, the connection is closed without a byte of
// answer, and the client cannot tell whether anything happened.
func (s *Sandbox) respond(w http.ResponseWriter, mutating bool, status int, contentType string, body []byte) {
	if mutating {
		if f := s.faults.Load(); f.LostResponseRate > 0 && s.draw() < f.LostResponseRate {
			dropConnection(w)
			return
		}
	}
	h := w.Header() // canonical keys assigned directly: Set would re-canonicalize
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// writeFault answers a transport-level fault in the provider's own error shape.
func writeFault(w http.ResponseWriter, provider string, status int, code, msg string) {
	var body any
	switch provider {
	case adapters.Upay:
		c := "500"
		if status == http.StatusTooManyRequests {
			c = "400"
		}
		body = map[string]string{"result_code": c, "error_code": code, "error_message": msg}
	case adapters.QuickPay:
		body = map[string]string{"code": code, "msg": msg}
	case adapters.Nomad:
		body = map[string]any{"code": status, "message": code, "errors": msg}
	default:
		body = map[string]string{"status": "ERROR", "code": code, "cause": msg}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// acctStats measures the requests one provider account receives, whatever
// the faults make of them, so that a test can check the rate a client (or
// several client processes together) actually sent.
type acctStats struct {
	mu        sync.Mutex
	requests  int64
	limited   int64       // answered 429
	window    []time.Time // arrivals of the last second, oldest first, from head
	head      int
	maxWindow int
}

// arrive records a request arriving at t (wall clock, monotonic: the rate is
// real whatever the sandbox clock says). nil-safe.
func (a *acctStats) arrive(t time.Time) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	a.window = append(a.window, t)
	for t.Sub(a.window[a.head]) >= time.Second {
		a.head++
	}
	a.maxWindow = max(a.maxWindow, len(a.window)-a.head)
	if a.head > 1024 && a.head*2 > len(a.window) {
		a.window = append(a.window[:0], a.window[a.head:]...)
		a.head = 0
	}
}

func (a *acctStats) limit() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.limited++
	a.mu.Unlock()
}

// AccountStats is what one provider account received.
type AccountStats struct {
	Provider, Account string
	Requests          int64 // provider requests (refund, revoke, query), 429s included
	RateLimited       int64 // of them answered 429 by the rate limit
	// MaxPerSecond is the most requests that arrived within any one-second
	// sliding window: the peak rate the clients sent, together.
	MaxPerSecond int
}

// Stats returns what each account received since the sandbox started,
// sorted by provider and account. Admin endpoints are not counted, and
// neither are requests for accounts the sandbox does not hold.
func (s *Sandbox) Stats() []AccountStats {
	out := make([]AccountStats, 0, len(s.stats))
	for k, a := range s.stats {
		a.mu.Lock()
		out = append(out, AccountStats{Provider: k.provider, Account: k.id, Requests: a.requests,
			RateLimited: a.limited, MaxPerSecond: a.maxWindow})
		a.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Account < out[j].Account
	})
	return out
}
