// Package atomicfile writes files that are either whole or absent, whatever happens to the
// process or the machine while they are written.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes b to path with permissions perm through a temporary file in the same folder that
// is synced and renamed over path, then syncs the folder, so that path holds all of b, or its
// previous content, or does not exist.
func Write(path string, b []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(perm) // CreateTemp makes the file 0600
	}
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
