package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/gonas/nas/store/storetest"
)

// backend is a database the store's test suite runs against.
type backend struct {
	storetest.Backend
	driver string // the database/sql driver that rawDB opens it with
}

// backends are the databases every store test runs against: one suite, two backends.
var backends = []backend{{storetest.Backends[0], "sqlite3"}, {storetest.Backends[1], "pgx"}}

var sqliteBackend, postgresBackend = backends[0], backends[1]

// forEachBackend runs test against each backend, as a subtest named after it.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) { test(t, b) })
	}
}

// openTemp opens a new database of backend b and closes it when the test ends.
func openTemp(t testing.TB, b backend) (*DB, string) {
	t.Helper()
	dsn := b.Fresh(t)
	s, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, dsn
}

// rawDB opens dsn of backend b with the driver directly, bypassing the store's checks, for
// tests that look at or damage a database behind the store's back. SQLite's params are those of
// the file: URI.
func rawDB(t testing.TB, b backend, dsnOrPath string, params ...string) *sql.DB {
	t.Helper()
	if b.driver == "sqlite3" {
		dsnOrPath = dsn(dsnOrPath, params...)
	}
	db, err := sql.Open(b.driver, dsnOrPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dialect returns the store's dialect for b.
func (b backend) dialect() dialect {
	if b.driver == "pgx" {
		return postgresDialect{}
	}
	return sqliteDialect{}
}

// rawExec runs query on a raw connection to dsn, in the dialect of b.
func rawExec(t testing.TB, b backend, dsn, query string, args ...any) {
	t.Helper()
	db := rawDB(t, b, dsn, "mode=rw")
	if _, err := db.ExecContext(context.Background(), b.dialect().rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
