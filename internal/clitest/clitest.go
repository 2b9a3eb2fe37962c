// Package clitest tests a command as a shell runs it: built once per test
// package by go build, with the provider config of the machine running the
// tests hidden, each run's exit code and streams returned.
package clitest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// bin is the command Main built; empty in -short mode.
var bin string

// Main is a command package's TestMain: it hides any provider config
// ($BULKREFUND_CONFIG, the user config directory) from the commands under
// test, builds the command in the current directory as name (not in -short
// mode), runs the tests and removes what it made. It returns the exit code.
func Main(m *testing.M, name string) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", name+"-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	os.Unsetenv("BULKREFUND_CONFIG")
	if !testing.Short() {
		path := filepath.Join(dir, name)
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if out, err := exec.Command(gobin, "build", "-o", path, ".").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 2
		}
		bin = path
	}
	return m.Run()
}

// Binary is the built command; a test that needs it skips in -short mode.
func Binary(t testing.TB) string {
	t.Helper()
	if bin == "" {
		t.Skip("runs the built binary (not in -short mode)")
	}
	return bin
}

// Result is what a run of the command left.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs the built command with args, stdin (nil: none) and env added to
// the test's environment (a later value of a variable wins).
func Run(t testing.TB, stdin io.Reader, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return Result{code, stdout.String(), stderr.String()}
}
