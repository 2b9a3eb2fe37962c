package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
)

// Dialect is what differs between the SQL engines behind the ledger. One
// implementation of the ledger's logic serves both, so the store
// conformance suite tests the same code on SQLite and PostgreSQL.
type Dialect struct {
	Name string
	// Rebind turns the '?' placeholders the queries are written with into
	// the engine's own.
	Rebind func(string) string
	// Migrations are the schema's versions in order: Migrations[i] takes
	// the schema from version i to i+1. Each is one or more statements
	// separated by ";\n".
	Migrations []string
}

// SQL is the ledger on a database/sql engine.
type SQL struct {
	db    *sql.DB
	d     Dialect
	where string
	owner string // this process, for run leases: host/pid/nonce

	// q holds the queries rebound for the engine, prepared once: parsing the
	// SQL of every update cost a sixth of the CPU.
	stmts map[string]*sql.Stmt

	ops        chan *writeOp
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	asyncMu        sync.Mutex
	asyncErr       error // first failure of a write nobody waited for
	lostCAS        int   // queued writes whose compare-and-set found the refund moved
	onClose        []func()
	runLeaseExpiry time.Duration
}

var _ Ledger = (*SQL)(nil)

// writeOp is one Apply waiting for the group commit.
type writeOp struct {
	barrier bool // no write: answered once every earlier op is committed
	key     string
	version int64
	from    State
	ev      Event
	c       Change
	res     chan error
}

// maxGroup bounds one group commit; more waiting writers go in the next.
const maxGroup = 1024

// timeFormat is fixed-width so that times compare as text in every engine.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return time.Time{}
		}
	}
	return t
}

const refundCols = `r.provider, r.account, r.order_no, r.provider_order_id, r.refund_no,
	r.amount, r.total, r.currency, r.action, r.operator, r.reason, r.payment_method, r.notify_url,
	r.state, r.version, r.attempts, r.first_attempt, r.last_attempt,
	r.provider_refund_id, r.provider_code, r.provider_message, r.provider_amount, r.provider_time,
	r.last_error, r.first_batch, r.planned_at, r.updated_at`

var queries = map[string]string{
	"send": `UPDATE refunds SET state='submitting', version=version+1, attempts=attempts+1,
		first_attempt=CASE WHEN first_attempt='' THEN ? ELSE first_attempt END, last_attempt=?, updated_at=?
		WHERE rkey=? AND state=? AND version=?`,
	"release": `UPDATE refunds SET state='planned', version=version+1,
		attempts=CASE WHEN attempts>0 THEN attempts-1 ELSE 0 END,
		first_attempt=CASE WHEN attempts<=1 THEN '' ELSE first_attempt END,
		last_attempt=CASE WHEN attempts<=1 THEN '' ELSE last_attempt END, updated_at=?
		WHERE rkey=? AND state='submitting' AND version=?`,
	"finish": `UPDATE refunds SET state=?, version=version+1,
		provider_refund_id=CASE WHEN ?<>'' THEN ? ELSE provider_refund_id END,
		provider_code=CASE WHEN ?<>'' THEN ? ELSE provider_code END,
		provider_message=CASE WHEN ?<>'' THEN ? ELSE provider_message END,
		provider_amount=CASE WHEN ?<>0 THEN ? ELSE provider_amount END,
		provider_time=CASE WHEN ?<>'' THEN ? ELSE provider_time END,
		last_error=?, updated_at=?
		WHERE rkey=? AND state=? AND version=?`,
	"byKey": `SELECT r.id, ` + refundCols + ` FROM refunds r WHERE r.rkey=?`,
}

// Open wraps an open database as the ledger, creating or migrating its
// schema. where names it in messages.
func Open(db *sql.DB, d Dialect, where string) (*SQL, error) {
	l := &SQL{db: db, d: d, where: where, stmts: map[string]*sql.Stmt{},
		ops: make(chan *writeOp, maxGroup), closing: make(chan struct{}), writerDone: make(chan struct{}),
		runLeaseExpiry: 30 * time.Second}
	host, _ := os.Hostname()
	l.owner = fmt.Sprintf("%s/%d/%d", host, os.Getpid(), time.Now().UnixNano())
	if err := l.migrate(context.Background()); err != nil {
		return nil, err
	}
	for name, q := range queries {
		st, err := db.Prepare(d.Rebind(q))
		if err != nil {
			return nil, l.errf("%w", err)
		}
		l.stmts[name] = st
	}
	go l.writer()
	return l, nil
}

func (l *SQL) errf(format string, a ...any) error {
	return fmt.Errorf("ledger %s: "+format, append([]any{l.where}, a...)...)
}

// Where names the ledger for messages.
func (l *SQL) Where() string { return l.where }

// DB is the underlying database, for packages that keep their own tables
// in the ledger (reconciliation history, users).
func (l *SQL) DB() *sql.DB { return l.db }

// Dialect is the engine's dialect.
func (l *SQL) Dialect() Dialect { return l.d }

func (l *SQL) migrate(ctx context.Context) error {
	return l.EnsureSchema(ctx, "ledger", l.d.Migrations)
}

// EnsureSchema brings one component's tables to the newest of its
// migrations: migrations[i] takes it from version i to i+1, each one or
// more statements separated by ";\n", in the engine's SQL. The ledger's own
// tables are component "ledger"; packages that keep their own tables in the
// ledger (reconciliation history, web users) name theirs, so that each
// evolves on its own. Versions are kept in table ledger_schema.
func (l *SQL) EnsureSchema(ctx context.Context, component string, migrations []string) error {
	for {
		tx, err := l.db.BeginTx(ctx, nil)
		if err != nil {
			return l.errf("%w", err)
		}
		if l.d.Name == "postgres" {
			// One migrator at a time across processes: a transaction-scoped lock.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(4207)`); err != nil {
				tx.Rollback()
				return l.errf("%w", err)
			}
		}
		// Created under the lock: two PostgreSQL sessions creating one
		// table at once may both fail the IF NOT EXISTS check.
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ledger_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)`); err != nil {
			tx.Rollback()
			return l.errf("%w", err)
		}
		var v int
		err = tx.QueryRowContext(ctx, l.d.Rebind(`SELECT version FROM ledger_schema WHERE component=?`), component).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.ExecContext(ctx, l.d.Rebind(`INSERT INTO ledger_schema (component, version) VALUES (?, 0)`), component); err != nil {
				tx.Rollback()
				return l.errf("%w", err)
			}
		} else if err != nil {
			tx.Rollback()
			return l.errf("%w", err)
		}
		if v > len(migrations) {
			tx.Rollback()
			return l.errf("%s schema version %d is newer than this bulkrefund knows (%d): upgrade bulkrefund", component, v, len(migrations))
		}
		if v == len(migrations) {
			return l.errf2(tx.Commit())
		}
		for _, stmt := range strings.Split(migrations[v], ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return l.errf("migrating %s to schema %d: %w", component, v+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, l.d.Rebind(`UPDATE ledger_schema SET version=? WHERE component=?`), v+1, component); err != nil {
			tx.Rollback()
			return l.errf("%w", err)
		}
		if err := tx.Commit(); err != nil {
			return l.errf("migrating %s to schema %d: %w", component, v+1, err)
		}
	}
}

func (l *SQL) errf2(err error) error {
	if err != nil {
		return l.errf("%w", err)
	}
	return nil
}

func (l *SQL) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return l.db.ExecContext(ctx, l.d.Rebind(q), args...)
}

func (l *SQL) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return l.db.QueryContext(ctx, l.d.Rebind(q), args...)
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// scanRefund reads refundCols (after any leading columns in pre).
func scanRefund(s scanner, r *Record, pre ...any) error {
	var cur, action, state, first, last, ptime, planned, updated string
	dst := append(pre, &r.Provider, &r.Account, &r.OrderNo, &r.ProviderOrderID, &r.RefundNo,
		&r.Amount, &r.Total, &cur, &action, &r.Operator, &r.Reason, &r.PaymentMethod, &r.NotifyURL,
		&state, &r.Version, &r.Attempts, &first, &last,
		&r.ProviderRefundID, &r.ProviderCode, &r.ProviderMessage, &r.ProviderAmount, &ptime,
		&r.LastError, &r.FirstBatch, &planned, &updated)
	if err := s.Scan(dst...); err != nil {
		return err
	}
	r.Currency, r.Action, r.State = money.Currency(cur), adapters.Action(action), State(state)
	r.FirstAttempt, r.LastAttempt, r.ProviderTime = parseTime(first), parseTime(last), parseTime(ptime)
	r.PlannedAt, r.UpdatedAt = parseTime(planned), parseTime(updated)
	return nil
}

// Plan records a batch; see Ledger.
func (l *SQL) Plan(ctx context.Context, m Meta, items []batch.Item) (PlanResult, error) {
	return l.plan(ctx, m, items, true)
}

// Check is Plan without writing.
func (l *SQL) Check(ctx context.Context, m Meta, items []batch.Item) (PlanResult, error) {
	return l.plan(ctx, m, items, false)
}

func (l *SQL) plan(ctx context.Context, m Meta, items []batch.Item, write bool) (PlanResult, error) {
	if err := l.sync(ctx); err != nil {
		return PlanResult{}, err
	}
	seen := make(map[string]int, len(items))
	for _, it := range items {
		k := it.Key()
		if prev, dup := seen[k]; dup {
			return PlanResult{}, fmt.Errorf("%w: rows %d and %d (%s refund %s)", ErrDuplicateKey, prev, it.Row, it.Provider, it.RefundNo)
		}
		seen[k] = it.Row
	}
	seen = nil
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return PlanResult{}, l.errf("%w", err)
	}
	defer tx.Rollback()
	res := PlanResult{Meta: m}
	if stored, err := l.batchTx(ctx, tx, m.BatchID); err == nil {
		res.Meta, res.Resumed, res.Known = stored, true, stored.Items
		return res, nil
	} else if !errors.Is(err, ErrNoBatch) {
		return res, err
	}
	m.Items = len(items)
	if m.Status == "" {
		m.Status = BatchPlanned
	}
	res.Meta = m
	byKey := tx.StmtContext(ctx, l.stmts["byKey"])
	ids := make([]int64, len(items))
	var conflicts []ConflictRow
	// known checks a key the ledger holds: the same refund joins the
	// batch, another refund under its number is a conflict.
	known := func(i int, it batch.Item) (bool, error) {
		var id int64
		var r Record
		err := scanRefund(byKey.QueryRowContext(ctx, it.Key()), &r, &id)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, l.errf("%w", err)
		}
		if !sameContent(r.Item, it) {
			conflicts = append(conflicts, ConflictRow{Row: it.Row, Given: it, Earlier: r})
		} else {
			ids[i] = id
			res.Known++
		}
		return true, nil
	}
	if !write {
		for i, it := range items {
			ok, err := known(i, it)
			if err != nil {
				return res, err
			}
			if !ok {
				res.New++
			}
		}
		if len(conflicts) > 0 {
			return res, &ConflictError{Rows: conflicts}
		}
		return res, nil
	}
	// Writing: insert every key at once and look at the ones already there
	// (one index probe for a new refund instead of two); a conflict rolls
	// the whole transaction back.
	now := fmtTime(time.Now())
	ins, err := tx.PrepareContext(ctx, l.d.Rebind(`INSERT INTO refunds (rkey, provider, account, order_no, provider_order_id, refund_no,
		amount, total, currency, action, operator, reason, payment_method, notify_url,
		state, first_batch, planned_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'planned',?,?,?)
		ON CONFLICT (rkey) DO NOTHING RETURNING id`))
	if err != nil {
		return res, l.errf("%w", err)
	}
	defer ins.Close()
	link, err := tx.PrepareContext(ctx, l.d.Rebind(`INSERT INTO batch_items (batch_id, seq, row, refund_id) VALUES (?,?,?,?)`))
	if err != nil {
		return res, l.errf("%w", err)
	}
	defer link.Close()
	for i, it := range items {
		err := ins.QueryRowContext(ctx, it.Key(), it.Provider, it.Account, it.OrderNo, it.ProviderOrderID, it.RefundNo,
			it.Amount, it.Total, string(it.Currency), string(it.Action), it.Operator, it.Reason, it.PaymentMethod, it.NotifyURL,
			m.BatchID, now, now).Scan(&ids[i])
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := known(i, it); err != nil {
				return res, err
			}
			if ids[i] == 0 {
				continue // a conflict: listed, and nothing will be written
			}
		case err != nil:
			return res, l.errf("row %d: %w", it.Row, err)
		default:
			res.New++
		}
		if len(conflicts) > 0 {
			continue
		}
		if _, err := link.ExecContext(ctx, m.BatchID, i, it.Row, ids[i]); err != nil {
			return res, l.errf("row %d: %w", it.Row, err)
		}
	}
	if len(conflicts) > 0 {
		res.New = 0
		return res, &ConflictError{Rows: conflicts}
	}
	if _, err := tx.ExecContext(ctx, l.d.Rebind(`INSERT INTO batches (id, source_path, source_sha256, operator, host, tool_version, created, items, status)
		VALUES (?,?,?,?,?,?,?,?,?)`), m.BatchID, m.SourcePath, m.SourceSHA256, m.Operator, m.Host, m.ToolVersion, fmtTime(m.Created), m.Items, m.Status); err != nil {
		return res, l.errf("%w", err)
	}
	if err := l.auditTx(ctx, tx, Audit{Actor: m.Operator, Action: "planned", BatchID: m.BatchID,
		Detail: fmt.Sprintf("%d rows from %s (sha256 %s): %d new, %d already in the ledger", m.Items, m.SourcePath, m.SourceSHA256, res.New, res.Known)}); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, l.errf("%w", err)
	}
	return res, nil
}

const batchCols = `id, source_path, source_sha256, operator, host, tool_version, created, items, status`

func scanBatch(s scanner) (Meta, error) {
	var m Meta
	var created string
	err := s.Scan(&m.BatchID, &m.SourcePath, &m.SourceSHA256, &m.Operator, &m.Host, &m.ToolVersion, &created, &m.Items, &m.Status)
	m.Created = parseTime(created)
	return m, err
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (l *SQL) batchTx(ctx context.Context, q querier, id string) (Meta, error) {
	if id == "" {
		return Meta{}, ErrNoBatch
	}
	// A prefix match every engine takes alike, whatever its collation.
	rows, err := q.QueryContext(ctx, l.d.Rebind(`SELECT `+batchCols+` FROM batches WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 2`), utf8.RuneCountInString(id), id)
	if err != nil {
		return Meta{}, l.errf("%w", err)
	}
	defer rows.Close()
	var found []Meta
	for rows.Next() {
		m, err := scanBatch(rows)
		if err != nil {
			return Meta{}, l.errf("%w", err)
		}
		found = append(found, m)
	}
	if err := rows.Err(); err != nil {
		return Meta{}, l.errf("%w", err)
	}
	switch {
	case len(found) == 0:
		return Meta{}, fmt.Errorf("%w: %s", ErrNoBatch, id)
	case len(found) > 1 && found[0].BatchID != id:
		return Meta{}, fmt.Errorf("batch id %q is ambiguous: give more of it", id)
	}
	return found[0], nil
}

// Batch finds a batch by its id or a unique prefix of it.
func (l *SQL) Batch(ctx context.Context, id string) (Meta, error) {
	if err := l.sync(ctx); err != nil {
		return Meta{}, err
	}
	return l.batchTx(ctx, l.db, id)
}

// Batches lists every batch, oldest first.
func (l *SQL) Batches(ctx context.Context) ([]Meta, error) {
	if err := l.sync(ctx); err != nil {
		return nil, err
	}
	rows, err := l.query(ctx, `SELECT `+batchCols+` FROM batches ORDER BY created, id`)
	if err != nil {
		return nil, l.errf("%w", err)
	}
	defer rows.Close()
	var out []Meta
	for rows.Next() {
		m, err := scanBatch(rows)
		if err != nil {
			return nil, l.errf("%w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetBatchStatus records a batch's status with an audit entry, in one transaction.
func (l *SQL) SetBatchStatus(ctx context.Context, id, status string, a Audit) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.errf("%w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, l.d.Rebind(`UPDATE batches SET status=? WHERE id=?`), status, id)
	if err != nil {
		return l.errf("%w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: %s", ErrNoBatch, id)
	}
	a.BatchID = id
	if err := l.auditTx(ctx, tx, a); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return l.errf("%w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func (l *SQL) auditTx(ctx context.Context, e execer, a Audit) error {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	if _, err := e.ExecContext(ctx, l.d.Rebind(`INSERT INTO audit (at, actor, action, batch_id, refund_key, detail) VALUES (?,?,?,?,?,?)`),
		fmtTime(a.At), a.Actor, a.Action, a.BatchID, a.Key, a.Detail); err != nil {
		return l.errf("audit: %w", err)
	}
	return nil
}

// AppendAudit adds an entry to the audit trail.
func (l *SQL) AppendAudit(ctx context.Context, a Audit) error { return l.auditTx(ctx, l.db, a) }

// AuditTrail calls fn for each audit entry, oldest first.
func (l *SQL) AuditTrail(ctx context.Context, batchID string, fn func(Audit) error) error {
	q, args := `SELECT at, actor, action, batch_id, refund_key, detail FROM audit ORDER BY id`, []any{}
	if batchID != "" {
		q, args = `SELECT at, actor, action, batch_id, refund_key, detail FROM audit WHERE batch_id=? ORDER BY id`, []any{batchID}
	}
	rows, err := l.query(ctx, q, args...)
	if err != nil {
		return l.errf("%w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Audit
		var at string
		if err := rows.Scan(&at, &a.Actor, &a.Action, &a.BatchID, &a.Key, &a.Detail); err != nil {
			return l.errf("%w", err)
		}
		a.At = parseTime(at)
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Refunds calls fn for each refund matching q, in planning order. Records
// carry no sheet row (a refund may be in several batches).
func (l *SQL) Refunds(ctx context.Context, q Query, fn func(Record) error) error {
	if err := l.sync(ctx); err != nil {
		return err
	}
	var where []string
	var args []any
	if q.RefundNo != "" {
		where, args = append(where, "r.refund_no=?"), append(args, q.RefundNo)
	}
	if len(q.BatchIDs) > 0 {
		where = append(where, "r.id IN (SELECT refund_id FROM batch_items WHERE batch_id IN (?"+strings.Repeat(",?", len(q.BatchIDs)-1)+"))")
		for _, b := range q.BatchIDs {
			args = append(args, b)
		}
	}
	if !q.From.IsZero() {
		where, args = append(where, "r.planned_at>=?"), append(args, fmtTime(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, "r.planned_at<?"), append(args, fmtTime(q.To))
	}
	if len(q.States) > 0 {
		where = append(where, "r.state IN (?"+strings.Repeat(",?", len(q.States)-1)+")")
		for _, s := range q.States {
			args = append(args, string(s))
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " AND " + strings.Join(where, " AND ")
	}
	// Chunked by id so that fn may take its time without holding a read open.
	after := int64(0)
	for {
		rows, err := l.query(ctx, `SELECT r.id, `+refundCols+` FROM refunds r WHERE r.id>?`+cond+` ORDER BY r.id LIMIT 1000`, append([]any{after}, args...)...)
		if err != nil {
			return l.errf("%w", err)
		}
		var chunk []Record
		for rows.Next() {
			var r Record
			if err := scanRefund(rows, &r, &after); err != nil {
				rows.Close()
				return l.errf("%w", err)
			}
			chunk = append(chunk, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return l.errf("%w", err)
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < 1000 {
			return nil
		}
	}
}

// View is a read-only view of one batch.
func (l *SQL) View(ctx context.Context, batchID string) (Store, error) {
	m, err := l.Batch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	return &view{l: l, id: m.BatchID, readOnly: true}, nil
}

// Run takes the batch's run lease and returns the runner's view.
func (l *SQL) Run(ctx context.Context, batchID string) (Store, error) {
	m, err := l.Batch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	if err := l.takeLease(ctx, m.BatchID); err != nil {
		return nil, err
	}
	v := &view{l: l, id: m.BatchID, stop: make(chan struct{}), done: make(chan struct{})}
	go v.heartbeat()
	return v, nil
}

// takeLease claims the batch for this process. A lease whose holder is a
// process of this host that no longer exists is taken over at once (a run
// killed with SIGKILL is resumed without waiting for its lease to expire);
// one held elsewhere waits for expiry.
func (l *SQL) takeRunLease(ctx context.Context, id string) error {
	now := time.Now()
	res, err := l.exec(ctx, `UPDATE batches SET run_owner=?, run_lease_until=? WHERE id=? AND (run_owner='' OR run_owner=? OR run_lease_until<?)`,
		l.owner, fmtTime(now.Add(l.runLeaseExpiry)), id, l.owner, fmtTime(now))
	if err != nil {
		return l.errf("%w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var holder, until string
	if err := l.db.QueryRowContext(ctx, l.d.Rebind(`SELECT run_owner, run_lease_until FROM batches WHERE id=?`), id).Scan(&holder, &until); err != nil {
		return l.errf("%w", err)
	}
	if deadLocal(holder) {
		res, err := l.exec(ctx, `UPDATE batches SET run_owner=?, run_lease_until=? WHERE id=? AND run_owner=?`,
			l.owner, fmtTime(now.Add(l.runLeaseExpiry)), id, holder)
		if err != nil {
			return l.errf("%w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
	}
	host, pid := splitOwner(holder)
	return fmt.Errorf("%w: batch %.16s is being run by process %s on %s (lease until %s); wait for it to finish, or stop it",
		ErrInUse, id, pid, host, parseTime(until).Local().Format(time.RFC3339))
}

func splitOwner(owner string) (host, pid string) {
	parts := strings.SplitN(owner, "/", 3)
	if len(parts) < 2 {
		return owner, "?"
	}
	return parts[0], parts[1]
}

// deadLocal reports whether owner names a process of this host that is gone.
func deadLocal(owner string) bool {
	host, pidText := splitOwner(owner)
	me, _ := os.Hostname()
	pid, err := strconv.Atoi(pidText)
	if host != me || err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	err = syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

func (l *SQL) releaseLease(id string) error {
	_, err := l.exec(context.Background(), `UPDATE batches SET run_owner='', run_lease_until='' WHERE id=? AND run_owner=?`, id, l.owner)
	return err
}

// view is one batch of the ledger.
type view struct {
	l        *SQL
	id       string
	readOnly bool
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func (v *view) heartbeat() {
	defer close(v.done)
	t := time.NewTicker(v.l.runLeaseExpiry / 3)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.l.exec(context.Background(), `UPDATE batches SET run_lease_until=? WHERE id=? AND run_owner=?`,
				fmtTime(time.Now().Add(v.l.runLeaseExpiry)), v.id, v.l.owner)
		}
	}
}

func (v *view) Meta(ctx context.Context) (Meta, error) { return v.l.Batch(ctx, v.id) }

// eachChunk is how many items Each reads per query.
const eachChunk = 1000

// Each reads the items in chunks, each its own short read, and calls fn
// between reads: fn may take as long as it likes (the runner's dispatch
// waits for free workers) without holding a read transaction open, which
// would keep SQLite from checkpointing the WAL and let it grow for the
// whole run. Items written meanwhile are seen as of their chunk's read.
func (v *view) Each(ctx context.Context, fn func(Record) error) error {
	return v.each(ctx, "", "", fn)
}

func (v *view) EachOf(ctx context.Context, provider, account string, fn func(Record) error) error {
	return v.each(ctx, provider, account, fn)
}

func (v *view) each(ctx context.Context, provider, account string, fn func(Record) error) error {
	if err := v.l.sync(ctx); err != nil {
		return err
	}
	after := int64(-1)
	chunk := make([]Record, 0, eachChunk)
	for {
		chunk = chunk[:0]
		q, args := `SELECT bi.seq, bi.row, `+refundCols+` FROM batch_items bi JOIN refunds r ON r.id=bi.refund_id
			WHERE bi.batch_id=? AND bi.seq>? ORDER BY bi.seq LIMIT ?`, []any{v.id, after, eachChunk}
		if provider != "" {
			q, args = `SELECT bi.seq, bi.row, `+refundCols+` FROM batch_items bi JOIN refunds r ON r.id=bi.refund_id
			WHERE bi.batch_id=? AND bi.seq>? AND r.provider=? AND r.account=? ORDER BY bi.seq LIMIT ?`, []any{v.id, after, provider, account, eachChunk}
		}
		rows, err := v.l.query(ctx, q, args...)
		if err != nil {
			return v.l.errf("%w", err)
		}
		for rows.Next() {
			var r Record
			if err := scanRefund(rows, &r, &after, &r.Row); err != nil {
				rows.Close()
				return v.l.errf("%w", err)
			}
			chunk = append(chunk, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return v.l.errf("%w", err)
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < eachChunk {
			return nil
		}
	}
}

func (v *view) OrderRefunds(ctx context.Context, it batch.Item) ([]Record, error) {
	return v.l.OrderRefunds(ctx, it)
}

// OrderRefunds returns every refund of the order of refund it.
func (l *SQL) OrderRefunds(ctx context.Context, it batch.Item) ([]Record, error) {
	if err := l.sync(ctx); err != nil {
		return nil, err
	}
	// Where the provider scopes refund numbers per order, the order's
	// refunds share the key up to the refund number (the order, or for a
	// Upay refund known by its sn alone, that sn): the key's own index finds
	// them, and the ledger keeps no index of its own for orders.
	q, args := `SELECT `+refundCols+` FROM refunds r WHERE r.provider=? AND r.account=? AND r.order_no=? ORDER BY r.id`, []any{it.Provider, it.Account, it.OrderNo}
	if d, ok := registry.Get(it.Provider); ok && d.RefundNoScope == adapters.ScopeOrder {
		key := it.Key()
		prefix := key[:strings.LastIndex(key, adapters.KeySep)+len(adapters.KeySep)]
		q, args = `SELECT `+refundCols+` FROM refunds r WHERE r.rkey>=? AND r.rkey<? ORDER BY r.id`, []any{prefix, prefix + "\U0010FFFF"}
	}
	rows, err := l.query(ctx, q, args...)
	if err != nil {
		return nil, l.errf("%w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		if err := scanRefund(rows, &r); err != nil {
			return nil, l.errf("%w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (v *view) Counts(ctx context.Context) ([]Count, error) {
	if err := v.l.sync(ctx); err != nil {
		return nil, err
	}
	rows, err := v.l.query(ctx, `SELECT r.provider, r.account, r.currency, r.state, count(*), sum(r.amount)
		FROM batch_items bi JOIN refunds r ON r.id=bi.refund_id WHERE bi.batch_id=?
		GROUP BY r.provider, r.account, r.currency, r.state`, v.id)
	if err != nil {
		return nil, v.l.errf("%w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		var cur, st string
		if err := rows.Scan(&c.Provider, &c.Account, &cur, &st, &c.Items, &c.Amount); err != nil {
			return nil, v.l.errf("%w", err)
		}
		c.Currency, c.State = money.Currency(cur), State(st)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, v.l.errf("%w", err)
	}
	SortCounts(out)
	return out, nil
}

func (v *view) Apply(ctx context.Context, key string, version int64, from State, ev Event, c Change) error {
	if v.readOnly {
		return fmt.Errorf("ledger %s: batch %.16s is open read-only", v.l.where, v.id)
	}
	return v.l.Apply(ctx, key, version, from, ev, c)
}

func (v *view) Close() error {
	if v.readOnly {
		return nil
	}
	var err error
	v.once.Do(func() {
		close(v.stop)
		<-v.done
		err = errors.Join(v.l.sync(context.Background()), v.l.releaseLease(v.id))
	})
	return err
}

// Apply moves refund key by ev as a compare-and-set on (from, version).
// EvSend waits for its commit; the others are queued (see Store.Apply).
func (l *SQL) Apply(ctx context.Context, key string, version int64, from State, ev Event, c Change) error {
	if _, err := Next(from, ev); err != nil {
		return err
	}
	op := &writeOp{key: key, version: version, from: from, ev: ev, c: c}
	if ev == EvSend {
		return l.write(ctx, op)
	}
	return l.queue(ctx, op)
}

// queue hands op to the group committer without waiting for its commit.
// An outcome lost in a crash leaves the refund submitting or unknown, which
// the next run looks up, so its durability is not needed for safety, and
// not waiting halves the fsyncs a refund waits for. Reads and Close wait for
// queued writes first, so a caller always reads its own writes.
func (l *SQL) queue(ctx context.Context, op *writeOp) error {
	if err := l.pendingErr(); err != nil {
		return err
	}
	select {
	case l.ops <- op:
		return nil
	case <-l.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *SQL) pendingErr() error {
	l.asyncMu.Lock()
	defer l.asyncMu.Unlock()
	return l.asyncErr
}

func (l *SQL) asyncFailed(err error) {
	l.asyncMu.Lock()
	defer l.asyncMu.Unlock()
	if errors.Is(err, ErrStateChanged) {
		// Someone else moved the refund (a worker that took over an expired
		// claim): this outcome is stale, and the other's stands.
		l.lostCAS++
		return
	}
	if l.asyncErr == nil {
		l.asyncErr = err
	}
}

// sync waits until every write queued before it is committed.
func (l *SQL) sync(ctx context.Context) error {
	if err := l.write(ctx, &writeOp{barrier: true}); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return l.pendingErr()
}

// write hands op to the group committer and waits for its commit. It waits
// even if ctx is cancelled once the op is queued: the caller must know
// whether "submitting" is on disk before it sends anything.
func (l *SQL) write(ctx context.Context, op *writeOp) error {
	if err := l.pendingErr(); err != nil {
		return err
	}
	op.res = make(chan error, 1)
	select {
	case l.ops <- op:
	case <-l.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-op.res
}

// writer is the single group committer: it takes every queued write, runs
// them in one transaction and one fsync, then answers each.
func (l *SQL) writer() {
	defer close(l.writerDone)
	group := make([]*writeOp, 0, maxGroup)
	for {
		var first *writeOp
		select {
		case first = <-l.ops:
		case <-l.closing:
			for {
				select {
				case op := <-l.ops:
					group = append(group[:0], op)
					l.commit(group)
				default:
					return
				}
			}
		}
		group = append(group[:0], first)
	drain:
		for len(group) < maxGroup {
			select {
			case op := <-l.ops:
				group = append(group, op)
			default:
				break drain
			}
		}
		l.commit(group)
	}
}

func (l *SQL) commit(group []*writeOp) {
	errs := make([]error, len(group))
	answer := func(op *writeOp, err error) {
		if op.res != nil {
			op.res <- err
		} else if err != nil {
			l.asyncFailed(err)
		}
	}
	fail := func(err error) {
		for _, op := range group {
			answer(op, l.errf("%w", err))
		}
	}
	writes := 0
	for _, op := range group {
		if !op.barrier {
			writes++
		}
	}
	if writes == 0 {
		for _, op := range group {
			answer(op, nil)
		}
		return
	}
	// Several processes on one PostgreSQL ledger lock the rows of their
	// groups; taking them in one order (by key, keeping each key's own
	// writes in sequence) keeps two groups from waiting on each other.
	order := make([]int, len(group))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return group[order[a]].key < group[order[b]].key })
	var err error
	for try := 1; ; try++ {
		err = l.commitOnce(group, order, errs)
		// A deadlock or serialization failure rolled everything back: the
		// group is safe to run again.
		if err == nil || !retryableTx(err) || try == 5 {
			break
		}
		time.Sleep(time.Duration(try) * 5 * time.Millisecond)
	}
	if err != nil {
		fail(err)
		return
	}
	for i, op := range group {
		answer(op, errs[i])
	}
}

// retryableTx reports whether err is a transaction the engine aborted to
// break a deadlock or a serialization conflict (PostgreSQL SQLSTATE 40P01,
// 40001): it wrote nothing and may be run again.
func retryableTx(err error) bool {
	var se interface{ SQLState() string }
	return errors.As(err, &se) && (se.SQLState() == "40P01" || se.SQLState() == "40001")
}

// commitOnce runs group's writes in one transaction, in order; errs gets
// each op's compare-and-set miss.
func (l *SQL) commitOnce(group []*writeOp, order []int, errs []error) error {
	tx, err := l.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := fmtTime(time.Now())
	for _, i := range order {
		op := group[i]
		errs[i] = nil
		if op.barrier {
			continue
		}
		var res sql.Result
		switch op.ev {
		case EvSend:
			at := fmtTime(op.c.At)
			res, err = tx.Stmt(l.stmts["send"]).Exec(at, at, now, op.key, string(op.from), op.version)
		case EvNotSent:
			res, err = tx.Stmt(l.stmts["release"]).Exec(now, op.key, op.version)
		default:
			to, _ := Next(op.from, op.ev)
			o := op.c.Outcome
			pt := fmtTime(o.Time)
			res, err = tx.Stmt(l.stmts["finish"]).Exec(string(to),
				o.ProviderRefundID, o.ProviderRefundID, o.Code, o.Code, o.Message, o.Message,
				o.Amount, o.Amount, pt, pt, op.c.Reason, now, op.key, string(op.from), op.version)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			errs[i] = fmt.Errorf("%w: %s (was %s, version %d)", ErrStateChanged, KeyText(op.key), op.from, op.version)
		}
	}
	return tx.Commit()
}

// LostWrites is how many queued outcomes found their refund moved by
// another process (and so were not written).
func (l *SQL) LostWrites() int {
	l.asyncMu.Lock()
	defer l.asyncMu.Unlock()
	return l.lostCAS
}

// Close waits for queued writes to commit, then closes the database. It
// returns the error of any queued write that failed.
func (l *SQL) Close() error {
	l.closeOnce.Do(func() {
		close(l.closing)
		<-l.writerDone
		for _, st := range l.stmts {
			st.Close()
		}
		for _, f := range l.onClose {
			f()
		}
		l.closeErr = errors.Join(l.pendingErr(), l.db.Close())
	})
	return l.closeErr
}

// ByKey returns the refund the ledger holds under key; ok is false if none.
func (l *SQL) ByKey(ctx context.Context, key string) (r Record, ok bool, err error) {
	if err := l.sync(ctx); err != nil {
		return r, false, err
	}
	var id int64
	err = scanRefund(l.stmts["byKey"].QueryRowContext(ctx, key), &r, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, l.errf("%w", err)
	}
	return r, true, nil
}
