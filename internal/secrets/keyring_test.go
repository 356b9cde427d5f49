package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixedKey returns a deterministic 32-byte key for tests.
func fixedKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func mustNew(t *testing.T, active []byte, older ...[]byte) *Keyring {
	t.Helper()
	k, err := New(active, older...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustNew(t, GenerateKey())
	for _, n := range []int{0, 1, 40, 4096, 1 << 20} {
		pt := bytes.Repeat([]byte{'x'}, n)
		ad := AccessKeyAD("AKIAIOSFODNN7EXAMPLE")
		sealed, err := k.Seal(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != n+Overhead {
			t.Errorf("len(sealed) = %d, want %d", len(sealed), n+Overhead)
		}
		if n >= 40 && bytes.Contains(sealed, pt[:40]) {
			t.Errorf("sealed blob contains the plaintext")
		}
		got, err := k.Open(sealed, ad)
		if err != nil {
			t.Fatalf("Open(%d bytes): %v", n, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open returned different plaintext for %d bytes", n)
		}
		if id, err := SealedKeyID(sealed); err != nil || id != k.ActiveKeyID() {
			t.Errorf("SealedKeyID = %q, %v; want %q", id, err, k.ActiveKeyID())
		}
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	k := mustNew(t, fixedKey(1))
	a, _ := k.Seal([]byte("same"), nil)
	b, _ := k.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestOpenRefuses(t *testing.T) {
	k := mustNew(t, fixedKey(1))
	other := mustNew(t, fixedKey(2))
	ad := AccessKeyAD("AKIAAAAAAAAAAAAAAAAA")
	sealed, err := k.Seal([]byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), ad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		kr     *Keyring
		sealed []byte
		ad     []byte
		want   error
	}{
		{"other record", k, sealed, AccessKeyAD("AKIABBBBBBBBBBBBBBBB"), ErrAuthentication},
		{"no associated data", k, sealed, nil, ErrAuthentication},
		{"other keyring", other, sealed, ad, ErrUnknownKey},
		{"version", k, flip(0), ad, ErrMalformed},
		{"key id", k, flip(2), ad, ErrUnknownKey},
		{"nonce", k, flip(headerSize), ad, ErrAuthentication},
		{"ciphertext", k, flip(headerSize + nonceSize), ad, ErrAuthentication},
		{"tag", k, flip(len(sealed) - 1), ad, ErrAuthentication},
		{"truncated tag", k, sealed[:len(sealed)-1], ad, ErrAuthentication},
		{"header only", k, sealed[:headerSize+nonceSize], ad, ErrMalformed},
		{"empty", k, nil, ad, ErrMalformed},
		{"extended", k, append(bytes.Clone(sealed), 0), ad, ErrAuthentication},
		{"nil keyring", nil, sealed, ad, ErrNoMasterKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.kr.Open(tt.sealed, tt.ad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open err = %v, want %v", err, tt.want)
			}
			if pt != nil {
				t.Fatalf("Open returned plaintext with an error")
			}
		})
	}
}

func TestServerKeyADIsUnambiguous(t *testing.T) {
	a := ServerKeyAD("session-token", "x")
	b := ServerKeyAD("session-toke", "nx")
	if bytes.Equal(a, b) {
		t.Fatal("different (purpose, id) pairs give the same associated data")
	}
}

func TestRotation(t *testing.T) {
	k1 := mustNew(t, fixedKey(1))
	ad := ServerKeyAD("session-token", "st-00000001")
	old, err := k1.Seal([]byte("old secret"), ad)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := k1.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if k2.ActiveKeyID() == k1.ActiveKeyID() {
		t.Fatal("Rotate kept the active key")
	}
	if ids := k2.KeyIDs(); len(ids) != 2 || ids[1] != k1.ActiveKeyID() {
		t.Fatalf("KeyIDs after rotation = %v", ids)
	}
	if pt, err := k2.Open(old, ad); err != nil || string(pt) != "old secret" {
		t.Fatalf("rotated keyring cannot open old blob: %q, %v", pt, err)
	}
	fresh, _ := k2.Seal([]byte("new"), ad)
	if id, _ := SealedKeyID(fresh); id != k2.ActiveKeyID() {
		t.Fatalf("new blob sealed by %s, want active %s", id, k2.ActiveKeyID())
	}
	if _, err := k1.Open(fresh, ad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old keyring opening new blob: err = %v, want ErrUnknownKey", err)
	}

	resealed, changed, err := k2.Reseal(old, ad)
	if err != nil || !changed {
		t.Fatalf("Reseal = changed %v, err %v", changed, err)
	}
	if same, changed, err := k2.Reseal(resealed, ad); err != nil || changed || !bytes.Equal(same, resealed) {
		t.Fatalf("Reseal of an up-to-date blob: changed %v, err %v", changed, err)
	}
	if _, _, err := k2.Reseal(old, nil); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("Reseal with wrong associated data: err = %v", err)
	}

	k3, err := k2.Retire(k1.ActiveKeyID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k3.Open(old, ad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key still opens: err = %v", err)
	}
	if pt, err := k3.Open(resealed, ad); err != nil || string(pt) != "old secret" {
		t.Fatalf("resealed blob after retire: %q, %v", pt, err)
	}
	if _, err := k3.Retire(k3.ActiveKeyID()); err == nil {
		t.Fatal("retiring the active key succeeded")
	}
	if _, err := k3.Retire("00000000"); err == nil {
		t.Fatal("retiring an unknown key succeeded")
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(fixedKey(1), fixedKey(2), fixedKey(1)); err == nil {
		t.Error("duplicate key accepted")
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("16-byte key accepted")
	}
	if _, err := New(nil); err == nil {
		t.Error("nil key accepted")
	}
}

func TestParse(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(fixedKey(1))
	k2 := base64.StdEncoding.EncodeToString(fixedKey(2))
	id1 := mustNew(t, fixedKey(1)).ActiveKeyID()
	id2 := mustNew(t, fixedKey(2)).ActiveKeyID()
	tests := []struct {
		name    string
		in      string
		wantIDs []string
		wantErr string
	}{
		{"one key", k1, []string{id1}, ""},
		{"trailing newline", k1 + "\n", []string{id1}, ""},
		{"comma list", k2 + "," + k1, []string{id2, id1}, ""},
		{"spaces and CRLF", " " + k2 + " \r\n\t" + k1 + "\r\n", []string{id2, id1}, ""},
		{"comments", "# hello\n" + k1 + "\n# old\n" + k2 + "\n", []string{id1, id2}, ""},
		{"empty", "", nil, "no master key"},
		{"only comments", "# nothing\n", nil, "no master key"},
		{"not base64", "not*base64", nil, "line 1: master key is not valid base64"},
		{"unpadded", strings.TrimRight(k1, "="), nil, "not valid base64"},
		{"short", base64.StdEncoding.EncodeToString(make([]byte, 16)), nil, "decodes to 16 bytes, want 32"},
		{"duplicate", k1 + "\n" + k1, nil, "appears twice"},
		{"second line bad", k1 + "\nAAAA", nil, "line 2: master key decodes to 3 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Fatalf("error quotes the input: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := k.KeyIDs(); fmt.Sprint(got) != fmt.Sprint(tt.wantIDs) {
				t.Fatalf("KeyIDs = %v, want %v", got, tt.wantIDs)
			}
		})
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	k := mustNew(t, fixedKey(3), fixedKey(4), fixedKey(5))
	text := k.Marshal()
	back, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back.KeyIDs()) != fmt.Sprint(k.KeyIDs()) {
		t.Fatalf("round trip changed keys: %v -> %v", k.KeyIDs(), back.KeyIDs())
	}
	if !strings.Contains(string(text), "# key "+k.ActiveKeyID()+" (active)") {
		t.Fatalf("Marshal output lacks the active key comment:\n%s", text)
	}
}

func TestNothingPrintsKeyMaterial(t *testing.T) {
	raw := fixedKey(7)
	k := mustNew(t, raw)
	b64 := base64.StdEncoding.EncodeToString(raw)
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("loaded", "keyring", k)
	outputs := map[string]string{
		"%v":  fmt.Sprintf("%v", k),
		"%+v": fmt.Sprintf("%+v", k),
		"%#v": fmt.Sprintf("%#v", k),
		//lint:ignore S1025 the %s verb itself is what is tested
		"%s":   fmt.Sprintf("%s", k),
		"slog": logBuf.String(),
	}
	for verb, out := range outputs {
		if strings.Contains(out, b64) || strings.Contains(out, hex.EncodeToString(raw)) || strings.Contains(out, "7 7 7 7") {
			t.Errorf("%s prints key material: %s", verb, out)
		}
		if !strings.Contains(out, k.ActiveKeyID()) {
			t.Errorf("%s does not name the key ID: %s", verb, out)
		}
	}
}

// TestFormatV1 pins the sealed format: blobs in testdata were sealed by an
// earlier build and must keep opening.
func TestFormatV1(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "sealed-v1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if name, value, ok := strings.Cut(line, ": "); ok {
			fields[name] = value
		}
	}
	k, err := Parse([]byte(fields["keyring"]))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := hex.DecodeString(fields["sealed"])
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := SealedKeyID(sealed); id != fields["key-id"] {
		t.Fatalf("key id %s, want %s", id, fields["key-id"])
	}
	pt, err := k.Open(sealed, []byte(fields["associated-data"]))
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != fields["plaintext"] {
		t.Fatalf("plaintext %q, want %q", pt, fields["plaintext"])
	}
}

// FuzzOpen checks that Open never panics and accepts only blobs this
// keyring sealed for the given associated data. (Fuzz workers rerun the
// setup, so the sealed seed differs between processes and cannot be
// compared byte for byte.)
func FuzzOpen(f *testing.F) {
	k, err := New(fixedKey(9), fixedKey(8))
	if err != nil {
		f.Fatal(err)
	}
	ad := AccessKeyAD("AKIAIOSFODNN7EXAMPLE")
	good, _ := k.Seal([]byte("secret"), ad)
	f.Add(good, ad)
	f.Add(good[:Overhead], ad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 0, 0, 0, 0}, ad)
	f.Fuzz(func(t *testing.T, sealed, ad2 []byte) {
		pt, err := k.Open(sealed, ad2)
		if err != nil {
			return
		}
		if !bytes.Equal(ad, ad2) || string(pt) != "secret" {
			t.Fatalf("Open accepted a blob it did not seal")
		}
	})
}
