// Command podid-image builds podid's container image without Docker: a
// static podid binary per platform in a minimal non-root image (see
// internal/image), stamped with the version, commit and commit time, written
// as a reproducible OCI image layout tarball. `make image` runs it.
//
//	go run ./cmd/podid-image -o dist/podid-image.tar
//
// The same program builds any small Go command of the repository into the
// same layout (-package, -name), which the real-node tests use.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/podid/podid/internal/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "podid-image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("podid-image", flag.ContinueOnError)
	out := fl.String("o", "dist/podid-image.tar", "the OCI image layout tarball to write")
	dir := fl.String("C", ".", "the repository's root")
	pkg := fl.String("package", "./cmd/podid", "the main package to build")
	name := fl.String("name", "podid", "the binary's name (/usr/local/bin/NAME, the entrypoint)")
	repo := fl.String("repository", "ghcr.io/podid/podid", "the image repository the archive names")
	version := fl.String("version", "", "the version to stamp and tag (default: the chart's appVersion)")
	platforms := fl.String("platforms", "linux/amd64,linux/arm64", "comma-separated OS/ARCH[/VARIANT] list")
	source := fl.String("source", "https://github.com/podid/podid", "org.opencontainers.image.source")
	cmdArgs := fl.String("cmd", "version", "default arguments, space-separated")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	root, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if *version == "" {
		if *version, err = chartAppVersion(filepath.Join(root, "deploy/helm/podid/Chart.yaml")); err != nil {
			return err
		}
	}
	plats, err := image.ParsePlatforms(*platforms)
	if err != nil {
		return err
	}
	src, err := image.GitSource(ctx, root)
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "podid-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	gb := image.GoBuild{Dir: root, Package: *pkg, LDFlags: image.StampFlags(*version, src.Commit, src.Time)}
	spec := image.Spec{
		Name: *name, Cmd: strings.Fields(*cmdArgs),
		Version: *version, Revision: src.Commit, Source: *source, Licenses: "Apache-2.0", Created: src.Time,
	}
	for _, p := range plats {
		bin := filepath.Join(tmp, strings.ReplaceAll(p.String(), "/", "-"), *name)
		fmt.Fprintf(os.Stderr, "go build %s for %s\n", *pkg, p)
		if err := gb.Build(ctx, p, bin); err != nil {
			return err
		}
		spec.Binaries = append(spec.Binaries, image.Binary{Platform: p, Path: bin})
	}
	idx, err := image.Build(spec)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(*out), ".podid-image-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	ref := *repo + ":" + *version
	if err := image.WriteOCIArchive(f, idx, ref, *version, src.Time); err != nil {
		f.Close()
		return err
	}
	if err := errors.Join(f.Chmod(0o644), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), *out); err != nil {
		return err
	}
	fmt.Printf("%s@%s\n%s (%s, commit %s)\n", ref, digest, *out, *platforms, src.Commit)
	return nil
}

var appVersionLine = regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?\s*$`)

// chartAppVersion reads appVersion from the chart's Chart.yaml: the tag the
// chart installs by default, so the image built here is the one it names.
func chartAppVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("the chart's appVersion: %w", err)
	}
	m := appVersionLine.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("no appVersion in %s", path)
	}
	return string(m[1]), nil
}
