// Package version says which build of bulkrefund is running, from what the
// Go toolchain recorded in the binary (runtime/debug.ReadBuildInfo): the
// module version, the VCS revision and whether the work tree had changes.
// Both binaries print it and the report records it as tool_version, so an
// auditor can tell which code produced a report.
package version

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Override replaces the module version for builds that know better than
// the toolchain (a release script: -ldflags "-X
// github.com/bulkrefund/bulkrefund/internal/version.Override=v1.4.0").
var Override string

// Info is what the build recorded. Fields the build did not record are
// empty: `go run` and `go test` stamp no VCS information, and a build from
// a work tree (not `go install module@version`) has no module version.
type Info struct {
	Module    string // module path
	Version   string // v1.2.3, a pseudo-version, or "" for a development build
	Revision  string // VCS commit
	Time      string // commit time, RFC3339
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string
}

var (
	once sync.Once
	info Info
)

// Get reads the build information once.
func Get() Info {
	once.Do(func() {
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			return
		}
		info = fromBuildInfo(bi)
	})
	i := info
	if Override != "" {
		i.Version = Override
	}
	return i
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Module: bi.Main.Path, GoVersion: bi.GoVersion}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		i.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is one line naming program and the build:
//
//	bulkrefund v1.2.0 (rev 1a2b3c4d5e6f, go1.26.0)
//	bulkrefund devel (rev 1a2b3c4d5e6f, modified, go1.26.0)
//	bulkrefund devel (no VCS information, go1.26.0)
//
// "modified" means the binary was built from uncommitted code: a report
// that says so cannot be traced to a commit.
func (i Info) String(program string) string {
	var b strings.Builder
	b.WriteString(program)
	b.WriteByte(' ')
	if i.Version != "" {
		b.WriteString(i.Version)
	} else {
		b.WriteString("devel")
	}
	var extra []string
	switch {
	case i.Revision != "":
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		extra = append(extra, "rev "+rev)
		if i.Modified {
			extra = append(extra, "modified")
		}
	default:
		extra = append(extra, "no VCS information")
	}
	if i.GoVersion != "" {
		extra = append(extra, i.GoVersion)
	}
	b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	return b.String()
}

// String is Get().String(program): the line both binaries print for
// --version and the report records as tool_version.
func String(program string) string { return Get().String(program) }
