package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podid/podid/internal/k8s"
)

// Defaults of the agent identity.
const (
	// identityRefreshFraction of a credential's lifetime passes before it
	// is renewed (but never later than identityRefreshMargin before expiry).
	identityRefreshFraction = 0.8
	identityRefreshMargin   = 5 * time.Minute
	// identityRetryMin and identityRetryMax bound the delay between failed
	// exchanges (full jitter, doubling).
	identityRetryMin = time.Second
	identityRetryMax = 30 * time.Second
	// identityCallTimeout bounds one exchange.
	identityCallTimeout = 10 * time.Second
)

// IdentityConfig configures an agent's own identity: its projected
// service-account token exchanged with podid's agent exchange
// (AssumeRoleForAgent) for credentials bound to its node.
type IdentityConfig struct {
	// Endpoint is the podid server's base URL.
	Endpoint string
	// ClusterName is the cluster the agent serves.
	ClusterName string
	// TokenFile is the projected token (audience k8s.AgentAudience), read
	// again on every exchange: the kubelet rotates it.
	TokenFile string
	// HTTPClient calls the exchange (a client with a 10 s timeout if nil).
	HTTPClient *http.Client
	// UserAgent is sent with each exchange.
	UserAgent string
	Logger    *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Identity is the agent's own credentials from the agent exchange: an
// aws.CredentialsProvider that signs the agent's calls to EKS Auth and the
// change feed. Run obtains them and renews them before they expire; while
// a renewal fails the current credentials keep being used until they
// expire, and the pods' cached credentials keep being served regardless.
type Identity struct {
	cfg IdentityConfig
	url string

	mu      sync.Mutex
	creds   aws.Credentials
	have    bool
	node    string
	lastErr string
	ready   chan struct{}
	once    sync.Once

	exchanges *prometheus.CounterVec
	expiry    prometheus.Gauge
}

// NewIdentity checks cfg and returns an Identity; Run obtains credentials.
func NewIdentity(cfg IdentityConfig) (*Identity, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("agent identity: the podid endpoint is required")
	}
	if !clusterNamePattern.MatchString(cfg.ClusterName) || len(cfg.ClusterName) > 100 {
		return nil, fmt.Errorf("agent identity: cluster name %q is not valid", cfg.ClusterName)
	}
	if cfg.TokenFile == "" {
		return nil, errors.New("agent identity: the token file is required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: identityCallTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Identity{
		cfg:   cfg,
		url:   strings.TrimRight(cfg.Endpoint, "/") + "/podid/v1/clusters/" + url.PathEscape(cfg.ClusterName) + "/assume-role-for-agent",
		ready: make(chan struct{}),
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_agent_identity_exchanges_total",
			Help: "The agent's exchanges of its own token for its credentials, by result (ok, or the error code).",
		}, []string{"result"}),
		expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "podid_agent_identity_expiry_timestamp_seconds",
			Help: "When the agent's own credentials expire (Unix seconds; 0 before the first exchange).",
		}),
	}, nil
}

// Retrieve returns the current credentials (aws.CredentialsProvider), or
// an error before the first exchange and after they expired.
func (id *Identity) Retrieve(context.Context) (aws.Credentials, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if !id.have {
		return aws.Credentials{}, fmt.Errorf("the agent's own credentials are not obtained yet: %s", id.lastErr)
	}
	if !id.cfg.Now().Before(id.creds.Expires) {
		return aws.Credentials{}, fmt.Errorf("the agent's own credentials expired at %s: %s", id.creds.Expires.Format(time.RFC3339), id.lastErr)
	}
	return id.creds, nil
}

// Node is the node the credentials are bound to ("" before the first
// exchange).
func (id *Identity) Node() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.node
}

// Obtained is closed once the first exchange has succeeded.
func (id *Identity) Obtained() <-chan struct{} { return id.ready }

// status reports whether usable credentials are held, and why not.
func (id *Identity) status() (bool, string) {
	_, err := id.Retrieve(context.Background())
	if err != nil {
		return false, err.Error()
	}
	return true, ""
}

func (id *Identity) register(reg prometheus.Registerer) {
	reg.MustRegister(id.exchanges, id.expiry)
}

// Run exchanges the token now and again before each expiry, until ctx
// ends. Failures are retried with backoff; the credentials held are kept
// until they expire.
func (id *Identity) Run(ctx context.Context) {
	retry := identityRetryMin
	for {
		next, err := id.Refresh(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			delay := time.Duration(rand.Int64N(int64(retry))) + retry/2
			retry = min(retry*2, identityRetryMax)
			id.mu.Lock()
			have, exp := id.have, id.creds.Expires
			id.mu.Unlock()
			if have && id.cfg.Now().Before(exp) {
				id.cfg.Logger.Warn("agent identity: renewal failed; the current credentials stay in use", "err", err, "expires", exp, "retryIn", delay.Round(time.Millisecond))
			} else {
				id.cfg.Logger.Error("agent identity: no usable credentials; calls to EKS Auth fail until an exchange succeeds", "err", err, "retryIn", delay.Round(time.Millisecond))
			}
			next = delay
		} else {
			retry = identityRetryMin
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Refresh performs one exchange and returns how long to wait before the
// next one.
func (id *Identity) Refresh(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, identityCallTimeout)
	defer cancel()
	res, err := id.exchange(ctx)
	if err != nil {
		result := "error"
		var ue *upstreamError
		if errors.As(err, &ue) {
			result = ue.Code
		}
		id.exchanges.WithLabelValues(result).Inc()
		id.mu.Lock()
		id.lastErr = err.Error()
		id.mu.Unlock()
		return 0, err
	}
	id.exchanges.WithLabelValues("ok").Inc()
	now := id.cfg.Now()
	id.mu.Lock()
	first := !id.have
	id.creds = aws.Credentials{AccessKeyID: res.AccessKeyID, SecretAccessKey: res.SecretAccessKey, SessionToken: res.SessionToken,
		CanExpire: true, Expires: res.Expiration, Source: "podid agent exchange"}
	id.have, id.node, id.lastErr = true, res.NodeName, ""
	id.mu.Unlock()
	id.expiry.Set(float64(res.Expiration.Unix()))
	if first {
		id.once.Do(func() { close(id.ready) })
	}
	next := refreshDelay(now, res.Expiration)
	id.cfg.Logger.Info("agent identity: obtained credentials bound to this node", "node", res.NodeName, "pod", res.PodName,
		"session", res.SessionARN, "expires", res.Expiration, "renewIn", next.Round(time.Second))
	return next, nil
}

// refreshDelay is when credentials expiring at exp, obtained at now, are
// renewed: at 80% of their lifetime, but at least identityRefreshMargin
// before expiry (and not sooner than a second from now).
func refreshDelay(now, exp time.Time) time.Duration {
	life := exp.Sub(now)
	d := time.Duration(float64(life) * identityRefreshFraction)
	if m := life - identityRefreshMargin; m < d {
		d = m
	}
	return max(d, time.Second)
}

// identityResult is a successful exchange.
type identityResult struct {
	NodeName, PodName, SessionARN              string
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 time.Time
}

func (id *Identity) exchange(ctx context.Context) (*identityResult, error) {
	raw, err := os.ReadFile(id.cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("read the agent's token: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if !k8s.LooksLikeJWT(token) {
		return nil, fmt.Errorf("the agent's token file %s holds no JWT (%d bytes)", id.cfg.TokenFile, len(token))
	}
	body, _ := json.Marshal(map[string]string{"token": token})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, id.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("agent exchange request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if id.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", id.cfg.UserAgent)
	}
	resp, err := id.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call podid's agent exchange: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return nil, fmt.Errorf("read podid's agent exchange answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, decodeUpstreamError(resp, data)
	}
	return decodeIdentityOutput(data)
}

// decodeIdentityOutput decodes the agent exchange's 200 answer; every
// member the agent relies on must be present.
func decodeIdentityOutput(data []byte) (*identityResult, error) {
	var out struct {
		NodeName        string `json:"nodeName"`
		PodName         string `json:"podName"`
		AssumedRoleUser struct {
			Arn string `json:"arn"`
		} `json:"assumedRoleUser"`
		Credentials struct {
			AccessKeyID     string          `json:"accessKeyId"`
			SecretAccessKey string          `json:"secretAccessKey"`
			SessionToken    string          `json:"sessionToken"`
			Expiration      json.RawMessage `json:"expiration"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%w: the agent exchange's body is not the expected JSON", errInvalidResponse)
	}
	cr := out.Credentials
	if cr.AccessKeyID == "" || cr.SecretAccessKey == "" || cr.SessionToken == "" {
		return nil, fmt.Errorf("%w: credentials missing", errInvalidResponse)
	}
	exp, ok := epochSeconds(cr.Expiration)
	if !ok {
		return nil, fmt.Errorf("%w: credentials.expiration is not epoch seconds", errInvalidResponse)
	}
	if out.NodeName == "" {
		return nil, fmt.Errorf("%w: nodeName missing", errInvalidResponse)
	}
	return &identityResult{NodeName: truncate(out.NodeName, 253), PodName: truncate(out.PodName, 253), SessionARN: truncate(out.AssumedRoleUser.Arn, 2048),
		AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, SessionToken: cr.SessionToken, Expiration: exp}, nil
}
