package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func toy() *cobra.Command {
	root := &cobra.Command{Use: "toy", Short: "a toy"}
	RequireCommand(root)
	var d time.Duration
	var n int
	sub := &cobra.Command{Use: "go FILE", Args: OneFile, RunE: func(*cobra.Command, []string) error { return Exit(n) }}
	sub.Flags().DurationVar(&d, "poll", 0, "how long")
	sub.Flags().IntVar(&n, "exit", 0, "exit code to end with")
	root.AddCommand(sub)
	Setup(root, "toy")
	return root
}

func execute(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Execute(context.Background(), toy(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExecute(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"go", "f", "--exit", "1"}, 1, "", ""},
		{[]string{"go", "f", "--exit", "130"}, 130, "", ""},
		{[]string{"go", "f"}, 0, "", ""},
		{[]string{"go", "f", "--pol", "1s"}, 2, "", "toy go: unknown flag: --pol; did you mean --poll? (see 'toy go --help')\n"},
		{[]string{"go", "f", "--p", "1s"}, 2, "", "toy go: unknown flag: --p; did you mean --poll? (see 'toy go --help')\n"},
		{[]string{"go", "f", "--zzzzzz"}, 2, "", "toy go: unknown flag: --zzzzzz (see 'toy go --help')\n"},
		{[]string{"go", "f", "--poll", "10"}, 2, "", "toy go: --poll \"10\": want a duration with a unit, such as 30s, 10m or 1h30m (see 'toy go --help')\n"},
		{[]string{"go", "f", "--poll"}, 2, "", "toy go: flag needs an argument: --poll (see 'toy go --help')\n"},
		{[]string{"go"}, 2, "", "toy go: give the sheet FILE, or - for standard input (see 'toy go --help')\n"},
		{[]string{"og"}, 2, "", "toy: unknown command \"og\"; did you mean \"go\"? (see 'toy --help')\n"},
		{[]string{"version"}, 0, buildVersion("toy") + "\n", ""},
		{[]string{"--version"}, 0, buildVersion("toy") + "\n", ""},
	} {
		code, stdout, stderr := execute(tc.args...)
		if code != tc.code || stdout != tc.stdout || stderr != tc.stderr {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
	code, stdout, stderr := execute("go", "--help")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "--poll duration") {
		t.Errorf("help: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = execute()
	if code != 2 || !strings.Contains(stdout, "Available Commands:") {
		t.Errorf("no command: exit %d, stdout %q", code, stdout)
	}
}

func TestFormatBuild(t *testing.T) {
	set := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: set("vcs.revision", "c5b0daa1f2e3d4c5b6a7", "vcs.modified", "true")},
			"devel (commit c5b0daa1f2e3, modified)"},
		{debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201060334-55bacc57aa49"}, Settings: set("vcs.revision", "55bacc57aa49982d", "vcs.modified", "false")},
			"v0.0.0-20261201060334-55bacc57aa49 (commit 55bacc57aa49)"},
	} {
		if got := formatBuild(&tc.bi); got != tc.want {
			t.Errorf("formatBuild = %q, want %q", got, tc.want)
		}
	}
}

func TestFindConfig(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	t.Setenv("HOME", t.TempDir())
	t.Setenv(ConfigEnv, "")

	if c, err := FindConfig(""); err != nil || c != (Config{}) {
		t.Errorf("nothing anywhere: %v, %v", c, err)
	}
	user := filepath.Join(xdg, "bulkrefund", "config.json")
	os.MkdirAll(filepath.Dir(user), 0o700)
	os.WriteFile(user, []byte("{}"), 0o600)
	if c, err := FindConfig(""); err != nil || c != (Config{user, "user config directory"}) {
		t.Errorf("user config dir: %v, %v", c, err)
	}
	env := filepath.Join(t.TempDir(), "providers.json")
	os.WriteFile(env, []byte("{}"), 0o600)
	t.Setenv(ConfigEnv, env)
	if c, err := FindConfig(""); err != nil || c != (Config{env, "$BULKREFUND_CONFIG"}) {
		t.Errorf("variable over the user dir: %v, %v", c, err)
	}
	if c, err := FindConfig("given.json"); err != nil || c != (Config{"given.json", "--config"}) {
		t.Errorf("flag over everything: %v, %v", c, err)
	}
	t.Setenv(ConfigEnv, filepath.Join(t.TempDir(), "typo.json"))
	if _, err := FindConfig(""); err == nil || !strings.Contains(err.Error(), "$BULKREFUND_CONFIG=") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("variable naming no file: %v", err)
	}
}

func TestSpoolStdin(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	path, cleanup, err := SpoolStdin(strings.NewReader("provider,account\n"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != StdinName || filepath.Dir(filepath.Dir(path)) != tmp {
		t.Errorf("path %s", path)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(path); string(b) != "provider,account\n" {
		t.Errorf("content %q", b)
	}
	cleanup()
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left after cleanup: %v", left)
	}

	_, cleanup, err = SpoolStdin(strings.NewReader(strings.Repeat("x", 2<<20+1)), 2<<20)
	cleanup()
	if err == nil || !strings.Contains(err.Error(), "more than 2 MiB") {
		t.Errorf("over the limit: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left after a refused copy: %v", left)
	}
	_, cleanup, err = SpoolStdin(strings.NewReader(strings.Repeat("x", 2<<20)), 2<<20)
	cleanup()
	if err != nil {
		t.Errorf("exactly the limit: %v", err)
	}
}

func TestRename(t *testing.T) {
	var b bytes.Buffer
	w := Rename(&b, "/tmp/bulkrefund-stdin-123/stdin", "stdin")
	n, err := w.Write([]byte("/tmp/bulkrefund-stdin-123/stdin: row 4, column \"x\"\n"))
	if err != nil || n != 51 || b.String() != "stdin: row 4, column \"x\"\n" {
		t.Errorf("wrote %d, %v: %q", n, err, b.String())
	}
	failing := Rename(errWriter{}, "a", "b")
	if _, err := failing.Write([]byte("a")); err == nil {
		t.Error("write error lost")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }
