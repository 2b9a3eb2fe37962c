//go:build !unix

package tmpdir

import (
	"os"
	"time"
)

func lock(*os.File) error { return nil }

// abandoned, without flock: a directory is taken for left behind a day
// after it was made, longer than any run of these tools.
func abandoned(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && time.Since(st.ModTime()) > 24*time.Hour
}
