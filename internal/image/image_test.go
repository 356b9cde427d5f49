package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	commitTime = time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	amd64      = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64      = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// buildHello compiles testdata/hello for each platform into a fresh
// directory, stamped, the way cmd/podid-image builds podid.
func buildHello(t *testing.T, plats ...v1.Platform) []Binary {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	gb := GoBuild{Dir: root, Package: "./internal/image/testdata/hello", LDFlags: StampFlags("9.8.7", "0123abcd", commitTime)}
	var bins []Binary
	for _, p := range plats {
		out := filepath.Join(t.TempDir(), "hello")
		if err := gb.Build(context.Background(), p, out); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, Binary{Platform: p, Path: out})
	}
	return bins
}

func helloSpec(bins []Binary) Spec {
	return Spec{Name: "hello", Cmd: []string{"version"}, Binaries: bins, Version: "9.8.7", Revision: "0123abcd",
		Source: "https://github.com/podid/podid", Licenses: "Apache-2.0", Created: commitTime}
}

// archive builds spec and writes its OCI archive, returning the index
// digest and the archive's bytes.
func archive(t *testing.T, spec Spec) (v1.ImageIndex, []byte) {
	t.Helper()
	idx, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteOCIArchive(&buf, idx, "example.com/hello:9.8.7", "9.8.7", spec.Created); err != nil {
		t.Fatal(err)
	}
	return idx, buf.Bytes()
}

// TestReproducible: building the same source twice (two go builds into
// different directories, two image builds) gives the same index digest and
// byte-identical archives; another commit time gives another digest.
func TestReproducible(t *testing.T) {
	idx1, ar1 := archive(t, helloSpec(buildHello(t, amd64, arm64)))
	idx2, ar2 := archive(t, helloSpec(buildHello(t, amd64, arm64)))
	d1, _ := idx1.Digest()
	d2, _ := idx2.Digest()
	if d1 != d2 {
		t.Fatalf("index digests differ between two builds of the same source: %s, %s", d1, d2)
	}
	if sha256.Sum256(ar1) != sha256.Sum256(ar2) {
		t.Fatal("the archives of two builds of the same source differ")
	}

	later := helloSpec(buildHello(t, amd64))
	later.Created = commitTime.Add(time.Second)
	idx3, _ := archive(t, later)
	d3, _ := idx3.Digest()
	if d3 == d1 {
		t.Fatalf("a different commit time gave the same digest %s", d3)
	}
}

// TestLayout reads the archive back the way a runtime does (index.json →
// index → manifest → config and layer) and checks every field that
// matters: platforms, user, entrypoint, annotations, file owners and modes.
func TestLayout(t *testing.T) {
	bins := buildHello(t, amd64, arm64)
	_, ar := archive(t, helloSpec(bins))
	blobs := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(ar))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(commitTime) || h.Uid != 0 {
			t.Errorf("archive entry %s: mtime %s uid %d, want the commit time and root", h.Name, h.ModTime, h.Uid)
		}
		names = append(names, h.Name)
		b, _ := io.ReadAll(tr)
		blobs[h.Name] = b
	}
	if names[0] != "oci-layout" || names[1] != "index.json" {
		t.Fatalf("archive starts with %q, want oci-layout, index.json", names[:2])
	}
	blob := func(d v1.Hash) []byte {
		t.Helper()
		b, ok := blobs["blobs/sha256/"+d.Hex]
		if !ok {
			t.Fatalf("blob %s missing", d)
		}
		if got := sha256.Sum256(b); (v1.Hash{Algorithm: "sha256", Hex: hexOf(got[:])}) != d {
			t.Fatalf("blob %s does not hash to its name", d)
		}
		return b
	}

	var top v1.IndexManifest
	mustJSON(t, blobs["index.json"], &top)
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("index.json = %+v, want one image index", top)
	}
	if a := top.Manifests[0].Annotations; a[AnnotationContainerdName] != "example.com/hello:9.8.7" || a[AnnotationRefName] != "9.8.7" {
		t.Errorf("index.json annotations = %v", a)
	}
	var idx v1.IndexManifest
	mustJSON(t, blob(top.Manifests[0].Digest), &idx)
	wantAnn := map[string]string{
		AnnotationTitle: "hello", AnnotationVersion: "9.8.7", AnnotationRevision: "0123abcd",
		AnnotationCreated: "2026-12-06T08:00:00Z", AnnotationSource: "https://github.com/podid/podid", AnnotationLicenses: "Apache-2.0",
	}
	checkAnn := func(where string, got map[string]string) {
		t.Helper()
		if len(got) != len(wantAnn) {
			t.Errorf("%s annotations = %v, want %v", where, got, wantAnn)
		}
		for k, v := range wantAnn {
			if got[k] != v {
				t.Errorf("%s annotation %s = %q, want %q", where, k, got[k], v)
			}
		}
	}
	checkAnn("index", idx.Annotations)
	if idx.MediaType != types.OCIImageIndex || len(idx.Manifests) != 2 {
		t.Fatalf("index: media type %s, %d manifests", idx.MediaType, len(idx.Manifests))
	}
	for i, d := range idx.Manifests {
		want := bins[i].Platform
		if d.Platform == nil || d.Platform.OS != want.OS || d.Platform.Architecture != want.Architecture {
			t.Fatalf("manifest %d platform = %v, want %v", i, d.Platform, want)
		}
		var m v1.Manifest
		mustJSON(t, blob(d.Digest), &m)
		checkAnn("manifest "+want.String(), m.Annotations)
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
			t.Fatalf("manifest %s: %+v", want, m)
		}
		var cf v1.ConfigFile
		mustJSON(t, blob(m.Config.Digest), &cf)
		if cf.OS != want.OS || cf.Architecture != want.Architecture || !cf.Created.Time.Equal(commitTime) {
			t.Errorf("config %s: os %q arch %q created %s", want, cf.OS, cf.Architecture, cf.Created)
		}
		c := cf.Config
		if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != "/usr/local/bin/hello" || strings.Join(c.Cmd, " ") != "version" || c.WorkingDir != "/home/nonroot" {
			t.Errorf("config %s: user %q entrypoint %q cmd %q workdir %q", want, c.User, c.Entrypoint, c.Cmd, c.WorkingDir)
		}
		checkAnn("labels "+want.String(), c.Labels)
		checkLayer(t, blob(m.Layers[0].Digest), cf.RootFS.DiffIDs, bins[i].Path, want)
	}
}

// checkLayer reads the gzipped layer: its uncompressed digest is the
// config's diff ID, and its files are exactly the expected ones.
func checkLayer(t *testing.T, gz []byte, diffIDs []v1.Hash, binPath string, p v1.Platform) {
	t.Helper()
	raw := gunzip(t, gz)
	sum := sha256.Sum256(raw)
	if len(diffIDs) != 1 || diffIDs[0].Hex != hexOf(sum[:]) {
		t.Fatalf("diff IDs %v do not match the layer", diffIDs)
	}
	bin, _ := os.ReadFile(binPath)
	type file struct {
		mode     int64
		uid, gid int
		typ      byte
	}
	want := map[string]file{
		"etc/": {0o755, 0, 0, tar.TypeDir}, "etc/group": {0o644, 0, 0, tar.TypeReg}, "etc/passwd": {0o644, 0, 0, tar.TypeReg},
		"home/": {0o755, 0, 0, tar.TypeDir}, "home/nonroot/": {0o700, 65532, 65532, tar.TypeDir}, "tmp/": {0o1777, 0, 0, tar.TypeDir},
		"usr/": {0o755, 0, 0, tar.TypeDir}, "usr/local/": {0o755, 0, 0, tar.TypeDir}, "usr/local/bin/": {0o755, 0, 0, tar.TypeDir},
		"usr/local/bin/hello": {0o755, 0, 0, tar.TypeReg},
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	seen := 0
	prev := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen++
		if h.Name <= prev {
			t.Errorf("layer entries not sorted: %q after %q", h.Name, prev)
		}
		prev = h.Name
		w, ok := want[h.Name]
		if !ok {
			t.Errorf("unexpected file %s in the layer", h.Name)
			continue
		}
		if h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid || h.Typeflag != w.typ || !h.ModTime.Equal(commitTime) {
			t.Errorf("%s: mode %o uid %d gid %d type %c mtime %s, want mode %o uid %d gid %d type %c", h.Name, h.Mode, h.Uid, h.Gid, h.Typeflag, h.ModTime, w.mode, w.uid, w.gid, w.typ)
		}
		data, _ := io.ReadAll(tr)
		switch h.Name {
		case "etc/passwd":
			if !strings.Contains(string(data), "nonroot:x:65532:65532:") {
				t.Errorf("etc/passwd = %q", data)
			}
		case "usr/local/bin/hello":
			if !bytes.Equal(data, bin) {
				t.Error("the layer's binary is not the one built")
			}
			if p.Architecture == runtime.GOARCH && p.OS == runtime.GOOS {
				runStamped(t, data)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("layer has %d entries, want %d", seen, len(want))
	}
}

// runStamped runs the image's binary: a static executable that prints the
// stamped version and commit.
func runStamped(t *testing.T, bin []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path).CombinedOutput()
	if err != nil {
		t.Fatalf("running the image's binary: %v: %s", err, out)
	}
	if want := "podid 9.8.7 (commit 0123abcd, built 2026-12-06T08:00:00Z, "; !strings.HasPrefix(string(out), want) {
		t.Errorf("the image's binary printed %q, want prefix %q", out, want)
	}
	if !strings.Contains(string(out), ", linux/amd64)") && runtime.GOARCH == "amd64" {
		t.Errorf("the image's binary printed %q, want linux/amd64", out)
	}
}

func TestBuildRejects(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	ok := Spec{Name: "x", Binaries: []Binary{{Platform: amd64, Path: bin}}, Version: "1", Revision: "c", Created: commitTime}
	tests := []struct {
		name   string
		mutate func(*Spec)
		want   string
	}{
		{"empty name", func(s *Spec) { s.Name = "" }, "invalid binary name"},
		{"name with slash", func(s *Spec) { s.Name = "a/b" }, "invalid binary name"},
		{"no binaries", func(s *Spec) { s.Binaries = nil }, "no binaries"},
		{"no time", func(s *Spec) { s.Created = time.Time{} }, "no creation time"},
		{"no architecture", func(s *Spec) { s.Binaries[0].Platform.Architecture = "" }, "no OS or architecture"},
		{"duplicate platform", func(s *Spec) { s.Binaries = append(s.Binaries, s.Binaries[0]) }, "given twice"},
		{"missing file", func(s *Spec) { s.Binaries[0].Path = bin + ".missing" }, "read binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			s.Binaries = append([]Binary(nil), ok.Binaries...)
			tt.mutate(&s)
			_, err := Build(s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Build(ok); err != nil {
		t.Fatalf("Build(valid): %v", err)
	}
}

func TestParsePlatforms(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{in: "linux/amd64,linux/arm64", want: "linux/amd64 linux/arm64"},
		{in: " linux/arm64/v8 ", want: "linux/arm64/v8"},
		{in: "", err: true},
		{in: "linux", err: true},
		{in: ",", err: true},
	}
	for _, tt := range tests {
		got, err := ParsePlatforms(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParsePlatforms(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if err != nil || strings.Join(s, " ") != tt.want {
			t.Errorf("ParsePlatforms(%q) = %v, %v, want %s", tt.in, s, err, tt.want)
		}
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
