package store

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // pgx behind database/sql: one ledger implementation for both engines
)

// PostgresDialect is the shared ledger's engine: several workers on several
// hosts, one database. The schema is the SQLite one (schemaV1) with
// PostgreSQL's types. Keys, ids and times compare bytewise (COLLATE "C"),
// as SQLite's text does, whatever the database's collation: key-prefix
// ranges and time comparisons mean the same on both. The audit trail
// refuses UPDATE, DELETE and TRUNCATE in a trigger, as SQLite's does.
var PostgresDialect = Dialect{
	Name:   "postgres",
	Rebind: rebindDollar,
	Migrations: []string{
		schemaV1("BIGSERIAL PRIMARY KEY", "") + `;
ALTER TABLE refunds ALTER COLUMN rkey TYPE TEXT COLLATE "C", ALTER COLUMN planned_at TYPE TEXT COLLATE "C", ALTER COLUMN lease_until TYPE TEXT COLLATE "C";
ALTER TABLE batches ALTER COLUMN id TYPE TEXT COLLATE "C", ALTER COLUMN created TYPE TEXT COLLATE "C", ALTER COLUMN run_lease_until TYPE TEXT COLLATE "C";
ALTER TABLE batch_items ALTER COLUMN batch_id TYPE TEXT COLLATE "C";
CREATE FUNCTION audit_never_edited() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the audit trail is never edited'; END $$;
CREATE TRIGGER audit_never_updated BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_never_edited();
CREATE TRIGGER audit_never_truncated BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_never_edited()`,
		// Workers look for claimable refunds (claim.go) by state and lease,
		// and for the approved batches that hold each: a partial index keeps
		// the first cheap when the ledger holds years of settled refunds.
		`CREATE INDEX refunds_claimable ON refunds (id) WHERE state IN ('planned','submitting','pending','unknown','blocked');
CREATE INDEX batch_items_refund ON batch_items (refund_id)`,
	},
}

// rebindDollar turns '?' placeholders into $1..$n, leaving any '?' inside a
// quoted string or identifier alone.
func rebindDollar(q string) string {
	if !strings.ContainsRune(q, '?') {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// IsPostgresURL reports whether spec names a PostgreSQL ledger rather than
// an SQLite file.
func IsPostgresURL(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// OpenPostgres opens the PostgreSQL ledger at url (postgres://user@host/db,
// with any libpq parameter in the query: sslmode, search_path, ...),
// creating or migrating its schema. The tables live in the connection's
// search_path schema, public by default.
func OpenPostgres(ctx context.Context, dsn string) (*SQL, error) {
	where := RedactURL(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the URL with its password.
		return nil, fmt.Errorf("ledger %s: not a valid PostgreSQL URL", where)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	// The group committer holds one connection; reads, claims, lease
	// renewals and the shared rate limiter take others. Keep them open:
	// reconnecting costs more than a refund's writes.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: cannot reach the PostgreSQL server: %s", where, redactErr(err, dsn))
	}
	l, err := Open(db, PostgresDialect, where)
	if err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

// RedactURL hides the password of a PostgreSQL URL or key=value DSN, for
// messages and Where: the ledger's location is printed in every report
// header and log line.
func RedactURL(dsn string) string {
	if IsPostgresURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return "postgres://(unparseable URL)"
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return dsnPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

var dsnPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// redactErr is err's text with the DSN's password, if any, cut out.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return dsnPassword.ReplaceAllString(msg, "${1}xxxxx")
}
