package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/store"
)

// fileCheckpoints keeps the checkpoints of the training key as files in dir, each recorded in the
// store with its SHA-256: it implements evaluator.Checkpointer. A checkpoint is written to a new
// file, recorded, and only then is the previous file removed, so that a kill at any moment
// leaves a recorded file whole.
type fileCheckpoints struct {
	ctx  context.Context
	st   store.Store
	dir  string
	key  store.EvalKey
	name string       // the training's name, for messages
	warn func(string) // told why a checkpoint is refused
}

// file returns the name of the checkpoint file of epoch epoch: the training's key, hashed, and
// the epoch.
func (f *fileCheckpoints) file(epoch int) string {
	k := f.key
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%v|%d", k.ArchHash, k.Dataset, k.RecipeHash, k.Fidelity, k.Seed))
	return fmt.Sprintf("%s-%s-e%d.safetensors", k.ArchHash[:min(12, len(k.ArchHash))], hex.EncodeToString(sum[:6]), epoch)
}

// Load returns the recorded checkpoint, after checking the file's checksum.
func (f *fileCheckpoints) Load() (*evaluator.Checkpoint, error) {
	rec, err := f.st.Checkpoint(f.ctx, f.key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	path := filepath.Join(f.dir, rec.Path)
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
func (f *fileCheckpoints) Save(c *evaluator.Checkpoint) error {
	b, err := c.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return err
	}
	name := f.file(c.Epoch)
	if err := writeFileSync(filepath.Join(f.dir, name), b); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	old, err := f.st.SaveCheckpoint(f.ctx, store.Checkpoint{Key: f.key, Epoch: c.Epoch, Path: name,
		SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b))})
	if err != nil {
		return err
	}
	if old.Path != "" && old.Path != name {
		os.Remove(filepath.Join(f.dir, old.Path)) // a file left over costs disk space, nothing else
	}
	return nil
}

// Discard reports why the checkpoint cannot be used and forgets it.
func (f *fileCheckpoints) Discard(err error) {
	if f.warn != nil {
		f.warn(fmt.Sprintf("%s: %v; the training starts over", f.name, err))
	}
	if rec, err := f.st.Checkpoint(f.ctx, f.key); err == nil {
		os.Remove(filepath.Join(f.dir, rec.Path))
	}
	f.st.DeleteCheckpoint(f.ctx, f.key) // if this fails, the next run refuses it again
}

// writeFileSync writes b to path through a temporary file that is synced and renamed, so that
// path holds all of b or does not exist.
func writeFileSync(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // make the rename durable; not every file system supports it
		d.Close()
	}
	return nil
}
