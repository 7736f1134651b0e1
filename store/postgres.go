package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// DefaultMaxConns is how many connections to PostgreSQL a process opens at most, unless its URL
// says otherwise with pool_max_conns. A worker needs one at a time (claim, heartbeat, result);
// a few more let reports read while it writes. The server's max_connections (100 by default)
// must exceed the sum over every process.
const DefaultMaxConns = 4

// IsURL reports whether dsn is a PostgreSQL URL (postgres:// or postgresql://) rather than the
// path of a SQLite file.
func IsURL(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// openPostgres opens the PostgreSQL database that rawURL names, as
// postgres://user:password@host:port/database?param=value&..., with the parameters libpq
// knows (sslmode, connect_timeout, ...) and two more: search_path, to keep nas's tables in a
// schema of their own, and pool_max_conns, the size of the process's pool (DefaultMaxConns
// unless given). The tables live in the first schema of the search path that exists.
//
// Every connection of the pool reads and writes; reads are REPEATABLE READ READ ONLY
// transactions, so that each is one snapshot as in SQLite. Writes are READ COMMITTED: claims
// take trials with SELECT ... FOR UPDATE SKIP LOCKED, so that workers never wait for each
// other's rows, and an advisory lock on the trial's evaluation key, so that two workers never
// train the same key at once. The schema version is kept in the table nas_meta, which also
// marks the database as nas's; migrations run under an advisory lock, one process at a time.
//
// The queue is the trials table itself, as in SQLite: a job queue such as River would be a
// second queue beside it, with tables and migrations of its own and no evaluation keys or
// cache, to replace a claim of one query and one lock.
func openPostgres(rawURL string, mode openMode) (*DB, error) {
	cfg, maxConns, where, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	pool := sql.OpenDB(stdlib.GetConnector(*cfg))
	pool.SetMaxOpenConns(maxConns)
	pool.SetMaxIdleConns(maxConns)
	s := &DB{where: where, d: postgresDialect{}, reader: pool}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	if err := s.schemaExists(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if mode == readOnly {
		err = s.read(ctx, func(tx txn) error {
			h, err := s.d.header(ctx, tx)
			if err != nil {
				return err
			}
			s.found = h.version
			return h.check(where, mode)
		})
	} else {
		s.writer = pool
		err = s.prepare(ctx, mode)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// parseURL returns the connection settings of the PostgreSQL URL rawURL, the size of its pool,
// and the URL without its password for messages.
func parseURL(rawURL string) (cfg *pgx.ConnConfig, maxConns int, where string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's message quotes the URL, password and all.
		return nil, 0, "the database URL", &FileError{Path: "the database URL", Err: ErrBadURL,
			Detail: "cannot be parsed; want postgres://user:password@host:port/database"}
	}
	where = u.Redacted()
	bad := func(format string, args ...any) error {
		return &FileError{Path: where, Err: ErrBadURL, Detail: fmt.Sprintf(format, args...)}
	}
	q := u.Query()
	maxConns = DefaultMaxConns
	if v := q.Get("pool_max_conns"); v != "" {
		if maxConns, err = strconv.Atoi(v); err != nil || maxConns < 1 {
			return nil, 0, where, bad("has pool_max_conns=%q; want a whole number of connections, at least 1", v)
		}
		q.Del("pool_max_conns")
		u.RawQuery = q.Encode()
	}
	if cfg, err = pgx.ParseConfig(u.String()); err != nil {
		return nil, 0, where, bad("cannot be used: %v", err) // pgx leaves the password out
	}
	return cfg, maxConns, where, nil
}

// postgresDialect is the SQL of PostgreSQL.
type postgresDialect struct{}

// rebind numbers the placeholders as PostgreSQL wants them, $1, $2, ...: ?NNN becomes $NNN and
// a bare ? takes the number after the largest so far, as in SQLite. Quoted text is left alone.
func (postgresDialect) rebind(query string) string {
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	largest := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			j := i + 1
			for j < len(query) && '0' <= query[j] && query[j] <= '9' {
				j++
			}
			n := largest + 1
			if j > i+1 {
				n, _ = strconv.Atoi(query[i+1 : j])
			}
			largest = max(largest, n)
			fmt.Fprintf(&b, "$%d", n)
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	rebound.Store(query, b.String())
	return b.String()
}

// rebound caches rebind's work: the store's queries are a few dozen constant strings.
var rebound sync.Map

// lockSchema takes an advisory lock, named by the application ID, until the transaction ends.
func (postgresDialect) lockSchema(ctx context.Context, tx txn) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", applicationID)
	return err
}

func (postgresDialect) lockRow() string    { return " FOR UPDATE" }
func (postgresDialect) skipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// lockKey tries an advisory lock on the hash of the trial's key, in the application ID's space
// of two-number locks (a collision of hashes only makes two keys wait for each other).
func (postgresDialect) lockKey(ctx context.Context, tx txn, trialID int64) (bool, error) {
	var ok bool
	err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(?,
		hashtext(concat_ws(' ', arch_hash, dataset, recipe_hash, fidelity, seed))) FROM trials WHERE id = ?`,
		applicationID, trialID).Scan(&ok)
	return ok, err
}

// now asks the server for its clock.
func (postgresDialect) now(ctx context.Context, tx txn) (time.Time, error) {
	var t time.Time
	err := tx.QueryRowContext(ctx, "SELECT clock_timestamp()").Scan(&t)
	return t, err
}

// retryable accepts serialization failures and deadlocks, the conflicts PostgreSQL resolves by
// failing one transaction.
func (postgresDialect) retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// check has nothing to add to the store's own checks: PostgreSQL enforces the foreign keys at
// every write and checks its pages itself.
func (postgresDialect) check(context.Context, txn) ([]string, error) { return nil, nil }

// schemaExists connects to the server and checks that the search path names a schema that
// exists, where the tables are to be.
func (s *DB) schemaExists(ctx context.Context) error {
	var schema sql.NullString
	var path string
	if err := s.reader.QueryRowContext(ctx, "SELECT current_schema(), current_setting('search_path')").Scan(&schema, &path); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "28") || pe.Code == "3D000") {
			// The server refused the user, the password or the database the URL names.
			return &FileError{Path: s.where, Err: ErrBadURL, Detail: "cannot be used: " + pe.Message}
		}
		return fmt.Errorf("%s: %w", s.where, err)
	}
	if !schema.Valid {
		return &FileError{Path: s.where, Err: ErrBadURL, Detail: fmt.Sprintf(
			"has none of the schemas its search_path names (%s); create one (CREATE SCHEMA name) or name another in the URL (search_path=name)", path)}
	}
	return nil
}

// header reads nas_meta in the current schema, and counts the tables and views there.
func (postgresDialect) header(ctx context.Context, tx txn) (header, error) {
	var schema string
	var objects int
	var meta bool
	err := tx.QueryRowContext(ctx, `SELECT current_schema(), count(*), coalesce(bool_or(c.relname = 'nas_meta'), false)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`).Scan(&schema, &objects, &meta)
	if err != nil {
		return header{}, err
	}
	h := header{empty: objects == 0, nas: meta, source: "its nas_meta table", foreign: fmt.Sprintf(
		"holds %d tables and views in schema %s but no nas_meta table: it belongs to another program, not to nas; "+
			"name an empty database, or give nas a schema of its own (search_path=name in the URL)", objects, schema)}
	if meta {
		versions, err := queryAll(ctx, tx, func(sc scanner) (int, error) {
			var v int
			return v, sc.Scan(&v)
		}, "SELECT schema_version FROM nas_meta")
		if err != nil {
			return header{}, err
		}
		if len(versions) == 1 {
			h.version = versions[0]
		} else {
			h.corrupt = fmt.Sprintf("its nas_meta table holds %d schema versions, want 1", len(versions))
		}
	}
	return h, nil
}

// postgresSetup makes the things that PostgreSQL lacks and SQLite has: the table nas_meta,
// which holds the schema version (SQLite keeps it in the file header), and the function
// round(double precision, integer), which SQLite has built in and PostgreSQL only takes a
// numeric for, so that the documented queries run on both.
const postgresSetup = `
CREATE TABLE IF NOT EXISTS nas_meta (
	schema_version INTEGER NOT NULL
);
CREATE OR REPLACE FUNCTION round(x DOUBLE PRECISION, digits INTEGER) RETURNS DOUBLE PRECISION
	LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
	AS 'SELECT round(x::NUMERIC, digits)::DOUBLE PRECISION';
`

// upgrade makes what PostgreSQL lacks, runs the migrations after version from and records
// SchemaVersion in nas_meta.
func (postgresDialect) upgrade(ctx context.Context, tx txn, from int) error {
	if _, err := tx.ExecContext(ctx, postgresSetup); err != nil {
		return err
	}
	for _, m := range postgresMigrations()[from:] {
		if _, err := tx.ExecContext(ctx, m); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM nas_meta"); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO nas_meta (schema_version) VALUES (?)", SchemaVersion)
	return err
}

// postgresMigrations are the migrations in PostgreSQL's SQL.
var postgresMigrations = sync.OnceValue(func() []string { return toPostgres(migrations) })

var (
	sqliteIdentity = regexp.MustCompile(`\bINTEGER PRIMARY KEY\b`)
	sqliteInteger  = regexp.MustCompile(`\bINTEGER\b`)
	sqliteReal     = regexp.MustCompile(`\bREAL\b`)
	withoutRowid   = regexp.MustCompile(`\s+WITHOUT ROWID\b`)
	createTable    = regexp.MustCompile(`^CREATE TABLE (\w+)`)
	// columnReference is a column definition that ends with a foreign key.
	columnReference = regexp.MustCompile(`^(\s+(\w+)\s.*?)\s+REFERENCES (\w+) \((\w+)\)(,?)$`)
)

// toPostgres translates migrations written in the store's SQLite SQL (see migrations) into
// PostgreSQL's. INTEGER becomes BIGINT (SQLite's integers have 64 bits), INTEGER PRIMARY KEY an
// identity column, REAL DOUBLE PRECISION (PostgreSQL's REAL has 32 bits); WITHOUT ROWID goes.
// A column's reference to a table that does not exist yet, which SQLite allows and PostgreSQL
// does not, becomes an ALTER TABLE ... ADD FOREIGN KEY at the end of its migration.
func toPostgres(ms []string) []string {
	created := map[string]bool{}
	out := make([]string, len(ms))
	for i, m := range ms {
		lines := strings.Split(m, "\n")
		var later []string
		table := ""
		for j, line := range lines {
			if c := createTable.FindStringSubmatch(line); c != nil {
				table = c[1]
				created[table] = true
			}
			if r := columnReference.FindStringSubmatch(line); r != nil && table != "" && !created[r[3]] {
				lines[j] = r[1] + r[5]
				later = append(later, fmt.Sprintf("ALTER TABLE %s ADD FOREIGN KEY (%s) REFERENCES %s (%s);", table, r[2], r[3], r[4]))
			}
		}
		m = strings.Join(append(lines, later...), "\n")
		m = sqliteIdentity.ReplaceAllString(m, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
		m = sqliteInteger.ReplaceAllString(m, "BIGINT")
		m = sqliteReal.ReplaceAllString(m, "DOUBLE PRECISION")
		out[i] = withoutRowid.ReplaceAllString(m, "")
	}
	return out
}
