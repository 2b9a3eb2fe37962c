package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
)

// ImportResult says what importing one old state file did.
type ImportResult struct {
	Plan     PlanResult
	Adopted  int // refunds whose state the file moved past planned
	Kept     int // refunds the ledger already had further along: left as they are
	Conflict *ConflictError
}

// ImportState adopts a per-batch state file of an earlier bulkrefund (tables
// meta and items) into the ledger: its batch is planned, and every refund
// the ledger holds only as planned takes the file's state, attempts and
// provider answer. A refund the ledger already holds further along is kept
// as it is. A refund number the ledger holds for other content refuses the
// whole file, as a sheet would be.
func ImportState(ctx context.Context, l *SQL, path, actor string) (ImportResult, error) {
	var res ImportResult
	if _, err := os.Stat(path); err != nil {
		return res, fmt.Errorf("state file: %w", err)
	}
	old, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return res, fmt.Errorf("state file %s: %w", path, err)
	}
	defer old.Close()
	var m Meta
	var created string
	if err := old.QueryRowContext(ctx, `SELECT batch_id, source_path, source_sha256, operator, host, tool_version, created, items FROM meta LIMIT 1`).
		Scan(&m.BatchID, &m.SourcePath, &m.SourceSHA256, &m.Operator, &m.Host, &m.ToolVersion, &created, &m.Items); err != nil {
		return res, fmt.Errorf("state file %s: not a bulkrefund state file: %w", path, err)
	}
	m.Created = parseTime(created)
	rows, err := old.QueryContext(ctx, `SELECT row, provider, account, order_no, provider_order_id, refund_no,
		amount, total, currency, action, operator, reason, payment_method, notify_url,
		state, attempts, first_attempt, last_attempt, provider_refund_id, provider_code, provider_message,
		provider_amount, provider_time, last_error FROM items ORDER BY seq`)
	if err != nil {
		return res, fmt.Errorf("state file %s: %w", path, err)
	}
	var recs []Record
	for rows.Next() {
		var r Record
		var cur, action, state, first, last, ptime string
		if err := rows.Scan(&r.Row, &r.Provider, &r.Account, &r.OrderNo, &r.ProviderOrderID, &r.RefundNo,
			&r.Amount, &r.Total, &cur, &action, &r.Operator, &r.Reason, &r.PaymentMethod, &r.NotifyURL,
			&state, &r.Attempts, &first, &last, &r.ProviderRefundID, &r.ProviderCode, &r.ProviderMessage,
			&r.ProviderAmount, &ptime, &r.LastError); err != nil {
			rows.Close()
			return res, fmt.Errorf("state file %s: %w", path, err)
		}
		r.Currency, r.Action, r.State = money.Currency(cur), adapters.Action(action), State(state)
		r.FirstAttempt, r.LastAttempt, r.ProviderTime = parseTime(first), parseTime(last), parseTime(ptime)
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("state file %s: %w", path, err)
	}
	items := make([]batch.Item, len(recs))
	for i, r := range recs {
		items[i] = r.Item
	}
	m.Items = len(items)
	if m.BatchID == "" {
		m.BatchID = batch.Identity(items)
	}
	m.Status = BatchDone
	res.Plan, err = l.Plan(ctx, m, items)
	if ce, ok := err.(*ConflictError); ok {
		res.Conflict = ce
		return res, err
	}
	if err != nil {
		return res, err
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return res, l.errf("%w", err)
	}
	defer tx.Rollback()
	upd, err := tx.PrepareContext(ctx, l.d.Rebind(`UPDATE refunds SET state=?, version=version+1, attempts=?, first_attempt=?, last_attempt=?,
		provider_refund_id=?, provider_code=?, provider_message=?, provider_amount=?, provider_time=?, last_error=?, updated_at=?
		WHERE rkey=? AND state='planned' AND attempts=0`))
	if err != nil {
		return res, l.errf("%w", err)
	}
	defer upd.Close()
	now := fmtTime(m.Created)
	for _, r := range recs {
		if r.State == Planned || !r.State.Valid() {
			continue
		}
		n, err := upd.ExecContext(ctx, string(r.State), r.Attempts, fmtTime(r.FirstAttempt), fmtTime(r.LastAttempt),
			r.ProviderRefundID, r.ProviderCode, r.ProviderMessage, r.ProviderAmount, fmtTime(r.ProviderTime), r.LastError, now, r.Key())
		if err != nil {
			return res, l.errf("row %d: %w", r.Row, err)
		}
		if k, _ := n.RowsAffected(); k == 1 {
			res.Adopted++
		} else {
			res.Kept++
		}
	}
	if err := l.auditTx(ctx, tx, Audit{Actor: actor, Action: "imported", BatchID: m.BatchID,
		Detail: fmt.Sprintf("state file %s: %d rows, %d states adopted, %d kept as the ledger had them", path, len(recs), res.Adopted, res.Kept)}); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, l.errf("%w", err)
	}
	return res, nil
}

// KeyText shows a ledger key in messages.
func KeyText(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, adapters.KeySep+adapters.KeySep, "/"), adapters.KeySep, "/")
}
