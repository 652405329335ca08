//go:build !linux

package journal

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

func openDirect(path string) (*os.File, error) { return os.OpenFile(path, os.O_RDWR, 0o600) }
