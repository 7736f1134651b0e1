package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// DefaultPath is the database file commands use when not given --db.
const DefaultPath = "nas.db"

// openTimeout bounds how long opening waits for the server, and for other processes to let it
// migrate the schema.
const openTimeout = time.Minute

// DB is the Store in a SQL database: a SQLite file or a PostgreSQL database. Both run the same
// queries, written once in the SQL the two share, through database/sql; a dialect holds the few
// things that differ (placeholders, column types, row and key locks, where the schema version is
// kept, the integrity check). It is safe for concurrent use.
type DB struct {
	where  string // the file, or the URL without its password, for messages
	d      dialect
	writer *sql.DB // nil when opened read-only
	reader *sql.DB // PostgreSQL's is the writer's pool
	found  int     // the schema version the database had when it was opened
}

var _ Store = (*DB)(nil)

// dialect is what differs between the databases behind DB.
type dialect interface {
	// rebind turns a query written with SQLite's placeholders (? and ?NNN) into this dialect's.
	rebind(query string) string
	// lockSchema takes, in a write transaction, the lock under which one process at a time
	// reads and migrates the schema, where the transaction does not hold it already.
	lockSchema(ctx context.Context, tx txn) error
	// header says whose database this is and at which schema version.
	header(ctx context.Context, tx txn) (header, error)
	// upgrade runs the migrations after version from and records SchemaVersion.
	upgrade(ctx context.Context, tx txn, from int) error
	// lockRow ends a SELECT of rows that the transaction goes on to change, so that no other
	// transaction changes them meanwhile; skipLocked does the same and passes over the rows
	// that other transactions hold.
	lockRow() string
	skipLocked() string
	// lockKey takes the evaluation key of trial trialID until the transaction ends, so that
	// two workers never claim trials of one key at once; it reports false if another
	// transaction holds the key.
	lockKey(ctx context.Context, tx txn, trialID int64) (bool, error)
	// now returns the time by the database's clock: the server's, which every machine shares,
	// so that leases mean the same to workers whose clocks disagree.
	now(ctx context.Context, tx txn) (time.Time, error)
	// retryable says whether a transaction that failed with err may succeed if run again:
	// it met a lock or a conflict, not a fault.
	retryable(err error) bool
	// check returns what the database's own integrity checks report.
	check(ctx context.Context, tx txn) ([]string, error)
}

// header is what a database says about whose it is.
type header struct {
	empty   bool   // holds nothing at all: a new database
	nas     bool   // marked as a nas database
	version int    // the nas schema version
	source  string // where the version is kept, e.g. "its header"
	foreign string // for a database that is not nas's: what it is, to follow its name in a message
	corrupt string // for a nas database whose marks make no sense: what is wrong
}

// openMode says what a caller means to do with a database.
type openMode int

const (
	readOnly openMode = iota
	readWrite
	create // read and write a database that holds nothing yet
)

// Open opens the nas database dsn for reading and writing and brings its schema up to
// SchemaVersion. dsn is a PostgreSQL URL, postgres://user:password@host:port/database?params
// with libpq's parameters and two of nas's (search_path=SCHEMA, where the tables are, and
// pool_max_conns=N, DefaultMaxConns unless given), or the path of a SQLite file, which is
// created if there is none. If the database belongs to another program, is corrupt or was
// written by a newer nas, Open returns a *FileError and leaves it as it was.
func Open(dsn string) (*DB, error) { return open(dsn, readWrite) }

// OpenReadOnly opens the nas database dsn for reading only, for reports. It never writes to it;
// a database whose schema is older than SchemaVersion must first be opened with Open. It returns
// a *FileError for a database that is not a nas database of this schema, and an error wrapping
// fs.ErrNotExist for a SQLite file that does not exist.
func OpenReadOnly(dsn string) (*DB, error) { return open(dsn, readOnly) }

// Create makes a new nas database at dsn, which must hold nothing yet: an absent or empty SQLite
// file, or a PostgreSQL database (or schema) without tables. It returns a *FileError wrapping
// ErrNotEmpty for one that holds a nas database already or anything else.
func Create(dsn string) (*DB, error) { return open(dsn, create) }

func open(dsn string, mode openMode) (*DB, error) {
	if IsURL(dsn) {
		return openPostgres(dsn, mode)
	}
	return openSQLite(dsn, mode)
}

// Where returns the file or the URL (without its password) of the database, for messages.
func (s *DB) Where() string { return s.where }

// FoundVersion returns the schema version the database had when it was opened: below
// SchemaVersion if Open migrated it, 0 for a new database.
func (s *DB) FoundVersion() int { return s.found }

// Close closes the database. Leases held by this process are not released.
func (s *DB) Close() error {
	err := s.reader.Close()
	if s.writer != nil && s.writer != s.reader {
		err = errors.Join(err, s.writer.Close())
	}
	return err
}

// prepare checks, under the schema lock, that the database can be opened in mode and migrates
// it to SchemaVersion.
func (s *DB) prepare(ctx context.Context, mode openMode) error {
	return s.write(ctx, func(tx txn) error {
		if err := s.d.lockSchema(ctx, tx); err != nil {
			return err
		}
		h, err := s.d.header(ctx, tx)
		if err != nil {
			return err
		}
		if err := h.check(s.where, mode); err != nil {
			return err
		}
		s.found = h.version
		if h.version == SchemaVersion {
			return nil // the usual case: nothing to write
		}
		if err := s.d.upgrade(ctx, tx, h.version); err != nil {
			return fmt.Errorf("%s: migrating the schema from version %d: %w", s.where, h.version, err)
		}
		return nil
	})
}

// check says whether a database with header h at where can be opened in mode: for writing it
// may be new or of an older schema, for reading it must be of this schema.
func (h header) check(where string, mode openMode) error {
	switch {
	case h.empty:
		if mode == readOnly {
			return &FileError{Path: where, Err: ErrOlderSchema, Detail: "holds no nas data yet"}
		}
		return nil
	case !h.nas:
		return &FileError{Path: where, Err: ErrNotNAS, Detail: h.foreign}
	case h.corrupt != "":
		return &FileError{Path: where, Err: ErrCorrupt, Detail: "is corrupt (" + h.corrupt + ")"}
	case mode == create:
		return &FileError{Path: where, Err: ErrNotEmpty, Detail: fmt.Sprintf(
			"holds a nas database already (schema %d); nas db migrate upgrades it", h.version)}
	case h.version < 0:
		return &FileError{Path: where, Err: ErrCorrupt, Detail: fmt.Sprintf(
			"is corrupt (%s gives schema version %d)", h.source, h.version)}
	case h.version > SchemaVersion:
		return &FileError{Path: where, Err: ErrNewerSchema, Detail: fmt.Sprintf(
			"was written by a newer nas (schema %d, this binary knows %d); upgrade nas", h.version, SchemaVersion)}
	case h.version < SchemaVersion && mode == readOnly:
		return &FileError{Path: where, Err: ErrOlderSchema, Detail: fmt.Sprintf(
			"has schema %d, this binary reads %d; run nas db migrate to upgrade it", h.version, SchemaVersion)}
	}
	return nil
}

// FileError says why a database cannot be opened as a nas database. Whenever an Open function
// returns one, the database was left as it was.
type FileError struct {
	Path   string // the file, or the URL without its password
	Err    error  // one of the kinds below
	Detail string // what is wrong, and what to do about it
}

// Error returns the path followed by the detail, e.g. "nas.db was written by a newer nas
// (schema 7, this binary knows 3); upgrade nas".
func (e *FileError) Error() string { return e.Path + " " + e.Detail }

// Unwrap returns e.Err, so that errors.Is(err, ErrCorrupt) and its siblings work.
func (e *FileError) Unwrap() error { return e.Err }

// The kinds of FileError.
var (
	ErrNotSQLite   = errors.New("not a SQLite database")
	ErrBadURL      = errors.New("not a usable database URL")
	ErrCorrupt     = errors.New("corrupt database")
	ErrNotNAS      = errors.New("not a nas database")
	ErrNotEmpty    = errors.New("database not empty")
	ErrNewerSchema = errors.New("database from a newer nas")
	ErrOlderSchema = errors.New("database schema older than this nas reads")
)

// Check runs the database's integrity checks and the store's own (every finished trial has a
// result, every running one a lease) and returns what they report; none means it is sound.
func (s *DB) Check(ctx context.Context) ([]string, error) {
	var problems []string
	err := s.read(ctx, func(tx txn) error {
		var err error
		if problems, err = s.d.check(ctx, tx); err != nil {
			return err
		}
		for _, inv := range invariants {
			ids, err := queryAll(ctx, tx, func(sc scanner) (int64, error) {
				var id int64
				return id, sc.Scan(&id)
			}, inv.query)
			if err != nil {
				return err
			}
			for _, id := range ids {
				problems = append(problems, fmt.Sprintf(inv.problem, id))
			}
		}
		return nil
	})
	return problems, err
}

// invariants are what every transaction of the store leaves true: each query finds the rows that
// break one.
var invariants = []struct{ query, problem string }{
	{"SELECT id FROM trials WHERE status = 'done' AND result_id IS NULL ORDER BY id",
		"trial %d is done but has no result"},
	{"SELECT id FROM trials WHERE status <> 'done' AND result_id IS NOT NULL ORDER BY id",
		"trial %d has a result but is not done"},
	{"SELECT id FROM trials WHERE status = 'running' AND (lease_owner IS NULL OR lease_until IS NULL) ORDER BY id",
		"trial %d is running without a lease"},
}

// txn is a transaction that takes the store's SQL, written with SQLite's placeholders, and hands
// it to the database in its own dialect.
type txn struct {
	tx *sql.Tx
	d  dialect
}

// ExecContext is sql.Tx's, with the query in the dialect.
func (t txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.rebind(query), args...)
}

// QueryContext is sql.Tx's, with the query in the dialect.
func (t txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.rebind(query), args...)
}

// QueryRowContext is sql.Tx's, with the query in the dialect.
func (t txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.rebind(query), args...)
}

// PrepareContext is sql.Tx's, with the query in the dialect.
func (t txn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, t.d.rebind(query))
}

// readOptions make a read one snapshot of the database, as SQLite's transactions always are.
var readOptions = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}

// write runs fn in a write transaction and commits it, running it again while it meets locks
// or conflicts (SQLite's busy database past its busy timeout, PostgreSQL's deadlocks).
func (s *DB) write(ctx context.Context, fn func(txn) error) error {
	if s.writer == nil {
		return ErrReadOnly
	}
	return retry(ctx, s.d.retryable, func() error { return s.inTx(ctx, s.writer, nil, fn) })
}

// read runs fn in a read transaction, so that everything it reads is one snapshot.
func (s *DB) read(ctx context.Context, fn func(txn) error) error {
	return retry(ctx, s.d.retryable, func() error { return s.inTx(ctx, s.reader, readOptions, fn) })
}

func (s *DB) inTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(txn) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(txn{tx, s.d}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retry calls f until it returns an error that retryable refuses, or none, backing off with
// jitter so that processes that collided do not collide again, or until ctx is done.
func retry(ctx context.Context, retryable func(error) bool, f func() error) error {
	backoff := time.Millisecond
	for {
		err := f()
		if err == nil || !retryable(err) {
			return err
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the database lock: %w", ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// queryStrings runs query in tx and returns its one column of every row.
func queryStrings(ctx context.Context, tx txn, query string) ([]string, error) {
	return queryAll(ctx, tx, func(sc scanner) (string, error) {
		var s string
		return s, sc.Scan(&s)
	}, query)
}
