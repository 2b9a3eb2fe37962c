// Package history keeps the reconciliation's exceptions in the ledger from
// one night to the next: when each was first and last seen and on how many
// nights it was open, when and by which evidence it cleared, and the
// explanations auditors recorded for it.
//
// Its tables are component "reconcile" of the ledger (store.EnsureSchema):
//
//	reconcile_nights(id, at, night, operator, tool_version, row_count, seen, cleared)
//	    one row per reconciliation that kept history; never edited
//	reconcile_exceptions(id, exc_id, category, refund_key, provider, account,
//	    order_no, refund_no, provider_refund_id, reason,
//	    first_seen, last_seen, last_night, nights_open, first_night, last_night_id,
//	    cleared_at, cleared_night, cleared_as, evidence)
//	    one row per occurrence of an exception: opened the night it is first
//	    seen, brought up to date each night it is seen again, closed when it
//	    clears; a closed one is never changed again, none is ever deleted,
//	    and its id and first_seen never change (triggers)
//	reconcile_resolutions(id, exception, exc_id, category, at, by_name, note)
//	    auditors' explanations: only ever added (triggers refuse UPDATE and
//	    DELETE); each is also an "explained" entry of the ledger's audit trail
//
// An explanation holds for the occurrence it was given for while that stays
// in the category explained: the report lists it apart, and it leaves the
// exit code. An exception that turns into another category counts again.
package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/report"
)

// Component is the history's name in the ledger's schema versions.
const Component = "reconcile"

// Errors of Resolve; callers can errors.Is them.
var (
	ErrNoException = errors.New("no open exception")
	ErrAmbiguous   = errors.New("more than one open exception")
	ErrEmpty       = errors.New("a resolution needs a note and an author")
)

// Store is the exception history of one ledger. It is safe for concurrent
// use as its database is.
type Store struct {
	l  *store.SQL
	db *sql.DB
	d  store.Dialect
}

var _ report.History = (*Store)(nil)

// Open brings the history's tables in the ledger up to date and returns it.
func Open(ctx context.Context, l *store.SQL) (*Store, error) {
	migs, ok := migrations[l.Dialect().Name]
	if !ok {
		return nil, fmt.Errorf("reconciliation history: no schema for a %s ledger", l.Dialect().Name)
	}
	if err := l.EnsureSchema(ctx, Component, migs); err != nil {
		return nil, err
	}
	return &Store{l: l, db: l.DB(), d: l.Dialect()}, nil
}

// timeFormat is fixed-width UTC, so that times compare as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func (s *Store) q(query string) string { return s.d.Rebind(query) }

// Open returns every exception still open, with the latest explanation of each.
func (s *Store) Open(ctx context.Context) ([]report.Tracked, error) {
	list, err := s.list(ctx, `WHERE e.cleared_at = ''`)
	if err != nil {
		return nil, err
	}
	out := make([]report.Tracked, len(list))
	for i, e := range list {
		out[i] = report.Tracked{ID: e.ID, Category: e.Category, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen,
			NightsOpen: e.NightsOpen, LastNight: e.LastNight, OrderNo: e.OrderNo, RefundNo: e.RefundNo, ProviderRefundID: e.ProviderRefundID}
		if n := len(e.Resolutions); n > 0 {
			r := e.Resolutions[n-1]
			out[i].Resolution = &r
		}
	}
	return out, nil
}

// Exception is one occurrence of an exception as the history keeps it.
type Exception struct {
	ID               string
	Category         report.Category
	RefundKey        string
	Provider         string
	Account          string
	OrderNo          string
	RefundNo         string
	ProviderRefundID string
	Reason           string // as last seen
	FirstSeen        time.Time
	LastSeen         time.Time
	LastNight        string
	NightsOpen       int
	// ClearedAt is zero while the exception is open; then ClearedAs is
	// the category it was found in and Evidence what settled it.
	ClearedAt   time.Time
	ClearedAs   string
	Evidence    string
	Resolutions []report.Resolution // oldest first
}

// Open reports whether the exception has not cleared.
func (e *Exception) Open() bool { return e.ClearedAt.IsZero() }

// Explained reports whether an explanation holds for the exception: one
// was given for the category it is in.
func (e *Exception) Explained() bool {
	n := len(e.Resolutions)
	return n > 0 && e.Resolutions[n-1].Category == e.Category
}

// List returns the exceptions, oldest first: the open ones, or with all
// every occurrence ever kept.
func (s *Store) List(ctx context.Context, all bool) ([]Exception, error) {
	if all {
		return s.list(ctx, "")
	}
	return s.list(ctx, `WHERE e.cleared_at = ''`)
}

const excCols = `e.id, e.exc_id, e.category, e.refund_key, e.provider, e.account, e.order_no, e.refund_no, e.provider_refund_id,
	e.reason, e.first_seen, e.last_seen, e.last_night, e.nights_open, e.cleared_at, e.cleared_as, e.evidence`

func (s *Store) list(ctx context.Context, where string) ([]Exception, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+excCols+` FROM reconcile_exceptions e `+where+` ORDER BY e.first_seen, e.id`))
	if err != nil {
		return nil, s.errf("%w", err)
	}
	var out []Exception
	index := map[int64]int{}
	for rows.Next() {
		var e Exception
		var id int64
		var cat, first, last, cleared string
		if err := rows.Scan(&id, &e.ID, &cat, &e.RefundKey, &e.Provider, &e.Account, &e.OrderNo, &e.RefundNo, &e.ProviderRefundID,
			&e.Reason, &first, &last, &e.LastNight, &e.NightsOpen, &cleared, &e.ClearedAs, &e.Evidence); err != nil {
			rows.Close()
			return nil, s.errf("%w", err)
		}
		if e.Category, err = report.ParseCategory(cat); err != nil {
			rows.Close()
			return nil, s.errf("exception %s: %w", e.ID, err)
		}
		e.FirstSeen, e.LastSeen, e.ClearedAt = parseTime(first), parseTime(last), parseTime(cleared)
		index[id] = len(out)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.errf("%w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	// The explanations of the listed exceptions, in the order given.
	rs, err := s.db.QueryContext(ctx, s.q(`SELECT r.exception, r.category, r.at, r.by_name, r.note FROM reconcile_resolutions r
		JOIN reconcile_exceptions e ON e.id = r.exception `+where+` ORDER BY r.id`))
	if err != nil {
		return nil, s.errf("%w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var cat, at string
		var r report.Resolution
		if err := rs.Scan(&id, &cat, &at, &r.By, &r.Note); err != nil {
			return nil, s.errf("%w", err)
		}
		if r.Category, err = report.ParseCategory(cat); err != nil {
			return nil, s.errf("%w", err)
		}
		r.At = parseTime(at)
		if i, ok := index[id]; ok {
			out[i].Resolutions = append(out[i].Resolutions, r)
		}
	}
	return out, rs.Err()
}

// Record stores one reconciliation: a night, every exception it saw open
// (a new occurrence, or the open one brought up to date) and every open
// one it found cleared. All of it or nothing.
func (s *Store) Record(ctx context.Context, n report.Night) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.errf("%w", err)
	}
	defer tx.Rollback()
	var night int64
	if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO reconcile_nights (at, night, operator, tool_version, row_count, seen, cleared)
		VALUES (?,?,?,?,?,?,?) RETURNING id`), fmtTime(n.At), n.Night, n.Operator, n.ToolVersion, n.Rows, len(n.Seen), len(n.Cleared)).Scan(&night); err != nil {
		return s.errf("%w", err)
	}
	open := map[string]int64{}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, exc_id FROM reconcile_exceptions WHERE cleared_at = ''`))
	if err != nil {
		return s.errf("%w", err)
	}
	for rows.Next() {
		var id int64
		var exc string
		if err := rows.Scan(&id, &exc); err != nil {
			rows.Close()
			return s.errf("%w", err)
		}
		open[exc] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.errf("%w", err)
	}
	ins, err := tx.PrepareContext(ctx, s.q(`INSERT INTO reconcile_exceptions (exc_id, category, refund_key, provider, account, order_no,
		refund_no, provider_refund_id, reason, first_seen, last_seen, last_night, nights_open, first_night, last_night_id)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`))
	if err != nil {
		return s.errf("%w", err)
	}
	defer ins.Close()
	upd, err := tx.PrepareContext(ctx, s.q(`UPDATE reconcile_exceptions SET category=?, reason=?, last_seen=?, last_night=?,
		nights_open=?, last_night_id=? WHERE id=? AND cleared_at = ''`))
	if err != nil {
		return s.errf("%w", err)
	}
	defer upd.Close()
	for _, e := range n.Seen {
		if id, ok := open[e.ID]; ok {
			if _, err := upd.ExecContext(ctx, e.Category.String(), e.Reason, fmtTime(n.At), n.Night, e.NightsOpen, night, id); err != nil {
				return s.errf("exception %s: %w", e.ID, err)
			}
			continue
		}
		if _, err := ins.ExecContext(ctx, e.ID, e.Category.String(), e.RefundKey, e.Provider, e.Account, e.OrderNo,
			e.RefundNo, e.ProviderRefundID, e.Reason, fmtTime(e.FirstSeen), fmtTime(n.At), n.Night, e.NightsOpen, night, night); err != nil {
			return s.errf("exception %s: %w", e.ID, err)
		}
	}
	clr, err := tx.PrepareContext(ctx, s.q(`UPDATE reconcile_exceptions SET cleared_at=?, cleared_night=?, cleared_as=?, evidence=?
		WHERE exc_id=? AND cleared_at = ''`))
	if err != nil {
		return s.errf("%w", err)
	}
	defer clr.Close()
	for _, c := range n.Cleared {
		if _, err := clr.ExecContext(ctx, fmtTime(c.At), night, c.Now.String(), c.Evidence, c.ID); err != nil {
			return s.errf("exception %s: %w", c.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.errf("%w", err)
	}
	return nil
}

// Explained is a recorded explanation.
type Explained struct {
	Exception Exception // as it stood when explained
	report.Resolution
}

// AmbiguousError lists the open exceptions a target names.
type AmbiguousError struct {
	Target string
	IDs    []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%v named %q: give one of its ids:\n  %s", ErrAmbiguous, e.Target, strings.Join(e.IDs, "\n  "))
}

func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// Resolve records an auditor's explanation of the open exception target
// names: its exception id, else its refund number or provider refund id if
// exactly one open exception has it. Nothing is changed or deleted: the
// explanation is added to the history and to the ledger's audit trail.
func (s *Store) Resolve(ctx context.Context, target, note, by string, at time.Time) (Explained, error) {
	target, note, by = strings.TrimSpace(target), strings.TrimSpace(note), strings.TrimSpace(by)
	if note == "" || by == "" {
		return Explained{}, ErrEmpty
	}
	if at.IsZero() {
		at = time.Now()
	}
	list, err := s.list(ctx, `WHERE e.cleared_at = ''`)
	if err != nil {
		return Explained{}, err
	}
	var hit []*Exception
	for i := range list {
		if list[i].ID == target {
			hit = []*Exception{&list[i]}
			break
		}
		if target != "" && (list[i].RefundNo == target || list[i].ProviderRefundID == target) {
			hit = append(hit, &list[i])
		}
	}
	switch len(hit) {
	case 0:
		return Explained{}, fmt.Errorf("%w named %q (an exception id as the report's exception_id column gives it, a refund number or a provider refund id)", ErrNoException, target)
	case 1:
	default:
		ids := make([]string, len(hit))
		for i, e := range hit {
			ids[i] = e.ID
		}
		return Explained{}, &AmbiguousError{Target: target, IDs: ids}
	}
	e := *hit[0]
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Explained{}, s.errf("%w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO reconcile_resolutions (exception, exc_id, category, at, by_name, note)
		SELECT id, exc_id, category, ?, ?, ? FROM reconcile_exceptions WHERE exc_id = ? AND cleared_at = '' AND category = ?`),
		fmtTime(at), by, note, e.ID, e.Category.String())
	if err != nil {
		return Explained{}, s.errf("%w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Explained{}, fmt.Errorf("%w named %q: it changed meanwhile (a reconciliation ran); look again", ErrNoException, target)
	}
	if err := tx.Commit(); err != nil {
		return Explained{}, s.errf("%w", err)
	}
	r := report.Resolution{At: at, By: by, Note: note, Category: e.Category}
	if err := s.l.AppendAudit(ctx, store.Audit{At: at, Actor: by, Action: "explained", Key: e.RefundKey,
		Detail: fmt.Sprintf("reconciliation exception %s (%s): %s", e.ID, e.Category, note)}); err != nil {
		return Explained{Exception: e, Resolution: r}, err
	}
	e.Resolutions = append(e.Resolutions, r)
	return Explained{Exception: e, Resolution: r}, nil
}

func (s *Store) errf(format string, a ...any) error {
	return fmt.Errorf("reconciliation history in %s: "+format, append([]any{s.l.Where()}, a...)...)
}
