package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

// TestTypedTotalAtTerminal: above the controls' threshold the run asks
// for the batch's total typed out, at a real terminal; "yes" or a wrong
// total sends nothing, the exact total sends.
func TestTypedTotalAtTerminal(t *testing.T) {
	cfgDir := t.TempDir()
	sbxStart(t, "--orders", sampleOrders, "--write-config", cfgDir)
	cfg := withControls(t, filepath.Join(cfgDir, sandbox.ClientConfigFile), `{"typed_confirmation": {"above": {"CNY": "100.00"}}}`)
	sheet := upayOnly(t)
	const prompt = "as the plan shows it: "
	for _, tc := range []struct {
		answer string
		code   int
		want   string
	}{
		{"yes", exitUsage, `"yes" is not the CNY total. Nothing sent.`},
		{"1,000.00", exitUsage, "Nothing sent."},
		{"", exitUsage, "Nothing sent."},
		{"TOTAL", exitOK, "Summary: 5 rows: succeeded 5"},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			master, slave := openPTY(t)
			ledger := filepath.Join(t.TempDir(), "l.db")
			cmd := exec.Command(binary(t), "run", sheet, "--config", cfg, "--ledger", ledger, "--quiet")
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
			br := bufio.NewReader(out)
			var seen strings.Builder
			for !strings.HasSuffix(seen.String(), prompt) {
				b, err := br.ReadByte()
				if err != nil {
					cmd.Wait()
					t.Fatalf("no prompt: %v\n%s\n%s", err, seen.String(), stderr.String())
				}
				seen.WriteByte(b)
			}
			answer := tc.answer
			if answer == "TOTAL" {
				// The total as the plan printed it: the last field of its
				// "total … CNY rows amount" line.
				for _, line := range strings.Split(seen.String(), "\n") {
					if f := strings.Fields(line); len(f) == 4 && f[0] == "total" && f[1] == "CNY" {
						answer = f[3]
					}
				}
			}
			fmt.Fprintf(master, "%s\n", answer)
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
				t.Errorf("answer %q: exit %d (want %d)\n%s%s\n%s", answer, code, tc.code, seen.String(), stdout, stderr.String())
			}
		})
	}
}
