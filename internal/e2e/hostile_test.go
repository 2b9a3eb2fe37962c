package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/testdata/hostile"
)

// Bounds every refusal must keep, per process.
const (
	maxWall = 20 * time.Second
	maxRSS  = 256 << 20
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds bulkrefund and reconcile once per test binary.
func binaries(t *testing.T) (bulkrefund, reconcile string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "e2e-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), "./cmd/bulkrefund", "./cmd/reconcile")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return filepath.Join(binDir, "bulkrefund"), filepath.Join(binDir, "reconcile")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// result is one finished process.
type result struct {
	code           int
	stdout, stderr string
	wall           time.Duration
	rss            int64 // peak resident set, bytes
}

// run runs a binary with TMPDIR pointed at tmp (and HOME at a scratch
// directory), stdin from the given file if any, and a hard stop at 60 s.
func run(t *testing.T, tmp, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "GOTRACEBACK=all")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), wall: time.Since(start), code: -1}
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.code = 0
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", name, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		// ru_maxrss is in KiB on Linux. Go starts children with vfork, and
		// the kernel then counts the parent's resident set at exec time
		// into the child's peak: the figure is an upper bound, as long as
		// this test process stays small (its generators stream).
		r.rss = ru.Maxrss << 10
	}
	return r
}

// smallResults writes a valid results file for reconcile's our side.
func smallResults(t *testing.T, dir string) string {
	path := filepath.Join(dir, "results.csv")
	err := os.WriteFile(path, []byte("row,provider,account,order_no,provider_order_id,refund_no,action,amount,currency,state\n"+
		"2,quickpay,SH001,20261101001,,QR-1,refund,1.00,CNY,succeeded\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// plantStale leaves in tmp what a killed process leaves: a private
// temporary directory whose lock nobody holds, with a spooled file in it.
func plantStale(t *testing.T, tmp string) {
	stale := filepath.Join(tmp, "bulkrefund-tmp-killed")
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, ".owner.lock"), nil, 0o600)
	os.WriteFile(filepath.Join(stale, "stdin-123.xlsx"), make([]byte, 4096), 0o600)
}

// TestHostileInputs runs every file of the hostile corpus through
// `bulkrefund validate`, `bulkrefund run --dry-run --sandbox` and
// `reconcile --statement`, as built binaries. Each must be refused within
// 20 s and 256 MB, exit 2, with one short line on stderr naming the file
// and the limit, no stack trace, and no temporary file left (a stale one
// planted in TMPDIR is swept). Files with NUL in their ids are readable:
// a refund sheet reports the rows (exit 1), a statement is refused (exit 2).
func TestHostileInputs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak RSS and /dev/zero checks are for Linux")
	}
	bulkrefund, reconcile := binaries(t)
	for _, c := range hostile.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			if c.Heavy && testing.Short() {
				t.Skip("heavy case; run without -short")
			}
			dir := t.TempDir()
			start := time.Now()
			path, err := c.Make(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("generated %s in %v", filepath.Base(path), time.Since(start).Round(time.Millisecond))
			results := smallResults(t, t.TempDir())
			out := filepath.Join(t.TempDir(), "out.xlsx")
			tools := []struct {
				name string
				bin  string
				args []string
				rows bool // reads it as a refund sheet
			}{
				{"validate", bulkrefund, []string{"validate", path}, true},
				{"run --dry-run", bulkrefund, []string{"run", path, "--dry-run", "--sandbox"}, true},
				{"reconcile", reconcile, []string{"--statement", path, "--results", results, "-o", out}, false},
			}
			for _, tool := range tools {
				tmp := t.TempDir()
				plantStale(t, tmp)
				r := run(t, tmp, "", tool.bin, tool.args...)
				check(t, tool.name, c, path, r, tool.rows)
				if left, _ := os.ReadDir(tmp); len(left) != 0 {
					t.Errorf("%s: left in TMPDIR: %v", tool.name, names(left))
				}
				if _, err := os.Stat(out); err == nil {
					t.Errorf("%s: wrote %s from a refused input", tool.name, out)
				}
			}
		})
	}
}

func names(es []os.DirEntry) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.Name())
	}
	return s
}

func check(t *testing.T, tool string, c hostile.Case, path string, r result, rows bool) {
	t.Helper()
	t.Logf("%-14s exit %d in %v, peak RSS %d MB: %s", tool, r.code, r.wall.Round(time.Millisecond), r.rss>>20, firstLine(r.stderr))
	if r.wall > maxWall {
		t.Errorf("%s took %v", tool, r.wall)
	}
	if r.rss > maxRSS {
		t.Errorf("%s peaked at %d MB", tool, r.rss>>20)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("%s printed a stack trace:\n%.2000s", tool, r.stderr)
	}
	if c.RowErrors {
		if rows {
			// The rows are reported, each with its row and column, and
			// nothing is sent or planned.
			if r.code != 1 || !strings.Contains(r.stderr, c.Want) || !strings.Contains(r.stderr, "row 3, column") ||
				!strings.Contains(r.stderr, "control character") {
				t.Errorf("%s: exit %d, stderr %q; want exit 1 and the row reported", tool, r.code, r.stderr)
			}
			return
		}
		if r.code != 2 || !strings.Contains(r.stderr, c.Want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line", tool, r.code, r.stderr)
		}
		return
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	named := false
	for _, l := range c.Limits {
		named = named || strings.Contains(line, l+" limit exceeded")
	}
	if r.code != 2 || strings.Contains(line, "\n") || len(line) > 400 || !named || !strings.Contains(line, filepath.Base(path)) {
		t.Errorf("%s: exit %d, stderr %.600q; want exit 2 and one short line naming %s and one of the limits %q", tool, r.code, r.stderr, filepath.Base(path), c.Limits)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// TestHostileStdin: standard input ("-") gets the same limits: a zip bomb
// piped in is spooled to a private temporary file, refused, and the file
// removed; a 50 MB cell is refused as it streams.
func TestHostileStdin(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	bulkrefund, reconcile := binaries(t)
	for _, c := range hostile.Cases() {
		if c.Name != "zip bomb" && c.Name != "50 MB cell csv" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			path, err := c.Make(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			results := smallResults(t, t.TempDir())
			for _, tool := range []struct {
				name string
				bin  string
				args []string
			}{
				{"validate", bulkrefund, []string{"validate", "-"}},
				{"reconcile", reconcile, []string{"--statement", "-", "--results", results, "-o", filepath.Join(t.TempDir(), "out.xlsx")}},
			} {
				tmp := t.TempDir()
				r := run(t, tmp, path, tool.bin, tool.args...)
				t.Logf("%-10s exit %d in %v, peak RSS %d MB: %s", tool.name, r.code, r.wall.Round(time.Millisecond), r.rss>>20, firstLine(r.stderr))
				named := false
				for _, l := range c.Limits {
					named = named || strings.Contains(r.stderr, l+" limit exceeded")
				}
				if r.code != 2 || !named || !(strings.Contains(r.stderr, "standard input") || strings.Contains(r.stderr, "stdin")) || strings.Count(r.stderr, "\n") != 1 {
					t.Errorf("%s: exit %d, stderr %q", tool.name, r.code, r.stderr)
				}
				if r.wall > maxWall || r.rss > maxRSS {
					t.Errorf("%s: %v, %d MB", tool.name, r.wall, r.rss>>20)
				}
				if left, _ := os.ReadDir(tmp); len(left) != 0 {
					t.Errorf("%s: left in TMPDIR: %v", tool.name, names(left))
				}
			}
		})
	}
}
