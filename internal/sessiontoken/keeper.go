package sessiontoken

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/secrets"
	"github.com/podid/podid/internal/store"
)

// DefaultReloadInterval is the least time between two key reloads a Keeper
// makes on meeting tokens sealed by keys it does not know.
const DefaultReloadInterval = time.Second

// DefaultReloadTimeout bounds a reload triggered by an unknown key.
const DefaultReloadTimeout = 5 * time.Second

// Keeper holds the current Minter of a server replica. Opening a token
// sealed by a key the Minter does not know (another replica rotated)
// reloads the keys from the store, at most once per ReloadInterval however
// many such tokens arrive, so forged key IDs cannot turn into a database
// load. Every other Open and every Mint touch memory only. Safe for
// concurrent use.
type Keeper struct {
	st  store.Store
	kr  *secrets.Keyring
	now func() time.Time
	// ReloadInterval is the least time between reloads triggered by
	// unknown keys (DefaultReloadInterval). Set it before first use.
	ReloadInterval time.Duration
	// ReloadTimeout bounds one such reload (DefaultReloadTimeout).
	ReloadTimeout time.Duration

	cur        atomic.Pointer[Minter]
	mu         sync.Mutex // serializes reloads
	lastReload time.Time
}

// NewKeeper loads the session-token keys, creating the first one if the
// store has none (LoadOrCreate).
func NewKeeper(ctx context.Context, st store.Store, kr *secrets.Keyring, now func() time.Time) (*Keeper, error) {
	m, err := LoadOrCreate(ctx, st, kr, now)
	if err != nil {
		return nil, err
	}
	k := &Keeper{st: st, kr: kr, now: now, ReloadInterval: DefaultReloadInterval,
		ReloadTimeout: DefaultReloadTimeout, lastReload: now()}
	k.cur.Store(m)
	return k, nil
}

// Minter returns the current Minter.
func (k *Keeper) Minter() *Minter { return k.cur.Load() }

// Mint mints with the current Minter (see Minter.Mint).
func (k *Keeper) Mint(s *auth.Session) (accessKeyID, secretAccessKey, sessionToken string, err error) {
	return k.cur.Load().Mint(s)
}

// Open opens a token with the current Minter (see Minter.Open), reloading
// the keys once if the token names a key the Minter does not hold. Its
// signature matches Minter.Open (auth.SessionOpener), so the reload, rare
// and shared by all callers, runs under its own ReloadTimeout rather than
// one request's context.
func (k *Keeper) Open(accessKeyID, sessionToken string, now time.Time) (*auth.Session, string, error) {
	m := k.cur.Load()
	s, secret, err := m.Open(accessKeyID, sessionToken, now)
	if err == nil || !errors.Is(err, ErrUnknownKey) {
		return s, secret, err
	}
	if m2 := k.reload(m); m2 != nil {
		return m2.Open(accessKeyID, sessionToken, now)
	}
	return s, secret, err
}

// Reload reads the keys from the store now, regardless of ReloadInterval,
// for example after `podid` rotated them.
func (k *Keeper) Reload(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, err := Load(ctx, k.st, k.kr)
	if err != nil {
		return err
	}
	k.cur.Store(m)
	k.lastReload = k.now()
	return nil
}

// reload returns a Minter newer than seen: one another goroutine loaded
// meanwhile, or a fresh load if the interval allows. It returns nil when
// there is nothing newer to try.
func (k *Keeper) reload(seen *Minter) *Minter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if m := k.cur.Load(); m != seen {
		return m
	}
	if k.now().Sub(k.lastReload) < k.ReloadInterval {
		return nil
	}
	k.lastReload = k.now()
	ctx, cancel := context.WithTimeout(context.Background(), k.ReloadTimeout)
	defer cancel()
	m, err := Load(ctx, k.st, k.kr)
	if err != nil {
		return nil // keep serving with the keys we have; the caller refuses this token
	}
	k.cur.Store(m)
	return m
}
