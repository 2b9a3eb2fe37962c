package cli

import (
	"runtime/debug"
	"strings"
)

// buildVersion names the build of the running binary: the module version
// (set by `go install ...@vX`; "devel" in a checkout), the VCS revision and
// whether the tree had uncommitted changes, as runtime/debug records them.
//
// TODO(merge): use internal/version.
func buildVersion(name string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return name + " devel"
	}
	return name + " " + formatBuild(bi)
}

func formatBuild(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	var extra []string
	if rev != "" {
		extra = append(extra, "commit "+rev[:min(len(rev), 12)])
	}
	if modified == "true" {
		extra = append(extra, "modified")
	}
	if len(extra) > 0 {
		v += " (" + strings.Join(extra, ", ") + ")"
	}
	return v
}
