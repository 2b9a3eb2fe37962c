//go:build unix

package tmpdir

import (
	"os"
	"syscall"
)

// lock takes the owner's lock on a new directory's lock file; the process
// keeps f open, and with it the lock, until Remove.
func lock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// abandoned reports whether nobody holds the lock. When it returns true the
// caller holds it, so the owner cannot come back while the directory goes.
func abandoned(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
