// Package store keeps every experiment, architecture, trial and result in one SQLite file, the
// single source of truth that search writes and reports read.
package store
