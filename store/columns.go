package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// timeLayout is how times are stored: UTC with microseconds, fixed width so that string order is
// time order (lease expiry is compared in SQL).
const timeLayout = "2006-01-02T15:04:05.000000Z"

// timeArg is t as a column value: NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

// floatArg is f as a column value: NULL for NaN, which SQLite cannot store.
func floatArg(f float64) any {
	if math.IsNaN(f) {
		return nil
	}
	return f
}

// columns qualifies each of names with the table alias a and joins them for a SELECT list.
func columns(a string, names ...string) string {
	return a + "." + strings.Join(names, ", "+a+".")
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs query in tx and scans every row with scan.
func queryAll[T any](ctx context.Context, tx txn, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// timeValue scans a time column written with timeArg; NULL becomes the zero time.
type timeValue struct{ t *time.Time }

// Scan implements sql.Scanner.
func (v timeValue) Scan(src any) error {
	var s string
	switch x := src.(type) {
	case nil:
		*v.t = time.Time{}
		return nil
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return fmt.Errorf("time column holds %T, want TEXT", src)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time column holds %q, want e.g. %s", s, timeLayout)
	}
	*v.t = t
	return nil
}

// floatValue scans a REAL column written with floatArg; NULL becomes NaN.
type floatValue struct{ f *float64 }

// Scan implements sql.Scanner.
func (v floatValue) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		*v.f = math.NaN()
	case float64:
		*v.f = x
	case int64:
		*v.f = float64(x)
	default:
		return fmt.Errorf("REAL column holds %T", src)
	}
	return nil
}

// uintValue scans an INTEGER column that holds a uint64 stored as int64 (SQLite has no unsigned
// integers; seeds above 2^63 show as negative numbers at the sqlite3 prompt).
type uintValue struct{ u *uint64 }

// Scan implements sql.Scanner.
func (v uintValue) Scan(src any) error {
	x, ok := src.(int64)
	if !ok {
		return fmt.Errorf("INTEGER column holds %T", src)
	}
	*v.u = uint64(x)
	return nil
}

// orZero scans a nullable column; NULL becomes T's zero value.
type orZero[T any] struct{ p *T }

// Scan implements sql.Scanner.
func (v orZero[T]) Scan(src any) error {
	var n sql.Null[T]
	if err := n.Scan(src); err != nil {
		return err
	}
	*v.p = n.V
	return nil
}

// jsonValue scans a TEXT column holding JSON into v.
type jsonValue struct{ v any }

// Scan implements sql.Scanner.
func (j jsonValue) Scan(src any) error {
	var b []byte
	switch x := src.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("JSON column holds %T, want TEXT", src)
	}
	return json.Unmarshal(b, j.v)
}
