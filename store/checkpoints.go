package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CheckpointDir returns the folder where the trainings recorded in the database file at path keep
// their checkpoints: path.d/checkpoints, beside the file.
func CheckpointDir(path string) string { return path + ".d/checkpoints" }

const checkpointKey = `arch_hash = ? AND dataset = ? AND recipe_hash = ? AND fidelity = ? AND seed = ?`

func keyArgs(k EvalKey) []any {
	return []any{k.ArchHash, k.Dataset, k.RecipeHash, k.Fidelity, int64(k.Seed)}
}

// SaveCheckpoint records the last checkpoint of a training; see Store.
func (s *SQLite) SaveCheckpoint(ctx context.Context, c Checkpoint) (Checkpoint, error) {
	var old Checkpoint
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		old, err = queryCheckpoint(ctx, tx, c.Key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO checkpoints (arch_hash, dataset, recipe_hash, fidelity,
			seed, epoch, path, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (arch_hash, dataset, recipe_hash, fidelity, seed) DO UPDATE SET epoch = excluded.epoch, path = excluded.path,
			sha256 = excluded.sha256, bytes = excluded.bytes, created_at = excluded.created_at`,
			append(keyArgs(c.Key), c.Epoch, c.Path, c.SHA256, c.Bytes, timeArg(time.Now()))...)
		return err
	})
	return old, err
}

// Checkpoint returns the last checkpoint of a training; see Store.
func (s *SQLite) Checkpoint(ctx context.Context, key EvalKey) (Checkpoint, error) {
	var c Checkpoint
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = queryCheckpoint(ctx, tx, key)
		return err
	})
	return c, err
}

// DeleteCheckpoint forgets the checkpoint of a training; see Store.
func (s *SQLite) DeleteCheckpoint(ctx context.Context, key EvalKey) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM checkpoints WHERE "+checkpointKey, keyArgs(key)...)
		return err
	})
}

func queryCheckpoint(ctx context.Context, tx *sql.Tx, key EvalKey) (Checkpoint, error) {
	c := Checkpoint{Key: key}
	err := tx.QueryRowContext(ctx, `SELECT epoch, path, sha256, bytes, created_at FROM checkpoints
		WHERE `+checkpointKey, keyArgs(key)...).Scan(&c.Epoch, &c.Path, &c.SHA256, &c.Bytes, timeValue{&c.Created})
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, fmt.Errorf("checkpoint of %s: %w", key.ArchHash, ErrNotFound)
	}
	return c, err
}
