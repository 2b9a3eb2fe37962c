// Package ratelimit keeps a provider account's configured rate for every
// process that calls it: three workers on an account limited to 20
// requests a second send at most 20 a second between them.
//
// The budget lives in the PostgreSQL ledger as one row per account holding
// the account's "theoretical arrival time" (GCRA, the generic cell rate
// algorithm, which is a token bucket kept as one number). Each call
// reserves the next slot in one atomic upsert and sleeps until it:
//
//	now  = the database's clock (one clock for every host)
//	T    = (1/rate)·(1 + Jitter/1s)          -- the spacing, with headroom
//	tat  = max(tat, now) + T                 -- the slot after ours
//	wait = tat - T - (burst-1)·T - now, if positive
//
// So calls are spaced T apart across all processes once the burst is
// spent, and a host's clock never matters. T keeps a little under the
// configured rate (Jitter): calls granted exactly 1/rate apart reach the
// provider bunched by scheduling and network delays, and a provider that
// counts a sliding second would then see one call too many. The table is UNLOGGED: no WAL,
// no fsync per call; after a server crash it comes back empty, which only
// grants one fresh burst.
//
// An SQLite ledger is one host's, and a batch is run by one process at a
// time: there the limiter is the process's own token bucket.
package ratelimit

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// Limiter waits until one more call may be made (the runner's Limiter).
type Limiter interface {
	Wait(ctx context.Context) error
}

var migrations = []string{
	`CREATE UNLOGGED TABLE rate_limits (key TEXT PRIMARY KEY, tat BIGINT NOT NULL)`,
}

// reserve takes the next slot of key and returns how many microseconds to
// wait for it. $2 is the emission interval 1/rate, $3 the burst tolerance
// (burst-1)/rate, both in microseconds. The clock is read once the row is
// locked (in DO UPDATE and RETURNING, not at statement start): a caller
// that queued behind others for the row is not told to wait for a moment
// that has already passed.
const reserve = `INSERT INTO rate_limits AS t (key, tat) VALUES ($1, ` + nowUS + ` + $2)
ON CONFLICT (key) DO UPDATE SET tat = GREATEST(t.tat, ` + nowUS + `) + $2
RETURNING t.tat - $2 - $3 - ` + nowUS

// nowUS is the database's clock now, in microseconds since the epoch.
const nowUS = `(extract(epoch FROM clock_timestamp())*1000000)::bigint`

// Jitter is how much the calls' arrival at the provider may bunch
// compared with the moments the limiter grants them, and so how far under
// its configured rate a shared limit keeps: 1 + Jitter/1s times the
// spacing (10% for 100 ms). A provider that counts its limit per sliding
// second sees at most the configured rate.
var Jitter = 100 * time.Millisecond

// Shared is one account's limiter kept in the PostgreSQL ledger.
type Shared struct {
	db        *sql.DB
	stmt      *sql.Stmt
	key       string
	interval  int64 // µs between calls
	tolerance int64 // µs of burst
}

// For returns the limiter for key (provider/account) at perSecond with
// burst, shared through the ledger l if it is PostgreSQL, the process's
// own token bucket otherwise; nil when perSecond is 0 (unlimited).
func For(ctx context.Context, l *store.SQL, key string, perSecond float64, burst int) (Limiter, error) {
	if perSecond <= 0 {
		return nil, nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	if l == nil || l.Dialect().Name != "postgres" {
		return rate.NewLimiter(rate.Limit(perSecond), burst), nil
	}
	return NewShared(ctx, l, key, perSecond, burst)
}

// NewShared returns key's limiter in the PostgreSQL ledger l, creating its
// table on first use.
func NewShared(ctx context.Context, l *store.SQL, key string, perSecond float64, burst int) (*Shared, error) {
	if l.Dialect().Name != "postgres" {
		return nil, fmt.Errorf("shared rate limits need the PostgreSQL ledger, not %s", l.Dialect().Name)
	}
	if perSecond <= 0 || burst < 1 {
		return nil, fmt.Errorf("rate limit %s: want a positive rate and burst, got %v/s burst %d", key, perSecond, burst)
	}
	if err := l.EnsureSchema(ctx, "ratelimit", migrations); err != nil {
		return nil, err
	}
	stmt, err := l.DB().PrepareContext(ctx, reserve)
	if err != nil {
		return nil, fmt.Errorf("rate limit %s: %w", key, err)
	}
	// Spaced as if each second were Jitter longer: arrivals bunched by up
	// to Jitter on their way (scheduling, connections, the network) still
	// never put more than the rate's worth of calls into one second at
	// the provider.
	interval := int64(math.Round(1e6 / perSecond * (1 + Jitter.Seconds())))
	return &Shared{db: l.DB(), stmt: stmt, key: key, interval: interval, tolerance: int64(burst-1) * interval}, nil
}

// Wait reserves the account's next slot and sleeps until it. A slot
// reserved by a call that is then cancelled goes unused: the account is
// called less, never more.
func (s *Shared) Wait(ctx context.Context) error {
	var waitUS int64
	var err error
	for try := 0; try < 3; try++ {
		if err = ctx.Err(); err != nil {
			return err
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = s.stmt.QueryRowContext(qctx, s.key, s.interval, s.tolerance).Scan(&waitUS)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		// A dropped connection: database/sql takes another one.
		time.Sleep(time.Duration(try+1) * 50 * time.Millisecond)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("rate limit %s: the ledger's shared limit cannot be read: %w", s.key, err)
	}
	if waitUS <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(waitUS) * time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close frees the prepared statement.
func (s *Shared) Close() error { return s.stmt.Close() }

var _ Limiter = (*Shared)(nil)
var _ Limiter = (*rate.Limiter)(nil)
