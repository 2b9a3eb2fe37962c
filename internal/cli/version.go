package cli

import (
	"runtime/debug"
	"strings"

	buildinfo "github.com/bulkrefund/bulkrefund/internal/version"
)

// buildVersion names the build of the running binary (internal/version:
// the module version, the VCS revision and whether the tree had
// uncommitted changes), the same text the report records as tool_version.
func buildVersion(name string) string { return buildinfo.String(name) }

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
