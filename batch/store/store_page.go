package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Queries for pages that show one slice of a large batch or of the audit
// trail at a time (the web server). Each reads through an index: a batch's
// rows by its primary key (batch_id, seq), a refund number through
// refunds_refund_no, the audit trail by its id. Plain SQL both engines take.

// ErrBatchStatus: a compare-and-set on a batch's status found another status.
var ErrBatchStatus = errors.New("batch status changed meanwhile")

// SetBatchStatusFrom is SetBatchStatus as a compare-and-set: the status
// moves only from one of from, and the audit entry is written in the same
// transaction, or neither is.
func (l *SQL) SetBatchStatusFrom(ctx context.Context, id string, from []string, to string, a Audit) error {
	if len(from) == 0 {
		return fmt.Errorf("SetBatchStatusFrom: no status to move from")
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.errf("%w", err)
	}
	defer tx.Rollback()
	args := []any{to, id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := tx.ExecContext(ctx, l.d.Rebind(`UPDATE batches SET status=? WHERE id=? AND status IN (?`+strings.Repeat(",?", len(from)-1)+`)`), args...)
	if err != nil {
		return l.errf("%w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var now string
		err := tx.QueryRowContext(ctx, l.d.Rebind(`SELECT status FROM batches WHERE id=?`), id).Scan(&now)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrNoBatch, id)
		}
		return fmt.Errorf("%w: batch %.16s is %s, not %s", ErrBatchStatus, id, now, strings.Join(from, " or "))
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

// PageQuery selects one page of a batch's rows.
type PageQuery struct {
	BatchID string // the full id
	// After is the position (Record.Seq) the page starts after; -1 for the
	// first page. Pages are keyed by position, never by OFFSET, so that the
	// last page of a 100,000-row batch costs what the first does.
	After int64
	Limit int // rows per page; 50 when 0, at most 1000
	// States keeps rows in one of these states; empty: all.
	States []State
	// RefundNo keeps the rows of one refund number (exact).
	RefundNo string
	// Row keeps the row of one sheet row number; 0: any.
	Row int
}

// PageRow is one row of a page: the record and its position in the batch.
type PageRow struct {
	Seq int64
	Record
}

// Page is one page of a batch's rows, in sheet order.
type Page struct {
	Rows []PageRow
	// Next is the After of the next page; -1 when this is the last.
	Next int64
}

// BatchPage reads one page of a batch's rows.
func (l *SQL) BatchPage(ctx context.Context, q PageQuery) (Page, error) {
	if err := l.sync(ctx); err != nil {
		return Page{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, 1000)
	where := []string{"bi.batch_id=?", "bi.seq>?"}
	args := []any{q.BatchID, q.After}
	if len(q.States) > 0 {
		where = append(where, "r.state IN (?"+strings.Repeat(",?", len(q.States)-1)+")")
		for _, s := range q.States {
			args = append(args, string(s))
		}
	}
	if q.Row > 0 {
		where, args = append(where, "bi.row=?"), append(args, q.Row)
	}
	if q.RefundNo != "" {
		// Through the refund number's index: the few refunds with that
		// number, then their place in this batch.
		where = append(where, "bi.refund_id IN (SELECT id FROM refunds WHERE refund_no=?)")
		args = append(args, q.RefundNo)
	}
	args = append(args, q.Limit+1)
	rows, err := l.query(ctx, `SELECT bi.seq, bi.row, `+refundCols+` FROM batch_items bi JOIN refunds r ON r.id=bi.refund_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY bi.seq LIMIT ?`, args...)
	if err != nil {
		return Page{}, l.errf("%w", err)
	}
	defer rows.Close()
	p := Page{Next: -1}
	for rows.Next() {
		var r PageRow
		if err := scanRefund(rows, &r.Record, &r.Seq, &r.Row); err != nil {
			return Page{}, l.errf("%w", err)
		}
		p.Rows = append(p.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, l.errf("%w", err)
	}
	if len(p.Rows) > q.Limit {
		p.Rows = p.Rows[:q.Limit]
		p.Next = p.Rows[q.Limit-1].Seq
	}
	return p, nil
}

// AuditEntry is an audit entry with its position in the trail.
type AuditEntry struct {
	ID int64
	Audit
}

// AuditQuery selects a page of the audit trail, newest first.
type AuditQuery struct {
	Before  int64  // entries with an id below this; 0: from the newest
	Limit   int    // 100 when 0, at most 1000
	BatchID string // one batch's entries; "": all
}

// AuditPage reads a page of the audit trail, newest first; next is the
// Before of the next page, 0 when this is the last.
func (l *SQL) AuditPage(ctx context.Context, q AuditQuery) (entries []AuditEntry, next int64, err error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	where, args := []string{"1=1"}, []any{}
	if q.Before > 0 {
		where, args = append(where, "id<?"), append(args, q.Before)
	}
	if q.BatchID != "" {
		where, args = append(where, "batch_id=?"), append(args, q.BatchID)
	}
	args = append(args, q.Limit+1)
	rows, err := l.query(ctx, `SELECT id, at, actor, action, batch_id, refund_key, detail FROM audit WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, 0, l.errf("%w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.BatchID, &e.Key, &e.Detail); err != nil {
			return nil, 0, l.errf("%w", err)
		}
		e.At = parseTime(at)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, l.errf("%w", err)
	}
	if len(entries) > q.Limit {
		entries = entries[:q.Limit]
		next = entries[q.Limit-1].ID
	}
	return entries, next, nil
}
