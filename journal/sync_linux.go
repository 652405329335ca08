package journal

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable without its metadata (times), as bbolt
// does on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
