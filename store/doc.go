// Package store keeps every experiment, architecture, trial and result in one database, the
// single source of truth that search writes and reports read: a SQLite file (the embedded
// default) or a PostgreSQL database, for workers on many machines. Store is what its callers
// need; DB implements it on both databases with one schema, one set of views and one set of
// queries, and a small dialect for what the two do differently (dialect, postgresDialect).
// README.md gives the schema and queries to run at the sqlite3 or psql prompt.
//
// Times are UTC text in both databases, so that the views and the documented queries are the
// same; claims compare lease times as text, which their fixed width makes safe under
// PostgreSQL's collations as under SQLite's byte order.
package store
