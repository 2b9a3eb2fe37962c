package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// StdinName is how messages name a sheet read from standard input.
const StdinName = "stdin"

// MaxStdin bounds what SpoolStdin copies: more than any refund sheet (a
// million CSV rows is about 200 MiB), less than a runaway pipe could fill.
const MaxStdin = 1 << 30

// SpoolStdin copies r, at most limit bytes, into a file of its own in a
// private temporary directory (0700), for readers that need to seek (XLSX is
// a zip, read from its end). The file has no extension, so its format is
// judged by content. cleanup removes the directory; call it in every case.
func SpoolStdin(r io.Reader, limit int64) (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "bulkrefund-stdin-")
	if err != nil {
		return "", func() {}, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, StdinName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		cleanup()
		return "", func() {}, err
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = fmt.Errorf("more than %d MiB on standard input; save the sheet to a file and name it", limit>>20)
	}
	if err != nil {
		cleanup()
		return "", func() {}, err
	}
	return path, cleanup, nil
}

// Rename returns a writer that writes to w with every occurrence of from
// replaced by to: the private copy of standard input is named "stdin" in
// what the user reads, not by its temporary path. Each Write is replaced on
// its own; the commands write a message per call.
func Rename(w io.Writer, from, to string) io.Writer {
	return &renamer{w: w, from: []byte(from), to: []byte(to)}
}

type renamer struct {
	w        io.Writer
	from, to []byte
}

func (r *renamer) Write(p []byte) (int, error) {
	if !bytes.Contains(p, r.from) {
		return r.w.Write(p)
	}
	if _, err := r.w.Write(bytes.ReplaceAll(p, r.from, r.to)); err != nil {
		return 0, err
	}
	return len(p), nil
}
