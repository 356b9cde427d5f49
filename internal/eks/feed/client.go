package feed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptyPayloadHash is the SHA-256 of an empty body.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// clusterNameRE is EKS's cluster name pattern.
var clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]*$`)

// maxLine bounds one NDJSON line (an association with 50 tags and a policy
// is a few KB).
const maxLine = 1 << 20

// Config configures a Client.
type Config struct {
	// Endpoint is the podid server's base URL (https://host:port).
	Endpoint string
	// Cluster is the cluster whose associations to follow.
	Cluster string
	// Region is the SigV4 signing region.
	Region string
	// Credentials sign each connection (service "eks").
	Credentials aws.CredentialsProvider
	// HTTPClient makes the requests. It must not have an overall Timeout
	// (streams are long-lived); the default has none.
	HTTPClient *http.Client
	// Logger receives reconnect notices (default: discard).
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 250 ms
	// and 30 s); it doubles after each failed attempt.
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout ends a connection that delivered nothing, not even a
	// heartbeat, for this long (default 45 s: three server heartbeats).
	IdleTimeout time.Duration
	// Now is the signing clock (default time.Now).
	Now func() time.Time
	// Sleep waits between reconnects (default: a timer honouring ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client subscribes to a cluster's association change feed.
type Client struct {
	cfg    Config
	signer *v4.Signer
	base   *url.URL
}

// Handler receives events in order. Returning an error ends Subscribe
// with that error.
type Handler func(ctx context.Context, ev Event) error

// ErrPermanent marks a refusal retrying cannot fix (a malformed request).
var ErrPermanent = errors.New("feed: request refused")

// New returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.Endpoint, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("feed: endpoint %q is not an http(s) URL", cfg.Endpoint)
	}
	if !clusterNameRE.MatchString(cfg.Cluster) || len(cfg.Cluster) > 100 {
		return nil, fmt.Errorf("feed: invalid cluster name %q", cfg.Cluster)
	}
	if cfg.Region == "" {
		return nil, errors.New("feed: Config.Region is required")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("feed: Config.Credentials is required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 45 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Client{cfg: cfg, signer: v4.NewSigner(), base: u}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Subscribe follows the cluster's changes after revision from (0: start
// with a snapshot) until ctx ends or handler fails, reconnecting and
// resuming where it left off whenever the stream breaks. It returns
// ctx.Err(), the handler's error, or an error wrapping ErrPermanent.
//
// A consumer that persists its position should store the Revision of the
// last created/updated/deleted or synced event it handled, and resume
// from it; snapshot events all carry the snapshot's revision and are only
// complete once synced arrives.
func (c *Client) Subscribe(ctx context.Context, from int64, handler Handler) error {
	if from < 0 {
		from = 0
	}
	st := &state{cursor: from}
	backoff := c.cfg.MinBackoff
	for {
		progressed, err := c.stream(ctx, st, handler)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var he *handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if errors.Is(err, ErrPermanent) {
			return err
		}
		if progressed {
			backoff = c.cfg.MinBackoff
		}
		if err != nil {
			c.cfg.Logger.WarnContext(ctx, "association feed interrupted; reconnecting", "cluster", c.cfg.Cluster, "after", st.cursor, "in", backoff, "err", err)
		}
		if err := c.cfg.Sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
}

// state is the resume position across connections.
type state struct {
	cursor int64 // the revision to resume after
}

type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }

// errGone means the server no longer has (or never had) the revision.
var errGone = errors.New("feed: revision not available; resubscribing from a snapshot")

// stream runs one connection. progressed reports whether any event came.
func (c *Client) stream(ctx context.Context, st *state, handler Handler) (progressed bool, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := c.request(cctx, st.cursor)
	if err != nil {
		return false, err
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("feed: connecting: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusGone:
		st.cursor = 0
		return true, errGone
	case resp.StatusCode == http.StatusBadRequest:
		return false, fmt.Errorf("%w: %s", ErrPermanent, errorText(resp))
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("feed: HTTP %d: %s", resp.StatusCode, errorText(resp))
	}

	// The idle watchdog cancels the connection when nothing arrives.
	idle := time.AfterFunc(c.cfg.IdleTimeout, cancel)
	defer idle.Stop()

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	snapshotting := false
	for sc.Scan() {
		idle.Reset(c.cfg.IdleTimeout)
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return progressed, fmt.Errorf("feed: malformed event: %w", err)
		}
		progressed = true
		switch ev.Type {
		case TypeHeartbeat:
			if !snapshotting && ev.Revision > st.cursor {
				st.cursor = ev.Revision
			}
			continue
		case TypeReset:
			snapshotting = true
		case TypeSnapshot:
		case TypeSynced:
			snapshotting = false
		case TypeCreated, TypeUpdated, TypeDeleted:
			if ev.Revision <= st.cursor {
				continue // already delivered before a reconnect
			}
		default:
			continue // a type this client does not know
		}
		if err := handler(ctx, ev); err != nil {
			return progressed, &handlerError{err}
		}
		if !snapshotting && ev.Revision > st.cursor {
			st.cursor = ev.Revision
		}
	}
	if err := sc.Err(); err != nil {
		return progressed, fmt.Errorf("feed: reading stream: %w", err)
	}
	return progressed, io.ErrUnexpectedEOF
}

// request builds the signed GET for the stream after revision after.
func (c *Client) request(ctx context.Context, after int64) (*http.Request, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + Path(c.cfg.Cluster)
	u.RawQuery = "after=" + strconv.FormatInt(after, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("feed: building request: %w", err)
	}
	req.Header.Set("Accept", "application/x-ndjson")
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("feed: retrieving credentials: %w", err)
	}
	if err := c.signer.SignHTTP(ctx, creds, req, emptyPayloadHash, "eks", c.cfg.Region, c.cfg.Now()); err != nil {
		return nil, fmt.Errorf("feed: signing request: %w", err)
	}
	return req, nil
}

// errorText extracts the message of a JSON error response.
func errorText(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && (e.Type != "" || e.Message != "") {
		return strings.TrimSpace(e.Type + ": " + e.Message)
	}
	return http.StatusText(resp.StatusCode)
}
