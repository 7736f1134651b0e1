// Package storetest gives tests the databases that the store runs on: a SQLite file in a
// temporary directory, and a schema of its own in the PostgreSQL server that
// NAS_TEST_POSTGRES_URL names (.ci/postgres starts one), so that every test of the store and of
// its callers can run against both.
package storetest

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the driver that creates and drops the schemas
)

// PostgresURLVar names the environment variable that gives the tests a PostgreSQL server: the
// URL of a database in which they may create and drop schemas.
const PostgresURLVar = "NAS_TEST_POSTGRES_URL"

// Backend is a database that tests run against.
type Backend struct {
	Name string // "SQLite" or "PostgreSQL"
	// Fresh returns a new, empty database for t (a file path or a URL), which goes when t
	// ends; it skips t if the backend is not available.
	Fresh func(t testing.TB) string
}

// Backends are the databases the store runs on.
var Backends = []Backend{
	{Name: "SQLite", Fresh: SQLite},
	{Name: "PostgreSQL", Fresh: Postgres},
}

// ForEach runs test against each backend, as a subtest named after it.
func ForEach(t *testing.T, test func(t *testing.T, b Backend)) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) { test(t, b) })
	}
}

// SQLite returns the path of a database file that does not exist yet, in t's temporary directory.
func SQLite(t testing.TB) string {
	return filepath.Join(t.TempDir(), "nas.db")
}

var schemas atomic.Int64

// Postgres creates a schema of its own for t in the database of NAS_TEST_POSTGRES_URL and returns
// the URL that puts nas's tables there (search_path=schema); it drops the schema when t ends. It
// skips t, saying why, if the variable is not set.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresURLVar)
	if admin == "" {
		t.Skipf("%s is not set: no PostgreSQL server to test against (.ci/postgres starts one)", PostgresURLVar)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", PostgresURLVar, err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("nas_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemas.Add(1))
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		db.Close()
		t.Fatalf("creating a schema in %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		defer db.Close()
		if _, err := db.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
