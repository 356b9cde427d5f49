// Package version reports which build of podid is running: the version,
// the commit and the build date. `make image` and the Dockerfile stamp them
// with -ldflags -X; a plain `go build` falls back to the VCS information Go
// records in the binary (runtime/debug.ReadBuildInfo).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped at build time with, for example,
//
//	-ldflags "-X github.com/podid/podid/internal/version.version=0.1.0
//	          -X github.com/podid/podid/internal/version.commit=$(git rev-parse HEAD)
//	          -X github.com/podid/podid/internal/version.date=2026-12-06T08:00:00Z"
//
// They are variables only so the linker can set them; read them through Get.
var (
	version string
	commit  string
	date    string
)

// Info describes one build of podid.
type Info struct {
	// Version is the release version ("0.1.0"), or "dev" when not stamped.
	Version string `json:"version"`
	// Commit is the source commit the binary was built from, with a
	// "-dirty" suffix when the tree had uncommitted changes; "unknown" when
	// neither the build nor Go's VCS stamping recorded it.
	Commit string `json:"commit"`
	// Date is the build date in RFC 3339 (the commit's time for reproducible
	// builds); "unknown" when not recorded.
	Date string `json:"date"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH of the binary.
	Platform string `json:"platform"`
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve fills in what the linker did not stamp from Go's build info.
func resolve(v, c, d string, bi *debug.BuildInfo) Info {
	info := Info{Version: v, Commit: c, Date: d, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if info.Commit == "" && settings["vcs.revision"] != "" {
			info.Commit = settings["vcs.revision"]
			if settings["vcs.modified"] == "true" {
				info.Commit += "-dirty"
			}
		}
		if info.Date == "" {
			info.Date = settings["vcs.time"]
		}
		// A module version (go install …@v0.1.0) is a real version;
		// "(devel)" and pseudo-versions of a checkout are not.
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" && !isPseudo(bi.Main.Version) {
			info.Version = strings.TrimPrefix(bi.Main.Version, "v")
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}

// isPseudo reports whether v is a Go pseudo-version (v0.0.0-20261206080000-abcdef123456).
func isPseudo(v string) bool {
	parts := strings.Split(v, "-")
	if len(parts) < 3 {
		return false
	}
	ts, rev := parts[len(parts)-2], parts[len(parts)-1]
	if i := strings.LastIndex(ts, "."); i >= 0 {
		ts = ts[i+1:]
	}
	return len(ts) == 14 && len(rev) == 12
}

// String is the one-line form `podid version` prints.
func (i Info) String() string {
	return fmt.Sprintf("podid %s (commit %s, built %s, %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}
