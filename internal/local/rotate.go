package local

import (
	"context"
	"errors"
	"time"
)

// Kubelet's rotation rule for projected service-account tokens: a token
// is refreshed once 80% of its lifetime has passed or once it is 24 hours
// old, whichever comes first.
const (
	refreshFraction = 0.8
	maxTokenAge     = 24 * time.Hour
)

// DefaultRetryInterval is the wait after a failed refresh.
const DefaultRetryInterval = 10 * time.Second

// RefreshAt is when the kubelet would replace t.
func RefreshAt(t Token) time.Time {
	ttl := t.Expires.Sub(t.IssuedAt)
	at := t.IssuedAt.Add(time.Duration(float64(ttl) * refreshFraction))
	if limit := t.IssuedAt.Add(maxTokenAge); limit.Before(at) {
		at = limit
	}
	return at
}

// Rotator keeps one pod's token file current, as the kubelet keeps a
// projected service-account token: a new token replaces the file before
// the old one expires, so a process that re-reads the file (every AWS SDK
// does, on each credential refresh) always finds a valid token.
type Rotator struct {
	// Minter mints the tokens.
	Minter Minter
	// Pod is the pod the tokens are bound to.
	Pod Pod
	// TTL is the requested lifetime (0: the server's default).
	TTL time.Duration
	// Every, when positive, replaces the token this often instead of at
	// 80% of its lifetime (to watch rotation without waiting for it).
	Every time.Duration
	// Path is the token file: the token with no trailing newline, mode
	// 0600, replaced atomically.
	Path string
	// RetryInterval is the wait after a failed refresh
	// (DefaultRetryInterval when 0).
	RetryInterval time.Duration
	// OnRefresh, when set, is told the outcome of every refresh after the
	// first token (err nil on success).
	OnRefresh func(t Token, err error)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Start mints the first token and writes the file.
func (r *Rotator) Start(ctx context.Context) (Token, error) {
	if r.Minter == nil || r.Path == "" {
		return Token{}, errors.New("local: Rotator needs a Minter and a Path")
	}
	return r.refresh(ctx)
}

func (r *Rotator) refresh(ctx context.Context) (Token, error) {
	t, err := r.Minter.Mint(ctx, r.Pod, r.TTL)
	if err != nil {
		return Token{}, err
	}
	if err := WriteFileAtomic(r.Path, []byte(t.Value), 0o600); err != nil {
		return Token{}, err
	}
	return t, nil
}

// next is when cur should be replaced.
func (r *Rotator) next(cur Token) time.Time {
	if r.Every > 0 {
		if at := cur.IssuedAt.Add(r.Every); at.Before(RefreshAt(cur)) {
			return at
		}
	}
	return RefreshAt(cur)
}

// Run replaces the token in the file until ctx ends; cur is the token
// Start wrote. A failed refresh is retried every RetryInterval.
func (r *Rotator) Run(ctx context.Context, cur Token) {
	retry := r.RetryInterval
	if retry <= 0 {
		retry = DefaultRetryInterval
	}
	at := r.next(cur)
	for {
		t := time.NewTimer(max(at.Sub(r.now()), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		tok, err := r.refresh(ctx)
		if ctx.Err() != nil {
			return
		}
		if r.OnRefresh != nil {
			r.OnRefresh(tok, err)
		}
		if err != nil {
			at = r.now().Add(retry)
			continue
		}
		cur = tok
		at = r.next(cur)
	}
}
