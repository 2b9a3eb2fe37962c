package store_test

import (
	"os"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
	"strings"
	"sync"
	"testing"

	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/batch/store/pgtest"
	"github.com/bulkrefund/bulkrefund/batch/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgOpener opens ledgers in fresh schemas of the package's test database.
func pgOpener() storetest.Opener {
	var mu sync.Mutex
	urls := map[*store.SQL]string{} // Where is redacted; Reopen needs the URL itself
	return storetest.Opener{
		New: func(t *testing.T) *store.SQL {
			u := pgtest.URL(t)
			l := pgtest.Reopen(t, u)
			mu.Lock()
			urls[l] = u
			mu.Unlock()
			return l
		},
		Reopen: func(t *testing.T, l *store.SQL) *store.SQL {
			mu.Lock()
			u := urls[l]
			mu.Unlock()
			return pgtest.Reopen(t, u)
		},
	}
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, pgOpener())
}

func TestRebind(t *testing.T) {
	got := store.PostgresDialect.Rebind(`UPDATE t SET a=?, b='?' WHERE c=? AND "odd?"=?`)
	want := `UPDATE t SET a=$1, b='?' WHERE c=$2 AND "odd?"=$3`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:s3cret@db.example:5432/ledger?sslmode=require": "postgres://app:xxxxx@db.example:5432/ledger?sslmode=require",
		"postgresql://app@db/ledger?password=s3cret":                   "postgresql://app@db/ledger?password=xxxxx",
		"host=db user=app password=s3cret dbname=ledger":               "host=db user=app password=xxxxx dbname=ledger",
		"host=db password='s3 cret' dbname=ledger":                     "host=db password=xxxxx dbname=ledger",
		"/var/lib/bulkrefund/ledger.db":                                "/var/lib/bulkrefund/ledger.db",
	} {
		if got := store.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPostgresWhereAndErrorsHidePassword(t *testing.T) {
	// A server that is not there: the error names the URL without its password.
	_, err := store.OpenPostgres(t.Context(), "postgres://app:s3cret@127.0.0.1:1/ledger?connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "xxxxx") {
		t.Fatalf("error %v", err)
	}
	u := pgtest.URL(t)
	l := pgtest.Reopen(t, strings.Replace(u, "postgres@", "postgres:ignored-by-trust@", 1))
	if strings.Contains(l.Where(), "ignored-by-trust") {
		t.Fatalf("Where() = %s", l.Where())
	}
}

// Several workers started at once on a new database: each creates or finds
// the schema, none fails.
func TestPostgresConcurrentFirstOpen(t *testing.T) {
	for range 5 {
		u := pgtest.URL(t)
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for range 6 {
			wg.Go(func() {
				l, err := store.OpenPostgres(t.Context(), u)
				if err != nil {
					errs <- err
					return
				}
				errs <- l.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Prefix and range queries on text (a batch id prefix, an order's refunds
// by key prefix, times) give the same answers on PostgreSQL whatever the
// database's collation (the test database uses ICU en-US) as on SQLite.
func TestOrderRefundsAndPrefixesAnyCollation(t *testing.T) {
	engines(t, func(t *testing.T, o storetest.Opener) {
		l := o.New(t)
		var items []batch.Item
		orders := []string{"A", "A-1", "A1", "a", "A_", "A 2", "Ä", "A\u00a0"}
		for i, ord := range orders {
			for j, rn := range []string{"R1", "r-2", "Z"} {
				items = append(items, batch.Item{Row: len(items) + 2, Refund: adapters.Refund{Provider: adapters.Upay, Account: "T1",
					OrderNo: ord, RefundNo: rn, Amount: int64(100*i + j + 1), Total: 100000, Currency: money.CNY, Action: adapters.ActionRefund}})
			}
		}
		res, err := l.Plan(t.Context(), storetest.Meta(items, "s.csv"), items)
		if err != nil {
			t.Fatal(err)
		}
		for i, ord := range orders {
			got, err := l.OrderRefunds(t.Context(), items[3*i])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Errorf("order %q: %d refunds, want 3", ord, len(got))
			}
			for _, r := range got {
				if r.OrderNo != ord {
					t.Errorf("order %q: got a refund of order %q", ord, r.OrderNo)
				}
			}
		}
		if m, err := l.Batch(t.Context(), res.Meta.BatchID[:10]); err != nil || m.BatchID != res.Meta.BatchID {
			t.Fatalf("batch by prefix: %v", err)
		}
	})
}
