package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers driver "sqlite"; pure Go, no cgo

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
)

// SQLite is the durable Store: one SQLite file per batch. See the package
// documentation for the schema and the durability argument.
type SQLite struct {
	db   *sql.DB
	path string
	lock *os.File // holds the flock of a writable open; nil for OpenSQLiteExisting

	ops        chan *writeOp
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	asyncMu  sync.Mutex
	asyncErr error // first failure of a write nobody waited for

	// Prepared once: parsing the SQL of every update cost a sixth of the CPU.
	submitStmt, finishStmt, releaseStmt *sql.Stmt
}

var _ Store = (*SQLite)(nil)

// writeOp is one MarkSubmitting or Finish waiting for the group commit.
type writeOp struct {
	key     string
	barrier bool // no write: answered once every earlier op is committed
	submit  bool
	release bool
	at      time.Time
	state   State
	o       adapters.Outcome
	errText string
	res     chan error
}

// maxGroup bounds one group commit; more waiting writers go in the next.
const maxGroup = 1024

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	batch_id TEXT NOT NULL, source_path TEXT NOT NULL, source_sha256 TEXT NOT NULL,
	operator TEXT NOT NULL, host TEXT NOT NULL, tool_version TEXT NOT NULL,
	created TEXT NOT NULL, items INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
	seq INTEGER PRIMARY KEY,
	row INTEGER NOT NULL,
	provider TEXT NOT NULL, account TEXT NOT NULL, order_no TEXT NOT NULL,
	provider_order_id TEXT NOT NULL, refund_no TEXT NOT NULL,
	amount INTEGER NOT NULL, total INTEGER NOT NULL, currency TEXT NOT NULL,
	action TEXT NOT NULL, operator TEXT NOT NULL, reason TEXT NOT NULL,
	payment_method TEXT NOT NULL, notify_url TEXT NOT NULL,
	state TEXT NOT NULL DEFAULT 'planned',
	attempts INTEGER NOT NULL DEFAULT 0,
	first_attempt TEXT NOT NULL DEFAULT '', last_attempt TEXT NOT NULL DEFAULT '',
	provider_refund_id TEXT NOT NULL DEFAULT '', provider_code TEXT NOT NULL DEFAULT '',
	provider_message TEXT NOT NULL DEFAULT '', provider_amount INTEGER NOT NULL DEFAULT 0,
	provider_time TEXT NOT NULL DEFAULT '', last_error TEXT NOT NULL DEFAULT '',
	UNIQUE (provider, account, order_no, refund_no)
);
`

// OpenSQLite opens the state file at path, creating it (mode 0600, its
// directory 0700) if it does not exist.
func OpenSQLite(path string) (*SQLite, error) {
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("state file %q: the name may not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	// Create the file ourselves so SQLite never creates it with the umask's
	// mode; SQLite gives the -wal and -shm files the main file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	// One writer per state: a second run of the same batch at the same time
	// would send the same refunds side by side.
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	s, err := openSQLite(path)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.lock = f
	return s, nil
}

// OpenSQLiteExisting opens an existing state file; it fails with an error
// wrapping fs.ErrNotExist rather than create one (for status and reconcile).
func OpenSQLiteExisting(path string) (*SQLite, error) {
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("state file %q: the name may not contain '?'", path)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	return openSQLite(path)
}

func openSQLite(path string) (*SQLite, error) {
	// synchronous=FULL: in WAL mode NORMAL may lose the last commits on power
	// loss, and a lost "submitting" is exactly what must never happen. Group
	// commit keeps the fsync count low enough that FULL costs little.
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	submit, err := db.Prepare(sqlSubmit)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	finish, err := db.Prepare(sqlFinish)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	release, err := db.Prepare(sqlRelease)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	s := &SQLite{
		db: db, path: path, submitStmt: submit, finishStmt: finish, releaseStmt: release,
		ops:        make(chan *writeOp, maxGroup),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// Path is the file the store lives in.
func (s *SQLite) Path() string { return s.path }

func (s *SQLite) Init(ctx context.Context, m Meta, items []batch.Item) error {
	stored, err := s.Meta(ctx)
	switch {
	case err == nil:
		if stored.BatchID != m.BatchID {
			return &MismatchError{Stored: stored, Given: m}
		}
		return nil
	case !errors.Is(err, ErrNoBatch):
		return err
	}
	recs := make([]*Record, len(items))
	seen := make(map[string]int, len(items))
	for i, it := range items {
		if prev, dup := seen[it.Key()]; dup {
			return fmt.Errorf("%w: rows %d and %d", ErrDuplicateKey, prev, it.Row)
		}
		seen[it.Key()] = it.Row
		recs[i] = &Record{Item: it, State: Planned}
	}
	return s.replaceAll(ctx, m, recs, true)
}

func (s *SQLite) Merge(ctx context.Context, m Meta, items []batch.Item) error {
	if _, err := s.Meta(ctx); errors.Is(err, ErrNoBatch) {
		return s.Init(ctx, m, items)
	} else if err != nil {
		return err
	}
	var old []*Record
	if err := s.Each(ctx, func(r Record) error { old = append(old, &r); return nil }); err != nil {
		return err
	}
	plan, err := mergePlan(old, items)
	if err != nil {
		return err
	}
	return s.replaceAll(ctx, m, plan, false)
}

// replaceAll writes meta and every record in one transaction. With fresh
// set, it refuses to overwrite a batch another process created meanwhile.
func (s *SQLite) replaceAll(ctx context.Context, m Meta, recs []*Record, fresh bool) error {
	m.Items = len(recs)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	defer tx.Rollback()
	if fresh {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM meta`).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("state file %s: another process initialized it meanwhile; run again", s.path)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM meta; DELETE FROM items;`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta VALUES (?,?,?,?,?,?,?,?)`,
		m.BatchID, m.SourcePath, m.SourceSHA256, m.Operator, m.Host, m.ToolVersion, fmtTime(m.Created), m.Items); err != nil {
		return err
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO items (seq,row,provider,account,order_no,provider_order_id,refund_no,
		amount,total,currency,action,operator,reason,payment_method,notify_url,
		state,attempts,first_attempt,last_attempt,provider_refund_id,provider_code,provider_message,
		provider_amount,provider_time,last_error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i, r := range recs {
		if _, err := st.ExecContext(ctx, i, r.Row, r.Provider, r.Account, r.OrderNo, r.ProviderOrderID, r.RefundNo,
			r.Amount, r.Total, string(r.Currency), string(r.Action), r.Operator, r.Reason, r.PaymentMethod, r.NotifyURL,
			string(r.State), r.Attempts, fmtTime(r.FirstAttempt), fmtTime(r.LastAttempt),
			r.ProviderRefundID, r.ProviderCode, r.ProviderMessage, r.ProviderAmount, fmtTime(r.ProviderTime), r.LastError); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return fmt.Errorf("%w: row %d (refund %s of order %s)", ErrDuplicateKey, r.Row, r.RefundNo, r.OrderNo)
			}
			return fmt.Errorf("state file %s: %w", s.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	return nil
}

func (s *SQLite) Meta(ctx context.Context) (Meta, error) {
	if err := s.sync(ctx); err != nil {
		return Meta{}, err
	}
	var m Meta
	var created string
	err := s.db.QueryRowContext(ctx, `SELECT batch_id, source_path, source_sha256, operator, host, tool_version, created, items FROM meta LIMIT 1`).
		Scan(&m.BatchID, &m.SourcePath, &m.SourceSHA256, &m.Operator, &m.Host, &m.ToolVersion, &created, &m.Items)
	if errors.Is(err, sql.ErrNoRows) {
		return Meta{}, ErrNoBatch
	}
	if err != nil {
		return Meta{}, fmt.Errorf("state file %s: %w", s.path, err)
	}
	m.Created = parseTime(created)
	return m, nil
}

// eachChunk is how many items Each reads per query.
const eachChunk = 1000

// Each reads the items in chunks, each its own short read, and calls fn
// between reads: fn may take as long as it likes (the runner's dispatch
// waits for free workers) without holding a read transaction open, which
// would keep SQLite from checkpointing the WAL and let it grow for the
// whole run. Items written meanwhile are seen as of their chunk's read.
func (s *SQLite) Each(ctx context.Context, fn func(Record) error) error {
	if err := s.sync(ctx); err != nil {
		return err
	}
	after := int64(-1)
	chunk := make([]Record, 0, eachChunk)
	for {
		chunk = chunk[:0]
		last, err := s.readChunk(ctx, after, &chunk)
		if err != nil {
			return fmt.Errorf("state file %s: %w", s.path, err)
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < eachChunk {
			return nil
		}
		after = last
	}
}

func (s *SQLite) readChunk(ctx context.Context, after int64, out *[]Record) (last int64, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq,row,provider,account,order_no,provider_order_id,refund_no,
		amount,total,currency,action,operator,reason,payment_method,notify_url,
		state,attempts,first_attempt,last_attempt,provider_refund_id,provider_code,provider_message,
		provider_amount,provider_time,last_error FROM items WHERE seq > ? ORDER BY seq LIMIT ?`, after, eachChunk)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var r Record
		var cur, action, state, first, last, ptime string
		if err := rows.Scan(&after, &r.Row, &r.Provider, &r.Account, &r.OrderNo, &r.ProviderOrderID, &r.RefundNo,
			&r.Amount, &r.Total, &cur, &action, &r.Operator, &r.Reason, &r.PaymentMethod, &r.NotifyURL,
			&state, &r.Attempts, &first, &last, &r.ProviderRefundID, &r.ProviderCode, &r.ProviderMessage,
			&r.ProviderAmount, &ptime, &r.LastError); err != nil {
			return 0, err
		}
		r.Currency, r.Action, r.State = money.Currency(cur), adapters.Action(action), State(state)
		r.FirstAttempt, r.LastAttempt, r.ProviderTime = parseTime(first), parseTime(last), parseTime(ptime)
		*out = append(*out, r)
	}
	return after, rows.Err()
}

func (s *SQLite) MarkSubmitting(ctx context.Context, key string, at time.Time) error {
	return s.write(ctx, &writeOp{key: key, submit: true, at: at})
}

// Finish queues the outcome for the next group commit and returns without
// waiting for it: a Finish lost in a crash leaves the item submitting or
// unknown, which the next run looks up, so its durability is not needed for
// safety, and not waiting halves the fsyncs a refund waits for. Reads (Each,
// Counts, Meta) and Close wait for queued writes first, so a caller always
// reads its own writes. An error of a queued Finish is returned by the next
// call.
func (s *SQLite) Finish(ctx context.Context, key string, st State, o adapters.Outcome, errText string) error {
	return s.queue(ctx, &writeOp{key: key, state: st, o: o, errText: errText})
}

// Release is queued like Finish.
func (s *SQLite) Release(ctx context.Context, key string) error {
	return s.queue(ctx, &writeOp{key: key, release: true})
}

// queue hands op to the group committer without waiting for its commit.
func (s *SQLite) queue(ctx context.Context, op *writeOp) error {
	if err := s.pendingErr(); err != nil {
		return err
	}
	select {
	case s.ops <- op:
		return nil
	case <-s.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *SQLite) pendingErr() error {
	s.asyncMu.Lock()
	defer s.asyncMu.Unlock()
	return s.asyncErr
}

func (s *SQLite) asyncFailed(err error) {
	s.asyncMu.Lock()
	defer s.asyncMu.Unlock()
	if s.asyncErr == nil {
		s.asyncErr = err
	}
}

// sync waits until every write queued before it is committed.
func (s *SQLite) sync(ctx context.Context) error {
	if err := s.write(ctx, &writeOp{barrier: true}); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return s.pendingErr()
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("state store closed")

// write hands op to the group committer and waits for its commit. It waits
// even if ctx is cancelled once the op is queued: the caller must know
// whether "submitting" is on disk before it sends anything.
func (s *SQLite) write(ctx context.Context, op *writeOp) error {
	if err := s.pendingErr(); err != nil {
		return err
	}
	op.res = make(chan error, 1)
	select {
	case s.ops <- op:
	case <-s.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-op.res
}

// writer is the single group committer: it takes every queued write, runs
// them in one transaction and one fsync, then answers each.
func (s *SQLite) writer() {
	defer close(s.writerDone)
	group := make([]*writeOp, 0, maxGroup)
	for {
		var first *writeOp
		select {
		case first = <-s.ops:
		case <-s.closing:
			// Drain what was queued before Close so no caller waits forever.
			for {
				select {
				case op := <-s.ops:
					group = append(group[:0], op)
					s.commit(group)
				default:
					return
				}
			}
		}
		group = append(group[:0], first)
	drain:
		for len(group) < maxGroup {
			select {
			case op := <-s.ops:
				group = append(group, op)
			default:
				break drain
			}
		}
		s.commit(group)
	}
}

const (
	sqlSubmit = `UPDATE items SET state='submitting', attempts=attempts+1,
		first_attempt=CASE WHEN first_attempt='' THEN ?1 ELSE first_attempt END, last_attempt=?1
		WHERE provider=?2 AND account=?3 AND order_no=?4 AND refund_no=?5`
	// Release only touches an item still submitting; SET expressions read
	// the old attempts.
	sqlRelease = `UPDATE items SET state='planned', attempts=max(attempts-1,0),
		first_attempt=CASE WHEN attempts<=1 THEN '' ELSE first_attempt END,
		last_attempt=CASE WHEN attempts<=1 THEN '' ELSE last_attempt END
		WHERE state='submitting' AND provider=?1 AND account=?2 AND order_no=?3 AND refund_no=?4`
	sqlFinish = `UPDATE items SET state=?1,
		provider_refund_id=COALESCE(NULLIF(?2,''),provider_refund_id),
		provider_code=COALESCE(NULLIF(?3,''),provider_code),
		provider_message=COALESCE(NULLIF(?4,''),provider_message),
		provider_amount=CASE WHEN ?5=0 THEN provider_amount ELSE ?5 END,
		provider_time=COALESCE(NULLIF(?6,''),provider_time),
		last_error=?7
		WHERE provider=?8 AND account=?9 AND order_no=?10 AND refund_no=?11`
)

func (s *SQLite) commit(group []*writeOp) {
	errs := make([]error, len(group))
	answer := func(op *writeOp, err error) {
		if op.res != nil {
			op.res <- err
		} else if err != nil {
			s.asyncFailed(err)
		}
	}
	fail := func(err error) {
		for _, op := range group {
			answer(op, fmt.Errorf("state file %s: %w", s.path, err))
		}
	}
	tx, err := s.db.Begin()
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	submit, finish, release := tx.Stmt(s.submitStmt), tx.Stmt(s.finishStmt), tx.Stmt(s.releaseStmt)
	for i, op := range group {
		if op.barrier {
			continue
		}
		k, ok := splitKey(op.key)
		if !ok {
			errs[i] = fmt.Errorf("%w: %q", ErrUnknownKey, op.key)
			continue
		}
		var res sql.Result
		switch {
		case op.submit:
			res, err = submit.Exec(fmtTime(op.at), k[0], k[1], k[2], k[3])
		case op.release:
			_, err = release.Exec(k[0], k[1], k[2], k[3])
			if err != nil {
				fail(err)
				return
			}
			continue // not submitting any more: nothing to undo
		default:
			res, err = finish.Exec(string(op.state), op.o.ProviderRefundID, op.o.Code, op.o.Message,
				op.o.Amount, fmtTime(op.o.Time), op.errText, k[0], k[1], k[2], k[3])
		}
		if err != nil {
			fail(err)
			return
		}
		if n, _ := res.RowsAffected(); n != 1 {
			errs[i] = fmt.Errorf("%w: %q", ErrUnknownKey, strings.ReplaceAll(op.key, "\x00", "/"))
		}
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return
	}
	for i, op := range group {
		answer(op, errs[i])
	}
}

func splitKey(key string) ([4]string, bool) {
	var k [4]string
	parts := strings.Split(key, "\x00")
	if len(parts) != 4 {
		return k, false
	}
	copy(k[:], parts)
	return k, true
}

func (s *SQLite) Counts(ctx context.Context) ([]Count, error) {
	if err := s.sync(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT provider, account, currency, state, count(*), sum(amount)
		FROM items GROUP BY provider, account, currency, state`)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		var cur, st string
		if err := rows.Scan(&c.Provider, &c.Account, &cur, &st, &c.Items, &c.Amount); err != nil {
			return nil, fmt.Errorf("state file %s: %w", s.path, err)
		}
		c.Currency, c.State = money.Currency(cur), State(st)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	SortCounts(out)
	return out, nil
}

// Close waits for queued writes to commit, then closes the file. It
// returns the error of any queued write that failed.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		s.closeErr = errors.Join(s.pendingErr(), s.db.Close())
		if s.lock != nil {
			s.lock.Close() // after SQLite's own descriptors: releases the flock
		}
	})
	return s.closeErr
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
