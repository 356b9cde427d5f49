// Package agent is podid's node agent, a drop-in replacement for
// eks-pod-identity-agent: it answers the container-credentials requests
// of SDKs in pods (GET /v1/credentials on 169.254.170.23:80 and
// [fd00:ec2::23]:80, the pod's service-account token in Authorization)
// with credentials from EKS Auth's AssumeRoleForPodIdentity.
//
// One cache, shared by every listener, holds credentials per pod. A hit
// is a token EKS Auth has already accepted (compared by SHA-256), so the
// hit path parses nothing and serves bytes serialized once. Misses for
// the same token share one EKS Auth call; entries are renewed ahead of
// expiry by a bounded scheduler, kept while EKS Auth is down, and purged
// when a change feed reports their association or pod changed.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// probeToken is the token of readiness probes: the shape of a JWT, so EKS
// Auth answers it as an invalid token, which proves it is reachable and
// accepts the node's signature.
const probeToken = "cG9kaWQ.cmVhZGluZXNz.cHJvYmU"

// Agent is a running node agent. It is safe for concurrent use.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	cache   *cache
	up      *eksAuthClient
	limiter *limiter

	deniedPrefix string
	realClock    bool // Config.Now was left to time.Now

	reached  atomic.Int64 // Unix nanoseconds EKS Auth last answered
	unreach  atomic.Pointer[string]
	draining atomic.Bool
	running  atomic.Bool

	mu        sync.Mutex
	listeners []*listener
	started   chan struct{}
}

// New builds an agent from cfg. It does not bind anything: Run does.
func New(cfg Config) (*Agent, error) {
	realClock := cfg.Now == nil
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, started: make(chan struct{}), realClock: realClock}
	a.metrics = newMetrics(func() float64 { return float64(a.cache.size()) })
	if cfg.Identity != nil {
		cfg.Identity.register(a.metrics.reg)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{
			Transport: newTransport(cfg.RootCAs),
			// EKS Auth does not redirect; a redirect is passed on as an error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	a.up = &eksAuthClient{
		url:            strings.TrimRight(cfg.Endpoint, "/") + "/clusters/" + cfg.ClusterName + "/assume-role-for-pod-identity",
		region:         cfg.Region,
		creds:          cfg.Credentials,
		signer:         v4.NewSigner(),
		http:           client,
		attemptTimeout: cfg.AttemptTimeout,
		maxAttempts:    cfg.MaxAttempts,
		userAgent:      cfg.UserAgent,
		metrics:        a.metrics,
		onContact:      a.contact,
	}
	a.cache = newCache(a.up, &cfg, a.metrics, a.log)
	a.limiter = newLimiter(cfg.MaxServiceQPS)
	a.deniedPrefix = fmt.Sprintf("Access Denied. Called agent through invalid address, please use either %v address not ", cfg.AllowedHosts)
	msg := "EKS Auth not reached yet"
	a.unreach.Store(&msg)
	return a, nil
}

// Handler returns the credential endpoint's handler (what every
// credential listener serves).
func (a *Agent) Handler() http.Handler { return a }

// ProbeHandler serves /healthz (liveness: the process answers) and
// /readyz (a credential listener is bound and EKS Auth answered within
// the ready window).
func (a *Agent) ProbeHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, reasons := a.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, r := range reasons {
				fmt.Fprintln(w, r)
			}
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// MetricsHandler serves /metrics, plus the probe endpoints as the official
// agent's metrics server does.
func (a *Agent) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	probes := a.ProbeHandler()
	mux.Handle("/healthz", probes)
	mux.Handle("/readyz", probes)
	return mux
}

// Ready reports whether the agent is ready, and if not, why.
func (a *Agent) Ready() (bool, []string) {
	var reasons []string
	if a.draining.Load() {
		reasons = append(reasons, "draining: the agent is stopping")
	}
	bound := 0
	a.mu.Lock()
	for _, l := range a.listeners {
		if l.role == roleCredentials && l.bound() {
			bound++
		}
	}
	a.mu.Unlock()
	if bound == 0 {
		reasons = append(reasons, "no credential listener is bound")
	}
	if a.cfg.Identity != nil {
		if ok, why := a.cfg.Identity.status(); !ok {
			reasons = append(reasons, "no agent identity: "+why)
		}
	}
	last := a.reached.Load()
	if last == 0 || time.Since(time.Unix(0, last)) > a.cfg.ReadyWindow {
		reasons = append(reasons, fmt.Sprintf("EKS Auth has not answered within %v: %s", a.cfg.ReadyWindow, *a.unreach.Load()))
	}
	return len(reasons) == 0, reasons
}

// contact records an answer (or failure) from EKS Auth for readiness.
func (a *Agent) contact(reached bool, detail string) {
	if reached {
		now := time.Now()
		a.reached.Store(now.UnixNano())
		a.metrics.lastReach.Set(float64(now.UnixNano()) / 1e9)
		return
	}
	a.unreach.Store(&detail)
}

// Started returns a channel closed once Run has made its first attempt to
// bind every listener; Listeners then reports the outcome.
func (a *Agent) Started() <-chan struct{} { return a.started }

// ListenerStatus describes one listener.
type ListenerStatus struct {
	// Role is "credentials", "probe" or "metrics".
	Role string
	// Address is the configured host:port.
	Address string
	// Addr is the bound address (useful with port 0); nil if not bound.
	Addr net.Addr
	// Err is the last bind error, if any.
	Err string
}

// Listeners reports every listener's state.
func (a *Agent) Listeners() []ListenerStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ListenerStatus, 0, len(a.listeners))
	for _, l := range a.listeners {
		out = append(out, l.status())
	}
	return out
}

// Run binds the listeners and serves until ctx ends, then drains: it
// reports not ready, keeps serving for DrainDelay (so that a successor
// bound to the same addresses with SO_REUSEPORT takes over), and shuts
// the servers down gracefully. Addresses that cannot be bound are
// reported and retried; they are not fatal.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()

	a.setupListeners()
	var wg sync.WaitGroup
	a.mu.Lock()
	ls := a.listeners
	a.mu.Unlock()
	for _, l := range ls {
		if a.bind(l) != nil {
			wg.Go(func() { a.rebindLoop(ctx, l) })
		}
	}
	close(a.started)

	if a.cfg.Identity != nil {
		wg.Go(func() { a.cfg.Identity.Run(bg) })
	}
	wg.Go(func() { a.cache.runScheduler(bg, a.cfg.RefreshConcurrency, a.limiter) })
	wg.Go(func() { a.probeLoop(bg) })
	for _, src := range a.cfg.Events {
		wg.Go(func() { a.watch(bg, src) })
	}

	<-ctx.Done()
	a.draining.Store(true)
	a.log.Info("stopping: draining listeners", "delay", a.cfg.DrainDelay)
	if a.cfg.DrainDelay > 0 {
		t := time.NewTimer(a.cfg.DrainDelay)
		<-t.C
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	var emu sync.Mutex
	var swg sync.WaitGroup
	for _, l := range ls {
		swg.Go(func() {
			if err := l.srv.Shutdown(sctx); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("shut down %s listener %s: %w", l.role, l.addr, err))
				emu.Unlock()
			}
		})
	}
	swg.Wait()
	stopBG()
	wg.Wait()
	a.log.Info("stopped")
	return errors.Join(errs...)
}

// probeLoop keeps readiness current: it asks EKS Auth only when no real
// call has answered for half the ready window (and every few seconds
// until the first answer).
func (a *Agent) probeLoop(ctx context.Context) {
	check := min(a.cfg.ReadyWindow/10, 5*time.Second)
	for {
		last := a.reached.Load()
		if last == 0 || time.Since(time.Unix(0, last)) > a.cfg.ReadyWindow/2 {
			pctx, cancel := context.WithTimeout(ctx, a.cfg.UpstreamTimeout)
			_, err := a.up.once(pctx, probeToken, callProbe)
			cancel()
			a.log.Debug("probed EKS Auth", "answer", err)
		}
		t := time.NewTimer(check)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
