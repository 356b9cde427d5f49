package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Where a master key can come from.
const (
	// EnvMasterKey holds the keyring itself: base64 keys, the active one
	// first, separated by commas, spaces or newlines.
	EnvMasterKey = "PODID_MASTER_KEY"
	// EnvMasterKeyFile names a file in the keyring format, for example a
	// mounted Kubernetes Secret.
	EnvMasterKeyFile = "PODID_MASTER_KEY_FILE"
	// FileName is the keyring file LoadOrCreate keeps in the data directory.
	FileName = "master.key"
)

// maxFileSize bounds what ReadFile reads: a keyring of hundreds of keys is
// far smaller, and a wrong path (a device, a large file) fails fast.
const maxFileSize = 64 << 10

// LoadOrCreate reads dataDir/master.key, creating the directory (mode 0700)
// and a file holding one new random key (mode 0600) if there is none. An
// existing file that group or others may access is refused, as ssh refuses
// such private keys. Concurrent callers agree on one key: the file is
// written to a temporary name and linked into place only if still absent.
func LoadOrCreate(dataDir string) (*Keyring, error) {
	k, _, err := loadOrCreate(dataDir)
	return k, err
}

func loadOrCreate(dataDir string) (k *Keyring, created bool, err error) {
	if dataDir == "" {
		return nil, false, errors.New("secrets: no data directory for the master key")
	}
	path := filepath.Join(dataDir, FileName)
	k, err = readPrivateFile(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("secrets: create data directory: %w", err)
	}
	k, err = New(GenerateKey())
	if err != nil {
		return nil, false, err
	}
	switch err := writeAtomic(path, k.Marshal(), false); {
	case err == nil:
		return k, true, nil
	case errors.Is(err, fs.ErrExist):
		// Another process created it first: use theirs.
		k, err = readPrivateFile(path)
		return k, false, err
	default:
		return nil, false, err
	}
}

// readPrivateFile reads a keyring file that must not be accessible to group
// or others.
func readPrivateFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: master key file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets: master key file %s has mode %04o; it must not be accessible to group or others (chmod 600 %s)",
			path, fi.Mode().Perm(), path)
	}
	return ReadFile(path)
}

// ReadFile reads a keyring file (the format of Keyring.Marshal and Parse).
// It does not check the file's mode: Kubernetes mounts Secrets 0644 by
// default inside a pod-private volume.
func ReadFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: master key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("secrets: read master key file %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("secrets: master key file %s is larger than %d bytes", path, maxFileSize)
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// WriteFile replaces path with the keyring, atomically and with mode 0600.
func WriteFile(path string, k *Keyring) error {
	if k == nil {
		return ErrNoMasterKey
	}
	return writeAtomic(path, k.Marshal(), true)
}

// RotateFile adds a new active key to the keyring file at path, keeping the
// existing keys to open older data, and returns the new keyring. Running
// servers keep their loaded keyring until restarted.
func RotateFile(path string) (*Keyring, error) {
	k, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err = k.Rotate()
	if err != nil {
		return nil, err
	}
	if err := WriteFile(path, k); err != nil {
		return nil, err
	}
	return k, nil
}

// FromEnvOrFile loads the keyring from the environment, as Kubernetes
// passes Secrets: the value of PODID_MASTER_KEY, or else the file path (or,
// when path is empty, the file named by PODID_MASTER_KEY_FILE). getenv is
// os.Getenv in production. Setting both a value and a file is an error, so
// that a stale variable never silently wins. With neither it returns
// ErrNoMasterKey. Errors never quote the key.
func FromEnvOrFile(getenv func(string) string, path string) (*Keyring, error) {
	k, _, err := fromEnvOrFile(getenv, path)
	return k, err
}

func fromEnvOrFile(getenv func(string) string, path string) (*Keyring, string, error) {
	value := getenv(EnvMasterKey)
	if path == "" {
		path = getenv(EnvMasterKeyFile)
	}
	switch {
	case value != "" && path != "":
		return nil, "", fmt.Errorf("secrets: both %s and a master key file (%s) are set; set only one", EnvMasterKey, path)
	case value != "":
		k, err := Parse([]byte(value))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		return k, "environment variable " + EnvMasterKey, nil
	case path != "":
		k, err := ReadFile(path)
		return k, "file " + path, err
	}
	return nil, "", ErrNoMasterKey
}

// Resolve finds the master keyring the way `podid server` does: from
// FromEnvOrFile(getenv, path) when configured, else from LoadOrCreate
// (dataDir). origin says where the keys came from, for a startup log line;
// it never contains key material.
func Resolve(getenv func(string) string, path, dataDir string) (k *Keyring, origin string, err error) {
	k, origin, err = fromEnvOrFile(getenv, path)
	if !errors.Is(err, ErrNoMasterKey) {
		return k, origin, err
	}
	if dataDir == "" {
		return nil, "", fmt.Errorf("%w: set %s, %s or a data directory", ErrNoMasterKey, EnvMasterKey, EnvMasterKeyFile)
	}
	k, created, err := loadOrCreate(dataDir)
	if err != nil {
		return nil, "", err
	}
	origin = "file " + filepath.Join(dataDir, FileName)
	if created {
		origin += " (created)"
	}
	return k, origin, nil
}

// writeAtomic writes data to a temporary file (mode 0600) beside path,
// syncs it and moves it into place: replacing path when replace is set,
// otherwise failing with fs.ErrExist if path exists.
func writeAtomic(path string, data []byte, replace bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("secrets: write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		os.Remove(tmpName) // after a rename or link, this removes nothing or the spare name
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("secrets: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("secrets: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("secrets: write %s: %w", path, err)
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return fmt.Errorf("secrets: write %s: %w", path, err)
	}
	if replace {
		err = os.Rename(tmpName, path)
	} else {
		err = os.Link(tmpName, path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("secrets: write %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("secrets: write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename or link durable; it is best effort because some
// platforms cannot sync directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
