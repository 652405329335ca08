// Package atomicfile replaces a file whole or not at all (the device's key,
// its API token, the journal's identity).
//
// Invariants:
//   - path names the old file or the new one, never a torn one, even after
//     a power cut: the data goes to a temporary file in the same directory
//     and is renamed over path only once it is written, fsynced and closed;
//   - a Write that fails leaves path as it was and removes its temporary
//     file;
//   - the new file has mode perm exactly (set with chmod, not narrowed by
//     the umask);
//   - the directory is fsynced after the rename, best effort: a failure to
//     open or sync it is not reported, so a Write that returned nil has
//     its data on disk but its rename only as durable as that sync.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, mode perm.
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // gone after the rename; left by an error
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
