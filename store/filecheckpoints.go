package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/internal/atomicfile"
)

// FileCheckpoints keeps the checkpoints of the training Key as files in Dir (see CheckpointDir),
// each recorded in Store with its SHA-256: it is an evaluator.Checkpointer. A checkpoint is
// written to a new file, synced and recorded, and only then is the previous file removed, so
// that a kill at any moment leaves the recorded file whole.
type FileCheckpoints struct {
	Store Store
	Dir   string
	Key   EvalKey
	// Name names the training in Warn's messages.
	Name string
	// Warn, if set, is told why a checkpoint is refused.
	Warn func(string)
}

var _ evaluator.Checkpointer = (*FileCheckpoints)(nil)

// file returns the name of the checkpoint file of epoch epoch: the training's key, hashed, and
// the epoch.
func (f *FileCheckpoints) file(epoch int) string {
	return fmt.Sprintf("%s-e%d.safetensors", keyStem(f.Key), epoch)
}

// keyStem names the files of the training of key k: its architecture's hash, shortened, and a
// short hash of the whole key.
func keyStem(k EvalKey) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%v|%d", k.ArchHash, k.Dataset, k.RecipeHash, k.Fidelity, k.Seed))
	return fmt.Sprintf("%s-%s", k.ArchHash[:min(12, len(k.ArchHash))], hex.EncodeToString(sum[:6]))
}

// ModelDir returns the folder where the final trainings of the database dsn keep their model
// files: DSN.d/models beside a SQLite file, "" (none) for a PostgreSQL URL, as CheckpointDir.
func ModelDir(dsn string) string {
	if IsURL(dsn) {
		return ""
	}
	return dsn + ".d/models"
}

// ModelFile returns the path in dir of the model file of the training of key k. Two trials of
// one key (a result the cache shares) share the file.
func ModelFile(dir string, k EvalKey) string {
	return filepath.Join(dir, keyStem(k)+".safetensors")
}

// Load returns the recorded checkpoint, after checking the file's checksum.
func (f *FileCheckpoints) Load() (*evaluator.Checkpoint, error) {
	rec, err := f.Store.Checkpoint(context.Background(), f.Key)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	path := filepath.Join(f.Dir, rec.Path)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint of epoch %d cannot be read: %w", rec.Epoch, err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != rec.SHA256 {
		return nil, fmt.Errorf("checkpoint %s is damaged: its SHA-256 is %x, the store recorded %s", path, sum, rec.SHA256)
	}
	c, err := evaluator.DecodeCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if c.Epoch != rec.Epoch {
		return nil, fmt.Errorf("checkpoint %s holds epoch %d, the store recorded %d", path, c.Epoch, rec.Epoch)
	}
	return c, nil
}

// Save writes c to a new file, records it, and removes the file it replaces.
func (f *FileCheckpoints) Save(c *evaluator.Checkpoint) error {
	b, err := c.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return err
	}
	name := f.file(c.Epoch)
	if err := atomicfile.Write(filepath.Join(f.Dir, name), b, 0o600); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	old, err := f.Store.SaveCheckpoint(context.Background(), Checkpoint{Key: f.Key, Epoch: c.Epoch, Path: name,
		SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b))})
	if err != nil {
		return err
	}
	if old.Path != "" && old.Path != name {
		os.Remove(filepath.Join(f.Dir, old.Path)) // a file left over costs disk space, nothing else
	}
	return nil
}

// Discard reports why the checkpoint cannot be used and removes it.
func (f *FileCheckpoints) Discard(err error) {
	if f.Warn != nil {
		f.Warn(fmt.Sprintf("%s: %v; the training starts over", f.Name, err))
	}
	f.Remove() // if this fails, the next run refuses the checkpoint again
}

// Remove deletes the training's checkpoint, its record first and then its file.
func (f *FileCheckpoints) Remove() error {
	rec, err := f.Store.Checkpoint(context.Background(), f.Key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err == nil {
		err = f.Store.DeleteCheckpoint(context.Background(), f.Key)
	}
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(f.Dir, rec.Path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
