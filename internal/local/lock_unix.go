//go:build unix

package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Lock takes the data directory's lock file, so that one dev at a time
// uses it. The lock goes with the process; release removes the file and
// closes it, so a stopped dev leaves no lock file behind. A lock taken on
// a file another dev removed meanwhile is retried on the new file.
func Lock(dir string) (release func() error, err error) {
	path := filepath.Join(dir, LockFile)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock file: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another podid dev uses %s (stop it, or give --data-dir)", dir)
			}
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return func() error {
				rmErr := os.Remove(path)
				if err := f.Close(); err != nil {
					return err
				}
				if errors.Is(rmErr, os.ErrNotExist) {
					return nil
				}
				return rmErr
			}, nil
		}
		// The holder released (and removed) the file between our open
		// and our lock: lock the file now at path.
		f.Close()
	}
}
