package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CheckpointDir returns the folder where the trainings recorded in the database dsn keep their
// checkpoints: for a SQLite file, path.d/checkpoints beside it; for a PostgreSQL URL, "" (no
// checkpoints), since a database server has no folder that every machine shares.
func CheckpointDir(dsn string) string {
	if IsURL(dsn) {
		return ""
	}
	return dsn + ".d/checkpoints"
}

const checkpointKey = `arch_hash = ? AND dataset = ? AND recipe_hash = ? AND fidelity = ? AND seed = ?`

func keyArgs(k EvalKey) []any {
	return []any{k.ArchHash, k.Dataset, k.RecipeHash, k.Fidelity, int64(k.Seed)}
}

// SaveCheckpoint records the last checkpoint of a training; see Store.
func (s *DB) SaveCheckpoint(ctx context.Context, c Checkpoint) (Checkpoint, error) {
	var old Checkpoint
	err := s.write(ctx, func(tx txn) error {
		var err error
		old, err = queryCheckpoint(ctx, tx, c.Key, s.d.lockRow())
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		now, err := s.d.now(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO checkpoints (arch_hash, dataset, recipe_hash, fidelity,
			seed, epoch, path, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (arch_hash, dataset, recipe_hash, fidelity, seed) DO UPDATE SET epoch = excluded.epoch, path = excluded.path,
			sha256 = excluded.sha256, bytes = excluded.bytes, created_at = excluded.created_at`,
			append(keyArgs(c.Key), c.Epoch, c.Path, c.SHA256, c.Bytes, timeArg(now))...)
		return err
	})
	return old, err
}

// Checkpoint returns the last checkpoint of a training; see Store.
func (s *DB) Checkpoint(ctx context.Context, key EvalKey) (Checkpoint, error) {
	var c Checkpoint
	err := s.read(ctx, func(tx txn) error {
		var err error
		c, err = queryCheckpoint(ctx, tx, key, "")
		return err
	})
	return c, err
}

// DeleteCheckpoint forgets the checkpoint of a training; see Store.
func (s *DB) DeleteCheckpoint(ctx context.Context, key EvalKey) error {
	return s.write(ctx, func(tx txn) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM checkpoints WHERE "+checkpointKey, keyArgs(key)...)
		return err
	})
}

// queryCheckpoint reads the checkpoint of key; lock ends the SELECT (a dialect's lockRow, or "").
func queryCheckpoint(ctx context.Context, tx txn, key EvalKey, lock string) (Checkpoint, error) {
	c := Checkpoint{Key: key}
	err := tx.QueryRowContext(ctx, `SELECT epoch, path, sha256, bytes, created_at FROM checkpoints
		WHERE `+checkpointKey+lock, keyArgs(key)...).Scan(&c.Epoch, &c.Path, &c.SHA256, &c.Bytes, timeValue{&c.Created})
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, fmt.Errorf("checkpoint of %s: %w", key.ArchHash, ErrNotFound)
	}
	return c, err
}
