package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// VersionPackage is where podid's build identity is stamped (internal/version).
const VersionPackage = "github.com/podid/podid/internal/version"

// GoBuild describes one reproducible, static `go build`.
type GoBuild struct {
	// Dir is the module directory the build runs in.
	Dir string
	// Package is the main package to build (./cmd/podid).
	Package string
	// LDFlags are extra -ldflags (the -X stamps).
	LDFlags []string
}

// Build compiles the package for platform into out: CGO_ENABLED=0 (a
// static binary), -trimpath, no build ID and no VCS stamping (the commit is
// stamped explicitly), stripped of debug information.
func (g GoBuild) Build(ctx context.Context, p v1.Platform, out string) error {
	ldflags := append([]string{"-s", "-w", "-buildid="}, g.LDFlags...)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", strings.Join(ldflags, " "), "-o", out, g.Package)
	cmd.Dir = g.Dir
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-mod=readonly")
	if p.Architecture == "arm64" && p.Variant != "" {
		env = append(env, "GOARM64="+strings.TrimPrefix(p.Variant, "v")+".0")
	}
	if p.Architecture == "amd64" {
		env = append(env, "GOAMD64=v1")
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("image: go build %s for %s: %w: %s", g.Package, p, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// StampFlags are the -X flags that stamp version, commit and date into
// internal/version.
func StampFlags(version, commit string, date time.Time) []string {
	return []string{
		"-X", VersionPackage + ".version=" + version,
		"-X", VersionPackage + ".commit=" + commit,
		"-X", VersionPackage + ".date=" + date.UTC().Format(time.RFC3339),
	}
}

// Source is what the repository says about the source being built.
type Source struct {
	// Commit is HEAD's hash, with "-dirty" when tracked files differ from it.
	Commit string
	// Time is HEAD's commit time, or SOURCE_DATE_EPOCH when that is set.
	Time time.Time
}

// GitSource reads Source from the git repository at dir.
func GitSource(ctx context.Context, dir string) (Source, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("image: git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	var s Source
	var err error
	if s.Commit, err = git("rev-parse", "HEAD"); err != nil {
		return Source{}, err
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return Source{}, err
	}
	if status != "" {
		s.Commit += "-dirty"
	}
	ct, err := git("log", "-1", "--format=%ct")
	if err != nil {
		return Source{}, err
	}
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		ct = e
	}
	sec, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return Source{}, fmt.Errorf("image: commit time %q: %w", ct, err)
	}
	s.Time = time.Unix(sec, 0).UTC()
	return s, nil
}

// ParsePlatforms parses "linux/amd64,linux/arm64".
func ParsePlatforms(list string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := v1.ParsePlatform(s)
		if err != nil {
			return nil, fmt.Errorf("image: platform %q: %w", s, err)
		}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("image: platform %q: want OS/ARCH", s)
		}
		out = append(out, *p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("image: no platforms in %q", list)
	}
	return out, nil
}
