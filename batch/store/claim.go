package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Claims let several workers share the refunds of approved batches, row
// by row. A claim sets a refund's owner and lease_until and bumps its
// version, so a worker whose lease expired and was taken over can no
// longer write: its compare-and-set names a version that is gone. A
// worker that dies leaves its claims to expire; the next claimer finds
// them as they were left (submitting, unknown, ...) and, like a resumed
// run, looks up every doubtful one before anything is sent.
//
// lease_until doubles as "not before": a released refund that should
// rest (a pending one polled later, a blocked one waiting for a fix) keeps
// an empty owner and a lease_until in the future. A refund is claimable
// when its lease_until is in the past ("" is).
//
// On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so
// concurrent claimers never wait on each other and never take one row
// twice. SQLite has one writer at a time (transactions begin IMMEDIATE),
// which gives the same result without it.
//
// Times are the workers' clocks, as for run leases: hosts sharing a
// ledger keep their clocks synchronised (NTP); leases of tens of seconds
// dwarf the skew NTP leaves.

// Claimable lists the states a worker takes: everything not final.
// Submitting is only found unclaimed after its worker died or stopped
// mid-call: the claimer looks it up first.
var Claimable = []State{Planned, Submitting, Pending, Unknown, Blocked}

// AccountRef names one provider account, to narrow claims to the
// accounts a worker is configured for.
type AccountRef struct{ Provider, Account string }

// ClaimRequest says what a worker takes.
type ClaimRequest struct {
	Owner    string        // the worker: "worker@host/pid/nonce"
	N        int           // at most this many refunds
	Lease    time.Duration // the claims expire this long from now unless renewed
	Accounts []AccountRef  // only refunds of these accounts; nil: any
	Actor    string        // for the audit entry of a batch that starts running
}

// Claim takes up to r.N refunds of approved or running batches that no
// live lease holds, oldest batch first and in sheet order within a batch,
// and returns them with their new version. A batch whose run lease a
// `bulkrefund run` process holds is left to that process. The first claim
// of an approved batch moves it to running, with an audit entry.
func (l *SQL) Claim(ctx context.Context, r ClaimRequest) ([]Record, error) {
	ids, err := l.ClaimableBatches(ctx)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, id := range ids {
		recs, _, err := l.ClaimFrom(ctx, r, id, -1)
		if err != nil {
			return out, err
		}
		out = append(out, recs...)
		if r.N -= len(recs); r.N == 0 {
			break
		}
	}
	return out, nil
}

// ClaimableBatches lists the batches workers may take refunds from:
// approved or running, and not being run by a `bulkrefund run` process
// (whose run lease is live), oldest first.
func (l *SQL) ClaimableBatches(ctx context.Context) ([]string, error) {
	rows, err := l.query(ctx, `SELECT id FROM batches WHERE status IN ('approved','running')
		AND (run_owner='' OR run_lease_until < ?) ORDER BY created, id`, fmtTime(time.Now()))
	if err != nil {
		return nil, l.errf("%w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, l.errf("%w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// ClaimFrom is Claim within one batch, from the sheet position after
// (-1: the start), and returns the position of the last refund it looked
// at: a worker walks a batch with it, each claim reading only the rows
// past the last, so that claiming a long batch costs the same at its end
// as at its start.
func (l *SQL) ClaimFrom(ctx context.Context, r ClaimRequest, batchID string, after int64) ([]Record, int64, error) {
	if r.N <= 0 || r.Owner == "" || r.Lease <= 0 {
		return nil, after, fmt.Errorf("claim: want an owner, a count and a lease (got %q, %d, %v)", r.Owner, r.N, r.Lease)
	}
	now := time.Now()
	nowText, until := fmtTime(now), fmtTime(now.Add(r.Lease))
	args := []any{r.Owner, until, batchID, after, nowText, nowText}
	acct := ""
	if len(r.Accounts) > 0 {
		parts := make([]string, len(r.Accounts))
		for i, a := range r.Accounts {
			parts[i] = "(r.provider=? AND r.account=?)"
			args = append(args, a.Provider, a.Account)
		}
		acct = " AND (" + strings.Join(parts, " OR ") + ")"
	}
	args = append(args, r.N)
	lock := ""
	if l.d.Name == "postgres" {
		lock = " FOR UPDATE OF r SKIP LOCKED"
	}
	// A refund also in another batch that a `bulkrefund run` holds is left
	// to that run.
	q := `UPDATE refunds SET owner=?, lease_until=?, version=version+1 WHERE id IN (
		SELECT r.id FROM batch_items bi JOIN refunds r ON r.id=bi.refund_id
		WHERE bi.batch_id=? AND bi.seq>?
		  AND r.state IN ('planned','submitting','pending','unknown','blocked') AND r.lease_until < ?
		  AND NOT EXISTS (SELECT 1 FROM batch_items bo JOIN batches b ON b.id=bo.batch_id
		              WHERE bo.refund_id=r.id AND b.run_owner<>'' AND b.run_lease_until >= ?)` + acct + `
		ORDER BY bi.seq LIMIT ?` + lock + `) RETURNING id`

	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, after, l.errf("claim: %w", err)
	}
	defer tx.Rollback()
	// The batch row, locked against a `bulkrefund run` taking the batch's
	// run lease meanwhile (see takeLease): a batch it holds is its own.
	share := ""
	if l.d.Name == "postgres" {
		share = " FOR SHARE"
	}
	var free bool
	var status string
	if err := tx.QueryRowContext(ctx, l.d.Rebind(`SELECT run_owner='' OR run_lease_until < ?, status FROM batches WHERE id=?`+share), nowText, batchID).Scan(&free, &status); err != nil {
		return nil, after, l.errf("claim: %w", err)
	}
	if !free {
		return nil, after, nil
	}
	if l.d.Name == "postgres" {
		// The cheap plan is the obvious one: walk the batch's items in
		// sheet order from the cursor, look each refund up by id, stop
		// after N. Statistics taken before a big batch was planned make
		// the planner sort and hash the whole batch on every claim
		// instead; these settings keep it on the walk.
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off`); err != nil {
			return nil, after, l.errf("claim: %w", err)
		}
	}
	ids, err := scanIDs(tx.QueryContext(ctx, l.d.Rebind(q), args...))
	if err != nil {
		return nil, after, l.errf("claim: %w", err)
	}
	if len(ids) == 0 {
		return nil, after, nil
	}
	in := "(?" + strings.Repeat(",?", len(ids)-1) + ")"
	rows, err := tx.QueryContext(ctx, l.d.Rebind(`SELECT bi.seq, bi.row, `+refundCols+`
		FROM batch_items bi JOIN refunds r ON r.id=bi.refund_id WHERE bi.batch_id=? AND r.id IN `+in+` ORDER BY bi.seq`),
		append([]any{batchID}, ids...)...)
	if err != nil {
		return nil, after, l.errf("claim: %w", err)
	}
	out := make([]Record, 0, len(ids))
	next := after
	for rows.Next() {
		var rec Record
		if err := scanRefund(rows, &rec, &next, &rec.Row); err != nil {
			rows.Close()
			return nil, after, l.errf("claim: %w", err)
		}
		out = append(out, rec)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, after, l.errf("claim: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, after, l.errf("claim: %w", err)
	}
	if status == BatchApproved {
		// In a transaction of its own: the claim holds the batch row shared,
		// and two claims upgrading it to write it would deadlock.
		if err := l.markRunning(ctx, batchID, r); err != nil {
			return out, next, err
		}
	}
	return out, next, nil
}

// markRunning moves an approved batch to running, with an audit entry, once.
func (l *SQL) markRunning(ctx context.Context, batchID string, r ClaimRequest) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.errf("%w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, l.d.Rebind(`UPDATE batches SET status='running' WHERE id=? AND status='approved'`), batchID)
	if err != nil {
		return l.errf("%w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if err := l.auditTx(ctx, tx, Audit{Actor: r.Actor, Action: "running", BatchID: batchID,
			Detail: "workers took the batch's first refunds (" + r.Owner + ")"}); err != nil {
			return err
		}
	}
	return l.errf2(tx.Commit())
}

// takeLease takes a batch's run lease for `bulkrefund run` (takeRunLease)
// unless workers hold some of its unsettled refunds: a run and a worker
// must never both work one refund, or a run could look up a refund a
// worker's request is carrying and send it again. Workers, for their part,
// claim nothing from a batch whose run lease is live (ClaimFrom). Both
// sides check under the batch row's lock, so the one that comes second
// sees the first.
func (l *SQL) takeLease(ctx context.Context, id string) error {
	if err := l.takeRunLease(ctx, id); err != nil {
		return err
	}
	n, err := l.LiveClaims(ctx, id)
	if err == nil && n == 0 {
		return nil
	}
	l.releaseLease(id)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: workers hold %d refunds of batch %.16s: they are running it (`bulkrefund status --batch %.16s`); let them finish, or stop them first",
		ErrInUse, n, id, id)
}

// scanIDs reads a column of ids.
func scanIDs(rows *sql.Rows, err error) ([]any, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// keyChunk bounds the keys one renewal or release names.
const keyChunk = 500

// RenewClaims extends to lease from now the claims owner holds on the
// unsettled refunds among keys, and returns the keys it renewed. A refund
// another worker took over after this one's lease expired is not renewed:
// it is no longer this owner's.
func (l *SQL) RenewClaims(ctx context.Context, owner string, keys []string, lease time.Duration) ([]string, error) {
	// A row this process's group commit is writing right now is skipped
	// rather than waited for (waiting could deadlock with it); the next
	// renewal, a fraction of a lease later, takes it.
	lock := ""
	if l.d.Name == "postgres" {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var renewed []string
	for len(keys) > 0 {
		n := min(len(keys), keyChunk)
		args := []any{fmtTime(time.Now().Add(lease)), owner}
		for _, k := range keys[:n] {
			args = append(args, k)
		}
		keys = keys[n:]
		got, err := scanKeys(l.query(ctx, `UPDATE refunds SET lease_until=? WHERE id IN (
			SELECT id FROM refunds WHERE owner=? AND state NOT IN ('succeeded','failed') AND rkey IN (?`+strings.Repeat(",?", n-1)+`)`+lock+`)
			RETURNING rkey`, args...))
		if err != nil {
			return renewed, l.errf("renewing claims: %w", err)
		}
		renewed = append(renewed, got...)
	}
	return renewed, nil
}

func scanKeys(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// ReleaseClaims gives back the claims owner holds on the unsettled
// refunds among keys, once the outcomes this process queued are written,
// and returns how many it gave back. A refund in a state that rest names
// is not claimable again for that long (a pending one until its next
// poll, a doubtful one until any request of ours still travelling has
// landed); the others at once. A settled refund keeps its owner: the
// worker that settled it.
func (l *SQL) ReleaseClaims(ctx context.Context, owner string, keys []string, rest map[State]time.Duration) (int, error) {
	if err := l.sync(ctx); err != nil {
		return 0, err
	}
	now := time.Now()
	var cases strings.Builder
	var caseArgs []any
	for _, s := range Claimable {
		if d := rest[s]; d > 0 {
			cases.WriteString(" WHEN state=? THEN ?")
			caseArgs = append(caseArgs, string(s), fmtTime(now.Add(d)))
		}
	}
	set := "''"
	if cases.Len() > 0 {
		set = "CASE" + cases.String() + " ELSE '' END"
	}
	released := 0
	for len(keys) > 0 {
		n := min(len(keys), keyChunk)
		args := append(append([]any{}, caseArgs...), owner)
		for _, k := range keys[:n] {
			args = append(args, k)
		}
		keys = keys[n:]
		res, err := l.exec(ctx, `UPDATE refunds SET owner='', lease_until=`+set+`
			WHERE owner=? AND state NOT IN ('succeeded','failed') AND rkey IN (?`+strings.Repeat(",?", n-1)+`)`, args...)
		if err != nil {
			return released, l.errf("releasing claims: %w", err)
		}
		m, _ := res.RowsAffected()
		released += int(m)
	}
	return released, nil
}

// WakeBlocked makes the blocked refunds of accounts (nil: all) that no
// worker holds claimable at once, instead of after their rest: a worker
// started after its configuration was fixed retries them first.
func (l *SQL) WakeBlocked(ctx context.Context, accounts []AccountRef) (int, error) {
	q, args := `UPDATE refunds SET lease_until='' WHERE state='blocked' AND owner=''`, []any{}
	if len(accounts) > 0 {
		parts := make([]string, len(accounts))
		for i, a := range accounts {
			parts[i] = "(provider=? AND account=?)"
			args = append(args, a.Provider, a.Account)
		}
		q += " AND (" + strings.Join(parts, " OR ") + ")"
	}
	res, err := l.exec(ctx, q, args...)
	if err != nil {
		return 0, l.errf("%w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// LiveClaims counts the unsettled refunds of a batch that a worker holds now.
func (l *SQL) LiveClaims(ctx context.Context, batchID string) (int, error) {
	var n int
	err := l.db.QueryRowContext(ctx, l.d.Rebind(`SELECT count(*) FROM batch_items bi JOIN refunds r ON r.id=bi.refund_id
		WHERE bi.batch_id=? AND r.owner<>'' AND r.lease_until>=? AND r.state NOT IN ('succeeded','failed')`), batchID, fmtTime(time.Now())).Scan(&n)
	if err != nil {
		return 0, l.errf("%w", err)
	}
	return n, nil
}

// CompleteBatches marks done every approved or running batch whose
// refunds are all final, with an audit entry by actor, and returns their ids.
func (l *SQL) CompleteBatches(ctx context.Context, actor string) ([]string, error) {
	if err := l.sync(ctx); err != nil {
		return nil, err
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, l.errf("%w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `UPDATE batches SET status='done' WHERE status IN ('approved','running')
		AND NOT EXISTS (SELECT 1 FROM batch_items bi JOIN refunds r ON r.id=bi.refund_id
		                WHERE bi.batch_id=batches.id AND r.state NOT IN ('succeeded','failed')) RETURNING id`)
	if err != nil {
		return nil, l.errf("%w", err)
	}
	var done []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, l.errf("%w", err)
		}
		done = append(done, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, l.errf("%w", err)
	}
	for _, id := range done {
		if err := l.auditTx(ctx, tx, Audit{Actor: actor, Action: "done", BatchID: id, Detail: "every refund of the batch is settled"}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, l.errf("%w", err)
	}
	return done, nil
}
