package version

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified, when string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/podid/podid", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}, {Key: "vcs.time", Value: when}}}
	}
	tests := []struct {
		name          string
		v, c, d       string
		bi            *debug.BuildInfo
		wantV, wantC  string
		wantD, wantGo string
	}{
		{name: "stamped wins over vcs", v: "0.1.0", c: "abc123", d: "2026-12-06T08:00:00Z", bi: vcs("fff", "true", "2020-01-01T00:00:00Z"),
			wantV: "0.1.0", wantC: "abc123", wantD: "2026-12-06T08:00:00Z", wantGo: "go1.26.0"},
		{name: "vcs fallback clean", bi: vcs("0123456789abcdef", "false", "2026-12-05T10:11:12Z"),
			wantV: "dev", wantC: "0123456789abcdef", wantD: "2026-12-05T10:11:12Z", wantGo: "go1.26.0"},
		{name: "vcs fallback dirty", bi: vcs("0123456789abcdef", "true", "2026-12-05T10:11:12Z"),
			wantV: "dev", wantC: "0123456789abcdef-dirty", wantD: "2026-12-05T10:11:12Z", wantGo: "go1.26.0"},
		{name: "module version from go install", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.2.0"}},
			wantV: "0.2.0", wantC: "unknown", wantD: "unknown", wantGo: "go1.26.0"},
		{name: "pseudo-version is not a version", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261206080000-abcdef123456"}},
			wantV: "dev", wantC: "unknown", wantD: "unknown", wantGo: "go1.26.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.v, tt.c, tt.d, tt.bi)
			if got.Version != tt.wantV || got.Commit != tt.wantC || got.Date != tt.wantD || got.GoVersion != tt.wantGo {
				t.Fatalf("resolve = %+v, want version %q commit %q date %q go %q", got, tt.wantV, tt.wantC, tt.wantD, tt.wantGo)
			}
		})
	}
	if got := resolve("", "", "", nil); got.Version != "dev" || got.Commit != "unknown" || got.Date != "unknown" || got.Platform == "" {
		t.Fatalf("resolve without build info = %+v", got)
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "0.1.0", Commit: "abc", Date: "2026-12-06T08:00:00Z", GoVersion: "go1.26.0", Platform: "linux/amd64"}
	want := "podid 0.1.0 (commit abc, built 2026-12-06T08:00:00Z, go1.26.0, linux/amd64)"
	if got := i.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
