package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/backup"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store/backend"
)

// masterKey finds the master key as the server does, without ever
// creating one: --master-key-file, PODID_MASTER_KEY(_FILE), else
// DATA-DIR/master.key.
func masterKey(getenv func(string) string, file, dataDir string) (*secrets.Keyring, string, error) {
	kr, err := secrets.FromEnvOrFile(getenv, file)
	if err == nil {
		return kr, "the configured master key", nil
	}
	if !errors.Is(err, secrets.ErrNoMasterKey) {
		return nil, "", err
	}
	path := filepath.Join(dataDir, secrets.FileName)
	kr, err = secrets.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("master key: %w (give --master-key-file or %s)", err, secrets.EnvMasterKey)
	}
	return kr, path, nil
}

func newBackupCommand() *cobra.Command {
	var dataDir, output, keyFile, keyOut, databaseURL string
	cmd := &cobra.Command{
		Use:   "backup --data-dir DIR --output FILE [--master-key-out FILE]",
		Short: "Write a consistent copy of the SQLite store, also while the server runs",
		Long: `Copies DATA-DIR/podid.db to --output with SQLite's VACUUM INTO: one read
transaction, so the copy is the store as of one moment while podid server
keeps serving and writing. The copy is integrity-checked, and the master key
is checked to open its sealed records.

The master key is not in the copy: secrets in the store are sealed with it,
and a copy is useless without it. --master-key-out also writes the key to a
file of its own (mode 0600): keep the two apart (a stolen store copy alone
opens nothing). Without it, podid backup says where the key is.

PostgreSQL stores (--database-url) are backed up with PostgreSQL's own tools
(pg_dump; see docs/store.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if databaseURL != "" || os.Getenv(backend.EnvURL) != "" {
				return errors.New("the store is PostgreSQL: back it up with pg_dump (docs/store.md); podid backup copies SQLite stores")
			}
			if output == "" {
				return errors.New("give --output FILE")
			}
			ctx := cmd.Context()
			kr, where, err := masterKey(os.Getenv, keyFile, dataDir)
			if err != nil {
				return err
			}
			if err := backup.Copy(ctx, filepath.Join(dataDir, app.DatabaseFile), output); err != nil {
				return err
			}
			account, err := backup.CheckKey(ctx, output, kr)
			if err != nil {
				os.Remove(output)
				return fmt.Errorf("%s: %w", where, err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: the store of account %s (checked)\n", output, account)
			if keyOut == "" {
				fmt.Fprintf(w, "the master key is NOT in it: keep %s safe and apart; without it the copy's secrets cannot be opened\n", where)
				return nil
			}
			if err := writeNewPrivate(keyOut, kr.Marshal()); err != nil {
				return fmt.Errorf("--master-key-out: %w", err)
			}
			fmt.Fprintf(w, "wrote the master key to %s (mode 0600): store it apart from the copy\n", keyOut)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data-dir", "./podid-data", "the server's data directory")
	fl.StringVarP(&output, "output", "o", "", "the copy to write (must not exist)")
	fl.StringVar(&keyFile, "master-key-file", "", "the server's master key (default: $PODID_MASTER_KEY, else DATA-DIR/master.key)")
	fl.StringVar(&keyOut, "master-key-out", "", "also write the master key to this file (must not exist; mode 0600)")
	fl.StringVar(&databaseURL, "database-url", "", "refused: PostgreSQL stores are backed up with pg_dump")
	return cmd
}

func newRestoreCommand() *cobra.Command {
	var dataDir, input, keyFile, keyIn string
	cmd := &cobra.Command{
		Use:   "restore --data-dir DIR --input FILE [--master-key-in FILE]",
		Short: "Bring a podid backup back into a data directory (server stopped)",
		Long: `Installs a copy written by podid backup as DATA-DIR/podid.db. The copy is
integrity-checked and the master key must open its sealed records before
anything changes; a store already there is kept as podid.db.before-restore-N.
The server must be stopped (the store's -wal or -shm file says it may run).

--master-key-in installs that key as DATA-DIR/master.key (the key written by
podid backup --master-key-out); without it the key the server would use
(--master-key-file, PODID_MASTER_KEY, DATA-DIR/master.key) must open the copy.
The root-credentials file is rewritten from the restored store on the next
start when absent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return errors.New("give --input FILE")
			}
			ctx := cmd.Context()
			var kr *secrets.Keyring
			var err error
			if keyIn != "" {
				kr, err = secrets.ReadFile(keyIn)
			} else {
				kr, _, err = masterKey(os.Getenv, keyFile, dataDir)
			}
			if err != nil {
				return err
			}
			if err := backup.Check(ctx, input); err != nil {
				return err
			}
			account, err := backup.CheckKey(ctx, input, kr)
			if err != nil {
				return err
			}
			dbPath := filepath.Join(dataDir, app.DatabaseFile)
			if backup.InUse(dbPath) {
				return fmt.Errorf("%s may be in use (its -wal or -shm file exists): stop podid server (or dev) on %s first", dbPath, dataDir)
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return err
			}
			tmp := backup.TempPath(dbPath)
			os.Remove(tmp)
			if err := copyFile(input, tmp); err != nil {
				return err
			}
			if keyIn != "" {
				keyPath := filepath.Join(dataDir, secrets.FileName)
				if old, err := secrets.ReadFile(keyPath); err == nil && string(old.Marshal()) != string(kr.Marshal()) {
					os.Remove(tmp)
					return fmt.Errorf("%s holds another master key: move it away first (it may still open another store)", keyPath)
				}
				if err := secrets.WriteFile(keyPath, kr); err != nil {
					os.Remove(tmp)
					return err
				}
			}
			previous, err := backup.Install(dbPath, tmp)
			if err != nil {
				os.Remove(tmp)
				return err
			}
			// The root-credentials file belongs to the store it came from.
			os.Remove(filepath.Join(dataDir, app.RootCredentialsFile))
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "restored the store of account %s into %s\n", account, dbPath)
			if previous != "" {
				fmt.Fprintf(w, "the store that was there is kept as %s\n", previous)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data-dir", "./podid-data", "the data directory to restore into")
	fl.StringVarP(&input, "input", "i", "", "a copy written by podid backup")
	fl.StringVar(&keyFile, "master-key-file", "", "the master key the server uses (default: $PODID_MASTER_KEY, else DATA-DIR/master.key)")
	fl.StringVar(&keyIn, "master-key-in", "", "install this master key (from podid backup --master-key-out) as DATA-DIR/master.key")
	return cmd
}

// writeNewPrivate writes data to a new file (mode 0600), failing if it
// exists.
func writeNewPrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyFile copies src to a new file dst (mode 0600), synced.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
