package image

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"testing"
)

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
