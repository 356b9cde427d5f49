package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeMinter mints numbered tokens that live ttl (24 h when 0); fail
// makes the numbered attempts fail.
type fakeMinter struct {
	mu      sync.Mutex
	n       int
	fail    map[int]bool
	expires map[string]time.Time
	pods    []Pod
}

func (m *fakeMinter) Mint(_ context.Context, pod Pod, ttl time.Duration) (Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	m.pods = append(m.pods, pod)
	if m.fail[m.n] {
		return Token{}, fmt.Errorf("attempt %d refused", m.n)
	}
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	now := time.Now()
	t := Token{Value: fmt.Sprintf("tok-%d", m.n), IssuedAt: now, Expires: now.Add(ttl)}
	if m.expires == nil {
		m.expires = map[string]time.Time{}
	}
	m.expires[t.Value] = t.Expires
	return t, nil
}

func (m *fakeMinter) expiry(tok string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.expires[tok]
}

func TestRefreshAt(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ttl, want time.Duration
	}{
		{10 * time.Minute, 8 * time.Minute},
		{time.Hour, 48 * time.Minute},
		{24 * time.Hour, 19*time.Hour + 12*time.Minute},
		{30 * time.Hour, 24 * time.Hour},
		{48 * time.Hour, 24 * time.Hour},
	} {
		if got := RefreshAt(Token{IssuedAt: t0, Expires: t0.Add(tc.ttl)}).Sub(t0); got != tc.want {
			t.Errorf("ttl %v: refresh after %v, want %v", tc.ttl, got, tc.want)
		}
	}
}

// TestRotatorOutlivesTokens runs a pod for an hour of fake time with
// 10-minute tokens: the file is replaced at 80% of each token's lifetime
// and, read every second, always holds a token that has not expired.
func TestRotatorOutlivesTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeMinter{}
		path := filepath.Join(t.TempDir(), TokenFileName)
		start := time.Now()
		var mu sync.Mutex
		var refreshed []time.Duration
		r := &Rotator{Minter: m, Pod: testPod, TTL: 10 * time.Minute, Path: path, OnRefresh: func(tok Token, err error) {
			if err != nil {
				t.Errorf("refresh: %v", err)
			}
			mu.Lock()
			refreshed = append(refreshed, time.Since(start))
			mu.Unlock()
		}}
		first, err := r.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx, first); close(done) }()
		for range 3600 {
			time.Sleep(time.Second)
			synctest.Wait()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if exp := m.expiry(string(b)); !time.Now().Before(exp) {
				t.Fatalf("at %v the file holds %q, which expired at %v", time.Since(start), b, exp.Sub(start))
			}
		}
		cancel()
		<-done
		var want []time.Duration
		for at := 8 * time.Minute; at <= time.Hour; at += 8 * time.Minute {
			want = append(want, at)
		}
		mu.Lock()
		defer mu.Unlock()
		if !reflect.DeepEqual(refreshed, want) {
			t.Errorf("refreshed at %v, want %v", refreshed, want)
		}
		for _, p := range m.pods {
			if p != testPod {
				t.Errorf("minted for %+v, want %+v", p, testPod)
			}
		}
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("token file: %v mode %v, want 0600", err, st.Mode().Perm())
		}
	})
}

func TestRotatorEvery(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		want  time.Duration // interval between refreshes
	}{
		{time.Minute, time.Minute},
		{3 * time.Second, 3 * time.Second},
		{20 * time.Minute, 8 * time.Minute}, // the kubelet's rule comes first
	} {
		t.Run(tc.every.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := &fakeMinter{}
				start := time.Now()
				var at []time.Duration
				r := &Rotator{Minter: m, Pod: testPod, TTL: 10 * time.Minute, Every: tc.every, Path: filepath.Join(t.TempDir(), "tok"),
					OnRefresh: func(Token, error) { at = append(at, time.Since(start)) }}
				first, err := r.Start(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				go r.Run(ctx, first)
				time.Sleep(3*tc.want + tc.want/2)
				cancel()
				synctest.Wait()
				want := []time.Duration{tc.want, 2 * tc.want, 3 * tc.want}
				if !reflect.DeepEqual(at, want) {
					t.Errorf("refreshed at %v, want %v", at, want)
				}
			})
		})
	}
}

// TestRotatorRetries: failed refreshes keep the old token in the file and
// are retried every RetryInterval until one succeeds.
func TestRotatorRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeMinter{fail: map[int]bool{2: true, 3: true}}
		path := filepath.Join(t.TempDir(), "tok")
		start := time.Now()
		type outcome struct {
			at  time.Duration
			tok string
			err bool
		}
		var got []outcome
		r := &Rotator{Minter: m, Pod: testPod, TTL: 10 * time.Minute, Path: path, RetryInterval: 5 * time.Second,
			OnRefresh: func(tok Token, err error) { got = append(got, outcome{time.Since(start), tok.Value, err != nil}) }}
		first, err := r.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go r.Run(ctx, first)
		time.Sleep(8*time.Minute + 7*time.Second)
		synctest.Wait()
		if b, _ := os.ReadFile(path); string(b) != "tok-1" {
			t.Errorf("during the failures the file holds %q, want tok-1", b)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		cancel()
		synctest.Wait()
		want := []outcome{{8 * time.Minute, "", true}, {8*time.Minute + 5*time.Second, "", true}, {8*time.Minute + 10*time.Second, "tok-4", false}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("outcomes %+v, want %+v", got, want)
		}
		if b, _ := os.ReadFile(path); string(b) != "tok-4" {
			t.Errorf("file holds %q, want tok-4", b)
		}
	})
}

func TestRotatorStart(t *testing.T) {
	if _, err := (&Rotator{}).Start(context.Background()); err == nil {
		t.Error("Start without a minter succeeded")
	}
	m := &fakeMinter{fail: map[int]bool{1: true}}
	path := filepath.Join(t.TempDir(), "tok")
	if _, err := (&Rotator{Minter: m, Path: path}).Start(context.Background()); err == nil || err.Error() != "attempt 1 refused" {
		t.Error("Start with a failing minter succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed Start left a token file: %v", err)
	}
	// The token is written without a trailing newline.
	tok, err := (&Rotator{Minter: &fakeMinter{}, Path: path}).Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != tok.Value {
		t.Errorf("file = %q, want exactly %q", b, tok.Value)
	}
}
