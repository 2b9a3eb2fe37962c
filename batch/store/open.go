package store

import (
	"context"
	"os"
)

// LedgerEnv names the environment variable that selects the ledger when
// --ledger is not given.
const LedgerEnv = "BULKREFUND_LEDGER"

// OpenLedger opens the ledger spec names, for every command: a postgres://
// or postgresql:// URL is the shared PostgreSQL ledger (o does not apply:
// the server's database must exist, and the tool creates its tables);
// anything else is an SQLite file path, which o says may be created. ""
// means $BULKREFUND_LEDGER, else DefaultPath.
func OpenLedger(ctx context.Context, spec string, o SQLiteOptions) (*SQL, error) {
	spec = LedgerSpec(spec)
	if IsPostgresURL(spec) {
		return OpenPostgres(ctx, spec)
	}
	return OpenSQLite(spec, o)
}

// LedgerSpec is the ledger a command uses: spec if given, else
// $BULKREFUND_LEDGER, else DefaultPath.
func LedgerSpec(spec string) string {
	if spec == "" {
		spec = os.Getenv(LedgerEnv)
	}
	if spec == "" {
		spec = DefaultPath()
	}
	return spec
}
