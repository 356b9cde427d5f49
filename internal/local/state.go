// Package local holds the logic behind podid's local mode: `podid dev`
// (a server, podid-hosted clusters and a loopback agent in one process)
// and `podid exec` (a command run the way a pod of a service account runs).
//
// The two meet through a state file: dev writes DATA-DIR/dev.json once it
// is ready and removes it when it stops; exec reads it to find the server,
// the agent of each cluster and the credentials that mint pod tokens.
package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Names of the files dev keeps in its data directory, and the variable
// that names the data directory to exec.
const (
	// StateFile is the state of a running `podid dev` (mode 0600).
	StateFile = "dev.json"
	// EnvFileName is the shell file of export lines dev writes (mode 0600).
	EnvFileName = "dev.env"
	// LockFile serializes dev instances on one data directory.
	LockFile = "dev.lock"
	// DataDirEnv names the data directory of `podid dev` for `podid exec`
	// when --data-dir is not given; dev's env file sets it.
	DataDirEnv = "PODID_DEV_DATA_DIR"
)

// Defaults of local mode, the names the EKS workshop uses.
const (
	// DefaultCluster is the podid-hosted cluster dev creates.
	DefaultCluster = "eks-workshop"
	// DefaultNodeName is the node claim of the tokens exec mints.
	DefaultNodeName = "podid-dev"
)

// ErrNotRunning means no `podid dev` has published its state in the
// data directory.
var ErrNotRunning = errors.New("podid dev is not running")

// State is what a running `podid dev` publishes for `podid exec`.
type State struct {
	// PID is the process ID of `podid dev`.
	PID int `json:"pid"`
	// Endpoint is the base URL of the server (AWS_ENDPOINT_URL).
	Endpoint  string `json:"endpoint"`
	AccountID string `json:"accountId"`
	Region    string `json:"region"`
	// Clusters are the hosted clusters and their agents; the first is the
	// default.
	Clusters []ClusterState `json:"clusters"`
	// AccessKeyID and SecretAccessKey are the account root's key, which
	// exec uses to mint pod tokens (the file is mode 0600).
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	// EnvFile is the file of export lines dev wrote.
	EnvFile   string    `json:"envFile"`
	StartedAt time.Time `json:"startedAt"`
}

// ClusterState is one hosted cluster of a dev instance.
type ClusterState struct {
	Name string `json:"name"`
	// AgentURL is the agent's credentials URL
	// (AWS_CONTAINER_CREDENTIALS_FULL_URI).
	AgentURL string `json:"agentUrl"`
}

// DefaultDataDir is dev's data directory when --data-dir is not given:
// $PODID_DEV_DATA_DIR if set, else podid/dev under the user's cache
// directory ($XDG_CACHE_HOME or ~/.cache on Linux).
func DefaultDataDir(getenv func(string) string) (string, error) {
	if d := getenv(DataDirEnv); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no data directory: %w (give --data-dir)", err)
	}
	return filepath.Join(cache, "podid", "dev"), nil
}

// Cluster returns the named cluster, or the default one when name is
// empty.
func (s *State) Cluster(name string) (ClusterState, error) {
	if len(s.Clusters) == 0 {
		return ClusterState{}, errors.New("podid dev serves no cluster")
	}
	if name == "" {
		return s.Clusters[0], nil
	}
	names := make([]string, 0, len(s.Clusters))
	for _, c := range s.Clusters {
		if c.Name == name {
			return c, nil
		}
		names = append(names, c.Name)
	}
	return ClusterState{}, fmt.Errorf("podid dev does not serve cluster %q (it serves %s); start it with --cluster %s", name, strings.Join(names, ", "), name)
}

// WriteState publishes s in dir (mode 0600, replaced atomically).
func WriteState(dir string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding dev state: %w", err)
	}
	return WriteFileAtomic(filepath.Join(dir, StateFile), append(b, '\n'), 0o600)
}

// ReadState reads the state a running dev published in dir. Without one
// it returns an error wrapping ErrNotRunning.
func ReadState(dir string) (*State, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s (start it with `podid dev`, or name its --data-dir)", ErrNotRunning, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading dev state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s is not a podid dev state file: %w", path, err)
	}
	if s.Endpoint == "" || s.Region == "" || s.AccessKeyID == "" || s.SecretAccessKey == "" || len(s.Clusters) == 0 {
		return nil, fmt.Errorf("%s lacks the endpoint, region, credentials or clusters", path)
	}
	return &s, nil
}

// Exports are the variables the AWS CLI and SDKs need to reach a dev
// instance as the account root, plus the workshop's names, sorted by
// name.
func (s *State) Exports(dataDir string) [][2]string {
	vars := map[string]string{
		"AWS_ENDPOINT_URL":      s.Endpoint,
		"AWS_REGION":            s.Region,
		"AWS_DEFAULT_REGION":    s.Region,
		"AWS_ACCESS_KEY_ID":     s.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": s.SecretAccessKey,
		"AWS_ACCOUNT_ID":        s.AccountID,
		DataDirEnv:              dataDir,
	}
	if len(s.Clusters) > 0 {
		vars["EKS_CLUSTER_NAME"] = s.Clusters[0].Name
	}
	out := make([][2]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// EnvScript renders the export lines of s as a POSIX shell script. It
// first unsets the variables that would override or spoil the root key
// (a session token, a profile).
func (s *State) EnvScript(dataDir string) string {
	var b strings.Builder
	b.WriteString("unset AWS_SESSION_TOKEN AWS_PROFILE\n")
	for _, kv := range s.Exports(dataDir) {
		b.WriteString("export " + kv[0] + "=" + ShellQuote(kv[1]) + "\n")
	}
	return b.String()
}

// ShellQuote quotes v for a POSIX shell; values made only of safe
// characters are left bare.
func ShellQuote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0 {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// WriteFileAtomic writes data to path through a temporary file in the
// same directory and a rename, so readers see the old or the new content,
// never a part.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Fresh removes what a previous dev left in dir: the files named (the
// server's store, master key and root credentials; SQLite's -wal, -shm
// and -journal companions of each go too) and dev's own files. Other
// files are kept.
func Fresh(dir string, serverFiles ...string) error {
	names := []string{StateFile, EnvFileName}
	for _, n := range serverFiles {
		names = append(names, n, n+"-wal", n+"-shm", n+"-journal", n+".tmp")
	}
	var errs []error
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
