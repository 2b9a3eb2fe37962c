package tmpdir

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestSweepKilledOwner makes a directory in a child process, kills the
// child with SIGKILL, and checks the next Sweep removes what it left while
// leaving a live process's directory and foreign directories alone.
func TestSweepKilledOwner(t *testing.T) {
	if os.Getenv("TMPDIR_CHILD") != "" {
		d, err := New()
		if err != nil {
			os.Exit(3)
		}
		os.WriteFile(filepath.Join(d.Path, "spool"), []byte("data"), 0o600)
		os.Stdout.WriteString(d.Path + "\n")
		select {} // wait to be killed
	}
	parent := t.TempDir()
	t.Setenv("TMPDIR", parent)

	cmd := exec.Command(os.Args[0], "-test.run=^TestSweepKilledOwner$")
	cmd.Env = append(os.Environ(), "TMPDIR_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := out.Read(buf)
	left := string(buf[:n-1])
	if filepath.Dir(left) != parent {
		t.Fatalf("child's directory %q is not under TMPDIR %q", left, parent)
	}
	// While the child lives, its directory is not touched.
	if removed := Sweep(parent); len(removed) != 0 {
		t.Fatalf("swept a live process's directory: %v", removed)
	}
	cmd.Process.Kill()
	cmd.Wait()
	foreign := filepath.Join(parent, Prefix+"not-ours")
	os.Mkdir(foreign, 0o700)

	removed := Sweep(parent)
	if !slices.Equal(removed, []string{left}) {
		t.Errorf("swept %v, want only %s", removed, left)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", left, err)
	}
	live, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	if removed := Sweep(parent); len(removed) != 0 {
		t.Errorf("swept %v", removed)
	}
	for _, keep := range []string{live.Path, foreign} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s removed: %v", keep, err)
		}
	}
	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path); !os.IsNotExist(err) {
		t.Errorf("Remove left %s", live.Path)
	}
}
