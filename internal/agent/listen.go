package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Listener roles.
const (
	roleCredentials = "credentials"
	roleProbe       = "probe"
	roleMetrics     = "metrics"
)

// maxHeaderBytes bounds request headers: a token is at most MaxTokenBytes
// and SDKs send a handful of short headers. Larger requests get 431.
const maxHeaderBytes = 32 << 10

// listener is one address the agent serves on.
type listener struct {
	role string
	addr string // host:port as configured
	host string // the host part, without brackets
	srv  *http.Server

	mu      sync.Mutex
	local   net.Addr
	lastErr error
}

func (l *listener) bound() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.local != nil
}

func (l *listener) status() ListenerStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := ListenerStatus{Role: l.role, Address: l.addr, Addr: l.local}
	if l.lastErr != nil {
		s.Err = l.lastErr.Error()
	}
	return s
}

func (a *Agent) newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		// Connection-level noise (bad requests, resets) is not worth a
		// line at the default level.
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
}

// setupListeners creates the listener records (nothing is bound yet).
func (a *Agent) setupListeners() {
	var ls []*listener
	port := strconv.Itoa(a.cfg.Port)
	for _, h := range a.cfg.BindHosts {
		host := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		ls = append(ls, &listener{role: roleCredentials, addr: net.JoinHostPort(host, port), host: host, srv: a.newServer(a)})
	}
	if a.cfg.ProbeAddr != "" {
		host, _, _ := net.SplitHostPort(a.cfg.ProbeAddr)
		ls = append(ls, &listener{role: roleProbe, addr: a.cfg.ProbeAddr, host: host, srv: a.newServer(a.ProbeHandler())})
	}
	if a.cfg.MetricsAddr != "" {
		host, _, _ := net.SplitHostPort(a.cfg.MetricsAddr)
		ls = append(ls, &listener{role: roleMetrics, addr: a.cfg.MetricsAddr, host: host, srv: a.newServer(a.MetricsHandler())})
	}
	a.mu.Lock()
	a.listeners = ls
	a.mu.Unlock()
}

// bind makes the listener's address local if asked to, binds it with
// SO_REUSEPORT and starts serving on it.
func (a *Agent) bind(l *listener) error {
	var addrErr error
	if l.role == roleCredentials && a.cfg.ManageAddresses {
		if ip, ok := bindIP(l.host); ok && !ip.IsLoopback() && !ip.IsUnspecified() {
			addrErr = EnsureAddress(a.cfg.LinkName, ip)
		}
	}
	lc := net.ListenConfig{Control: reusePort}
	ln, err := lc.Listen(context.Background(), "tcp", l.addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if addrErr != nil {
			err = fmt.Errorf("%w (adding the address to link %s failed: %v)", err, a.cfg.LinkName, addrErr)
		}
		err = fmt.Errorf("listen on %s: %w", l.addr, err)
		// Retries every few seconds must not flood the log: report a
		// failure once, and again only when it changes.
		if l.lastErr == nil || l.lastErr.Error() != err.Error() {
			a.log.Warn("cannot bind; will retry", "role", l.role, "address", l.addr, "error", err, "retryEvery", a.cfg.RebindInterval)
		}
		l.lastErr = err
		a.metrics.listenerUp.WithLabelValues(l.role, l.addr).Set(0)
		return err
	}
	l.local = ln.Addr()
	l.lastErr = nil
	a.metrics.listenerUp.WithLabelValues(l.role, l.addr).Set(1)
	a.log.Info("listening", "role", l.role, "address", ln.Addr().String())
	go func() {
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("listener failed", "role", l.role, "address", l.addr, "error", err)
			l.mu.Lock()
			l.local = nil
			l.lastErr = err
			l.mu.Unlock()
			a.metrics.listenerUp.WithLabelValues(l.role, l.addr).Set(0)
		}
	}()
	return nil
}

// rebindLoop retries a failed bind until it succeeds or ctx ends.
func (a *Agent) rebindLoop(ctx context.Context, l *listener) {
	t := time.NewTicker(a.cfg.RebindInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if a.bind(l) == nil {
				return
			}
		}
	}
}
