// Package tmpdir keeps a process's temporary files in a directory of its
// own under os.TempDir(), and removes the directories that killed processes
// left behind.
//
// Each directory holds a lock file that its process keeps locked (flock)
// while it lives. The kernel drops the lock when the process dies, however
// it dies, so a directory whose lock can be taken belongs to nobody and
// Sweep removes it. Process ids are not used: they are reused.
package tmpdir

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Prefix starts the name of every directory this package makes.
const Prefix = "bulkrefund-tmp-"

const lockName = ".owner.lock"

// Dir is one private temporary directory.
type Dir struct {
	Path string
	lock *os.File
}

// New sweeps stale directories (once per process) and makes a new one.
func New() (*Dir, error) {
	SweepOnce()
	path, err := os.MkdirTemp("", Prefix+"*")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(path, lockName), os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o600)
	if err != nil {
		os.RemoveAll(path)
		return nil, err
	}
	if err := lock(f); err != nil {
		f.Close()
		os.RemoveAll(path)
		return nil, err
	}
	return &Dir{Path: path, lock: f}, nil
}

// CreateTemp creates a file in the directory, as os.CreateTemp does.
func (d *Dir) CreateTemp(pattern string) (*os.File, error) {
	return os.CreateTemp(d.Path, pattern)
}

// Remove deletes the directory and everything in it.
func (d *Dir) Remove() error {
	if d == nil || d.lock == nil {
		return nil
	}
	err := os.RemoveAll(d.Path)
	d.lock.Close()
	d.lock = nil
	return err
}

var sweepOnce sync.Once

// SweepOnce runs Sweep the first time it is called in a process.
func SweepOnce() {
	sweepOnce.Do(func() { Sweep(os.TempDir()) })
}

// Sweep removes the directories under parent that this package made for
// processes no longer alive, and returns their paths. A directory whose
// owner still runs is left alone, as is anything without a lock file.
func Sweep(parent string) []string {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), Prefix) {
			continue
		}
		path := filepath.Join(parent, e.Name())
		f, err := os.OpenFile(filepath.Join(path, lockName), os.O_RDWR, 0)
		if err != nil {
			continue // not ours, or its owner is still creating it
		}
		if abandoned(f) {
			if os.RemoveAll(path) == nil {
				removed = append(removed, path)
			}
		}
		f.Close()
	}
	return removed
}
