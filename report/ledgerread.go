package report

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// ledgerSchema is the version of the ledger's tables readBatchDirect knows.
const ledgerSchema = 1

// readBatchDirect reads one batch's refunds from the ledger's tables in
// one query. The store's view scans every column of a refund and parses
// five times per refund, one chunk after the other; for a million refunds
// that was most of a nightly reconciliation's time. This reads only the
// columns the report needs. (Two queries at once, one per half, read in
// two thirds of the time, but each SQLite connection of the pure-Go
// driver then holds about 125 MB outside Go's heap, which took a million
// refunds past the memory budget.)
//
// It knows one version of the ledger's schema: for another version, or a
// ledger that is not a *store.SQL, ok is false and the caller reads
// through the store, which is always right.
func readBatchDirect(ctx context.Context, l store.Ledger, m store.Meta, path string, source int32) (out []Ours, ok bool, err error) {
	s, isSQL := l.(*store.SQL)
	if !isSQL {
		return nil, false, nil
	}
	d := s.Dialect()
	var v int
	if err := s.DB().QueryRowContext(ctx, d.Rebind(`SELECT version FROM ledger_schema WHERE component = ?`), "ledger").Scan(&v); err != nil || v != ledgerSchema {
		return nil, false, nil
	}
	q := d.Rebind(`SELECT bi.row, r.provider, r.account, r.order_no, r.provider_order_id, r.refund_no, r.action, r.currency,
		r.payment_method, r.provider_refund_id, r.provider_code, r.provider_message, r.last_error,
		r.amount, r.total, r.state, r.attempts, r.first_attempt, r.last_attempt
		FROM batch_items bi JOIN refunds r ON r.id = bi.refund_id
		WHERE bi.batch_id = ? AND bi.seq >= ? AND bi.seq < ? ORDER BY bi.seq`)
	out = make([]Ours, m.Items)
	n, err := readSeqs(ctx, s.DB(), q, m.BatchID, 0, out, path, source)
	if err == nil && n != m.Items {
		err = fmt.Errorf("%s: %d refunds read, the batch has %d", path, n, m.Items)
	}
	if err != nil {
		return nil, true, err
	}
	return out, true, nil
}

// readSeqs reads the batch's refunds from position lo into out, and
// returns how many it read.
func readSeqs(ctx context.Context, db *sql.DB, q, batchID string, lo int, out []Ours, path string, source int32) (int, error) {
	rows, err := db.QueryContext(ctx, q, batchID, lo, lo+len(out))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer rows.Close()
	n := 0
	var (
		r                         OurRecord
		row, attempts             int64
		action, currency, state   string
		firstAttempt, lastAttempt string
	)
	for rows.Next() {
		if n == len(out) {
			return n + 1, nil
		}
		if err := rows.Scan(&row, &r.Provider, &r.Account, &r.OrderNo, &r.ProviderOrderID, &r.RefundNo, &action, &currency,
			&r.PaymentMethod, &r.ProviderRefundID, &r.ProviderCode, &r.ProviderMessage, &r.Error,
			&r.Amount, &r.Total, &state, &attempts, &firstAttempt, &lastAttempt); err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		r.Action, r.Currency, r.Attempts, r.Source, r.Row = adapters.Action(action), money.Currency(currency), int32(attempts), source, int32(row)
		if r.State, err = ParseState(state); err != nil {
			return n, &InputError{File: path, Row: int(row), Column: "state", Value: state, Err: err}
		}
		r.FirstAttempt, r.LastAttempt = ledgerTime(firstAttempt), ledgerTime(lastAttempt)
		out[n] = NewOurs(r)
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// ledgerTime reads a time as the ledger writes it: fixed-width UTC,
// 2006-01-02T15:04:05.000000000Z, read by hand (time.Parse of two times per
// refund cost a sixth of reading a million); anything else through
// time.Parse; "" is zero.
func ledgerTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if len(s) == 30 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == '.' && s[29] == 'Z' {
		num := func(a, b int) (int, bool) {
			n := 0
			for i := a; i < b; i++ {
				c := s[i]
				if c < '0' || c > '9' {
					return 0, false
				}
				n = n*10 + int(c-'0')
			}
			return n, true
		}
		y, ok1 := num(0, 4)
		mo, ok2 := num(5, 7)
		d, ok3 := num(8, 10)
		h, ok4 := num(11, 13)
		mi, ok5 := num(14, 16)
		sec, ok6 := num(17, 19)
		ns, ok7 := num(20, 29)
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 61 {
			return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	return time.Time{}
}
