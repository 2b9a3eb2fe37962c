// Package pgtest gives tests a throw-away PostgreSQL ledger on a real
// server. A test package calls Main from its TestMain: it creates one
// database with a random name, runs the tests, and drops it. Each test then
// takes a fresh schema of that database with URL or Open.
//
// The server is $BULKREFUND_TEST_POSTGRES, default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (the local
// server with trust authentication, as Debian's postgresql package and
// .ci/run set it up). When no server answers there, the tests skip with a
// message saying how to get one, and only then: a server that answers but
// refuses (authentication, permissions) fails them. With
// BULKREFUND_REQUIRE_POSTGRES=1 (CI) a missing server fails them too.
package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// DefaultServer is the server tests use unless $BULKREFUND_TEST_POSTGRES says otherwise.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// HowTo says how to get a server, for skip messages and the README.
const HowTo = "install and start PostgreSQL (Debian/Ubuntu: apt-get install -y postgresql && " +
	"pg_ctlcluster $(ls /etc/postgresql) main start; .ci/run does this), or point " +
	"BULKREFUND_TEST_POSTGRES at a server where the user may create databases"

var (
	dbURL   string // the package's throw-away database; "" if none
	skipMsg string // why there is none
	schemas atomic.Int64
)

// Server is the server URL the tests use.
func Server() string {
	if s := os.Getenv("BULKREFUND_TEST_POSTGRES"); s != "" {
		return s
	}
	return DefaultServer
}

// Main runs the package's tests around one throw-away database and returns
// the exit code: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	ctx := context.Background()
	name, err := create(ctx)
	switch {
	case errors.Is(err, errNoServer):
		skipMsg = fmt.Sprintf("no PostgreSQL server answers at %s (%v): %s", store.RedactURL(Server()), err, HowTo)
		if os.Getenv("BULKREFUND_REQUIRE_POSTGRES") != "" {
			fmt.Fprintln(os.Stderr, "pgtest: BULKREFUND_REQUIRE_POSTGRES is set and "+skipMsg)
			return 1
		}
	case err != nil:
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	code := m.Run()
	if name != "" {
		if err := drop(ctx, name); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: dropping test database %s: %v\n", name, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

var errNoServer = errors.New("no server")

func adminConn(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, Server())
	if err != nil {
		var ne net.Error
		var pe *pgconn.PgError
		if !errors.As(err, &pe) && (errors.As(err, &ne) || strings.Contains(err.Error(), "connect")) {
			// Nothing listening (or not reachable): no server here.
			return nil, fmt.Errorf("%w: %s", errNoServer, lastLine(err))
		}
		return nil, fmt.Errorf("connecting to %s: %v", store.RedactURL(Server()), err)
	}
	return c, nil
}

func lastLine(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func create(ctx context.Context) (string, error) {
	c, err := adminConn(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	name := "bulkrefund_test_" + strings.ToLower(rand.Text()[:12])
	// A linguistic collation (ICU en-US, PostgreSQL 15+), as many servers
	// have, rather than bytewise C: text comparisons in the ledger's
	// queries must not depend on it.
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"); err != nil {
		if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			return "", fmt.Errorf("creating test database: %v", err)
		}
	}
	u, err := url.Parse(Server())
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	dbURL = u.String()
	return name, nil
}

func drop(ctx context.Context, name string) error {
	c, err := adminConn(ctx)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	// FORCE: a process a test started (a worker killed mid-way) may still hold a connection.
	_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}

// URL returns the URL of a fresh, empty schema in the package's test
// database (as the connection's search_path), or skips t if there is no
// server. The schema is dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	if dbURL == "" {
		if skipMsg == "" {
			t.Fatal("pgtest: call pgtest.Main from the package's TestMain")
		}
		t.Skip(skipMsg)
	}
	schema := fmt.Sprintf("t%d_%s", schemas.Add(1), strings.ToLower(rand.Text()[:6]))
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, _ := url.Parse(dbURL)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a fresh ledger in its own schema, closed when t ends.
func Open(t testing.TB) *store.SQL {
	t.Helper()
	return Reopen(t, URL(t))
}

// Reopen opens another connection to the ledger at url (another process,
// as far as the ledger can tell), closed when t ends.
func Reopen(t testing.TB, url string) *store.SQL {
	t.Helper()
	l, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
