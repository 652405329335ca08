package journal

import (
	"errors"
	"os"
	"syscall"
)

// fdatasync makes f's data durable without its metadata (times), as bbolt
// does on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// openDirect opens the log for writing with O_DIRECT, or without where
// the file system refuses it (tmpfs before Linux 6.6).
func openDirect(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_DIRECT, 0o600)
	if errors.Is(err, syscall.EINVAL) {
		return os.OpenFile(path, os.O_RDWR, 0o600)
	}
	return f, err
}
