// Package image builds podid's container image without Docker: static
// binaries (one per platform) laid into a minimal non-root file system, put
// together as an OCI image index with go-containerregistry, and written as
// an OCI image layout tarball that `ctr images import`, `skopeo copy
// oci-archive:` and registries' tools read.
//
// The result is reproducible: every timestamp is the source commit's time,
// every file has a fixed owner and mode, the entries are sorted, so the
// same source and toolchain give the same digest.
//
// The layout matches the Dockerfile at the repository's root: the binary at
// /usr/local/bin/NAME, /etc/passwd and /etc/group from rootfs/ (user
// nonroot, uid 65532), a home directory and /tmp, user 65532:65532.
package image

import (
	"archive/tar"
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rootfs holds the files every image carries besides its binary; the
// Dockerfile copies the same directory.
//
//go:embed rootfs
var rootfs embed.FS

// The non-root user every image runs as (distroless's "nonroot").
const (
	UID      = 65532
	GID      = 65532
	homeDir  = "home/nonroot"
	BinDir   = "/usr/local/bin"
	userSpec = "65532:65532"
)

// OCI annotation keys (image-spec annotations.md) the images and the index carry.
const (
	AnnotationVersion  = "org.opencontainers.image.version"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationCreated  = "org.opencontainers.image.created"
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationTitle    = "org.opencontainers.image.title"
	AnnotationLicenses = "org.opencontainers.image.licenses"
	AnnotationRefName  = "org.opencontainers.image.ref.name"
	// AnnotationContainerdName is the name `ctr images import` gives the image.
	AnnotationContainerdName = "io.containerd.image.name"
)

// Binary is one platform's executable.
type Binary struct {
	// Platform is where it runs (OS linux; amd64 or arm64, ...).
	Platform v1.Platform
	// Path is the file built for that platform.
	Path string
}

// Spec describes an image to build.
type Spec struct {
	// Name is the binary's name: it is installed as /usr/local/bin/NAME,
	// which is the entrypoint.
	Name string
	// Cmd is the default arguments (the entrypoint's when none are given).
	Cmd []string
	// Binaries has one entry per platform; the index lists them in this order.
	Binaries []Binary
	// Version, Revision and Source fill the OCI annotations and labels.
	Version, Revision, Source string
	// Licenses is an SPDX expression for the annotation (optional).
	Licenses string
	// Created is the time recorded everywhere: the commit's time, so the
	// image is reproducible.
	Created time.Time
}

// annotations are the OCI annotations (and config labels) of s.
func (s Spec) annotations() map[string]string {
	a := map[string]string{
		AnnotationTitle:    s.Name,
		AnnotationVersion:  s.Version,
		AnnotationRevision: s.Revision,
		AnnotationCreated:  s.Created.UTC().Format(time.RFC3339),
	}
	if s.Source != "" {
		a[AnnotationSource] = s.Source
	}
	if s.Licenses != "" {
		a[AnnotationLicenses] = s.Licenses
	}
	return a
}

// Build returns the image index of s: one image per binary.
func Build(s Spec) (v1.ImageIndex, error) {
	if s.Name == "" || strings.Contains(s.Name, "/") {
		return nil, fmt.Errorf("image: invalid binary name %q", s.Name)
	}
	if len(s.Binaries) == 0 {
		return nil, fmt.Errorf("image: no binaries for %s", s.Name)
	}
	if s.Created.IsZero() {
		return nil, fmt.Errorf("image: no creation time (the commit's time) for %s", s.Name)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, b := range s.Binaries {
		if seen[b.Platform.String()] {
			return nil, fmt.Errorf("image: platform %s given twice", b.Platform)
		}
		seen[b.Platform.String()] = true
		img, err := platformImage(s, b)
		if err != nil {
			return nil, err
		}
		p := b.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.Annotations(idx, s.annotations()).(v1.ImageIndex), nil
}

// platformImage is s's image for one binary.
func platformImage(s Spec, b Binary) (v1.Image, error) {
	if b.Platform.OS == "" || b.Platform.Architecture == "" {
		// ctr import silently filters out images without os/architecture.
		return nil, fmt.Errorf("image: binary %s has no OS or architecture", b.Path)
	}
	bin, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, fmt.Errorf("image: read binary: %w", err)
	}
	layerTar, err := fsLayer(s.Name, bin, s.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	created := v1.Time{Time: s.Created.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: fmt.Sprintf("podid image: %s %s at %s, rootfs, user nonroot", s.Name, s.Version, BinDir),
			Comment:   "built without Docker by internal/image (go-containerregistry)",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = created
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = b.Platform.OS, b.Platform.Architecture, b.Platform.Variant, b.Platform.OSVersion
	cf.Config = v1.Config{
		User:       userSpec,
		Entrypoint: []string{path.Join(BinDir, s.Name)},
		Cmd:        s.Cmd,
		Env:        []string{"PATH=" + BinDir + ":/usr/bin:/bin"},
		WorkingDir: "/" + homeDir,
		Labels:     s.annotations(),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: set config: %w", err)
	}
	return mutate.Annotations(img, s.annotations()).(v1.Image), nil
}

// entry is one file or directory of the image's file system.
type entry struct {
	name     string
	mode     int64
	uid, gid int
	dir      bool
	data     []byte
}

// fsLayer is the uncompressed tar of the image's file system: rootfs/,
// the home directory, /tmp and the binary, sorted, with fixed owners,
// modes and times.
func fsLayer(name string, bin []byte, created time.Time) ([]byte, error) {
	entries := map[string]entry{}
	addDir := func(name string, mode int64, uid, gid int) {
		entries[name+"/"] = entry{name: name + "/", mode: mode, uid: uid, gid: gid, dir: true}
	}
	// parents adds the directories above name, owned by root.
	parents := func(name string) {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := entries[d+"/"]; !ok {
				addDir(d, 0o755, 0, 0)
			}
		}
	}
	err := fs.WalkDir(rootfs, "rootfs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := rootfs.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "rootfs/")
		parents(rel)
		entries[rel] = entry{name: rel, mode: 0o644, data: data}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image: rootfs: %w", err)
	}
	parents(homeDir)
	addDir(homeDir, 0o700, UID, GID)
	addDir("tmp", 0o1777, 0, 0)
	binPath := strings.TrimPrefix(path.Join(BinDir, name), "/")
	parents(binPath)
	entries[binPath] = entry{name: binPath, mode: 0o755, data: bin}

	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: created.UTC(),
			Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.data)),
		}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("image: tar %s: %w", n, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("image: tar %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image: tar: %w", err)
	}
	return buf.Bytes(), nil
}
