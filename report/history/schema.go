package history

// migrations are the history's schema versions per ledger engine:
// migrations[engine][i] takes the "reconcile" component from version i to
// i+1 (store.EnsureSchema). Statements are separated by ";\n", so each
// trigger is written on one line.
var migrations = map[string][]string{
	"sqlite":   {schemaV1("INTEGER PRIMARY KEY") + ";\n" + sqliteGuards},
	"postgres": {schemaV1("BIGSERIAL PRIMARY KEY") + ";\n" + postgresGuards},
}

func schemaV1(id string) string {
	return `CREATE TABLE reconcile_nights (
	id ` + id + `,
	at TEXT NOT NULL, night TEXT NOT NULL,
	operator TEXT NOT NULL, tool_version TEXT NOT NULL,
	row_count BIGINT NOT NULL, seen BIGINT NOT NULL, cleared BIGINT NOT NULL
);
CREATE TABLE reconcile_exceptions (
	id ` + id + `,
	exc_id TEXT NOT NULL,
	category TEXT NOT NULL,
	refund_key TEXT NOT NULL,
	provider TEXT NOT NULL, account TEXT NOT NULL, order_no TEXT NOT NULL,
	refund_no TEXT NOT NULL, provider_refund_id TEXT NOT NULL,
	reason TEXT NOT NULL,
	first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, last_night TEXT NOT NULL,
	nights_open BIGINT NOT NULL,
	first_night BIGINT NOT NULL, last_night_id BIGINT NOT NULL,
	cleared_at TEXT NOT NULL DEFAULT '', cleared_night BIGINT NOT NULL DEFAULT 0,
	cleared_as TEXT NOT NULL DEFAULT '', evidence TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX reconcile_exceptions_open ON reconcile_exceptions (exc_id) WHERE cleared_at = '';
CREATE INDEX reconcile_exceptions_refund_no ON reconcile_exceptions (refund_no);
CREATE TABLE reconcile_resolutions (
	id ` + id + `,
	exception BIGINT NOT NULL,
	exc_id TEXT NOT NULL, category TEXT NOT NULL,
	at TEXT NOT NULL, by_name TEXT NOT NULL, note TEXT NOT NULL
);
CREATE INDEX reconcile_resolutions_exception ON reconcile_resolutions (exception)`
}

// The audit rules, as the ledger's own audit table keeps them: nights and
// explanations are never edited or deleted; an exception is never deleted,
// its id and first sighting never change, and once cleared it is final.
const sqliteGuards = `CREATE TRIGGER reconcile_nights_never_updated BEFORE UPDATE ON reconcile_nights BEGIN SELECT RAISE(ABORT, 'the reconciliation history is never edited'); END;
CREATE TRIGGER reconcile_nights_never_deleted BEFORE DELETE ON reconcile_nights BEGIN SELECT RAISE(ABORT, 'the reconciliation history is never edited'); END;
CREATE TRIGGER reconcile_resolutions_never_updated BEFORE UPDATE ON reconcile_resolutions BEGIN SELECT RAISE(ABORT, 'an explanation is never edited'); END;
CREATE TRIGGER reconcile_resolutions_never_deleted BEFORE DELETE ON reconcile_resolutions BEGIN SELECT RAISE(ABORT, 'an explanation is never deleted'); END;
CREATE TRIGGER reconcile_exceptions_never_deleted BEFORE DELETE ON reconcile_exceptions BEGIN SELECT RAISE(ABORT, 'the reconciliation history is never edited'); END;
CREATE TRIGGER reconcile_exceptions_identity_kept BEFORE UPDATE OF exc_id, first_seen, first_night, refund_key ON reconcile_exceptions BEGIN SELECT RAISE(ABORT, 'an exception keeps its id and first sighting'); END;
CREATE TRIGGER reconcile_exceptions_cleared_final BEFORE UPDATE ON reconcile_exceptions WHEN OLD.cleared_at <> '' BEGIN SELECT RAISE(ABORT, 'a cleared exception is never changed'); END`

const postgresGuards = `CREATE FUNCTION reconcile_never_edited() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the reconciliation history is never edited'; END $$;
CREATE TRIGGER reconcile_nights_never_edited BEFORE UPDATE OR DELETE ON reconcile_nights FOR EACH ROW EXECUTE FUNCTION reconcile_never_edited();
CREATE TRIGGER reconcile_resolutions_never_edited BEFORE UPDATE OR DELETE ON reconcile_resolutions FOR EACH ROW EXECUTE FUNCTION reconcile_never_edited();
CREATE TRIGGER reconcile_exceptions_never_deleted BEFORE DELETE ON reconcile_exceptions FOR EACH ROW EXECUTE FUNCTION reconcile_never_edited();
CREATE TRIGGER reconcile_exceptions_identity_kept BEFORE UPDATE OF exc_id, first_seen, first_night, refund_key ON reconcile_exceptions FOR EACH ROW EXECUTE FUNCTION reconcile_never_edited();
CREATE TRIGGER reconcile_exceptions_cleared_final BEFORE UPDATE ON reconcile_exceptions FOR EACH ROW WHEN (OLD.cleared_at <> '') EXECUTE FUNCTION reconcile_never_edited()`
