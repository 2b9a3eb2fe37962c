package sheet

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	"github.com/bulkrefund/bulkrefund/internal/tmpdir"
)

// Stdin is the path that names standard input.
const Stdin = "-"

// inputFile is one input opened for reading: a regular file, or standard
// input. Anything else (a FIFO, a device such as /dev/zero, a socket) is
// refused before it is opened: opening a FIFO waits for a writer, and a
// device never ends.
type inputFile struct {
	name string // as messages name it
	f    *os.File
	size int64 // bytes of a regular (or spooled) file; -1 for a stream
	// head holds the first bytes, for telling formats apart; stream reads
	// from the start of the input (head included).
	head   []byte
	stream io.Reader
	// hash, when asked for, sees every byte read from the start (CSV), or
	// is computed over the file when Digest is called (XLSX).
	hash     hash.Hash
	hashed   bool // hash already covers the whole input
	spool    *tmpdir.Dir
	counting *fileLimit
}

// openInput opens path ("-" for standard input) after checking it is a
// regular file within Limits.FileBytes.
func openInput(path string, lim Limits, wantHash bool) (*inputFile, error) {
	tmpdir.SweepOnce()
	in := &inputFile{name: path, size: -1}
	if wantHash {
		in.hash = sha256.New()
	}
	if path == Stdin {
		in.name = "standard input"
		in.f = os.Stdin
	} else {
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
		}
		if err := regular(path, st); err != nil {
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
		}
		// Check again what was opened: the name may have been replaced
		// between the two looks.
		fst, err := f.Stat()
		if err == nil && !os.SameFile(st, fst) {
			err = fmt.Errorf("%s changed while it was being opened", path)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
		}
		in.f, in.size = f, fst.Size()
		if in.size > lim.FileBytes {
			f.Close()
			return nil, &LimitError{File: path, Limit: "file size", Max: lim.FileBytes,
				Detail: fmt.Sprintf("the file is %s, over %s", approx(in.size), size(lim.FileBytes))}
		}
		if in.size == 0 {
			f.Close()
			return nil, fmt.Errorf("%w: %s", ErrEmptyFile, path)
		}
	}
	// Every byte read counts against FileBytes, a growing file's too.
	in.counting = &fileLimit{r: in.f, max: lim.FileBytes, name: in.name}
	var raw io.Reader = in.counting
	if in.hash != nil {
		raw = io.TeeReader(raw, in.hash)
	}
	br := bufio.NewReaderSize(raw, 256<<10)
	in.head, _ = br.Peek(8)
	in.stream = br
	if path == Stdin && len(in.head) == 0 {
		return nil, fmt.Errorf("%w: standard input", ErrEmptyFile)
	}
	return in, nil
}

// regular refuses what is not a regular file, naming what it is.
func regular(path string, st fs.FileInfo) error {
	m := st.Mode()
	what := ""
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return fmt.Errorf("%w: %s is a directory", ErrUnreadable, path)
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	default:
		what = "not a regular file"
	}
	return &LimitError{File: path, Limit: "regular files only", Detail: "this is " + what +
		"; save the data to a file, or pipe it to - (standard input, read with the same limits)"}
}

// isZip reports whether the input starts as a zip archive does.
func (in *inputFile) isZip() bool { return bytes.HasPrefix(in.head, []byte("PK\x03\x04")) }

// readerAt gives random access to the input, which a zip needs. Standard
// input is first copied, within Limits.FileBytes, to a file in a private
// temporary directory; the file is unlinked at once, so nothing is left
// behind even if the process is killed (and the directory is swept).
func (in *inputFile) readerAt() (io.ReaderAt, int64, error) {
	if in.f != os.Stdin {
		return in.f, in.size, nil
	}
	dir, err := tmpdir.New()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: standard input: %v", ErrUnreadable, err)
	}
	in.spool = dir
	f, err := dir.CreateTemp("stdin-*.xlsx")
	if err != nil {
		return nil, 0, fmt.Errorf("%w: standard input: %v", ErrUnreadable, err)
	}
	os.Remove(f.Name())
	n, err := io.Copy(f, in.stream)
	if err != nil {
		f.Close()
		return nil, 0, named(err, in.name)
	}
	in.f, in.size, in.hashed = f, n, true
	return f, n, nil
}

// Digest returns the SHA-256 of the whole input, reading what is left.
func (in *inputFile) digest() (string, error) {
	if in.hash == nil {
		return "", errors.New("sheet: the input was not opened for hashing")
	}
	switch {
	case in.hashed:
	case in.size >= 0 && in.f != os.Stdin && in.zipped():
		in.hash.Reset()
		if _, err := io.Copy(in.hash, io.NewSectionReader(in.f, 0, in.size)); err != nil {
			return "", err
		}
	default:
		// Bytes the reader never pulled (after the last row) still count.
		if _, err := io.Copy(io.Discard, in.stream); err != nil {
			return "", named(err, in.name)
		}
	}
	in.hashed = true
	return hex.EncodeToString(in.hash.Sum(nil)), nil
}

// zipped: the input was read as a workbook, through readerAt, so the hash
// saw only its first bytes.
func (in *inputFile) zipped() bool { return in.isZip() }

func (in *inputFile) close() error {
	var err error
	if in.f != nil && in.f != os.Stdin {
		err = in.f.Close()
	}
	if in.spool != nil {
		in.spool.Remove()
	}
	return err
}

// fileLimit counts the bytes read from an input and refuses to go past
// Limits.FileBytes.
type fileLimit struct {
	r    io.Reader
	n    int64
	max  int64
	name string
}

func (l *fileLimit) Read(b []byte) (int, error) {
	if l.n >= l.max {
		// One byte more tells a file of exactly max bytes from a longer one.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n == 0 {
			return 0, io.EOF
		}
		return 0, &LimitError{File: l.name, Limit: "file size", Max: l.max, Detail: "the input is over " + size(l.max)}
	}
	if int64(len(b)) > l.max-l.n {
		b = b[:l.max-l.n]
	}
	n, err := l.r.Read(b)
	l.n += int64(n)
	return n, err
}

// approx renders a file size for messages: 6.2 MB, 2.1 GB.
func approx(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return thousands(n) + " bytes"
}
