package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// WriteOCIArchive writes idx as an OCI image layout in a tar stream to w
// (what `ctr images import`, `skopeo copy oci-archive:` and `podman load`
// read). ref names the image (for example ghcr.io/podid/podid:0.1.0): it
// goes into index.json as containerd's image name and, its tag, as the OCI
// ref.name. Every entry has the time mtime, so the archive is as
// reproducible as idx.
func WriteOCIArchive(w io.Writer, idx v1.ImageIndex, ref, tag string, mtime time.Time) error {
	blobs := map[string][]byte{}
	add := func(h v1.Hash, b []byte) { blobs[h.Hex] = b }

	rawIdx, err := idx.RawManifest()
	if err != nil {
		return fmt.Errorf("image: index manifest: %w", err)
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("image: index digest: %w", err)
	}
	add(idxDigest, rawIdx)
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("image: index manifest: %w", err)
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return fmt.Errorf("image: %s: %w", d.Digest, err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			return fmt.Errorf("image: manifest %s: %w", d.Digest, err)
		}
		add(d.Digest, raw)
		cfgName, err := img.ConfigName()
		if err != nil {
			return fmt.Errorf("image: config name: %w", err)
		}
		rawCfg, err := img.RawConfigFile()
		if err != nil {
			return fmt.Errorf("image: config: %w", err)
		}
		add(cfgName, rawCfg)
		layers, err := img.Layers()
		if err != nil {
			return fmt.Errorf("image: layers: %w", err)
		}
		for _, l := range layers {
			h, err := l.Digest()
			if err != nil {
				return fmt.Errorf("image: layer digest: %w", err)
			}
			rc, err := l.Compressed()
			if err != nil {
				return fmt.Errorf("image: layer %s: %w", h, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("image: layer %s: %w", h, err)
			}
			add(h, b)
		}
	}

	size, err := idx.Size()
	if err != nil {
		return fmt.Errorf("image: index size: %w", err)
	}
	top := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIImageIndex,
			Digest:    idxDigest,
			Size:      size,
			Annotations: map[string]string{
				AnnotationContainerdName: ref,
				AnnotationRefName:        tag,
			},
		}},
	}
	topJSON, err := json.Marshal(top)
	if err != nil {
		return fmt.Errorf("image: index.json: %w", err)
	}

	tw := tar.NewWriter(w)
	file := func(name string, data []byte) error {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime.UTC(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, ModTime: mtime.UTC(), Typeflag: tar.TypeDir, Format: tar.FormatPAX})
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return fmt.Errorf("image: write: %w", err)
	}
	if err := file("index.json", topJSON); err != nil {
		return fmt.Errorf("image: write: %w", err)
	}
	if err := dir("blobs/"); err != nil {
		return fmt.Errorf("image: write: %w", err)
	}
	if err := dir("blobs/sha256/"); err != nil {
		return fmt.Errorf("image: write: %w", err)
	}
	hexes := make([]string, 0, len(blobs))
	for h := range blobs {
		hexes = append(hexes, h)
	}
	sort.Strings(hexes)
	for _, h := range hexes {
		if err := file("blobs/sha256/"+h, blobs[h]); err != nil {
			return fmt.Errorf("image: write: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image: write: %w", err)
	}
	return nil
}
