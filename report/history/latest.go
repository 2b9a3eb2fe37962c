package history

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// NightRecord is one reconciliation that kept history, as recorded.
type NightRecord struct {
	At          time.Time
	Night       string // YYYY-MM-DD in the report's time zone
	Operator    string
	ToolVersion string
	Rows        int // refunds reconciled
	Seen        int // exceptions it saw open
	Cleared     int // earlier exceptions it found cleared
}

// Latest returns the most recent reconciliation that kept history; ok is
// false when none has (for the web page's "latest nightly reconciliation").
func (s *Store) Latest(ctx context.Context) (n NightRecord, ok bool, err error) {
	var at string
	err = s.db.QueryRowContext(ctx, `SELECT at, night, operator, tool_version, row_count, seen, cleared FROM reconcile_nights ORDER BY id DESC LIMIT 1`).
		Scan(&at, &n.Night, &n.Operator, &n.ToolVersion, &n.Rows, &n.Seen, &n.Cleared)
	if errors.Is(err, sql.ErrNoRows) {
		return n, false, nil
	}
	if err != nil {
		return n, false, s.errf("%w", err)
	}
	n.At = parseTime(at)
	return n, true, nil
}
