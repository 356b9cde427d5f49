package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/podid/podid/internal/image"
)

// builtImage is an image cmd/podid-image wrote for this machine's platform.
type builtImage struct {
	Archive string // the OCI archive
	Ref     string // repository:tag, the name ctr import gives it
	Digest  string // the index's digest
}

var (
	imageMu    sync.Mutex
	imageCache = map[string]builtImage{}
)

// buildImage runs cmd/podid-image (what `make image` runs) for this
// machine's platform only, once per set of arguments for the test binary.
func buildImage(t *testing.T, args ...string) builtImage {
	t.Helper()
	key := strings.Join(args, " ")
	imageMu.Lock()
	defer imageMu.Unlock()
	if b, ok := imageCache[key]; ok {
		return b
	}
	if imageDir == "" {
		dir, err := os.MkdirTemp("", "podid-e2e-images-")
		if err != nil {
			t.Fatal(err)
		}
		imageDir = dir // removed by TestMain
	}
	b := runImageBuild(t, imageDir, args...)
	imageCache[key] = b
	return b
}

// imageDir holds the images buildImage built for the whole test binary.
var imageDir string

// runImageBuild writes an image archive into dir (which the caller removes).
func runImageBuild(t *testing.T, dir string, args ...string) builtImage {
	t.Helper()
	f, err := os.CreateTemp(dir, "image-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	all := append([]string{"run", "../../cmd/podid-image", "-C", "../..", "-o", f.Name(), "-platforms", "linux/" + runtime.GOARCH}, args...)
	cmd := exec.Command("go", all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(all, " "), err, stderr.String())
	}
	first := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	ref, digest, ok := strings.Cut(first, "@")
	if !ok {
		t.Fatalf("podid-image printed %q, want REF@DIGEST first", out)
	}
	return builtImage{Archive: f.Name(), Ref: ref, Digest: digest}
}

// TestImagePodid: `make image`'s program writes an OCI archive whose
// linux image runs `podid version` by default as uid 65532, printing the
// commit it was built from; building the same source again gives the same
// digest.
func TestImagePodid(t *testing.T) {
	t.Parallel()
	src, err := image.GitSource(context.Background(), "../..")
	if err != nil {
		t.Fatal(err)
	}
	first := runImageBuild(t, t.TempDir())
	second := runImageBuild(t, t.TempDir())
	if first.Digest != second.Digest {
		t.Fatalf("two builds of the same source: digests %s and %s", first.Digest, second.Digest)
	}
	ar, err := os.ReadFile(first.Archive)
	if err != nil {
		t.Fatal(err)
	}
	blobs := untar(t, ar)
	var top, idx v1.IndexManifest
	decode(t, blobs["index.json"], &top)
	if len(top.Manifests) != 1 || "sha256:"+top.Manifests[0].Digest.Hex != first.Digest {
		t.Fatalf("index.json = %+v, want the index %s", top, first.Digest)
	}
	if name := top.Manifests[0].Annotations["io.containerd.image.name"]; name != first.Ref || !strings.HasPrefix(name, "ghcr.io/podid/podid:") {
		t.Errorf("containerd image name %q, want %s", name, first.Ref)
	}
	decode(t, blobs["blobs/sha256/"+top.Manifests[0].Digest.Hex], &idx)
	if idx.Annotations[image.AnnotationRevision] != src.Commit || idx.Annotations[image.AnnotationCreated] != src.Time.Format("2006-01-02T15:04:05Z") {
		t.Errorf("index annotations %v, want revision %s created %s", idx.Annotations, src.Commit, src.Time)
	}
	var m v1.Manifest
	decode(t, blobs["blobs/sha256/"+idx.Manifests[0].Digest.Hex], &m)
	var cf v1.ConfigFile
	decode(t, blobs["blobs/sha256/"+m.Config.Digest.Hex], &cf)
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || cf.Config.User != "65532:65532" ||
		strings.Join(cf.Config.Entrypoint, " ") != "/usr/local/bin/podid" || strings.Join(cf.Config.Cmd, " ") != "version" {
		t.Fatalf("config: os %s arch %s user %s entrypoint %v cmd %v", cf.OS, cf.Architecture, cf.Config.User, cf.Config.Entrypoint, cf.Config.Cmd)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blobs["blobs/sha256/"+m.Layers[0].Digest.Hex]))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	bin := untar(t, raw)["usr/local/bin/podid"]
	if len(bin) == 0 {
		t.Fatal("no usr/local/bin/podid in the layer")
	}
	path := filepath.Join(t.TempDir(), "podid")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, cf.Config.Cmd...).CombinedOutput()
	if err != nil {
		t.Fatalf("the image's podid version: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "(commit "+src.Commit+", built "+src.Time.Format("2006-01-02T15:04:05Z")+",") {
		t.Errorf("the image's podid version printed %q, want commit %s", out, src.Commit)
	}
}

func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
	}
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
