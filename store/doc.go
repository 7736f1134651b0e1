// Package store keeps every experiment, architecture, trial and result in one SQLite file, the
// single source of truth that search writes and reports read. Store is what its callers need;
// SQLite implements it, so that a server database can stand behind it later. README.md gives the
// schema and queries to run at the sqlite3 prompt.
package store
