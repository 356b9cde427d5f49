// Package podevents records Pod Identity refusals as Kubernetes Events on
// the pod, on clusters podid reaches through their API server (registered
// with kubernetesApi), so `kubectl describe pod` shows why the pod gets no
// AWS credentials and what fixes it.
//
// Events go through client-go's event broadcaster, one per cluster: its
// EventCorrelator aggregates repeats of the same event and its spam filter
// rate-limits each pod (a token bucket per source and involved object), so
// a crash-looping pod cannot flood the API server. Recording never blocks
// EKS Auth: the broadcaster writes in the background and drops what it
// cannot write.
package podevents

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/explain"
	"github.com/podid/podid/internal/kubeapi"
)

// Component is the source of podid's events.
const Component = "podid"

// Reason is the reason of a refusal event.
const Reason = "PodIdentityRefused"

// maxMessage is the longest message the API server keeps.
const maxMessage = 1024

// Defaults of the per-pod rate limit: a burst of 5 events, then one every
// 5 minutes (client-go's spam filter refills at QPS).
const (
	DefaultBurst = 5
	DefaultQPS   = 1.0 / 300
)

// ClusterAPIs returns the API access of clusters (nil when podid has none).
type ClusterAPIs interface {
	ClusterAPI(ctx context.Context, cluster string) (*kubeapi.Access, error)
}

// Config configures a Recorder.
type Config struct {
	APIs ClusterAPIs
	// AccountID is podid's account (it fills the role ARN in fixes).
	AccountID string
	// Burst and QPS are the per-pod rate limit (DefaultBurst, DefaultQPS
	// when 0).
	Burst int
	QPS   float32
	// AccessTTL bounds how long a cluster's access is reused before it is
	// read again (30 s when 0).
	AccessTTL time.Duration
	// Sink builds the event sink of a cluster (nil: the cluster's core/v1
	// Events API with client-go). Tests replace it.
	Sink   func(access *kubeapi.Access) (record.EventSink, error)
	Logger *slog.Logger
	Now    func() time.Time
}

// Recorder records EKS Auth's refusals of verified pods as Events; it
// implements eksauth.RefusalSink.
type Recorder struct {
	cfg Config

	mu       sync.Mutex
	clusters map[string]*clusterRecorder
	closed   bool
}

type clusterRecorder struct {
	access      *kubeapi.Access
	loaded      time.Time
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
}

// New returns a Recorder.
func New(cfg Config) *Recorder {
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.QPS <= 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sink == nil {
		cfg.Sink = apiSink
	}
	return &Recorder{cfg: cfg, clusters: map[string]*clusterRecorder{}}
}

// apiSink writes events to the cluster's API server.
func apiSink(a *kubeapi.Access) (record.EventSink, error) {
	cfg := a.RESTConfig("podid-events")
	cfg.ContentConfig = rest.ContentConfig{ContentType: "application/json", AcceptContentTypes: "application/json"}
	cfg.Timeout = 5 * time.Second
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &typedcorev1.EventSinkImpl{Interface: c.CoreV1().Events("")}, nil
}

// Message is an event's text for a refusal: the cause, the fix and the
// `podid explain` command, within the API server's 1024 characters.
func Message(r *eksauth.Refusal, accountID string) string {
	s := explain.Subject{Cluster: r.Cluster, Namespace: r.Namespace, ServiceAccount: r.ServiceAccount, Pod: r.Pod, AccountID: accountID}
	msg := "EKS Auth refused credentials: " + r.Code + ": " + r.Message
	if cause, ok := explain.Classify(r.Code, r.Message); ok {
		problem, fix := explain.Fix(cause, s)
		msg = "EKS Auth refused credentials (" + string(cause) + "): " + problem + ". Fix: " + fix + ". Explain: " + explain.Command(s)
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-3] + "..."
	}
	return msg
}

// PodRefused records r on its pod when podid reaches the pod's cluster.
func (rc *Recorder) PodRefused(ctx context.Context, r *eksauth.Refusal) {
	cr := rc.cluster(ctx, r.Cluster)
	if cr == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: r.Namespace, Name: r.Pod, UID: types.UID(r.PodUID)}
	cr.recorder.Event(ref, corev1.EventTypeWarning, Reason, Message(r, rc.cfg.AccountID))
}

// cluster returns the cluster's recorder, (re)built when its access
// changed; nil when podid has no API access to it.
func (rc *Recorder) cluster(ctx context.Context, name string) *clusterRecorder {
	now := rc.cfg.Now()
	rc.mu.Lock()
	cr := rc.clusters[name]
	closed := rc.closed
	rc.mu.Unlock()
	if closed {
		return nil
	}
	if cr != nil && now.Sub(cr.loaded) < rc.cfg.AccessTTL && !now.Before(cr.loaded) {
		return cr
	}
	access, err := rc.cfg.APIs.ClusterAPI(ctx, name)
	if err != nil {
		rc.cfg.Logger.WarnContext(ctx, "pod events: reading the cluster's API access", "cluster", name, "err", err)
		return nil
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.closed {
		return nil
	}
	old := rc.clusters[name]
	if access == nil || access.Endpoint == "" {
		if old != nil {
			old.broadcaster.Shutdown()
			delete(rc.clusters, name)
		}
		return nil
	}
	if old != nil && sameAccess(old.access, access) {
		old.loaded = now
		return old
	}
	sink, err := rc.cfg.Sink(access)
	if err != nil {
		rc.cfg.Logger.WarnContext(ctx, "pod events: client for the cluster's API", "cluster", name, "err", err)
		return nil
	}
	if old != nil {
		old.broadcaster.Shutdown()
	}
	b := record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{BurstSize: rc.cfg.Burst, QPS: rc.cfg.QPS}))
	b.StartRecordingToSink(sink)
	cr = &clusterRecorder{access: access, loaded: now, broadcaster: b,
		recorder: b.NewRecorder(runtime.NewScheme(), corev1.EventSource{Component: Component})}
	rc.clusters[name] = cr
	return cr
}

func sameAccess(a, b *kubeapi.Access) bool {
	return a.Endpoint == b.Endpoint && a.BearerToken == b.BearerToken && bytes.Equal(a.CAData, b.CAData)
}

// Close stops every cluster's broadcaster (events not yet written are
// dropped).
func (rc *Recorder) Close() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.closed = true
	for n, cr := range rc.clusters {
		cr.broadcaster.Shutdown()
		delete(rc.clusters, n)
	}
}
