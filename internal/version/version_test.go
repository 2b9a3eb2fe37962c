package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "m", Version: "v1.2.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"}, {Key: "vcs.modified", Value: "false"}}},
			"bulkrefund v1.2.0 (rev 1a2b3c4d5e6f, go1.26.0)"},
		{"dirty tree", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "m", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"}, {Key: "vcs.modified", Value: "true"}}},
			"bulkrefund devel (rev 1a2b3c4d5e6f, modified, go1.26.0)"},
		{"go run", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "m", Version: "(devel)"}},
			"bulkrefund devel (no VCS information, go1.26.0)"},
	} {
		if got := fromBuildInfo(&tc.bi).String("bulkrefund"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestBuiltBinary builds a program that prints String and checks that
// what the build recorded reaches it: the Go version always, and a version
// given with -ldflags -X. (The VCS revision is stamped only when the module
// sits in a git checkout whose .git is a directory: Go does not recognise a
// linked worktree, golang/go#58218, so it is not asserted here.)
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	// The program must live inside the module to import an internal
	// package: a temporary directory under this one, removed afterwards.
	pkg, err := os.MkdirTemp(".", "tmpmain")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(pkg)
	src := "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/bulkrefund/bulkrefund/internal/version\"\n)\n\nfunc main() { fmt.Print(version.String(\"x\")) }\n"
	if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "x")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/bulkrefund/bulkrefund/internal/version.Override=v9.9.9-test", "./"+pkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); !strings.HasPrefix(got, "x v9.9.9-test (") || !strings.HasSuffix(got, runtime.Version()+")") {
		t.Errorf("built binary says %q", got)
	}
}
