package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

// openPTY opens a pseudo-terminal pair: the command reads the slave as its
// terminal, the test types into the master.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("opening the pty: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestPromptTakesYesOnly: at a real terminal, the run asks; "y" sends
// nothing and creates no state; "yes" sends.
func TestPromptTakesYesOnly(t *testing.T) {
	cfgDir := t.TempDir()
	sbxStart(t, "--orders", sampleOrders, "--write-config", cfgDir)
	cfg := filepath.Join(cfgDir, sandbox.ClientConfigFile)
	sheet := upayOnly(t)
	for _, tc := range []struct {
		answer string
		code   int
		want   string
	}{
		{"y", exitUsage, "Nothing sent (only the word yes sends)."},
		{"Y", exitUsage, "Nothing sent"},
		{"yes please", exitUsage, "Nothing sent"},
		{"yes", exitOK, "Summary: 5 rows: succeeded 5"},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			master, slave := openPTY(t)
			state := filepath.Join(t.TempDir(), "s.db")
			cmd := exec.Command(binary(t), "run", sheet, "--config", cfg, "--ledger", state, "--quiet")
			cmd.Stdin = slave
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The prompt ends without a newline: read up to its colon.
			br := bufio.NewReader(out)
			var seen strings.Builder
			for !strings.HasSuffix(seen.String(), "Type yes to continue: ") {
				b, err := br.ReadByte()
				if err != nil {
					cmd.Wait()
					t.Fatalf("no prompt: %v\n%s\n%s", err, seen.String(), stderr.String())
				}
				seen.WriteByte(b)
			}
			fmt.Fprintf(master, "%s\n", tc.answer)
			rest := make(chan string)
			go func() {
				var b strings.Builder
				br.WriteTo(&b)
				rest <- b.String()
			}()
			var stdout string
			select {
			case stdout = <-rest:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("run did not finish after the answer")
			}
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != tc.code || !strings.Contains(stdout, tc.want) {
				t.Errorf("answer %q: exit %d (want %d)\n%s%s\n%s", tc.answer, code, tc.code, seen.String(), stdout, stderr.String())
			}
			if _, err := os.Stat(state); (err == nil) != (tc.code == exitOK) {
				t.Errorf("answer %q: state file exists: %v", tc.answer, err == nil)
			}
		})
	}
}
