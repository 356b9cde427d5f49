package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxAdmissionBytes bounds an AdmissionReview body. The API server's own
// request limit is 3 MiB; a pod spec is far smaller.
const MaxAdmissionBytes = 3 << 20

// AssociationSet answers whether a service account has an association in
// this cluster. Ready is false until the set has been loaded, so the
// webhook can tell "no association" from "cannot decide".
type AssociationSet interface {
	Has(namespace, serviceAccount string) bool
	Ready() bool
}

// EventRecorder records a Kubernetes Event about a pod.
type EventRecorder interface {
	PodEvent(ctx context.Context, namespace, podName, reason, message string)
}

// Handler serves the mutating admission webhook.
type Handler struct {
	Settings     Settings
	Associations AssociationSet
	Events       EventRecorder // may be nil
	Logger       *slog.Logger
	Metrics      *Metrics
}

// Metrics are the webhook's Prometheus metrics.
type Metrics struct {
	admissions *prometheus.CounterVec
	latency    prometheus.Histogram
}

// NewMetrics registers the webhook's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_webhook_admissions_total",
			Help: "Pod admissions by result: mutated, skipped (no association or opted out), undecided (associations not loaded), invalid.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "podid_webhook_admission_duration_seconds",
			Help:    "Time to answer an admission review.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .002, .005, .01, .05},
		}),
	}
	reg.MustRegister(m.admissions, m.latency)
	return m
}

func (m *Metrics) count(result string) {
	if m != nil {
		m.admissions.WithLabelValues(result).Inc()
	}
}

// ServeHTTP answers an AdmissionReview (admission.k8s.io/v1).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAdmissionBytes))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		h.Metrics.count("invalid")
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	resp := h.Review(r.Context(), review.Request)
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// Review decides one admission request. It always allows the pod: the
// webhook only adds Pod Identity, it never blocks a pod.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create || req.SubResource != "" {
		h.Metrics.count("skipped")
		return resp
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		h.Metrics.count("invalid")
		resp.Result = &metav1.Status{Message: "podid webhook: pod could not be decoded; not mutated"}
		return resp
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	dryRun := req.DryRun != nil && *req.DryRun
	if h.Associations == nil || !h.Associations.Ready() {
		h.Metrics.count("undecided")
		h.logger().Warn("admitting pod without Pod Identity: associations not loaded yet", "namespace", ns, "serviceAccount", sa)
		if h.Events != nil && !dryRun && pod.Name != "" {
			h.Events.PodEvent(ctx, ns, pod.Name, "PodIdentityUndecided", "podid webhook could not decide (associations not loaded); pod admitted without Pod Identity")
		}
		return resp
	}
	if !h.Associations.Has(ns, sa) {
		h.Metrics.count("skipped")
		return resp
	}
	ops := Mutate(&pod, h.Settings)
	if len(ops) == 0 {
		h.Metrics.count("skipped")
		return resp
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		h.Metrics.count("invalid")
		return resp
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	h.Metrics.count("mutated")
	return resp
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// MemorySet is an AssociationSet kept in memory, fed by the association
// change feed.
type MemorySet struct {
	mu    sync.RWMutex
	ready bool
	ids   map[string]string // association ID → namespace/serviceAccount
	count map[string]int    // namespace/serviceAccount → associations
}

// NewMemorySet returns an empty, not yet ready set.
func NewMemorySet() *MemorySet {
	return &MemorySet{ids: map[string]string{}, count: map[string]int{}}
}

// Has implements AssociationSet.
func (s *MemorySet) Has(namespace, serviceAccount string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.count[namespace+"/"+serviceAccount] > 0
}

// Ready implements AssociationSet.
func (s *MemorySet) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ready
}

// SetReady marks the set as loaded.
func (s *MemorySet) SetReady() {
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
}

// Put records that association id maps namespace/serviceAccount.
func (s *MemorySet) Put(id, namespace, serviceAccount string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := namespace + "/" + serviceAccount
	if old, ok := s.ids[id]; ok {
		if old == key {
			return
		}
		s.dec(old)
	}
	s.ids[id] = key
	s.count[key]++
}

// Delete forgets association id.
func (s *MemorySet) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.ids[id]; ok {
		delete(s.ids, id)
		s.dec(old)
	}
}

func (s *MemorySet) dec(key string) {
	if s.count[key] <= 1 {
		delete(s.count, key)
	} else {
		s.count[key]--
	}
}

// Reset forgets every association (the feed is about to resend them).
func (s *MemorySet) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.ids)
	clear(s.count)
}
